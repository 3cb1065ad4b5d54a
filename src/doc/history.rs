//! A compact, self-contained encoding of a whole history, for saving a
//! document to disk and for handing it to a newcomer in one piece.
//!
//! Layout: the magic `RMH2`, then a deflate stream of
//! `[replica table][op count][columns][text]`, all integers LEB128 varints:
//!
//! - The replica table lists each replica once; ops name replicas by index.
//! - An op's counter is not stored: a history holds every op of every
//!   replica from counter 0, in causal order, so each op starts where the
//!   previous op of its replica ended.
//! - The ops are written as columns, each a stretch of like numbers
//!   (deflate finds more repeats within one kind of number): the column
//!   lengths in bytes, then the columns (see [`Columns`]).
//! - An insert's origins: one kind byte for both (none, the op's own
//!   replica, another replica; the right origin also "the left origin's
//!   replica", stored as its distance from the char after the left
//!   origin: typing into an older run names two neighbours, distance 0).
//!   An own-replica origin stores how far back it is, another replica's
//!   its counter.
//! - A delete stores its span count and each span (`len << 2 | backward
//!   << 1 | other replica`); the first span of a replica in the op is
//!   placed like an origin, a later one by its signed distance from where
//!   the span before it ended (a word deleted across runs: a few
//!   counters). A delete's length is not stored: it is the sum of its
//!   spans.
//! - The text of every insert follows, concatenated, as UTF-8.
//!
//! The first format (`RMH1`, ops one after another, each op's fields
//! together) still loads, and so do snapshots with ops in that layout
//! (`RMS1`, `RMS2`); snapshots are written as `RMS3` (`RMS2` with its ops
//! in columns).
//!
//! Decoding checks every length against what is left and loads the ops in
//! one pass (`doc::replay`) with the checks [`Doc::apply`] makes, so a
//! damaged history is an error, never a panic or a half-built document.

use std::collections::BTreeMap;
use std::io::Write;

use super::oplog::EntryOp;
use super::replay::{replay, Step};
use super::sequence::{Piece, Sequence};
use super::{Doc, Error, Id, IdSpan, ReplicaId, TargetSpan, VersionVector};

/// A history in the first format (read only).
const MAGIC_1: &[u8; 4] = b"RMH1";
/// A history with its ops in columns.
const MAGIC: &[u8; 4] = b"RMH2";
/// A snapshot of a replica that never cleaned up its history (read only).
const SNAPSHOT_MAGIC: &[u8; 4] = b"RMS1";
/// A snapshot with its collected frontier and piece states (read only).
const SNAPSHOT_MAGIC_2: &[u8; 4] = b"RMS2";
/// As `RMS2`, with its ops in columns (as `RMH2`).
const SNAPSHOT_MAGIC_3: &[u8; 4] = b"RMS3";

/// The most bytes a history may inflate to per byte of input; guards
/// against decompression bombs. Deflate itself cannot exceed 1032:1, and a
/// real document can come close (a long run of one char), so the bound is
/// just above that: any history we wrote loads, a bomb is still stopped
/// early. [`MAX_INFLATED`] bounds the total whatever the ratio.
const MAX_INFLATE_RATIO: u64 = 1040;

/// The most bytes any history or snapshot inflates to.
const MAX_INFLATED: u64 = 256 << 20;

pub(crate) fn encode(doc: &Doc) -> Vec<u8> {
    encode_with(doc, false, true)
}

/// A history in the first format (`RMH1`), as older versions wrote it.
#[cfg(test)]
pub(crate) fn encode_first_format(doc: &Doc) -> Vec<u8> {
    encode_with(doc, false, false)
}

/// A snapshot: the history plus the document order of every char, so it
/// loads without integrating a single op.
pub(crate) fn encode_snapshot(doc: &Doc) -> Vec<u8> {
    encode_with(doc, true, true)
}

/// A snapshot with its ops in the first format (`RMS2`), as older
/// versions wrote it.
#[cfg(test)]
pub(crate) fn encode_snapshot_first_format(doc: &Doc) -> Vec<u8> {
    encode_with(doc, true, false)
}

