//! The workload: simulated typists editing at a human rhythm.
//!
//! Each node has one typist with a cursor. A typist works in bursts: it
//! thinks for a while (and may move its cursor, maybe to the current hot
//! spot), then types a run of keystrokes about 150 ms apart: mostly
//! characters, some backspaces, now and then a range delete or a paste.
//! Hot spots are moments when several typists go to the same place of the
//! document at once, which is where concurrent inserts interleave.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::queue::Micros;

/// One local edit, in char positions of the typist's own replica.
pub use rumor::node::Edit;

/// What a typist does when it wakes up, and when it wakes up next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub edit: Option<Edit>,
    pub next_in: Micros,
}

/// A place several typists head for at the same time: a fraction of the document.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HotSpot {
    pub fraction: f64,
    pub until: Micros,
}

#[derive(Clone, Debug, Default)]
pub struct Typist {
    /// Char position of the cursor in this typist's replica.
    pub cursor: usize,
    /// Keystrokes left in the current burst (0: thinking).
    burst_left: u32,
}

const MS: Micros = 1_000;

/// Letters in rough English frequency, plus spaces; a few non-ASCII chars
/// so positions are checked in chars, not bytes.
const COMMON: &[u8] = b"eeeeettttaaaoooiiinnnsssshhrrdlcumwfgypbvk      ";
const RARE: &[char] = &['\n', 'é', 'ß', '日', '→', '🙂', ',', '.'];

fn random_char(rng: &mut ChaCha8Rng) -> char {
    if rng.random_bool(0.03) {
        RARE[rng.random_range(0..RARE.len())]
    } else {
        COMMON[rng.random_range(0..COMMON.len())] as char
    }
}

fn random_text(rng: &mut ChaCha8Rng, len: usize) -> String {
    (0..len).map(|_| random_char(rng)).collect()
}

impl Typist {
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the cursor as an editor does when a remote change lands:
    /// `deleted` chars at `pos` were replaced by `inserted` chars.
    pub fn follow_patch(&mut self, pos: usize, deleted: usize, inserted: usize) {
        if self.cursor >= pos + deleted {
            self.cursor = self.cursor - deleted + inserted;
        } else if self.cursor > pos {
            self.cursor = pos;
        }
    }

    /// Decides the next action on a document of `doc_len` chars.
    pub fn step(
        &mut self,
        rng: &mut ChaCha8Rng,
        doc_len: usize,
        hot_spot: Option<HotSpot>,
    ) -> Step {
        self.cursor = self.cursor.min(doc_len);
        if self.burst_left == 0 {
            // Between bursts: think, maybe move the cursor.
            self.burst_left = rng.random_range(3..=40);
            if let Some(h) = hot_spot {
                if rng.random_bool(0.8) {
                    self.cursor = ((doc_len as f64) * h.fraction) as usize;
                }
            } else if rng.random_bool(0.3) {
                self.cursor = rng.random_range(0..=doc_len);
            }
            return Step {
                edit: None,
                next_in: rng.random_range(300 * MS..=3_000 * MS),
            };
        }
        self.burst_left -= 1;
        let keystroke = rng.random_range(60 * MS..=250 * MS);
        let roll: f64 = rng.random();
        let edit = if roll < 0.80 || doc_len == 0 {
            let text = random_char(rng).to_string();
            let pos = self.cursor;
            self.cursor += 1;
            Some(Edit::Insert { pos, text })
        } else if roll < 0.90 {
            // Backspace (or delete-forward at the start of the text).
            if self.cursor > 0 {
                self.cursor -= 1;
            }
            Some(Edit::Delete {
                pos: self.cursor,
                len: 1,
            })
        } else if roll < 0.93 {
            // Select a range and delete it.
            let len = rng.random_range(2..=30).min(doc_len);
            let pos = self.cursor.min(doc_len - len);
            self.cursor = pos;
            Some(Edit::Delete { pos, len })
        } else if roll < 0.95 {
            // Paste.
            let len = rng.random_range(10..=120);
            let text = random_text(rng, len);
            let pos = self.cursor;
            self.cursor += len;
            Some(Edit::Insert { pos, text })
        } else {
            // Arrow keys: move a little, no edit.
            let back = rng.random_range(0..=5).min(self.cursor);
            self.cursor = (self.cursor - back + rng.random_range(0..=5)).min(doc_len);
            None
        };
        Step {
            edit,
            next_in: keystroke,
        }
    }
}

/// Schedules hot spots: returns the next one and when it starts.
pub fn next_hot_spot(rng: &mut ChaCha8Rng, now: Micros) -> (Micros, HotSpot) {
    let start = now + rng.random_range(5_000 * MS..=30_000 * MS);
    let spot = HotSpot {
        fraction: rng.random(),
        until: start + rng.random_range(2_000 * MS..=8_000 * MS),
    };
    (start, spot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Applies a typist's edits to a plain string: every edit must be in range.
    #[test]
    fn edits_stay_in_range_and_mix_kinds() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut t = Typist::new();
        let mut text: Vec<char> = Vec::new();
        let (mut inserts, mut deletes, mut pastes, mut ranges) = (0, 0, 0, 0);
        let mut elapsed = 0;
        for i in 0..20_000 {
            let hot = (i % 1000 < 200).then_some(HotSpot {
                fraction: 0.5,
                until: u64::MAX,
            });
            let step = t.step(&mut rng, text.len(), hot);
            elapsed += step.next_in;
            assert!(step.next_in >= 60 * MS);
            match step.edit {
                Some(Edit::Insert { pos, text: s }) => {
                    assert!(pos <= text.len());
                    let n = s.chars().count();
                    if n > 1 {
                        pastes += 1
                    } else {
                        inserts += 1
                    }
                    text.splice(pos..pos, s.chars());
                }
                Some(Edit::Delete { pos, len }) => {
                    assert!(len >= 1 && pos + len <= text.len(), "{pos}+{len}");
                    if len > 1 {
                        ranges += 1
                    } else {
                        deletes += 1
                    }
                    text.drain(pos..pos + len);
                }
                None => {}
            }
            assert!(t.cursor <= text.len());
        }
        assert!(inserts > 10 * deletes / 2 && deletes > 0 && pastes > 0 && ranges > 0);
        // Human speed: a few keystrokes per second on average.
        let per_sec = 20_000.0 / (elapsed as f64 / 1e6);
        assert!((1.0..10.0).contains(&per_sec), "{per_sec}");
    }

    #[test]
    fn cursor_follows_remote_patches() {
        let mut t = Typist {
            cursor: 10,
            burst_left: 0,
        };
        t.follow_patch(2, 0, 3); // insert before: shift right
        assert_eq!(t.cursor, 13);
        t.follow_patch(20, 0, 3); // after: unchanged
        assert_eq!(t.cursor, 13);
        t.follow_patch(0, 3, 0); // delete before
        assert_eq!(t.cursor, 10);
        t.follow_patch(8, 5, 0); // delete around the cursor
        assert_eq!(t.cursor, 8);
    }
}
