//! Which of the editor's local edits make one undo step: a burst of
//! typing or deleting at one place. A pause of [`PAUSE`], a cursor move
//! (or any command that is not an edit) or a newline ends it; a paste is
//! a step of its own. Pure: the time comes in as an argument.

use std::time::Duration;

use crate::node::Time;

use super::model::Action;

/// A pause in typing this long ends the step.
pub const PAUSE: Duration = Duration::from_secs(1);

/// The open burst, if any.
#[derive(Clone, Debug, Default)]
pub struct Burst {
    /// When the last edit of the open burst was made; `None`: none open.
    last: Option<Time>,
}

impl Burst {
    /// Whether `action`, done at `now`, joins the open undo step (`false`
    /// for an action that is no edit: it ends the burst).
    pub fn joins(&mut self, action: &Action, now: Time) -> bool {
        let (typed, ends) = match action {
            Action::Insert(text) => {
                let mut chars = text.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => (true, c == '\n'),
                    // A paste: a step of its own.
                    _ => (false, true),
                }
            }
            Action::Backspace | Action::Delete => (true, false),
            _ => (false, true),
        };
        let joins = typed && self.last.is_some_and(|t| now.saturating_since(t) < PAUSE);
        self.last = (!ends).then_some(now);
        joins
    }

    /// Ends the burst: the next edit starts a step.
    pub fn close(&mut self) {
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Time {
        Time(n * 1000)
    }

    fn ins(s: &str) -> Action {
        Action::Insert(s.into())
    }

    #[test]
    fn typing_joins_until_a_pause_a_move_a_newline_or_a_paste() {
        let mut b = Burst::default();
        assert!(!b.joins(&ins("a"), ms(0)), "the first edit opens a step");
        assert!(b.joins(&ins("b"), ms(300)));
        assert!(b.joins(&Action::Backspace, ms(600)));
        assert!(!b.joins(&ins("c"), ms(1700)), "a pause");
        assert!(b.joins(&ins("\n"), ms(1800)), "a newline ends the burst");
        assert!(!b.joins(&ins("d"), ms(1900)));
        assert!(!b.joins(&Action::Left, ms(2000)), "a cursor move");
        assert!(!b.joins(&ins("e"), ms(2100)));
        assert!(!b.joins(&ins("pasted"), ms(2200)), "a paste is its own");
        assert!(!b.joins(&ins("f"), ms(2300)));
        assert!(b.joins(&Action::Delete, ms(2400)));
        b.close();
        assert!(!b.joins(&ins("g"), ms(2500)));
    }
}