fn encode_with(doc: &Doc, snapshot: bool, columns: bool) -> Vec<u8> {
    // A replica that cleaned up its history no longer has all of it.
    let snapshot = snapshot || !doc.collected.is_empty();
    let mut replicas: Vec<ReplicaId> = Vec::new();
    let mut index: BTreeMap<ReplicaId, u64> = BTreeMap::new();
    let mut name = |r: ReplicaId| {
        index.entry(r).or_insert_with(|| {
            replicas.push(r);
            replicas.len() as u64 - 1
        });
    };
    doc.log.iter().for_each(|(id, _, _)| name(id.replica));
    if snapshot {
        doc.collected.iter().for_each(|(r, _)| name(r));
        doc.seq.pieces().for_each(|p| name(p.id.replica));
    }
    let mut body = Vec::new();
    put(&mut body, replicas.len() as u64);
    for r in &replicas {
        put(&mut body, r.0);
    }
    if snapshot {
        // The collected frontier: the log starts there.
        let collected: Vec<_> = doc.collected.iter().filter(|&(_, n)| n > 0).collect();
        put(&mut body, collected.len() as u64);
        for (r, n) in collected {
            put(&mut body, index[&r]);
            put(&mut body, n);
        }
    }
    put(&mut body, doc.log.entries() as u64);
    let mut text = String::new();
    if columns {
        let mut c = Columns::default();
        for (id, len, op) in doc.log.iter() {
            c.put_op(&index, id, len, op, &mut text);
        }
        c.write(&mut body);
    } else {
        ops_first_format(doc, &index, &mut body, &mut text);
    }
    if snapshot {
        // The pieces in document order: replica index and state (visible,
        // deleted, stable marker), counter (as a distance from the previous
        // piece's end when of the same replica: runs typed in order cost
        // one byte), length. Then, after the log's text, the text of the
        // visible collected pieces, in document order.
        put(&mut body, doc.seq.piece_count() as u64);
        let mut prev_end: Option<Id> = None;
        let mut at = 0usize;
        for p in doc.seq.pieces() {
            let state = if p.stable { 2 } else { p.deleted as u64 };
            put(&mut body, index[&p.id.replica] << 2 | state);
            if !p.deleted {
                if doc.collected.contains(p.id) {
                    let rope = doc.text.borrow();
                    text.extend(rope.slice_substrings(at..at + p.len as usize));
                }
                at += p.len as usize;
            }
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
    let magic = match (snapshot, columns) {
        (true, true) => SNAPSHOT_MAGIC_3,
        (true, false) => SNAPSHOT_MAGIC_2,
        (false, true) => MAGIC,
        (false, false) => MAGIC_1,
    };
    let mut out = magic.to_vec();
    // Level 3: a quarter smaller than level 1 (zlib-rs's level 1 is a
    // quick static-Huffman pass) for under twice the time, and a
    // snapshot is encoded once and sent to every newcomer (measured on
    // automerge-paper: 196 → 148 kB, 1.9 → 3.2 ms).
    let mut z = flate2::write::DeflateEncoder::new(out, flate2::Compression::new(3));
    z.write_all(&body).expect("writing to a Vec cannot fail");
    out = z.finish().expect("writing to a Vec cannot fail");
    out
}

/// The ops in the first format (`RMH1`, `RMS1`, `RMS2`): one after
/// another, each op's fields together.
fn ops_first_format(
    doc: &Doc,
    index: &BTreeMap<ReplicaId, u64>,
    body: &mut Vec<u8>,
    text: &mut String,
) {
    let origin = |body: &mut Vec<u8>, own: Id, id: Option<Id>| match id {
        None => put(body, 0),
        Some(id) => {
            put(body, index[&id.replica] + 1);
            put_counter(body, own, id);
        }
    };
    for (id, len, op) in doc.log.iter() {
        let r = index[&id.replica];
        match op {
            EntryOp::Insert {
                left,
                right,
                text: t,
            } => {
                put(body, r << 1);
                put(body, len);
                origin(body, id, left);
                origin(body, id, right);
                text.push_str(t);
            }
            EntryOp::Delete { targets } => {
                put(body, r << 1 | 1);
                put(body, len);
                put(body, targets.len() as u64);
                for t in targets {
                    put(body, index[&t.start.replica]);
                    put_counter(body, id, t.start);
                    put(body, t.len << 1 | t.backward as u64);
                }
            }
        }
    }
}

/// Origin kinds (see the module doc): none, the op's own replica (a
/// distance back), another replica (an index and a counter); the right
/// origin also `SAME_AS_LEFT` (the left origin's replica, a signed
/// distance from the char after the left origin).
const NONE: u64 = 0;
const OWN: u64 = 1;
const OTHER: u64 = 2;
const SAME_AS_LEFT: u64 = 3;

/// The ops of a history or snapshot (`RMH2`, `RMS3`) as columns of varints, in this
/// order in the body, each preceded by its length (all lengths first).
#[derive(Default)]
struct Columns {
    /// Per op: replica index `<< 1 | is delete`.
    heads: Vec<u8>,
    /// Per insert: its length in chars.
    lens: Vec<u8>,
    /// Per insert: `left kind * 4 + right kind`.
    kinds: Vec<u8>,
    /// Replica indexes of the origins and targets of other replicas.
    replicas: Vec<u8>,
    /// Left origins' counters or distances.
    lefts: Vec<u8>,
    /// Right origins' counters, distances or signed distances.
    rights: Vec<u8>,
    /// Per delete: its span count.
    spans: Vec<u8>,
    /// Per span: `len << 2 | backward << 1 | other replica`.
    span_lens: Vec<u8>,
    /// Per span: where it starts (see the module doc).
    starts: Vec<u8>,
}

impl Columns {
    fn all(&self) -> [&Vec<u8>; 9] {
        [
            &self.heads,
            &self.lens,
            &self.kinds,
            &self.replicas,
            &self.lefts,
            &self.rights,
            &self.spans,
            &self.span_lens,
            &self.starts,
        ]
    }

    fn put_op(
        &mut self,
        index: &BTreeMap<ReplicaId, u64>,
        id: Id,
        len: u64,
        op: EntryOp<'_>,
        text: &mut String,
    ) {
        let r = index[&id.replica];
        match op {
            EntryOp::Insert {
                left,
                right,
                text: t,
            } => {
                put(&mut self.heads, r << 1);
                put(&mut self.lens, len);
                let left_kind = match left {
                    None => NONE,
                    Some(l) if l.replica == id.replica => {
                        put(&mut self.lefts, id.counter - l.counter);
                        OWN
                    }
                    Some(l) => {
                        put(&mut self.replicas, index[&l.replica]);
                        put(&mut self.lefts, l.counter);
                        OTHER
                    }
                };
                let right_kind = match (left, right) {
                    (_, None) => NONE,
                    (Some(l), Some(rt)) if l.replica == rt.replica => {
                        let next = l.counter.wrapping_add(1);
                        put(&mut self.rights, zigzag(rt.counter.wrapping_sub(next)));
                        SAME_AS_LEFT
                    }
                    (_, Some(rt)) if rt.replica == id.replica => {
                        put(&mut self.rights, id.counter - rt.counter);
                        OWN
                    }
                    (_, Some(rt)) => {
                        put(&mut self.replicas, index[&rt.replica]);
                        put(&mut self.rights, rt.counter);
                        OTHER
                    }
                };
                put(&mut self.kinds, left_kind * 4 + right_kind);
                text.push_str(t);
            }
            EntryOp::Delete { targets } => {
                put(&mut self.heads, r << 1 | 1);
                put(&mut self.spans, targets.len() as u64);
                let mut prev: Option<(ReplicaId, u64)> = None;
                for t in targets {
                    let other = t.start.replica != id.replica;
                    let head = t.len << 2 | (t.backward as u64) << 1 | other as u64;
                    put(&mut self.span_lens, head);
                    if other {
                        put(&mut self.replicas, index[&t.start.replica]);
                    }
                    let start = t.start.counter;
                    match prev {
                        Some((pr, end)) if pr == t.start.replica => {
                            put(&mut self.starts, zigzag(start.wrapping_sub(end)))
                        }
                        _ if other => put(&mut self.starts, start),
                        _ => put(&mut self.starts, id.counter - start),
                    }
                    let end = if t.backward {
                        start.wrapping_sub(t.len)
                    } else {
                        start.wrapping_add(t.len)
                    };
                    prev = Some((t.start.replica, end));
                }
            }
        }
    }

    fn write(&self, body: &mut Vec<u8>) {
        for c in self.all() {
            put(body, c.len() as u64);
        }
        for c in self.all() {
            body.extend_from_slice(c);
        }
    }
}

/// A signed difference (as wrapped by `wrapping_sub`) as an unsigned
/// varint value: small either way, small value.
fn zigzag(d: u64) -> u64 {
    let d = d as i64;
    ((d << 1) ^ (d >> 63)) as u64
}

/// The difference [`zigzag`] wrote, to add with `wrapping_add`.
fn unzigzag(v: u64) -> u64 {
    (v >> 1) ^ (v & 1).wrapping_neg()
}

/// Reads ops in columns (`RMH2`, `RMS3`): `op_count` ops
/// whose replicas start at `next`; returns the readers' end (where the
/// text starts).
fn read_columns(
    r: &mut Reader,
    op_count: u64,
    replica_at: &dyn Fn(u64) -> Result<ReplicaId, Error>,
    next: &mut BTreeMap<ReplicaId, u64>,
    shells: &mut Vec<(Id, u64, Shell)>,
    targets: &mut Vec<TargetSpan>,
) -> Result<(), Error> {
    let bad = || Error::InvalidOp("malformed history");
    let mut lens = [0usize; 9];
    for l in &mut lens {
        *l = usize::try_from(r.count()?).map_err(|_| bad())?;
    }
    let mut cols: Vec<Reader> = Vec::with_capacity(9);
    let mut at = r.at;
    for l in lens {
        let end = at
            .checked_add(l)
            .filter(|&e| e <= r.buf.len())
            .ok_or(bad())?;
        cols.push(Reader {
            buf: &r.buf[at..end],
            at: 0,
        });
        at = end;
    }
    r.at = at;
    let [heads, lens, kinds, reps, lefts, rights, spans, span_lens, starts] = &mut cols[..] else {
        return Err(bad());
    };
    for _ in 0..op_count {
        let head = heads.get()?;
        let own = replica_at(head >> 1)?;
        let counter = *next.get(&own).unwrap_or(&0);
        let shell = if head & 1 == 0 {
            let len = lens.get()?;
            let kind = kinds.get()?;
            let left = match kind / 4 {
                NONE => None,
                OWN => Some(Id::new(
                    own,
                    counter.checked_sub(lefts.get()?).ok_or(bad())?,
                )),
                OTHER => Some(Id::new(replica_at(reps.get()?)?, lefts.get()?)),
                _ => return Err(bad()),
            };
            let right = match (kind % 4, left) {
                (NONE, _) => None,
                (OWN, _) => Some(Id::new(
                    own,
                    counter.checked_sub(rights.get()?).ok_or(bad())?,
                )),
                (OTHER, _) => Some(Id::new(replica_at(reps.get()?)?, rights.get()?)),
                (SAME_AS_LEFT, Some(l)) => {
                    let d = unzigzag(rights.get()?);
                    Some(Id::new(
                        l.replica,
                        l.counter.wrapping_add(1).wrapping_add(d),
                    ))
                }
                _ => return Err(bad()),
            };
            (
                len,
                Shell::Insert {
                    left,
                    right,
                    text: 0..0,
                },
            )
        } else {
            // Each span takes a byte of `span_lens` at least: a count
            // beyond what is left there is an error (no huge loop).
            let n = spans.get()?;
            if n > (span_lens.buf.len() - span_lens.at) as u64 {
                return Err(bad());
            }
            let from = targets.len();
            let mut len = 0u64;
            let mut prev: Option<(ReplicaId, u64)> = None;
            for _ in 0..n {
                let h = span_lens.get()?;
                let (l, backward) = (h >> 2, h & 2 != 0);
                let replica = if h & 1 == 1 {
                    replica_at(reps.get()?)?
                } else {
                    own
                };
                let v = starts.get()?;
                let start = match prev {
                    Some((pr, end)) if pr == replica => end.wrapping_add(unzigzag(v)),
                    _ if replica != own => v,
                    _ => counter.checked_sub(v).ok_or(bad())?,
                };
                targets.push(TargetSpan {
                    start: Id::new(replica, start),
                    len: l,
                    backward,
                });
                len = len.checked_add(l).ok_or(bad())?;
                let end = if backward {
                    start.wrapping_sub(l)
                } else {
                    start.wrapping_add(l)
                };
                prev = Some((replica, end));
            }
            (
                len,
                Shell::Delete {
                    targets: from..targets.len(),
                },
            )
        };
        let (len, shell) = shell;
        next.insert(own, counter.checked_add(len).ok_or(bad())?);
        shells.push((Id::new(own, counter), len, shell));
    }
    // Every column read to its end: anything left over is damage.
    if cols.iter().any(|c| c.at != c.buf.len()) {
        return Err(bad());
    }
    Ok(())
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

/// A history or snapshot inflated as its bytes arrive, so that a receiver
/// can inflate chunks while it waits for the next ones (see
/// `node::snapshot`). [`Doc::decode_history`] uses it too, all at once.
#[derive(Debug)]
pub struct Inflater {
    /// The magic, as its bytes come in.
    magic: Vec<u8>,
    z: flate2::Decompress,
    body: Vec<u8>,
    /// The most bytes the whole body may inflate to (against
    /// decompression bombs).
    limit: u64,
    /// Bytes fed so far: a part inflates to at most `MAX_INFLATE_RATIO`
    /// times itself (plus a little), so a snapshot that arrives in chunks
    /// holds no more than that before the rest of it is here.
    fed: u64,
    ended: bool,
}

/// A history or snapshot, inflated ([`Inflater::finish`]).
#[derive(Debug)]
pub struct Inflated {
    /// 0 and 3: a history (3: ops in columns); 1, 2 and 4: snapshots (2
    /// adds the collected frontier and a stable state for pieces, 4 has
    /// 2's fields and its ops in columns).
    format: u8,
    body: Vec<u8>,
}

impl Inflater {
    /// For a history or snapshot of `len` bytes in all.
    pub fn new(len: usize) -> Inflater {
        Inflater {
            magic: Vec::with_capacity(4),
            z: flate2::Decompress::new(false),
            body: Vec::new(),
            limit: (len as u64)
                .saturating_mul(MAX_INFLATE_RATIO)
                .min(MAX_INFLATED),
            fed: 0,
            ended: false,
        }
    }

    /// Inflates the next bytes (after the ones fed before). Bytes after the
    /// end of the deflate stream are ignored.
    pub fn feed(&mut self, mut input: &[u8]) -> Result<(), Error> {
        self.fed += input.len() as u64;
        while self.magic.len() < 4 && !input.is_empty() {
            self.magic.push(input[0]);
            input = &input[1..];
        }
        self.pump(input, flate2::FlushDecompress::None)
    }

    fn pump(&mut self, mut input: &[u8], flush: flate2::FlushDecompress) -> Result<(), Error> {
        while !self.ended {
            if self.body.capacity() - self.body.len() < 16 << 10 {
                self.body.reserve((64 << 10).max(self.body.len() / 2));
            }
            let (read, written) = (self.z.total_in(), self.z.total_out());
            let status = self
                .z
                .decompress_vec(input, &mut self.body, flush)
                .map_err(|_| Error::InvalidOp("malformed history"))?;
            input = &input[(self.z.total_in() - read) as usize..];
            let so_far = self.fed.saturating_mul(MAX_INFLATE_RATIO) + (64 << 10);
            if self.body.len() as u64 > self.limit.min(so_far) {
                return Err(Error::InvalidOp("history inflates too far"));
            }
            self.ended = status == flate2::Status::StreamEnd;
            let progress = self.z.total_in() > read || self.z.total_out() > written;
            let room_left = self.body.len() < self.body.capacity();
            if !progress || (input.is_empty() && room_left) {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Bytes inflated so far.
    pub fn inflated_len(&self) -> usize {
        self.body.len()
    }

    /// A whole history or snapshot, inflated at once.
    pub fn whole(bytes: &[u8]) -> Result<Inflated, Error> {
        let mut inflater = Inflater::new(bytes.len());
        inflater.feed(bytes)?;
        inflater.finish()
    }

    /// The whole body, once every byte was fed.
    pub fn finish(mut self) -> Result<Inflated, Error> {
        let bad = Error::InvalidOp("malformed history");
        self.pump(&[], flate2::FlushDecompress::Finish)?;
        let format = match self.magic.as_slice() {
            m if m == MAGIC_1 => 0,
            m if m == SNAPSHOT_MAGIC => 1,
            m if m == SNAPSHOT_MAGIC_2 => 2,
            m if m == MAGIC => 3,
            m if m == SNAPSHOT_MAGIC_3 => 4,
            _ => return Err(bad),
        };
        if !self.ended {
            return Err(Error::InvalidOp("history ends early"));
        }
        Ok(Inflated {
            format,
            body: self.body,
        })
    }
}

pub(crate) fn decode(replica: ReplicaId, bytes: &[u8]) -> Result<Doc, Error> {
    decode_inflated(replica, &Inflater::whole(bytes)?)
}

pub(crate) fn decode_inflated(replica: ReplicaId, inflated: &Inflated) -> Result<Doc, Error> {
    let bad = Error::InvalidOp("malformed history");
    let (format, body) = (inflated.format, &inflated.body);
    let snapshot = matches!(format, 1 | 2 | 4);
    let columns = matches!(format, 3 | 4);
    let mut r = Reader { buf: body, at: 0 };
    let n = r.count()?;
    let replicas: Vec<ReplicaId> = (0..n)
        .map(|_| r.get().map(ReplicaId))
        .collect::<Result<_, _>>()?;
    let replica_at = |i: u64| replicas.get(i as usize).copied().ok_or(bad.clone());
    let mut collected = VersionVector::new();
    if format == 2 || format == 4 {
        for _ in 0..r.count()? {
            let replica = replica_at(r.get()?)?;
            let n = r.get()?;
            if n == 0 || n == u64::MAX || collected.get(replica) != 0 {
                return Err(bad);
            }
            collected.set(replica, n);
        }
    }
    let op_count = r.count()?;
    // Ops first without text (it follows them), then the text. Each
    // replica's ops start where its collected history ends.
    let mut next: BTreeMap<ReplicaId, u64> = collected.iter().collect();
    let mut shells: Vec<(Id, u64, Shell)> = Vec::with_capacity(op_count as usize);
    let mut targets: Vec<TargetSpan> = Vec::new();
    if columns {
        read_columns(
            &mut r,
            op_count,
            &replica_at,
            &mut next,
            &mut shells,
            &mut targets,
        )?;
    }
    for _ in 0..if columns { 0 } else { op_count } {
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
        read_pieces(&mut r, &replicas, format)?
    } else {
        Vec::new()
    };
    let text = std::str::from_utf8(&body[r.at..]).map_err(|_| bad.clone())?;
    let log_text = place_text(&mut shells, text)?;
    let mut doc = Doc::new(replica);
    if snapshot {
        doc.version = collected.clone();
        doc.collected = collected;
        build(&mut doc, &shells, &targets, text, &text[log_text..], pieces)?;
        return Ok(doc);
    }
    doc.log.reserve(shells.len(), log_text, targets.len());
    if let Some(counts) = load_counts(&next, &shells) {
        doc.seq.begin_load(counts.into_iter());
    }
    let steps = shells.iter().map(|(id, len, shell)| {
        let step = match shell {
            Shell::Insert {
                left,
                right,
                text: t,
            } => Step::Insert {
                left: *left,
                right: *right,
                text: &text[t.clone()],
            },
            Shell::Delete { targets: t } => Step::Delete {
                targets: &targets[t.clone()],
            },
        };
        (*id, *len, step)
    });
    replay(&mut doc, steps)?;
    Ok(doc)
}

/// Each replica's number of ids at the end of a plain history, sorted by
/// replica, when the sequence may find ids through a slot per id while it
/// loads (`Sequence::begin_load`, 4 bytes per id): when the ids are at most
/// four per inserted char (plus a little; a real history has about one or
/// two: inserted and deleted chars), so that a history of a few bytes
/// whose deletes name the same long span over and over cannot make it
/// allocate much, and at most 2^24 in all (64 MB). Otherwise `None`: the load
/// keeps the id index up to date as it goes, as `Doc::apply` does.
fn load_counts(
    ends: &BTreeMap<ReplicaId, u64>,
    shells: &[(Id, u64, Shell)],
) -> Option<Vec<(ReplicaId, u64)>> {
    let chars: u64 = shells
        .iter()
        .filter(|(_, _, shell)| matches!(shell, Shell::Insert { .. }))
        .map(|&(_, len, _)| len)
        .fold(0, u64::saturating_add);
    let most = chars.saturating_mul(4).saturating_add(4096).min(1 << 24);
    let ids = ends.values().fold(0u64, |a, &b| a.saturating_add(b));
    (ids <= most).then(|| ends.iter().map(|(&r, &n)| (r, n)).collect())
}

/// Gives each insert its stretch of `text`: its length in chars, in order.
/// Returns the byte offset where the inserts' text ends.
fn place_text(shells: &mut [(Id, u64, Shell)], text: &str) -> Result<usize, Error> {
    let bad = Error::InvalidOp("malformed history");
    let bytes = text.as_bytes();
    let mut from: usize = 0;
    for (_, len, shell) in shells.iter_mut() {
        let Shell::Insert { text: t, .. } = shell else {
            continue;
        };
        let to = chars_end(bytes, from, *len).ok_or(bad.clone())?;
        *t = from..to;
        from = to;
    }
    Ok(from)
}

/// The byte offset right after `len` chars of UTF-8 `bytes` that start at
/// char boundary `from`, if there are that many. Mostly the chars are
/// ASCII (one byte each): checked a stretch at a time, without decoding.
fn chars_end(bytes: &[u8], from: usize, len: u64) -> Option<usize> {
    let len = usize::try_from(len).ok()?;
    let ascii_to = from.checked_add(len).filter(|&to| to <= bytes.len());
    if let Some(to) = ascii_to.filter(|&to| bytes[from..to].is_ascii()) {
        return Some(to);
    }
    // Count char starts (bytes that are not 0b10xx_xxxx continuations).
    let mut at = from;
    for _ in 0..len {
        at += 1;
        while at < bytes.len() && bytes[at] & 0xC0 == 0x80 {
            at += 1;
        }
        if at > bytes.len() {
            return None;
        }
    }
    Some(at)
}

fn read_pieces(r: &mut Reader, replicas: &[ReplicaId], format: u8) -> Result<Vec<Piece>, Error> {
    // Format 1 has one state bit (deleted), formats 2 and 4 two (stable: 2).
    let bits = if format == 1 { 1 } else { 2 };
    let bad = Error::InvalidOp("malformed snapshot");
    let n = r.count()?;
    let mut pieces = Vec::with_capacity(n as usize);
    let mut prev_end: Option<Id> = None;
    for _ in 0..n {
        let head = r.get()?;
        let state = head & ((1 << bits) - 1);
        let replica = *replicas.get((head >> bits) as usize).ok_or(bad.clone())?;
        if state > 2 {
            return Err(bad);
        }
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
            deleted: state != 0,
            stable: state == 2,
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
/// order, naming only chars (or collected history); the pieces hold every
/// char the ops insert exactly once, each such piece one run (one
/// left-to-right typing, one right origin), and otherwise only collected
/// chars (below the frontier, never straddling it), each at most once;
/// every collected char an op names as an origin is held; a piece is
/// deleted exactly when some delete names its chars (or it is a stable
/// marker of collected history); the collected visible text is exactly
/// as long as its pieces. What cannot be checked without replaying
/// everything is that the order is the one the ops imply: a snapshot is
/// trusted for that, as it comes only from a member of the group.
fn build(
    doc: &mut Doc,
    shells: &[(Id, u64, Shell)],
    targets: &[TargetSpan],
    text: &str,
    base_text: &str,
    pieces: Vec<Piece>,
) -> Result<(), Error> {
    let bad = Error::InvalidOp("inconsistent snapshot");
    let collected = doc.collected.clone();
    let mut named: Vec<(Id, u64)> = Vec::new();
    // Collected chars named as origins: must be held by a piece.
    let mut origins_below: Vec<Id> = Vec::new();
    // The ids of deletes, by replica (sorted: each replica's ops come in
    // counter order): an id is a char iff it is in none. One binary search
    // per check instead of a walk of the log being built.
    let mut deletes: BTreeMap<ReplicaId, Vec<(u64, u64)>> = BTreeMap::new();
    for (id, len, shell) in shells {
        if let Shell::Delete { .. } = shell {
            deletes
                .entry(id.replica)
                .or_default()
                .push((id.counter, id.counter + len));
        }
    }
    let chars = |span: IdSpan| {
        let Some(ranges) = deletes.get(&span.start.replica) else {
            return true;
        };
        let i = ranges.partition_point(|&(_, end)| end <= span.start.counter);
        ranges
            .get(i)
            .is_none_or(|&(start, _)| start >= span.end_counter())
    };
    doc.log.reserve(shells.len(), text.len(), targets.len());
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
                && (collected.contains(d) || chars(IdSpan::new(d, 1)))
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
                origins_below.extend(
                    left.iter()
                        .chain(right.iter())
                        .filter(|&&d| collected.contains(d)),
                );
                doc.log
                    .push_insert(id, *left, *right, &text[t.clone()], len);
            }
            Shell::Delete { targets: t } => {
                let spans = &targets[t.clone()];
                let mut total = 0u64;
                for span in spans {
                    let ids = span.ids().ok_or(bad.clone())?;
                    total = total.checked_add(ids.len).ok_or(bad.clone())?;
                    let below = collected.get(ids.start.replica);
                    let live = ids.end_counter() <= below
                        || chars(IdSpan::new(
                            Id::new(ids.start.replica, ids.start.counter.max(below)),
                            ids.end_counter() - ids.start.counter.max(below),
                        ));
                    if !known_char(ids.last()) || !live {
                        return Err(bad);
                    }
                    named.push((ids.start, ids.len));
                }
                if total != len || !doc.log.has_room(0, spans.len()) {
                    return Err(bad);
                }
                doc.log.push_delete(id, spans, len);
            }
        }
        doc.version.set(id.replica, id.counter + len);
    }
    let named = merged(named);
    let by_id = super::sequence::ids_in_order(&pieces);
    let texts = check_pieces(doc, &pieces, &by_id, &named)?;
    let mut visible = String::with_capacity(text.len() + base_text.len());
    let mut base = base_text;
    for (p, at) in pieces.iter().zip(&texts).filter(|(p, _)| !p.deleted) {
        if let Some(at) = at {
            visible.push_str(&doc.log.text()[at.clone()]);
        } else if p.end() <= collected.get(p.id.replica) {
            let n = p.len as usize;
            let end = match base.char_indices().nth(n) {
                Some((i, _)) => i,
                None if base.chars().count() == n => base.len(),
                None => return Err(bad),
            };
            visible.push_str(&base[..end]);
            base = &base[end..];
        } else {
            doc.log.push_text(p.id, p.len as u64, &mut visible);
        }
    }
    if !base.is_empty() {
        return Err(bad);
    }
    doc.seq = Sequence::from_pieces_by_id(&pieces, &by_id);
    if !origins_below
        .iter()
        .all(|&o| doc.seq.piece_end(o).is_some())
    {
        return Err(bad);
    }
    doc.text.insert(0, &visible);
    Ok(())
}

/// Checks the pieces against the log just loaded, in one walk of both in
/// id order (`by_id`: the pieces sorted by id; `named`: every char some
/// delete names, sorted and merged). Per replica, the pieces below its
/// collected frontier must not overlap; the others must tile exactly the
/// chars its inserts made (its log tiles its counters from the frontier
/// to its version: inserts and deletes), each piece within one run of
/// typing. A piece is deleted exactly when deletes name all of it (or it
/// is a stable marker, collected), and visible when they name none.
///
/// Returns, per piece, where its text is in the log's text when it lies
/// within one entry (`None` otherwise: deleted, collected, or spread over
/// several entries).
fn check_pieces(
    doc: &Doc,
    pieces: &[Piece],
    by_id: &[(Id, u32)],
    named: &[(Id, u64)],
) -> Result<Vec<Option<std::ops::Range<usize>>>, Error> {
    let bad = Error::InvalidOp("inconsistent snapshot");
    let mut texts = vec![None; pieces.len()];
    let mut replicas: Vec<ReplicaId> = doc.log.replicas().collect();
    replicas.extend(by_id.iter().map(|(id, _)| id.replica));
    replicas.sort_unstable();
    replicas.dedup();
    let log_text = doc.log.text();
    let mut named_at = 0;
    let mut rest = by_id;
    for r in replicas {
        let n = rest.partition_point(|(id, _)| id.replica == r);
        let (of_r, later) = rest.split_at(n);
        rest = later;
        let frontier = doc.collected.get(r);
        let mut runs = doc.log.runs_of(r).peekable();
        // The next counter a live piece must start at, the end of the
        // last collected piece, and where char `.0` of the current run
        // starts in its text (`.1`, bytes): pieces come in order, so each
        // run's text is scanned once.
        let mut want = frontier;
        let mut collected_end = 0;
        let mut at_char = (0u64, 0usize);
        for &(_, i) in of_r {
            let p = &pieces[i as usize];
            let (all_named, any_named) = coverage(named, &mut named_at, p);
            let state_ok = p.stable || if p.deleted { all_named } else { !any_named };
            if p.id.counter < frontier {
                if !state_ok || p.end() > frontier || p.id.counter < collected_end {
                    return Err(bad);
                }
                collected_end = p.end();
                continue;
            }
            if !state_ok || p.stable {
                return Err(bad);
            }
            while let Some(run) = runs.next_if(|run| run.is_delete && run.id.counter == want) {
                want = run.end();
            }
            if p.id.counter != want {
                return Err(bad);
            }
            let mut right = None;
            let mut within_one = None;
            while want < p.end() {
                let run = runs.peek().ok_or(bad.clone())?;
                let starts_inside = run.id.counter == want && want > p.id.counter;
                if run.is_delete
                    || (starts_inside && run.left != Some(Id::new(r, want - 1)))
                    || *right.get_or_insert(run.right) != run.right
                {
                    return Err(bad);
                }
                let to = p.end().min(run.end());
                if want == p.id.counter && to == p.end() && !p.deleted {
                    let text = &log_text[run.text.clone()];
                    let (from, to) = (want - run.id.counter, to - run.id.counter);
                    within_one = Some(if text.len() as u64 == run.len {
                        run.text.start + from as usize..run.text.start + to as usize
                    } else {
                        let a = byte_of(text, &mut at_char, from);
                        let b = byte_of(text, &mut at_char, to);
                        run.text.start + a..run.text.start + b
                    });
                }
                want = to;
                if to == run.end() {
                    runs.next();
                    at_char = (0, 0);
                }
            }
            texts[i as usize] = within_one;
        }
        while let Some(run) = runs.next_if(|run| run.is_delete && run.id.counter == want) {
            want = run.end();
        }
        if runs.next().is_some() {
            return Err(bad);
        }
    }
    Ok(texts)
}

/// The byte offset of char `k` of `text`, walking on from `at` (a char
/// offset and its byte offset, at or before `k`), which moves to `k`.
fn byte_of(text: &str, at: &mut (u64, usize), k: u64) -> usize {
    let mut bytes = text[at.1..].char_indices().map(|(i, _)| at.1 + i);
    at.1 = bytes.nth((k - at.0) as usize).unwrap_or(text.len());
    at.0 = k;
    at.1
}

/// Whether `named` (sorted, merged) covers all of piece `p`, and any of
/// it. `at` is a cursor into `named`, for pieces asked about in id order.
fn coverage(named: &[(Id, u64)], at: &mut usize, p: &Piece) -> (bool, bool) {
    let before_p = |&(s, l): &(Id, u64)| (s.replica, s.counter + l) <= (p.id.replica, p.id.counter);
    while named.get(*at).is_some_and(before_p) {
        *at += 1;
    }
    match named.get(*at) {
        Some(&(s, l)) if s.replica == p.id.replica && s.counter < p.end() => {
            (s.counter <= p.id.counter && s.counter + l >= p.end(), true)
        }
        _ => (false, false),
    }
}

/// Sorts id ranges and joins those that touch or overlap (two deletes may
/// name the same char), giving a canonical set.
fn merged(mut spans: Vec<(Id, u64)>) -> Vec<(Id, u64)> {
    spans.sort_unstable();
    let mut out: Vec<(Id, u64)> = Vec::with_capacity(spans.len());
    for (id, len) in spans {
        if let Some((start, l)) = out.last_mut() {
            if start.replica == id.replica && id.counter <= start.counter + *l {
                *l = (*l).max(id.counter + len - start.counter);
                continue;
            }
        }
        out.push((id, len));
    }
    out
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

#[cfg(test)]
mod tests {
    use super::chars_end;

    proptest::proptest! {
        /// `chars_end` agrees with decoding the chars one by one, for any
        /// mix of 1- to 4-byte chars and any count, too many included.
        #[test]
        fn chars_end_matches_char_indices(
            text in "[a-zé€😀\n]{0,40}",
            from_char in 0usize..45,
            len in 0u64..45,
        ) {
            let bounds: Vec<usize> = text
                .char_indices()
                .map(|(i, _)| i)
                .chain([text.len()])
                .collect();
            let Some(&from) = bounds.get(from_char) else {
                return Ok(());
            };
            let expected = bounds.get(from_char + len as usize).copied();
            proptest::prop_assert_eq!(chars_end(text.as_bytes(), from, len), expected);
        }
    }
}
