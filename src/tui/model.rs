//! The editing model: the cursor, the view window, and the math of
//! wrapping and scrolling. Pure: no terminal, no network; it works on a
//! [`Doc`] through a [`Target`] (the driver in the program, a bare doc in
//! tests and benches).
//!
//! - **Anchors.** The cursor is kept as the id of the char just after it
//!   (`None`: the end of the text), never as a position, so remote inserts
//!   and deletes before it move it along with its char. When that very
//!   char is deleted, the cursor stays where the char was
//!   (`Doc::position_of`) and anchors to the char now there. The top of
//!   the window is anchored the same way, so remote edits above it do not
//!   scroll the text under the reader's eyes. A selection is the text
//!   between the cursor and a second anchor kept the same way.
//! - **Replacing.** An edit with text selected first deletes the
//!   selection; the driver's [`Target`] makes every edit of one action
//!   one undo step.
//! - **Wrapping.** Long lines wrap: a line is cut into rows of at most
//!   `width` cells, between words when a row has a space (a tab reaches
//!   the next multiple of [`TAB_WIDTH`], a wide char takes two cells). A
//!   line that fills its last row exactly gets one more, empty row, where
//!   the cursor sits at the line's end.
//!   Up and Down move by rows, keeping the column they started from.
//! - **Cost.** Only the lines on screen and around the cursor are laid
//!   out; everything else is an O(log n) rope or doc lookup.

use std::ops::Range;

use ropey::{Rope, RopeSlice};
use unicode_width::UnicodeWidthChar;

use crate::doc::{Doc, Id};
use crate::node::Edit;

use super::mirror::Mirror;
use super::search;

/// Columns between tab stops.
pub const TAB_WIDTH: usize = 4;

/// Where local edits go: the driver (which makes them durable and sends
/// them), or a bare doc.
pub trait Target {
    fn doc(&self) -> &Doc;
    /// `Ok(None)`: done. `Ok(Some(warning))`: done, with something to tell
    /// the user. `Err`: refused, nothing changed.
    fn edit(&mut self, edit: Edit) -> Result<Option<String>, String>;
}

impl Target for Doc {
    fn doc(&self) -> &Doc {
        self
    }
    fn edit(&mut self, edit: Edit) -> Result<Option<String>, String> {
        let result = match edit {
            Edit::Insert { pos, text } => self.insert(pos, &text),
            Edit::Delete { pos, len } => self.delete(pos, len),
        };
        result.map(|()| None).map_err(|e| e.to_string())
    }
}

/// What a key asks of the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Typed or pasted text (one op, however long).
    Insert(String),
    Backspace,
    Delete,
    Left,
    Right,
    Up,
    Down,
    /// Start / end of the line.
    Home,
    End,
    PageUp,
    PageDown,
    WordLeft,
    WordRight,
    DocStart,
    DocEnd,
}

impl Action {
    /// Whether it changes the text (else it moves the cursor).
    pub fn is_edit(&self) -> bool {
        matches!(self, Action::Insert(_) | Action::Backspace | Action::Delete)
    }
}

/// Where [`Editor::find`] looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Search {
    /// From the selection's start (as the query is typed).
    Here,
    /// After the cursor.
    Next,
    /// Before the selection's start.
    Previous,
}

/// Cells char `c` takes when it starts at display column `col`.
pub fn char_width(c: char, col: usize) -> usize {
    if c == '\t' {
        TAB_WIDTH - col % TAB_WIDTH
    } else {
        // Control and zero-width chars are drawn as one placeholder cell.
        c.width().unwrap_or(1).max(1)
    }
}

/// Chars of a line before its `\n`.
pub fn line_len(rope: &Rope, line: usize) -> usize {
    let slice = rope.line(line);
    let n = slice.len_chars();
    if n > 0 && slice.char(n - 1) == '\n' {
        n - 1
    } else {
        n
    }
}

/// Where each row of `line` starts, in chars from the line's start.
/// Always at least one row. A row ends after its last space or tab when
/// it has one, or before the space that does not fit (words are not cut),
/// else after the last char that fits.
pub fn row_starts(line: RopeSlice, width: usize) -> Vec<usize> {
    let width = width.max(1);
    let chars: Vec<char> = line.chars().take_while(|&c| c != '\n').collect();
    let mut starts = vec![0];
    let mut start = 0;
    loop {
        // Fill the row that begins at `start`.
        let (mut i, mut col, mut after_space) = (start, 0, None);
        while i < chars.len() {
            let w = char_width(chars[i], col);
            if col > 0 && col + w > width {
                break;
            }
            col += w;
            i += 1;
            if chars[i - 1] == ' ' || chars[i - 1] == '\t' {
                after_space = Some(i);
            }
        }
        if i == chars.len() {
            if col >= width {
                // The cursor after the last char needs a row of its own.
                starts.push(chars.len());
            }
            return starts;
        }
        // A word that fits up to the edge stays whole: cut before the space.
        let at_space = chars[i] == ' ' || chars[i] == '\t';
        start = if at_space {
            i
        } else {
            after_space.unwrap_or(i)
        };
        starts.push(start);
    }
}

/// A position on screen terms: line, row within the line, display column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loc {
    pub line: usize,
    pub row: usize,
    pub col: usize,
}

/// Where char position `pos` (0 ..= len) is drawn.
pub fn locate(rope: &Rope, pos: usize, width: usize) -> Loc {
    let pos = pos.min(rope.len_chars());
    let line = rope.char_to_line(pos);
    let offset = pos - rope.line_to_char(line);
    let starts = row_starts(rope.line(line), width);
    let row = starts.partition_point(|&s| s <= offset) - 1;
    let mut col = 0;
    for c in rope
        .line(line)
        .chars()
        .skip(starts[row])
        .take(offset - starts[row])
    {
        col += char_width(c, col);
    }
    Loc { line, row, col }
}

