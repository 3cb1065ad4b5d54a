//! Loading a plain history (`doc::history`, magic `RMH1` or `RMH2`) in one pass.
//!
//! A history holds every op in causal order, so a fresh replica could take
//! them through [`Doc::apply`] one by one. That path pays for what a
//! history never needs: an `Op` (and its text) allocated per op, the
//! holding area, the visible position of every change and an edit of the
//! text rope per op. Here each op goes straight from the decoded bytes
//! into the log and the sequence (which places inserts by the same
//! FugueMax rule, `Sequence::integrate`), and the visible text is built
//! once at the end, from the pieces in document order.
//!
//! The result is the replica `apply` would give (same log, same pieces,
//! same text, same version; the unit tests compare both, and the flat
//! reference model), and the same ops are refused: every check `apply`
//! makes on an op that arrives in order is made here too, so damaged or
//! hostile bytes give an error, never a panic or a half-built document.

use super::id::{Id, TargetSpan};
use super::sequence::Refused;
use super::{op, Doc, Error, NAMES_A_DELETE};

/// One op of a history, borrowed from the decoded bytes.
pub(crate) enum Step<'a> {
    Insert {
        left: Option<Id>,
        right: Option<Id>,
        text: &'a str,
    },
    Delete {
        targets: &'a [TargetSpan],
    },
}

/// Applies `steps` (first id, counters used, what it does), in order, to
/// `doc`, a fresh replica. On error `doc` is half-built: drop it.
pub(crate) fn replay<'a>(
    doc: &mut Doc,
    steps: impl Iterator<Item = (Id, u64, Step<'a>)>,
) -> Result<(), Error> {
    let bad = Error::InvalidOp("malformed history");
    debug_assert!(doc.collected.is_empty(), "a plain history collects nothing");
    for (id, len, step) in steps {
        // What `Op::validate` and `Doc::apply` check, for an op that
        // arrives in causal order (anything else would be held: refused).
        if len == 0 || len > op::MAX_RUN || doc.version.get(id.replica) != id.counter {
            return Err(bad);
        }
        let own_future = |d: Id| d.replica == id.replica && d.counter >= id.counter;
        match step {
            Step::Insert { left, right, text } => {
                for &d in left.iter().chain(right.iter()) {
                    if own_future(d) || !doc.version.contains(d) {
                        return Err(bad);
                    }
                }
                if !doc.log.has_room(text.len(), 0) {
                    return Err(Error::InvalidOp("history full"));
                }
                doc.seq
                    .integrate_silently(id, len, left, right, &doc.log, &doc.collected)
                    .map_err(|refused| match refused {
                        Refused::NotAChar => NAMES_A_DELETE,
                        Refused::Collected(id) => Error::Collected(id),
                    })?;
                doc.log.push_insert(id, left, right, text, len);
            }
            Step::Delete { targets } => {
                let mut total = 0u64;
                for t in targets {
                    let span = t.ids().ok_or(bad.clone())?;
                    total = total.checked_add(span.len).ok_or(bad.clone())?;
                    if own_future(span.last()) || !doc.version.contains(span.last()) {
                        return Err(bad);
                    }
                }
                if total != len || !doc.log.has_room(0, targets.len()) {
                    return Err(bad);
                }
                // Every id the sequence holds is a char (nothing is
                // collected yet): a target it lacks is the id of a delete.
                for span in targets.iter().filter_map(TargetSpan::ids) {
                    if !doc.seq.delete_span_silently(span, &doc.log) {
                        return Err(NAMES_A_DELETE);
                    }
                }
                doc.log.push_delete(id, targets, len);
            }
        }
        doc.version.set(id.replica, id.counter + len);
    }
    // The id index, once (if the sequence found ids through a slot per id
    // while loading: `Sequence::begin_load`).
    doc.seq.end_load();
    // The visible text, once: the visible pieces in document order.
    let mut visible = String::new();
    for p in doc.seq.pieces().filter(|p| !p.deleted) {
        doc.log.push_text(p.id, p.len as u64, &mut visible);
    }
    doc.text.insert(0, &visible);
    Ok(())
}
