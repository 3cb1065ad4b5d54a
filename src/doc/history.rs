//! A compact, self-contained encoding of a whole history, for saving a
//! document to disk and for handing it to a newcomer in one piece.
//!
//! Layout: the magic `RMH1`, then a deflate stream of
//! `[replica table][op count][ops][text]`, all integers LEB128 varints:
//!
//! - The replica table lists each replica once; ops name replicas by index.
//! - An op's counter is not stored: a history holds every op of every
//!   replica from counter 0, in causal order, so each op starts where the
//!   previous op of its replica ended.
//! - An insert stores `index << 1`, its length in chars, and its two
//!   origins; a delete stores `index << 1 | 1`, its length, and its target
//!   spans (`len << 1 | backward`).
//! - An origin or target naming the op's own replica stores how far back
//!   it is (typing names the char just typed: one byte), another replica's
//!   stores its counter.
//! - The text of every insert follows, concatenated, as UTF-8.
//!
//! Decoding checks every length against what is left and applies ops
//! through [`Doc::apply`], so a damaged history is an error, never a panic
//! or a half-built document.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use super::oplog::EntryOp;
use super::sequence::{Piece, Sequence};
use super::{Doc, Error, Id, IdSpan, Op, OpKind, ReplicaId, TargetSpan};

const MAGIC: &[u8; 4] = b"RMH1";
const SNAPSHOT_MAGIC: &[u8; 4] = b"RMS1";

/// The most bytes a history may inflate to per byte of input; guards
/// against decompression bombs.
const MAX_INFLATE_RATIO: u64 = 64;

pub(crate) fn encode(doc: &Doc) -> Vec<u8> {
    encode_with(doc, false)
}

/// A snapshot: the history plus the document order of every char, so it
/// loads without integrating a single op.
pub(crate) fn encode_snapshot(doc: &Doc) -> Vec<u8> {
    encode_with(doc, true)
}

fn encode_with(doc: &Doc, snapshot: bool) -> Vec<u8> {
    let mut replicas: Vec<ReplicaId> = Vec::new();
    let mut index: BTreeMap<ReplicaId, u64> = BTreeMap::new();
    for (id, _, _) in doc.log.iter() {
        index.entry(id.replica).or_insert_with(|| {
            replicas.push(id.replica);
            replicas.len() as u64 - 1
        });
    }
    let mut body = Vec::new();
    put(&mut body, replicas.len() as u64);
    for r in &replicas {
        put(&mut body, r.0);
    }
    put(&mut body, doc.log.entries() as u64);
    let origin = |body: &mut Vec<u8>, own: Id, id: Option<Id>| match id {
        None => put(body, 0),
        Some(id) => {
            put(body, index[&id.replica] + 1);
            put_counter(body, own, id);
        }
    };
    let mut text = String::new();
    for (id, len, op) in doc.log.iter() {
        let r = index[&id.replica];
        match op {
            EntryOp::Insert {
                left,
                right,
                text: t,
            } => {
                put(&mut body, r << 1);
                put(&mut body, len);
                origin(&mut body, id, left);
                origin(&mut body, id, right);
                text.push_str(t);
            }
            EntryOp::Delete { targets } => {
                put(&mut body, r << 1 | 1);
                put(&mut body, len);
                put(&mut body, targets.len() as u64);
                for t in targets {
                    put(&mut body, index[&t.start.replica]);
                    put_counter(&mut body, id, t.start);
                    put(&mut body, t.len << 1 | t.backward as u64);
                }
            }
        }
    }
    if snapshot {
        // The pieces in document order: replica index and deleted flag,
        // counter (as a distance from the previous piece's end when of the
        // same replica: runs typed in order cost one byte), length.
        put(&mut body, doc.seq.piece_count() as u64);
        let mut prev_end: Option<Id> = None;
        for p in doc.seq.pieces() {
            put(&mut body, index[&p.id.replica] << 1 | p.deleted as u64);
            match prev_end {
                Some(e) if e.replica == p.id.replica && p.id.counter >= e.counter => {
                    put(&mut body, (p.id.counter - e.counter) << 1)
                }
                _ => put(&mut body, p.id.counter << 1 | 1),
            }
            put(&mut body, p.len as u64);
            prev_end = Some(p.id.add(p.len as u64));
        }
    }
    body.extend_from_slice(text.as_bytes());
    let magic = if snapshot { SNAPSHOT_MAGIC } else { MAGIC };
    let mut out = magic.to_vec();
    let mut z = flate2::write::DeflateEncoder::new(out, flate2::Compression::fast());
    z.write_all(&body).expect("writing to a Vec cannot fail");
    out = z.finish().expect("writing to a Vec cannot fail");
    out
}