/// The char position at column `col` of row `row` of `line` (the char
/// covering that column, or the row's last cursor place).
pub fn position_at(rope: &Rope, line: usize, row: usize, col: usize, width: usize) -> usize {
    let line_start = rope.line_to_char(line);
    let starts = row_starts(rope.line(line), width);
    let row = row.min(starts.len() - 1);
    let start = starts[row];
    // The last place in the row: before the next row's first char, or the
    // line's end on its last row.
    let last = match starts.get(row + 1) {
        Some(&next) => next - 1,
        None => line_len(rope, line),
    };
    let mut c_col = 0;
    let mut offset = start;
    for c in rope.line(line).chars().skip(start).take(last - start) {
        let w = char_width(c, c_col);
        if col < c_col + w {
            break;
        }
        c_col += w;
        offset += 1;
    }
    line_start + offset.min(last)
}

/// The row after (`forward`) or before `(line, row)`, if any.
fn step_row(
    rope: &Rope,
    line: usize,
    row: usize,
    forward: bool,
    width: usize,
) -> Option<(usize, usize)> {
    if forward {
        let rows = row_starts(rope.line(line), width).len();
        if row + 1 < rows {
            Some((line, row + 1))
        } else if line + 1 < rope.len_lines() {
            Some((line + 1, 0))
        } else {
            None
        }
    } else if row > 0 {
        Some((line, row - 1))
    } else if line > 0 {
        let rows = row_starts(rope.line(line - 1), width).len();
        Some((line - 1, rows - 1))
    } else {
        None
    }
}

/// One row on screen: chars `start..end` of the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScreenRow {
    pub line: usize,
    /// First row of its line (where a line number would go).
    pub first: bool,
    pub start: usize,
    pub end: usize,
    /// The last row of its line: the cursor may sit at `end`.
    pub last: bool,
}

