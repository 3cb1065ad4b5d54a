//! Time travel: what `view @V`, `diff`, `restore`, `blame`, `tag` and
//! `tags` say, from the replica's record of versions, its tags and its
//! document (see `doc::past`, `host::Versions`, `host::Tags`).

use std::collections::BTreeMap;

use similar::TextDiff;

use crate::commands::command::{self, TimeSpec, VersionSpec};
use crate::doc::{Doc, Id, IdSpan, Past, PastError, ReplicaId};
use crate::host::{format_utc, Host, Hosted, Kept, Storage};
use crate::net::text_merge;
use crate::node::Edit;

/// A version found: how to call it in a reply, and the document then.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub label: String,
    pub past: Past,
}

/// The document now.
pub fn now<S: Storage, N: Hosted>(host: &Host<S, N>) -> Resolved {
    let doc = host.node().doc();
    let past = doc
        .past(doc.version_ref())
        .expect("a replica can always rebuild its own version");
    Resolved {
        label: "now".into(),
        past,
    }
}

/// The document at `spec`; `now_ms` (wall clock) places `@HH:MM` today.
pub fn resolve<S: Storage, N: Hosted>(
    host: &Host<S, N>,
    spec: &VersionSpec,
    now_ms: u64,
) -> Result<Resolved, String> {
    let doc = host.node().doc();
    if let VersionSpec::Tag(name) = spec {
        let tag = host
            .tags()
            .get(name)
            .ok_or_else(|| format!("no tag {name} (see tags)"))?;
        return match &tag.kept {
            Kept::Text { .. } => Ok(Resolved {
                label: format!("@{name}"),
                past: tag.past().expect("kept text"),
            }),
            Kept::Waiting => Err(format!(
                "tag {name} names ops this replica has not received yet"
            )),
            Kept::Lost => Err(format!(
                "tag {name} names history this replica had cleaned up before the tag arrived"
            )),
        };
    }
    let versions = host
        .history()
        .ok_or("this replica keeps no history")?
        .versions();
    let len = versions.len();
    let n = match *spec {
        VersionSpec::Number(n) => n,
        VersionSpec::Back(k) => len.checked_sub(k).ok_or_else(|| {
            format!("@-{k} is before the first version (the history has {len} entries)")
        })?,
        VersionSpec::Time(TimeSpec::Utc(ms)) => versions.at_time(ms),
        VersionSpec::Time(TimeSpec::Today(ms)) => {
            versions.at_time(now_ms - now_ms % 86_400_000 + ms)
        }
        VersionSpec::Tag(_) => unreachable!("handled above"),
    };
    if n > len {
        return Err(format!(
            "no version @{n}: the history has {len} entries (@0 to @{len})"
        ));
    }
    match doc.past(&versions.version_at(n)) {
        Ok(past) => Ok(Resolved {
            label: format!("@{n}"),
            past,
        }),
        Err(PastError::CleanedUp) => {
            let k = versions.first_containing(&doc.past_floor()).unwrap_or(len);
            Err(format!(
                "history before @{k} was cleaned up; tagged versions are kept"
            ))
        }
        Err(PastError::Unknown) => {
            Err(format!("version @{n} holds ops this replica no longer has"))
        }
    }
}

/// A unified line diff from `a` to `b`, as `diff -u` writes it (the lines
/// without their `\n`; control chars other than tab escaped, so a reply
/// line is one line). Empty when the texts are equal.
pub fn unified_diff(a: &Resolved, b: &Resolved) -> Vec<String> {
    if a.past.text == b.past.text {
        return Vec::new();
    }
    let diff = TextDiff::from_lines(&a.past.text, &b.past.text);
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(&a.label, &b.label)
        .to_string();
    text.lines().map(command::escape_for_terminal).collect()
}