/// An op as read, before its text (which follows all ops) is known.
enum Shell {
    Insert {
        left: Option<Id>,
        right: Option<Id>,
        /// Byte range in the text section.
        text: std::ops::Range<usize>,
    },
    Delete {
        /// Range in the shared list of targets.
        targets: std::ops::Range<usize>,
    },
}

pub(crate) fn decode(replica: ReplicaId, bytes: &[u8]) -> Result<Doc, Error> {
    let bad = Error::InvalidOp("malformed history");
    let (snapshot, rest) = match bytes.strip_prefix(MAGIC) {
        Some(rest) => (false, rest),
        None => (true, bytes.strip_prefix(SNAPSHOT_MAGIC).ok_or(bad.clone())?),
    };
    let limit = (rest.len() as u64).saturating_mul(MAX_INFLATE_RATIO);
    let mut body = Vec::new();
    flate2::read::DeflateDecoder::new(rest)
        .take(limit + 1)
        .read_to_end(&mut body)
        .map_err(|_| bad.clone())?;
    if body.len() as u64 > limit {
        return Err(Error::InvalidOp("history inflates too far"));
    }
    let mut r = Reader { buf: &body, at: 0 };
    let n = r.count()?;
    let replicas: Vec<ReplicaId> = (0..n)
        .map(|_| r.get().map(ReplicaId))
        .collect::<Result<_, _>>()?;
    let replica_at = |i: u64| replicas.get(i as usize).copied().ok_or(bad.clone());
    let op_count = r.count()?;
    // Ops first without text (it follows them), then the text.
    let mut next: BTreeMap<ReplicaId, u64> = BTreeMap::new();
    let mut shells: Vec<(Id, u64, Shell)> = Vec::with_capacity(op_count as usize);
    let mut targets: Vec<TargetSpan> = Vec::new();
    for _ in 0..op_count {
        let head = r.get()?;
        let own = replica_at(head >> 1)?;
        let len = r.get()?;
        let counter = next.entry(own).or_insert(0);
        let id = Id::new(own, *counter);
        *counter = counter.checked_add(len).ok_or(bad.clone())?;
        let shell = if head & 1 == 0 {
            let mut origin = || -> Result<Option<Id>, Error> {
                match r.get()? {
                    0 => Ok(None),
                    i => {
                        let replica = replica_at(i - 1)?;
                        Ok(Some(r.counter(id, replica)?))
                    }
                }
            };
            let (left, right) = (origin()?, origin()?);
            Shell::Insert {
                left,
                right,
                text: 0..0,
            }
        } else {
            let spans = r.count()?;
            let from = targets.len();
            for _ in 0..spans {
                let replica = replica_at(r.get()?)?;
                let start = r.counter(id, replica)?;
                let l = r.get()?;
                targets.push(TargetSpan {
                    start,
                    len: l >> 1,
                    backward: l & 1 == 1,
                });
            }
            Shell::Delete {
                targets: from..targets.len(),
            }
        };
        shells.push((id, len, shell));
    }
    let pieces = if snapshot {
        read_pieces(&mut r, &replicas)?
    } else {
        Vec::new()
    };
    let text = std::str::from_utf8(&body[r.at..]).map_err(|_| bad.clone())?;
    place_text(&mut shells, text)?;
    let mut doc = Doc::new(replica);
    if snapshot {
        build(&mut doc, &shells, &targets, text, pieces)?;
        return Ok(doc);
    }
    for (id, _, shell) in shells {
        let kind = match shell {
            Shell::Insert {
                left,
                right,
                text: t,
            } => OpKind::Insert {
                left,
                right,
                text: text[t].to_string(),
            },
            Shell::Delete { targets: t } => OpKind::Delete {
                targets: targets[t].to_vec(),
            },
        };
        if doc.apply(Op { id, kind })?.held {
            return Err(bad);
        }
    }
    Ok(doc)
}