/// Where `pos` is among `rows`: (row index, display column).
pub fn screen_position(rope: &Rope, rows: &[ScreenRow], pos: usize) -> Option<(usize, usize)> {
    let i = rows
        .iter()
        .position(|r| r.start <= pos && (pos < r.end || (r.last && pos == r.end)))?;
    let mut col = 0;
    for c in rope.chars_at(rows[i].start).take(pos - rows[i].start) {
        col += char_width(c, col);
    }
    Some((i, col))
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The editor's state besides the text.
pub struct Editor {
    pub mirror: Mirror,
    /// The char just after the cursor; `None`: the end of the text.
    cursor: Option<Id>,
    /// The selection's other end, anchored as the cursor is; `None`:
    /// nothing selected.
    anchor: Option<Option<Id>>,
    /// The display column Up and Down aim for.
    goal: Option<usize>,
    /// The char the top row starts with; `None`: the end of the text.
    top: Option<Id>,
    width: usize,
    height: usize,
}

impl Editor {
    /// Cursor and window at the start of the text.
    pub fn new(doc: &Doc, width: usize, height: usize) -> Editor {
        Editor {
            mirror: Mirror::new(doc),
            cursor: doc.id_at(0),
            anchor: None,
            goal: None,
            top: doc.id_at(0),
            width: width.max(1),
            height: height.max(1),
        }
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    /// The char the cursor is just before (`None`: the end), what peers see.
    pub fn cursor_id(&self) -> Option<Id> {
        self.cursor
    }

    pub fn resize(&mut self, doc: &Doc, width: usize, height: usize) {
        self.width = width.max(1);
        self.height = height.max(1);
        self.goal = None;
        self.scroll_to_cursor(doc);
    }

    /// Where an anchor is now: `None` is the end; a deleted char gives
    /// where it was. The second value is the anchor to keep.
    fn resolve(&self, doc: &Doc, anchor: Option<Id>) -> (usize, Option<Id>) {
        let len = self.mirror.len();
        match anchor.and_then(|id| doc.position_of(id)) {
            Some((pos, true)) => (pos.min(len), anchor),
            Some((pos, false)) => (pos.min(len), doc.id_at(pos)),
            None => (len, None),
        }
    }

    /// The cursor's char position.
    pub fn cursor_pos(&self, doc: &Doc) -> usize {
        self.resolve(doc, self.cursor).0
    }

    /// The cursor's place on screen terms.
    pub fn cursor_loc(&self, doc: &Doc) -> Loc {
        locate(self.mirror.rope(), self.cursor_pos(doc), self.width)
    }

    fn set_cursor_pos(&mut self, doc: &Doc, pos: usize) {
        self.cursor = doc.id_at(pos);
    }

    /// The selected chars, if any (never empty).
    pub fn selection(&self, doc: &Doc) -> Option<Range<usize>> {
        let anchor = self.resolve(doc, self.anchor?).0;
        let cursor = self.cursor_pos(doc);
        let range = anchor.min(cursor)..anchor.max(cursor);
        (!range.is_empty()).then_some(range)
    }

    /// The selection's other end as peers are told it: `None` when
    /// nothing is selected.
    pub fn selection_anchor(&self, doc: &Doc) -> Option<Option<Id>> {
        self.selection(doc).and(self.anchor)
    }

    /// The selected text, if any.
    pub fn selected_text(&self, doc: &Doc) -> Option<String> {
        let range = self.selection(doc)?;
        Some(self.mirror.rope().slice(range).to_string())
    }

    /// Selects `range` (clamped to the text), the cursor at its end.
    pub fn select_range(&mut self, doc: &Doc, range: Range<usize>) {
        let len = self.mirror.len();
        self.anchor = Some(doc.id_at(range.start.min(len)));
        self.set_cursor_pos(doc, range.end.min(len));
        self.goal = None;
        self.scroll_to_cursor(doc);
    }

    /// Drops the selection (the text stays).
    pub fn deselect(&mut self) {
        self.anchor = None;
    }

    /// Moves the cursor as `action` does, the selection following it
    /// (starting where the cursor was). An edit does nothing here.
    pub fn select(&mut self, doc: &Doc, action: Action) {
        if action.is_edit() {
            return;
        }
        self.sync(doc);
        if self.anchor.is_none() {
            self.anchor = Some(self.cursor);
        }
        self.motion(doc, &action);
    }

    /// Deletes the selection, if any: the cursor goes where it was.
    pub fn delete_selection(&mut self, target: &mut impl Target) -> Result<Option<String>, String> {
        self.sync(target.doc());
        let Some(range) = self.selection(target.doc()) else {
            self.anchor = None;
            return Ok(None);
        };
        let warning = target.edit(Edit::Delete {
            pos: range.start,
            len: range.len(),
        })?;
        self.anchor = None;
        let doc = target.doc();
        self.mirror.local_delete(doc, range.start, range.len());
        self.set_cursor_pos(doc, range.start);
        self.goal = None;
        self.scroll_to_cursor(doc);
        Ok(warning)
    }

    /// The char position under cell (`x`, `y`) of the text area: the
    /// end of the text below its last row.
    pub fn position_on_screen(&mut self, doc: &Doc, x: usize, y: usize) -> usize {
        let rows = self.screen_rows(doc);
        let rope = self.mirror.rope();
        match rows.get(y) {
            Some(row) => {
                let loc = locate(rope, row.start, self.width);
                position_at(rope, row.line, loc.row, x, self.width)
            }
            None => self.mirror.len(),
        }
    }

    /// A click at cell (`x`, `y`) of the text area: the cursor goes
    /// there; `drag`: the selection stretches from where the button went
    /// down.
    pub fn click(&mut self, doc: &Doc, x: usize, y: usize, drag: bool) {
        self.sync(doc);
        let pos = self.position_on_screen(doc, x, y);
        if !drag {
            // Where a drag would start from.
            self.anchor = Some(doc.id_at(pos));
        } else if self.anchor.is_none() {
            self.anchor = Some(self.cursor);
        }
        self.set_cursor_pos(doc, pos);
        self.goal = None;
        self.scroll_to_cursor(doc);
    }

    /// The matches of `query` on screen.
    pub fn matches_on_screen(&mut self, doc: &Doc, query: &str) -> Vec<Range<usize>> {
        let rows = self.screen_rows(doc);
        match (rows.first(), rows.last()) {
            (Some(first), Some(last)) => {
                search::matches_in(self.mirror.rope(), query, first.start..last.end)
            }
            _ => Vec::new(),
        }
    }

    /// Selects the next (or, `Search::Previous`, the previous) match of
    /// `query`, wrapping around. `None`: no match; `Some(true)`: it
    /// wrapped.
    pub fn find(&mut self, doc: &Doc, query: &str, how: Search) -> Option<bool> {
        self.sync(doc);
        let cursor = self.cursor_pos(doc);
        let start = self.selection(doc).map_or(cursor, |r| r.start);
        let (from, forward) = match how {
            Search::Here => (start, true),
            Search::Next => (cursor, true),
            Search::Previous => (start, false),
        };
        let found = search::find(self.mirror.rope(), query, from, forward)?;
        let wrapped = if forward {
            found.start < from
        } else {
            found.start >= from
        };
        self.select_range(doc, found);
        Some(wrapped)
    }

    /// The top row, as (line, row), re-anchored to its row's start.
    fn top_row(&mut self, doc: &Doc) -> (usize, usize) {
        let (pos, anchor) = self.resolve(doc, self.top);
        self.top = anchor;
        let loc = locate(self.mirror.rope(), pos, self.width);
        (loc.line, loc.row)
    }

    fn set_top(&mut self, doc: &Doc, line: usize, row: usize) {
        let rope = self.mirror.rope();
        let starts = row_starts(rope.line(line), self.width);
        let pos = rope.line_to_char(line) + starts[row.min(starts.len() - 1)];
        self.top = doc.id_at(pos);
    }

    /// Takes in the remote changes (patches pushed into the mirror) and
    /// keeps the cursor on its char and in view. Returns whether the text
    /// changed.
    pub fn sync(&mut self, doc: &Doc) -> bool {
        let changed = self.mirror.sync(doc);
        if changed {
            self.reanchor(doc);
            self.scroll_to_cursor(doc);
        }
        changed
    }

    /// Re-anchors the cursor and the selection after a change.
    fn reanchor(&mut self, doc: &Doc) {
        self.cursor = self.resolve(doc, self.cursor).1;
        self.anchor = self.anchor.map(|a| self.resolve(doc, a).1);
    }

    /// Takes the text whole (after changes that came without patches).
    pub fn reload(&mut self, doc: &Doc) {
        self.mirror.copy(doc);
        self.reanchor(doc);
        self.scroll_to_cursor(doc);
    }

    /// Copies the text whole after local edits made elsewhere (an undo),
    /// and puts the cursor at `pos` (clamped to the text).
    pub fn reload_at(&mut self, doc: &Doc, pos: usize) {
        self.mirror.copy(doc);
        self.anchor = None;
        self.set_cursor_pos(doc, pos.min(doc.len()));
        self.goal = None;
        self.scroll_to_cursor(doc);
    }

    /// Scrolls as little as needed to show the cursor, and never leaves
    /// rows empty past the end of the text while rows above are hidden
    /// (a view anchored at the end of an empty text, say, when the text
    /// then arrives from a peer).
    pub fn scroll_to_cursor(&mut self, doc: &Doc) {
        self.bring_cursor_into_view(doc);
        self.fill_screen(doc);
    }

    /// Moves the top up while the rows from it to the end leave the
    /// screen part empty.
    fn fill_screen(&mut self, doc: &Doc) {
        let top = self.top_row(doc);
        let rope = self.mirror.rope();
        let mut shown = 1;
        let mut at = top;
        while shown < self.height {
            match step_row(rope, at.0, at.1, true, self.width) {
                Some(next) => at = next,
                None => break,
            }
            shown += 1;
        }
        let mut new_top = top;
        while shown < self.height {
            match step_row(rope, new_top.0, new_top.1, false, self.width) {
                Some(prev) => new_top = prev,
                None => break,
            }
            shown += 1;
        }
        if new_top != top {
            self.set_top(doc, new_top.0, new_top.1);
        }
    }

    fn bring_cursor_into_view(&mut self, doc: &Doc) {
        let cursor = self.cursor_loc(doc);
        let target = (cursor.line, cursor.row);
        let top = self.top_row(doc);
        if target <= top {
            self.set_top(doc, target.0, target.1);
            return;
        }
        // Walk up from the cursor at most a screen: meeting the top means
        // the cursor is in view.
        let rope = self.mirror.rope();
        let mut at = target;
        for _ in 1..self.height {
            match step_row(rope, at.0, at.1, false, self.width) {
                Some(prev) if prev == top => return,
                Some(prev) => at = prev,
                None => break,
            }
        }
        self.set_top(doc, at.0, at.1);
    }

    /// The rows on screen, top to bottom (fewer than `height` at the end).
    pub fn screen_rows(&mut self, doc: &Doc) -> Vec<ScreenRow> {
        let (mut line, mut row) = self.top_row(doc);
        let rope = self.mirror.rope();
        let mut out = Vec::with_capacity(self.height);
        while out.len() < self.height && line < rope.len_lines() {
            let starts = row_starts(rope.line(line), self.width);
            let line_start = rope.line_to_char(line);
            let len = line_len(rope, line);
            while row < starts.len() && out.len() < self.height {
                let last = row + 1 == starts.len();
                let end = if last { len } else { starts[row + 1] };
                out.push(ScreenRow {
                    line,
                    first: row == 0,
                    start: line_start + starts[row],
                    end: line_start + end,
                    last,
                });
                row += 1;
            }
            line += 1;
            row = 0;
        }
        out
    }

    /// Does what `action` asks. `Err` is a message for the user (an edit
    /// the doc refused); `Ok(Some)` a warning about an edit that was made.
    /// A move drops the selection; an edit replaces it.
    pub fn apply(
        &mut self,
        target: &mut impl Target,
        action: Action,
    ) -> Result<Option<String>, String> {
        self.sync(target.doc());
        if !action.is_edit() {
            self.anchor = None;
            self.motion(target.doc(), &action);
            return Ok(None);
        }
        let mut warning = None;
        if self.selection(target.doc()).is_some() {
            warning = self.delete_selection(target)?;
            if !matches!(action, Action::Insert(_)) {
                return Ok(warning);
            }
        }
        self.anchor = None;
        let doc = target.doc();
        let pos = self.cursor_pos(doc);
        let len = self.mirror.len();
        match action {
            Action::Insert(text) => {
                let text = text.replace("\r\n", "\n").replace('\r', "\n");
                if !text.is_empty() {
                    let n = text.chars().count();
                    warning = target
                        .edit(Edit::Insert {
                            pos,
                            text: text.clone(),
                        })?
                        .or(warning);
                    let doc = target.doc();
                    self.mirror.local_insert(doc, pos, &text);
                    self.set_cursor_pos(doc, pos + n);
                }
            }
            Action::Backspace if pos > 0 => {
                warning = target.edit(Edit::Delete {
                    pos: pos - 1,
                    len: 1,
                })?;
                let doc = target.doc();
                self.mirror.local_delete(doc, pos - 1, 1);
                self.set_cursor_pos(doc, pos - 1);
            }
            Action::Delete if pos < len => {
                warning = target.edit(Edit::Delete { pos, len: 1 })?;
                let doc = target.doc();
                self.mirror.local_delete(doc, pos, 1);
                self.set_cursor_pos(doc, pos);
            }
            _ => {}
        }
        self.goal = None;
        self.scroll_to_cursor(target.doc());
        Ok(warning)
    }

    /// Moves the cursor as `action` (not an edit) asks.
    fn motion(&mut self, doc: &Doc, action: &Action) {
        let pos = self.cursor_pos(doc);
        let len = self.mirror.len();
        let keep_goal = matches!(
            action,
            Action::Up | Action::Down | Action::PageUp | Action::PageDown
        );
        match action {
            Action::Insert(_) | Action::Backspace | Action::Delete => {}
            Action::Left => self.set_cursor_pos(doc, pos.saturating_sub(1)),
            Action::Right => self.set_cursor_pos(doc, (pos + 1).min(len)),
            Action::Up | Action::Down => {
                self.move_rows(doc, 1, *action == Action::Down);
            }
            Action::PageUp | Action::PageDown => {
                let forward = *action == Action::PageDown;
                let n = self.height.saturating_sub(1).max(1);
                // The window moves by a page, and the cursor with it.
                let (mut line, mut row) = self.top_row(doc);
                for _ in 0..n {
                    match step_row(self.mirror.rope(), line, row, forward, self.width) {
                        Some(next) => (line, row) = next,
                        None => break,
                    }
                }
                self.set_top(doc, line, row);
                self.move_rows(doc, n, forward);
            }
            Action::Home => {
                let line = self.mirror.rope().char_to_line(pos);
                self.set_cursor_pos(doc, self.mirror.rope().line_to_char(line));
            }
            Action::End => {
                let rope = self.mirror.rope();
                let line = rope.char_to_line(pos);
                let end = rope.line_to_char(line) + line_len(rope, line);
                self.set_cursor_pos(doc, end);
            }
            Action::WordLeft => {
                let mut p = pos;
                let mut chars = self.mirror.rope().chars_at(pos);
                let mut in_word = false;
                while let Some(c) = chars.prev() {
                    if is_word(c) {
                        in_word = true;
                    } else if in_word {
                        break;
                    }
                    p -= 1;
                }
                self.set_cursor_pos(doc, p);
            }
            Action::WordRight => {
                let mut p = pos;
                let mut in_word = false;
                for c in self.mirror.rope().chars_at(pos) {
                    if is_word(c) {
                        in_word = true;
                    } else if in_word {
                        break;
                    }
                    p += 1;
                }
                self.set_cursor_pos(doc, p);
            }
            Action::DocStart => self.set_cursor_pos(doc, 0),
            Action::DocEnd => self.set_cursor_pos(doc, len),
        }
        if !keep_goal {
            self.goal = None;
        }
        self.scroll_to_cursor(doc);
    }

    /// Moves the cursor `n` rows, aiming for the goal column.
    fn move_rows(&mut self, doc: &Doc, n: usize, forward: bool) {
        let rope = self.mirror.rope();
        let loc = locate(rope, self.cursor_pos(doc), self.width);
        let goal = *self.goal.get_or_insert(loc.col);
        let (mut line, mut row) = (loc.line, loc.row);
        let mut moved = false;
        for _ in 0..n {
            match step_row(rope, line, row, forward, self.width) {
                Some(next) => {
                    (line, row) = next;
                    moved = true;
                }
                None => break,
            }
        }
        let pos = if moved {
            position_at(rope, line, row, goal, self.width)
        } else if forward {
            // Already on the last row: go to the end, as most editors do.
            self.mirror.len()
        } else {
            0
        };
        self.set_cursor_pos(doc, pos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::ReplicaId;

    fn doc(text: &str) -> Doc {
        let mut d = Doc::new(ReplicaId(1));
        d.insert(0, text).unwrap();
        d
    }

    /// A remote replica that starts with `mine`'s text.
    fn peer_of(mine: &Doc) -> Doc {
        let mut other = Doc::new(ReplicaId(2));
        for op in mine.ops_since(other.version_ref()) {
            other.apply(op).unwrap();
        }
        other
    }

    /// Applies `theirs`' new ops to `mine`, as the node does, patches to the editor.
    fn receive(mine: &mut Doc, theirs: &Doc, ed: &mut Editor) {
        // Follow every patch (the harder path; small texts are otherwise copied).
        ed.mirror.set_patch_cost(0);
        for op in theirs.ops_since(mine.version_ref()) {
            let applied = mine.apply(op).unwrap();
            ed.mirror.push_patches(&applied.patches);
        }
        ed.sync(mine);
    }

    fn at(ed: &mut Editor, d: &mut Doc, pos: usize) {
        ed.apply(d, Action::DocStart).unwrap();
        for _ in 0..pos {
            ed.apply(d, Action::Right).unwrap();
        }
    }

    #[test]
    fn the_cursor_stays_on_its_char_under_remote_edits_before_at_and_after_it() {
        let mut mine = doc("hello world");
        let mut theirs = peer_of(&mine);
        let mut ed = Editor::new(&mine, 80, 10);
        at(&mut ed, &mut mine, 6); // before 'w'
        assert_eq!(ed.cursor_pos(&mine), 6);

        // Before the cursor: it moves with its char.
        theirs.insert(0, ">> ").unwrap();
        receive(&mut mine, &theirs, &mut ed);
        assert_eq!(mine.text(), ">> hello world");
        assert_eq!(ed.cursor_pos(&mine), 9);
        // At the cursor (an insert right where it is): the cursor stays
        // before its char, so after the inserted text.
        theirs.insert(9, "big ").unwrap();
        receive(&mut mine, &theirs, &mut ed);
        assert_eq!(mine.text(), ">> hello big world");
        assert_eq!(ed.cursor_pos(&mine), 13);
        // After the cursor: nothing moves.
        theirs.insert(18, "!").unwrap();
        theirs.delete(15, 2).unwrap();
        receive(&mut mine, &theirs, &mut ed);
        assert_eq!(mine.text(), ">> hello big wod!");
        assert_eq!(ed.cursor_pos(&mine), 13);
        // Deletes before it.
        theirs.delete(0, 3).unwrap();
        receive(&mut mine, &theirs, &mut ed);
        assert_eq!(ed.cursor_pos(&mine), 10);
        // Its very char deleted (and the ones around): it stays where the
        // char was, and typing goes there.
        theirs.delete(9, 3).unwrap();
        receive(&mut mine, &theirs, &mut ed);
        assert_eq!(mine.text(), "hello bigd!");
        assert_eq!(ed.cursor_pos(&mine), 9);
        ed.apply(&mut mine, Action::Insert("X".into())).unwrap();
        assert_eq!(mine.text(), "hello bigXd!");
        assert_eq!(ed.cursor_pos(&mine), 10);
        assert_eq!(ed.mirror.rope().to_string(), mine.text());
    }

    #[test]
    fn a_cursor_at_the_end_stays_at_the_end() {
        let mut mine = doc("abc");
        let mut theirs = peer_of(&mine);
        let mut ed = Editor::new(&mine, 80, 10);
        ed.apply(&mut mine, Action::DocEnd).unwrap();
        assert_eq!(ed.cursor_id(), None);
        theirs.insert(0, "x").unwrap();
        theirs.delete(3, 1).unwrap();
        receive(&mut mine, &theirs, &mut ed);
        assert_eq!(mine.text(), "xab");
        assert_eq!(ed.cursor_pos(&mine), 3);
    }

    #[test]
    fn typing_editing_and_paste() {
        let mut d = doc("");
        let mut ed = Editor::new(&d, 80, 10);
        for c in "hi there".chars() {
            ed.apply(&mut d, Action::Insert(c.to_string())).unwrap();
        }
        ed.apply(&mut d, Action::WordLeft).unwrap();
        assert_eq!(ed.cursor_pos(&d), 3);
        ed.apply(&mut d, Action::Backspace).unwrap();
        assert_eq!(d.text(), "hithere");
        ed.apply(&mut d, Action::Delete).unwrap();
        assert_eq!(d.text(), "hihere");
        let before = d.version_ref().total();
        ed.apply(&mut d, Action::Insert("a\r\nb\rc".into()))
            .unwrap();
        assert_eq!(d.text(), "hia\nb\nchere");
        // A paste is one op run: one counter per char, one log entry more.
        assert_eq!(d.version_ref().total(), before + 5);
        ed.apply(&mut d, Action::Home).unwrap();
        assert_eq!(ed.cursor_pos(&d), 6);
        ed.apply(&mut d, Action::End).unwrap();
        assert_eq!(ed.cursor_pos(&d), 11);
        ed.apply(&mut d, Action::WordRight).unwrap();
        assert_eq!(ed.cursor_pos(&d), 11);
        ed.apply(&mut d, Action::DocStart).unwrap();
        ed.apply(&mut d, Action::WordRight).unwrap();
        assert_eq!(ed.cursor_pos(&d), 3);
        ed.apply(&mut d, Action::Backspace).unwrap();
        ed.apply(&mut d, Action::DocStart).unwrap();
        ed.apply(&mut d, Action::Backspace).unwrap();
        assert_eq!(d.text(), "hi\nb\nchere");
        assert_eq!(ed.mirror.rope().to_string(), d.text());
    }

    #[test]
    fn wrapping_cuts_long_lines_into_rows() {
        let rope = Rope::from_str("abcdefghij\n\tx\nabcd");
        assert_eq!(row_starts(rope.line(0), 4), vec![0, 4, 8]);
        assert_eq!(
            row_starts(rope.line(0), 5),
            vec![0, 5, 10],
            "a full last row gets an empty one"
        );
        assert_eq!(
            row_starts(rope.line(1), 4),
            vec![0, 1],
            "a tab fills to the stop"
        );
        assert_eq!(row_starts(rope.line(2), 10), vec![0]);
        assert_eq!(
            locate(&rope, 5, 4),
            Loc {
                line: 0,
                row: 1,
                col: 1
            }
        );
        assert_eq!(
            locate(&rope, 10, 5),
            Loc {
                line: 0,
                row: 2,
                col: 0
            }
        );
        assert_eq!(
            locate(&rope, 13, 4),
            Loc {
                line: 1,
                row: 1,
                col: 1
            }
        );
        assert_eq!(position_at(&rope, 0, 1, 2, 4), 6);
        assert_eq!(
            position_at(&rope, 0, 1, 99, 4),
            7,
            "before the next row's first char"
        );
        assert_eq!(position_at(&rope, 0, 2, 99, 4), 10, "the line's end");
        // Wide chars take two cells.
        let wide = Rope::from_str("日本語です");
        assert_eq!(row_starts(wide.line(0), 5), vec![0, 2, 4]);
        // Words are not cut when a row has a space to end at.
        let words = Rope::from_str("hello big world\nsupercalifragilistic x");
        assert_eq!(row_starts(words.line(0), 8), vec![0, 6, 10]);
        assert_eq!(row_starts(words.line(1), 8), vec![0, 8, 16]);
        assert_eq!(locate(&words, 9, 8).row, 1);
        assert_eq!(locate(&words, 9, 8).col, 3);
        assert_eq!(position_at(&words, 0, 0, 7, 8), 5, "the row's last place");
        assert_eq!(
            locate(&wide, 3, 5),
            Loc {
                line: 0,
                row: 1,
                col: 2
            }
        );
    }

    #[test]
    fn up_and_down_move_by_rows_and_keep_the_column() {
        let mut d = doc("0123456789\nab\n0123456789");
        let mut ed = Editor::new(&d, 4, 10);
        at(&mut ed, &mut d, 2);
        ed.apply(&mut d, Action::Down).unwrap();
        assert_eq!(ed.cursor_pos(&d), 6, "the second row of the wrapped line");
        ed.apply(&mut d, Action::Down).unwrap();
        ed.apply(&mut d, Action::Down).unwrap();
        assert_eq!(ed.cursor_pos(&d), 13, "clamped to the short line's end");
        ed.apply(&mut d, Action::Down).unwrap();
        assert_eq!(ed.cursor_pos(&d), 16, "the goal column came back");
        ed.apply(&mut d, Action::Up).unwrap();
        ed.apply(&mut d, Action::Up).unwrap();
        assert_eq!(ed.cursor_pos(&d), 10, "the wrapped line's last row");
        ed.apply(&mut d, Action::DocEnd).unwrap();
        ed.apply(&mut d, Action::Down).unwrap();
        assert_eq!(ed.cursor_pos(&d), d.len());
    }

    proptest::proptest! {
        /// Rows cover each line in order, fit the width (a lone char
        /// wider than the screen aside), and every cursor place is found
        /// again from where it is drawn.
        #[test]
        fn layout_round_trips(text in "[ab \t日\n]{0,60}", width in 1usize..12) {
            let rope = Rope::from_str(&text);
            for line in 0..rope.len_lines() {
                let starts = row_starts(rope.line(line), width);
                proptest::prop_assert_eq!(starts[0], 0);
                proptest::prop_assert!(starts.windows(2).all(|w| w[0] < w[1]));
                let len = line_len(&rope, line);
                for (r, &start) in starts.iter().enumerate() {
                    let end = starts.get(r + 1).copied().unwrap_or(len);
                    let mut col = 0;
                    for c in rope.line(line).chars().skip(start).take(end - start) {
                        col += char_width(c, col);
                    }
                    proptest::prop_assert!(col <= width || end - start == 1, "{:?}", starts);
                }
            }
            for pos in 0..=rope.len_chars() {
                let loc = locate(&rope, pos, width);
                proptest::prop_assert_eq!(position_at(&rope, loc.line, loc.row, loc.col, width), pos);
            }
        }
    }

    fn numbered(n: usize) -> String {
        (0..n).map(|i| format!("line {i}\n")).collect()
    }

    fn top_line(ed: &mut Editor, d: &Doc) -> usize {
        ed.screen_rows(d)[0].line
    }

    #[test]
    fn a_text_that_arrives_into_an_empty_view_shows_from_its_start() {
        let empty = doc("");
        let mut ed = Editor::new(&empty, 20, 5);
        let mut d = empty.clone();
        d.insert(0, "shared notes\nmore\n").unwrap();
        ed.reload(&d);
        assert_eq!(top_line(&mut ed, &d), 0);
    }

    #[test]
    fn scrolling_keeps_the_cursor_in_view() {
        let mut d = doc(&numbered(100));
        let mut ed = Editor::new(&d, 20, 5);
        for _ in 0..4 {
            ed.apply(&mut d, Action::Down).unwrap();
        }
        assert_eq!(top_line(&mut ed, &d), 0);
        ed.apply(&mut d, Action::Down).unwrap();
        assert_eq!(top_line(&mut ed, &d), 1, "one row at a time");
        ed.apply(&mut d, Action::PageDown).unwrap();
        assert_eq!(ed.cursor_loc(&d).line, 9);
        assert_eq!(top_line(&mut ed, &d), 5);
        ed.apply(&mut d, Action::DocEnd).unwrap();
        let rows = ed.screen_rows(&d);
        assert_eq!(rows.last().unwrap().line, 100, "the empty last line");
        assert_eq!(rows.len(), 5);
        ed.apply(&mut d, Action::PageUp).unwrap();
        assert_eq!(top_line(&mut ed, &d), 92);
        ed.apply(&mut d, Action::DocStart).unwrap();
        assert_eq!(top_line(&mut ed, &d), 0);
        // A long wrapped line scrolls row by row.
        let mut d = doc(&"x".repeat(100));
        let mut ed = Editor::new(&d, 10, 3);
        ed.apply(&mut d, Action::DocEnd).unwrap();
        let rows = ed.screen_rows(&d);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[2].start, 100, "the empty row after a full one");
        assert_eq!(screen_position(ed.mirror.rope(), &rows, 100), Some((2, 0)));
        assert_eq!(screen_position(ed.mirror.rope(), &rows, 85), Some((0, 5)));
    }

    #[test]
    fn remote_edits_above_the_window_do_not_scroll_it() {
        let mut mine = doc(&numbered(100));
        let mut theirs = peer_of(&mine);
        let mut ed = Editor::new(&mine, 20, 5);
        for _ in 0..52 {
            ed.apply(&mut mine, Action::Down).unwrap();
        }
        let top = top_line(&mut ed, &mine);
        assert_eq!(top, 48);
        let first_text = |ed: &mut Editor, d: &Doc| {
            let r = ed.screen_rows(d)[0].clone();
            ed.mirror.rope().slice(r.start..r.end).to_string()
        };
        assert_eq!(first_text(&mut ed, &mine), "line 48");
        theirs.insert(0, "new\nnew\nnew\n").unwrap();
        theirs.delete(theirs.len() - 8, 8).unwrap();
        receive(&mut mine, &theirs, &mut ed);
        assert_eq!(
            first_text(&mut ed, &mine),
            "line 48",
            "same text at the top"
        );
        assert_eq!(ed.cursor_loc(&mine).line, 55);
        // The top row's own line deleted: the window stays where it was.
        let start = mine.text().find("line 48").unwrap();
        theirs.delete(start, 8).unwrap();
        receive(&mut mine, &theirs, &mut ed);
        assert_eq!(first_text(&mut ed, &mine), "line 49");
    }

    /// A doc with an undo stack, grouping as the program's driver does:
    /// every edit of one action after the first joins its step.
    struct Recorded {
        doc: Doc,
        undo: crate::doc::UndoStack,
        merge: bool,
    }

    impl Target for Recorded {
        fn doc(&self) -> &Doc {
            &self.doc
        }
        fn edit(&mut self, edit: Edit) -> Result<Option<String>, String> {
            let change = match &edit {
                Edit::Delete { pos, len } => crate::doc::Change::deleting(&self.doc, *pos, *len),
                Edit::Insert { .. } => None,
            };
            let inserted = match &edit {
                Edit::Insert { pos, text } => Some((*pos, text.chars().count())),
                Edit::Delete { .. } => None,
            };
            Target::edit(&mut self.doc, edit)?;
            let change = change.or_else(|| {
                inserted.and_then(|(p, n)| crate::doc::Change::inserted(&self.doc, p, n))
            });
            if let Some(change) = change {
                self.undo.record(self.doc.replica(), change, self.merge);
            }
            self.merge = true;
            Ok(None)
        }
    }

    impl Recorded {
        /// One user action: a new undo step.
        fn act(&mut self, ed: &mut Editor, action: Action) {
            self.merge = false;
            ed.apply(self, action).unwrap();
        }
    }

    #[test]
    fn shift_moves_select_from_where_the_cursor_was_and_a_move_deselects() {
        let mut d = doc("hello big world\nline two");
        let mut ed = Editor::new(&d, 80, 10);
        at(&mut ed, &mut d, 6);
        ed.select(&d, Action::WordRight);
        assert_eq!(ed.selection(&d), Some(6..9));
        assert_eq!(ed.selected_text(&d).as_deref(), Some("big"));
        ed.select(&d, Action::Left);
        assert_eq!(ed.selected_text(&d).as_deref(), Some("bi"));
        // Back over the anchor: the selection turns around it.
        ed.select(&d, Action::WordLeft);
        ed.select(&d, Action::WordLeft);
        assert_eq!(ed.selection(&d), Some(0..6));
        ed.select(&d, Action::Down);
        assert_eq!(ed.selection(&d), Some(6..16), "to line two's column 0");
        ed.select(&d, Action::End);
        assert_eq!(ed.selected_text(&d).as_deref(), Some("big world\nline two"));
        ed.apply(&mut d, Action::Left).unwrap();
        assert_eq!(ed.selection(&d), None, "a plain move deselects");
        ed.select(&d, Action::Insert("x".into()));
        assert_eq!(ed.selection(&d), None, "an edit is no move");
        assert_eq!(d.text(), "hello big world\nline two");
    }

    #[test]
    fn the_selection_stays_on_its_chars_under_remote_edits() {
        let mut mine = doc("hello world");
        let mut theirs = peer_of(&mine);
        let mut ed = Editor::new(&mine, 80, 10);
        at(&mut ed, &mut mine, 6);
        ed.select(&mine, Action::End);
        assert_eq!(ed.selected_text(&mine).as_deref(), Some("world"));
        theirs.insert(0, ">> ").unwrap();
        theirs.delete(10, 1).unwrap(); // the 'o' of "world"
        receive(&mut mine, &theirs, &mut ed);
        assert_eq!(ed.selected_text(&mine).as_deref(), Some("wrld"));
        // The anchor's own char deleted: it stays where the char was.
        theirs.delete(9, 1).unwrap();
        receive(&mut mine, &theirs, &mut ed);
        assert_eq!(ed.selected_text(&mine).as_deref(), Some("rld"));
    }

    #[test]
    fn typing_or_deleting_over_a_selection_replaces_it_as_one_undo_step() {
        let mut r = Recorded {
            doc: doc("keep this text"),
            undo: crate::doc::UndoStack::default(),
            merge: false,
        };
        let mut ed = Editor::new(&r.doc, 80, 10);
        at(&mut ed, &mut r.doc, 5);
        ed.select(&r.doc, Action::WordRight);
        r.act(&mut ed, Action::Insert("that".into()));
        assert_eq!(r.doc.text(), "keep that text");
        assert_eq!(ed.selection(&r.doc), None);
        assert_eq!(ed.cursor_pos(&r.doc), 9);
        r.undo.undo(&mut r.doc).unwrap().unwrap();
        assert_eq!(r.doc.text(), "keep this text", "one undo puts it back");

        ed.reload_at(&r.doc, 0);
        ed.select(&r.doc, Action::WordRight);
        r.act(&mut ed, Action::Backspace);
        assert_eq!(
            r.doc.text(),
            " this text",
            "Backspace deletes only the selection"
        );
        ed.select(&r.doc, Action::DocEnd);
        r.act(&mut ed, Action::Delete);
        assert_eq!(r.doc.text(), "");
        r.undo.undo(&mut r.doc).unwrap().unwrap();
        assert_eq!(r.doc.text(), " this text");

        // Cut: one delete.
        ed.reload_at(&r.doc, 0);
        ed.select_range(&r.doc, 1..5);
        r.merge = false;
        ed.delete_selection(&mut r).unwrap();
        assert_eq!(r.doc.text(), "  text");
        assert_eq!(ed.cursor_pos(&r.doc), 1);
    }

    #[test]
    fn find_selects_the_next_match_and_wraps() {
        let mut d = doc("cat dog cat\ndog cat");
        let mut ed = Editor::new(&d, 80, 10);
        at(&mut ed, &mut d, 1);
        assert_eq!(ed.find(&d, "cat", Search::Here), Some(false));
        assert_eq!(ed.selection(&d), Some(8..11));
        assert_eq!(ed.find(&d, "cat", Search::Here), Some(false), "stays");
        assert_eq!(ed.selection(&d), Some(8..11));
        assert_eq!(ed.find(&d, "cat", Search::Next), Some(false));
        assert_eq!(ed.selection(&d), Some(16..19));
        assert_eq!(ed.find(&d, "cat", Search::Next), Some(true), "wrapped");
        assert_eq!(ed.selection(&d), Some(0..3));
        assert_eq!(ed.find(&d, "cat", Search::Previous), Some(true));
        assert_eq!(ed.selection(&d), Some(16..19));
        assert_eq!(ed.find(&d, "cow", Search::Next), None);
        assert_eq!(ed.selection(&d), Some(16..19), "no match: nothing moves");
        assert_eq!(ed.matches_on_screen(&d, "dog"), vec![4..7, 12..15]);
    }

    #[test]
    fn a_click_places_the_cursor_and_a_drag_selects() {
        let d = doc("0123456789\nab");
        let mut ed = Editor::new(&d, 4, 10);
        ed.click(&d, 2, 1, false);
        assert_eq!(ed.cursor_pos(&d), 6, "row 1 of the wrapped line");
        assert_eq!(ed.selection(&d), None);
        ed.click(&d, 1, 3, true);
        assert_eq!(ed.selection(&d), Some(6..12));
        ed.click(&d, 9, 9, true);
        assert_eq!(ed.selection(&d), Some(6..13), "below the text: its end");
        ed.click(&d, 0, 0, false);
        assert_eq!(ed.selection(&d), None);
        assert_eq!(ed.cursor_pos(&d), 0);
    }

    #[derive(Clone, Debug)]
    enum Input {
        Apply(Action),
        Select(Action),
        Click(usize, usize, bool),
        Find(String, Search),
        Cut,
        Remote(usize, String),
    }

    fn any_action() -> impl proptest::strategy::Strategy<Value = Action> {
        use proptest::prelude::*;
        prop_oneof![
            "[ab\n日]{0,3}".prop_map(Action::Insert),
            Just(Action::Backspace),
            Just(Action::Delete),
            Just(Action::Left),
            Just(Action::Right),
            Just(Action::Up),
            Just(Action::Down),
            Just(Action::Home),
            Just(Action::End),
            Just(Action::PageUp),
            Just(Action::PageDown),
            Just(Action::WordLeft),
            Just(Action::WordRight),
            Just(Action::DocStart),
            Just(Action::DocEnd),
        ]
    }

    fn any_input() -> impl proptest::strategy::Strategy<Value = Input> {
        use proptest::prelude::*;
        let how = prop_oneof![
            Just(Search::Here),
            Just(Search::Next),
            Just(Search::Previous)
        ];
        prop_oneof![
            any_action().prop_map(Input::Apply),
            any_action().prop_map(Input::Select),
            (0usize..12, 0usize..8, any::<bool>()).prop_map(|(x, y, d)| Input::Click(x, y, d)),
            ("[ab\n]{0,2}", how).prop_map(|(q, h)| Input::Find(q, h)),
            Just(Input::Cut),
            (0usize..40, "[xy]{0,3}").prop_map(|(p, t)| Input::Remote(p, t)),
        ]
    }

    proptest::proptest! {
        /// Any keys, clicks, searches and remote edits: no panic, the
        /// mirror equals the doc, and the selection is within the text.
        #[test]
        fn any_input_keeps_the_editor_whole(
            inputs in proptest::collection::vec(any_input(), 1..40),
            width in 1usize..8,
            height in 1usize..5,
        ) {
            let mut mine = doc("ab a\nb");
            let mut theirs = peer_of(&mine);
            let mut ed = Editor::new(&mine, width, height);
            for input in inputs {
                match input {
                    Input::Apply(a) => {
                        ed.apply(&mut mine, a).unwrap();
                    }
                    Input::Select(a) => ed.select(&mine, a),
                    Input::Click(x, y, drag) => ed.click(&mine, x, y, drag),
                    Input::Find(q, how) => {
                        ed.find(&mine, &q, how);
                        ed.matches_on_screen(&mine, &q);
                    }
                    Input::Cut => {
                        ed.delete_selection(&mut mine).unwrap();
                    }
                    Input::Remote(pos, text) => {
                        if text.is_empty() {
                            if !theirs.is_empty() {
                                theirs.delete(pos % theirs.len(), 1).unwrap();
                            }
                        } else {
                            theirs.insert(pos % (theirs.len() + 1), &text).unwrap();
                        }
                        receive(&mut mine, &theirs, &mut ed);
                        for op in mine.ops_since(theirs.version_ref()) {
                            theirs.apply(op).unwrap();
                        }
                    }
                }
                proptest::prop_assert_eq!(ed.mirror.rope().to_string(), mine.text());
                if let Some(r) = ed.selection(&mine) {
                    proptest::prop_assert!(r.end <= mine.len() && r.start < r.end);
                }
                ed.screen_rows(&mine);
            }
        }
    }
}