/// The edits that make `doc`'s text that of `target`, by char identity:
/// every char visible now that `target` lacks is deleted, every char of
/// `target` not visible now is typed again (a new char, with the old
/// one's text), and every char both hold stays, with its author. Both
/// lists are in the document's one order, so one walk finds them; the
/// edits are in the order to apply them. Returns them with the number of
/// chars removed and re-inserted.
pub fn restore_edits(doc: &Doc, target: &Past) -> (Vec<Edit>, usize, usize) {
    let now = doc.ids_in(0..doc.len()).unwrap_or_default();
    let flat = |spans: &[IdSpan]| -> Vec<Id> {
        spans
            .iter()
            .flat_map(|s| (0..s.len).map(move |k| s.start.add(k)))
            .collect()
    };
    let (now_ids, target_ids) = (flat(&now), flat(&target.ids));
    let sorted = |ids: &[Id]| {
        let mut v = ids.to_vec();
        v.sort_unstable();
        v
    };
    let (in_now, in_target) = (sorted(&now_ids), sorted(&target_ids));
    let target_chars: Vec<char> = target.past_chars();
    let mut edits: Vec<Edit> = Vec::new();
    let (mut removed, mut inserted) = (0, 0);
    // Where the next char goes in the text as edited so far; the chars
    // typed by the last edit if it is an insert that ends there.
    let (mut i, mut j, mut at, mut typed) = (0, 0, 0, 0);
    while i < now_ids.len() || j < target_ids.len() {
        if i < now_ids.len() && in_target.binary_search(&now_ids[i]).is_err() {
            match edits.last_mut() {
                Some(Edit::Delete { pos, len }) if *pos == at => *len += 1,
                _ => edits.push(Edit::Delete { pos: at, len: 1 }),
            }
            typed = 0;
            removed += 1;
            i += 1;
        } else if j < target_ids.len() && in_now.binary_search(&target_ids[j]).is_err() {
            match edits.last_mut() {
                Some(Edit::Insert { pos, text }) if *pos + typed == at => {
                    text.push(target_chars[j])
                }
                _ => {
                    edits.push(Edit::Insert {
                        pos: at,
                        text: target_chars[j].to_string(),
                    });
                    typed = 0;
                }
            }
            typed += 1;
            inserted += 1;
            at += 1;
            j += 1;
        } else {
            // A char both hold: the same one on each side, since both are
            // in the one document order. (Were they not, the texts would
            // be compared instead.)
            if now_ids.get(i) != target_ids.get(j) {
                return restore_by_text(doc, target);
            }
            typed = 0;
            i += 1;
            j += 1;
            at += 1;
        }
    }
    (edits, removed, inserted)
}

/// The edits that make `doc`'s text `target`'s, by comparing the texts.
fn restore_by_text(doc: &Doc, target: &Past) -> (Vec<Edit>, usize, usize) {
    let hunks = text_merge::diff(&doc.text(), &target.text, None);
    let (inserted, removed) = text_merge::size(&hunks);
    (text_merge::edits(&hunks), removed, inserted)
}

/// Who a replica is, for people: its name, `me`, or its id.
pub type Names = BTreeMap<ReplicaId, String>;