/// Gives each insert its stretch of `text`: its length in chars, in order.
fn place_text(shells: &mut [(Id, u64, Shell)], text: &str) -> Result<(), Error> {
    let bad = Error::InvalidOp("malformed history");
    // All ASCII (the common case): chars are bytes.
    let ascii = text.is_ascii();
    // Byte offsets of char boundaries after the first: char 1, 2, ..., end.
    let mut chars = text
        .char_indices()
        .map(|(i, _)| i)
        .skip(1)
        .chain([text.len()]);
    let mut from: usize = 0;
    for (_, len, shell) in shells.iter_mut() {
        let Shell::Insert { text: t, .. } = shell else {
            continue;
        };
        let to = if ascii {
            usize::try_from(*len)
                .ok()
                .and_then(|l| from.checked_add(l))
                .filter(|&to| to <= text.len())
                .ok_or(bad.clone())?
        } else if *len == 0 {
            from
        } else {
            chars.nth(*len as usize - 1).ok_or(bad.clone())?
        };
        *t = from..to;
        from = to;
    }
    Ok(())
}

fn read_pieces(r: &mut Reader, replicas: &[ReplicaId]) -> Result<Vec<Piece>, Error> {
    let bad = Error::InvalidOp("malformed snapshot");
    let n = r.count()?;
    let mut pieces = Vec::with_capacity(n as usize);
    let mut prev_end: Option<Id> = None;
    for _ in 0..n {
        let head = r.get()?;
        let replica = *replicas.get((head >> 1) as usize).ok_or(bad.clone())?;
        let c = r.get()?;
        let counter = if c & 1 == 1 {
            c >> 1
        } else {
            match prev_end {
                Some(e) if e.replica == replica => {
                    e.counter.checked_add(c >> 1).ok_or(bad.clone())?
                }
                _ => return Err(bad),
            }
        };
        let len = r.get()?;
        if len == 0 || len > u32::MAX as u64 || counter.checked_add(len).is_none() {
            return Err(bad);
        }
        let id = Id::new(replica, counter);
        pieces.push(Piece {
            id,
            len: len as u32,
            deleted: head & 1 == 1,
        });
        prev_end = Some(id.add(len));
    }
    Ok(pieces)
}