/// `blame`: each line of the text, with the replica that wrote most of
/// its chars (ties: the first) and when that replica's latest char on the
/// line was applied here (`-` if unknown).
pub fn blame<S: Storage, N: Hosted>(host: &Host<S, N>, past: &Past, names: &Names) -> Vec<String> {
    let versions = host.history().map(|h| h.versions());
    let mut out = Vec::new();
    let mut spans = past.ids.iter().copied();
    let mut current = spans.next();
    let mut taken = 0u64;
    for line in past.text.split_inclusive('\n') {
        // (chars, latest time) per replica, in order of first appearance.
        let mut counts: Vec<(ReplicaId, u64, u64)> = Vec::new();
        let mut left = line.chars().count() as u64;
        let shown = line.strip_suffix('\n').unwrap_or(line);
        while left > 0 {
            let Some(span) = current else { break };
            let take = (span.len - taken).min(left);
            let first = span.start.add(taken);
            let last = first.add(take - 1);
            let when = versions
                .map(|v| {
                    [first, last]
                        .iter()
                        .filter_map(|id| v.stamp_of(*id))
                        .map(|s| s.unix_ms)
                        .max()
                        .unwrap_or(0)
                })
                .unwrap_or(0);
            match counts.iter_mut().find(|c| c.0 == first.replica) {
                Some(c) => {
                    c.1 += take;
                    c.2 = c.2.max(when);
                }
                None => counts.push((first.replica, take, when)),
            }
            left -= take;
            taken += take;
            if taken == span.len {
                current = spans.next();
                taken = 0;
            }
        }
        let best = counts
            .iter()
            .fold(None::<&(ReplicaId, u64, u64)>, |best, c| match best {
                Some(b) if b.1 >= c.1 => Some(b),
                _ => Some(c),
            });
        let (who, when) = match best {
            Some(&(r, _, ms)) => (
                names.get(&r).cloned().unwrap_or_else(|| r.to_string()),
                if ms == 0 {
                    "-".to_string()
                } else {
                    format_utc(ms)
                },
            ),
            None => ("-".into(), "-".into()),
        };
        out.push(format!(
            "{:<16}  {:<19}  {}",
            command::truncate(&who, 16),
            when,
            command::escape_for_terminal(shown)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::{Id, IdSpan};

    fn resolved(label: &str, text: &str) -> Resolved {
        Resolved {
            label: label.into(),
            past: Past {
                text: text.into(),
                ids: vec![IdSpan::new(
                    Id::new(ReplicaId(1), 0),
                    text.chars().count() as u64,
                )],
            },
        }
    }

    fn apply(doc: &mut Doc, edits: &[Edit]) {
        for e in edits {
            match e {
                Edit::Insert { pos, text } => doc.insert(*pos, text).unwrap(),
                Edit::Delete { pos, len } => doc.delete(*pos, *len).unwrap(),
            }
        }
    }

    #[test]
    fn a_restore_keeps_every_char_both_versions_hold() {
        let mut a = Doc::new(ReplicaId(1));
        a.insert(0, "DRAFT one two three").unwrap();
        let v = a.version();
        let mut b = Doc::new(ReplicaId(2));
        for op in a.ops_since(&crate::doc::VersionVector::new()) {
            b.apply(op).unwrap();
        }
        b.insert(10, "TWO").unwrap();
        for op in b.ops_since(a.version_ref()) {
            a.apply(op).unwrap();
        }
        a.delete(0, 6).unwrap();
        a.delete(4, 4).unwrap();
        a.insert(0, "x").unwrap();
        let target = a.past(&v).unwrap();
        let (edits, removed, inserted) = restore_edits(&a, &target);
        let kept_before = a.ids_in(7..11).unwrap();
        apply(&mut a, &edits);
        assert_eq!(a.text(), "DRAFT one two three");
        // Now "xone wo three": "x" goes ("TWO" went with a's delete);
        // "DRAFT " and the "t" of "two" come back as new chars.
        assert_eq!((removed, inserted), (1, 7));
        // " three" and the rest kept their ids (and so their authors).
        let now = a.past(a.version_ref()).unwrap();
        let flat: Vec<Id> = now
            .ids
            .iter()
            .flat_map(|s| (0..s.len).map(move |k| s.start.add(k)))
            .collect();
        for s in kept_before {
            for k in 0..s.len {
                assert!(flat.contains(&s.start.add(k)));
            }
        }
        // Restoring what is there already changes nothing.
        let same = a.past(a.version_ref()).unwrap();
        assert_eq!(restore_edits(&a, &same).0, Vec::<Edit>::new());
    }

    #[test]
    fn a_diff_reads_as_diff_u_does() {
        let a = resolved("@1", "one\ntwo\nthree\n");
        let b = resolved("now", "one\n2\nthree\nfour");
        let lines = unified_diff(&a, &b);
        assert_eq!(lines[0], "--- @1");
        assert_eq!(lines[1], "+++ now");
        assert!(lines.contains(&"-two".to_string()), "{lines:?}");
        assert!(lines.contains(&"+2".to_string()), "{lines:?}");
        assert!(lines.contains(&"+four".to_string()), "{lines:?}");
        assert!(lines.iter().any(|l| l.starts_with("\\ No newline")));
        assert!(unified_diff(&a, &a).is_empty());
    }
}