/// Loads a snapshot's ops into the log (no integration: the order comes
/// with them) and builds the sequence and text from its pieces.
///
/// What is checked, so that hostile bytes give an error and never a
/// document that could panic later: the ops are well formed and in causal
/// order, naming only chars; the pieces hold every inserted char exactly
/// once, each piece one run (one left-to-right typing, one right origin);
/// a piece is deleted exactly when some delete names its chars. What
/// cannot be checked without replaying everything is that the order is
/// the one the ops imply: a snapshot is trusted for that, as it comes only
/// from a member of the group.
fn build(
    doc: &mut Doc,
    shells: &[(Id, u64, Shell)],
    targets: &[TargetSpan],
    text: &str,
    pieces: Vec<Piece>,
) -> Result<(), Error> {
    let bad = Error::InvalidOp("inconsistent snapshot");
    let mut inserted: Vec<(Id, u64)> = Vec::new();
    let mut deleted: Vec<(Id, u64)> = Vec::new();
    for (id, len, shell) in shells {
        let (id, len) = (*id, *len);
        // What `Op::validate` and `Doc::apply` would check: a real op,
        // naming only chars already here and none of its own future.
        if len == 0 || len > super::op::MAX_RUN {
            return Err(bad);
        }
        let known_char = |d: Id| {
            doc.version.contains(d)
                && !(d.replica == id.replica && d.counter >= id.counter)
                && doc.log.all_chars(IdSpan::new(d, 1))
        };
        match shell {
            Shell::Insert {
                left,
                right,
                text: t,
            } => {
                if !left.iter().chain(right.iter()).all(|&d| known_char(d))
                    || !doc.log.has_room(t.len(), 0)
                {
                    return Err(bad);
                }
                inserted.push((id, len));
                doc.log
                    .push_insert(id, *left, *right, &text[t.clone()], len);
            }
            Shell::Delete { targets: t } => {
                let spans = &targets[t.clone()];
                let mut total = 0u64;
                for span in spans {
                    let ids = span.ids().ok_or(bad.clone())?;
                    total = total.checked_add(ids.len).ok_or(bad.clone())?;
                    if !known_char(ids.last()) || !doc.log.all_chars(ids) {
                        return Err(bad);
                    }
                    deleted.push((ids.start, ids.len));
                }
                if total != len || !doc.log.has_room(0, spans.len()) {
                    return Err(bad);
                }
                doc.log.push_delete(id, spans, len);
            }
        }
        doc.version.set(id.replica, id.counter + len);
    }
    let all: Vec<(Id, u64)> = pieces.iter().map(|p| (p.id, p.len as u64)).collect();
    let gone: Vec<(Id, u64)> = pieces
        .iter()
        .filter(|p| p.deleted)
        .map(|p| (p.id, p.len as u64))
        .collect();
    if merged(all, false)? != merged(inserted, false)?
        || merged(gone, false)? != merged(deleted, true)?
        || !pieces.iter().all(|p| doc.log.is_run(p.id, p.len as u64))
    {
        return Err(bad);
    }
    let mut visible = String::with_capacity(text.len());
    for p in pieces.iter().filter(|p| !p.deleted) {
        doc.log.push_text(p.id, p.len as u64, &mut visible);
    }
    doc.seq = Sequence::from_pieces(&pieces);
    doc.text.insert(0, &visible);
    Ok(())
}

/// Sorts id ranges and joins those that touch (or overlap, when allowed:
/// two deletes may name the same char), giving a canonical set.
fn merged(mut spans: Vec<(Id, u64)>, overlap_ok: bool) -> Result<Vec<(Id, u64)>, Error> {
    spans.sort_unstable();
    let mut out: Vec<(Id, u64)> = Vec::with_capacity(spans.len());
    for (id, len) in spans {
        if let Some((start, l)) = out.last_mut() {
            let end = start.counter + *l;
            if start.replica == id.replica && id.counter <= end {
                if id.counter < end && !overlap_ok {
                    return Err(Error::InvalidOp("inconsistent snapshot"));
                }
                *l = (*l).max(id.counter + len - start.counter);
                continue;
            }
        }
        out.push((id, len));
    }
    Ok(out)
}

fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// An id referred to by an op: a distance back for the op's own replica.
fn put_counter(out: &mut Vec<u8>, own: Id, id: Id) {
    if id.replica == own.replica {
        put(out, own.counter - id.counter);
    } else {
        put(out, id.counter);
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn get(&mut self) -> Result<u64, Error> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self
                .buf
                .get(self.at)
                .ok_or(Error::InvalidOp("history ends early"))?;
            self.at += 1;
            v |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Error::InvalidOp("malformed history"))
    }

    /// A count of items still to read: each takes at least one byte, so a
    /// count larger than what is left is an error (and no huge allocation).
    fn count(&mut self) -> Result<u64, Error> {
        let n = self.get()?;
        if n > (self.buf.len() - self.at) as u64 {
            return Err(Error::InvalidOp("malformed history"));
        }
        Ok(n)
    }

    fn counter(&mut self, own: Id, replica: ReplicaId) -> Result<Id, Error> {
        let v = self.get()?;
        if replica == own.replica {
            let c = own
                .counter
                .checked_sub(v)
                .ok_or(Error::InvalidOp("malformed history"))?;
            Ok(Id::new(replica, c))
        } else {
            Ok(Id::new(replica, v))
        }
    }
}
