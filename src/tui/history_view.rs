//! The history view of `rumor edit` (Ctrl-T): the text at one version
//! `@N` at a time, stepped back and forth with the arrow keys, each char in
//! its author's colour, what entry N added shown reversed and what it
//! removed struck through; Enter restores the version shown (`restore @N`,
//! one undo step), Esc goes back to editing.

use crossterm::event::{Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use crate::doc::{Id, IdSpan, Past, ReplicaId};

use super::view::peer_color;

/// The help line of the view.
pub const HELP: &str =
    "history: Left/Right older/newer  Home/End oldest/newest  Up/Down scroll  Enter restore  Esc close";

/// Where the view is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryView {
    /// The version shown, `@n`.
    pub n: usize,
    /// First line shown.
    pub scroll: usize,
}

/// What a key asks of the view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistoryKey {
    Older,
    Newer,
    Oldest,
    Newest,
    Up,
    Down,
    Restore,
    Close,
}

/// The view's command for a terminal event, if any.
pub fn history_key(event: &Event) -> Option<HistoryKey> {
    let Event::Key(key) = event else {
        return None;
    };
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    Some(match key.code {
        KeyCode::Left | KeyCode::PageUp => HistoryKey::Older,
        KeyCode::Right | KeyCode::PageDown => HistoryKey::Newer,
        KeyCode::Home => HistoryKey::Oldest,
        KeyCode::End => HistoryKey::Newest,
        KeyCode::Up => HistoryKey::Up,
        KeyCode::Down => HistoryKey::Down,
        KeyCode::Enter => HistoryKey::Restore,
        KeyCode::Esc | KeyCode::Char('q') => HistoryKey::Close,
        KeyCode::Char('t') if ctrl => HistoryKey::Close,
        _ => return None,
    })
}

/// What entry N did to a char shown at `@N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Kept,
    Added,
    Removed,
}

/// A char shown: the char, who typed it, what entry N did to it.
pub type Shown = (char, ReplicaId, Change);

fn flat(spans: &[IdSpan]) -> Vec<Id> {
    spans
        .iter()
        .flat_map(|s| (0..s.len).map(move |k| s.start.add(k)))
        .collect()
}

/// The chars of `after` with those of `before` it lacks, in document
/// order (both lists are in the document's one order, so a walk finds
/// which chars each holds).
pub fn compare(before: &Past, after: &Past) -> Vec<Shown> {
    let (b, a) = (flat(&before.ids), flat(&after.ids));
    let sorted = |ids: &[Id]| {
        let mut v = ids.to_vec();
        v.sort_unstable();
        v
    };
    let (in_b, in_a) = (sorted(&b), sorted(&a));
    let (bc, ac): (Vec<char>, Vec<char>) =
        (before.text.chars().collect(), after.text.chars().collect());
    let mut out = Vec::with_capacity(a.len());
    let (mut i, mut j) = (0, 0);
    while i < b.len() || j < a.len() {
        if i < b.len() && in_a.binary_search(&b[i]).is_err() {
            out.push((bc[i], b[i].replica, Change::Removed));
            i += 1;
        } else if j < a.len() && in_b.binary_search(&a[j]).is_err() {
            out.push((ac[j], a[j].replica, Change::Added));
            j += 1;
        } else if j < a.len() {
            out.push((ac[j], a[j].replica, Change::Kept));
            i += 1;
            j += 1;
        } else {
            // (Both in one order: cannot happen; show the rest as removed.)
            out.push((bc[i], b[i].replica, Change::Removed));
            i += 1;
        }
    }
    out
}

/// The shown chars as styled lines: each author in its colour, added chars
/// reversed, removed ones struck through (a removed line end as `↵`).
pub fn lines(shown: &[Shown]) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut run = String::new();
    let mut style = Style::default();
    let style_of = |r: ReplicaId, c: Change| {
        let s = Style::default().fg(peer_color(r));
        match c {
            Change::Kept => s,
            Change::Added => s.add_modifier(Modifier::REVERSED),
            Change::Removed => s.fg(Color::DarkGray).add_modifier(Modifier::CROSSED_OUT),
        }
    };
    for &(c, r, change) in shown {
        let s = style_of(r, change);
        let c = match c {
            '\n' if change == Change::Removed => '↵',
            '\n' => {
                // An added line end shows as a reversed space.
                if change == Change::Added {
                    if s != style && !run.is_empty() {
                        spans.push(Span::styled(std::mem::take(&mut run), style));
                    }
                    style = s;
                    run.push(' ');
                }
                spans.push(Span::styled(std::mem::take(&mut run), style));
                lines.push(Line::from(std::mem::take(&mut spans)));
                continue;
            }
            '\t' => ' ',
            c if c.is_control() => '·',
            c => c,
        };
        if s != style && !run.is_empty() {
            spans.push(Span::styled(std::mem::take(&mut run), style));
        }
        style = s;
        run.push(c);
    }
    spans.push(Span::styled(run, style));
    lines.push(Line::from(spans));
    lines
}

/// What the view draws: a title and the lines, or why the version cannot
/// be shown.
#[derive(Clone, Debug, PartialEq)]
pub struct Screen {
    pub title: String,
    pub body: Result<Vec<Line<'static>>, String>,
    pub scroll: usize,
}

/// Draws the view over the text area.
pub fn draw(frame: &mut Frame, area: Rect, screen: &Screen) {
    frame.render_widget(Clear, area);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(screen.title.as_str());
    let body: Vec<Line> = match &screen.body {
        Ok(lines) => lines.iter().skip(screen.scroll).cloned().collect(),
        Err(e) => vec![Line::raw(e.clone())],
    };
    frame.render_widget(Paragraph::new(body).block(block), area);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::{Doc, VersionVector};

    #[test]
    fn a_step_shows_what_it_added_and_removed_by_author() {
        let mut a = Doc::new(ReplicaId(1));
        a.insert(0, "ab\ncd").unwrap();
        let v1 = a.version();
        let mut b = Doc::new(ReplicaId(2));
        for op in a.ops_since(&VersionVector::new()) {
            b.apply(op).unwrap();
        }
        b.delete(1, 2).unwrap();
        b.insert(1, "X").unwrap();
        let before = b.past(&v1).unwrap();
        let after = b.past(b.version_ref()).unwrap();
        let shown = compare(&before, &after);
        let text: String = shown.iter().map(|s| s.0).collect();
        // Removed chars stay where they were (before what replaced them).
        assert_eq!(text, "ab\nXcd");
        let changes: Vec<Change> = shown.iter().map(|s| s.2).collect();
        use Change::*;
        assert_eq!(changes, [Kept, Removed, Removed, Added, Kept, Kept]);
        assert_eq!(shown[3].1, ReplicaId(2));
        assert_eq!(shown[0].1, ReplicaId(1));
        // The removed line end does not break the line.
        let lines = lines(&shown);
        assert_eq!(lines.len(), 1);
        let plain: String = lines[0].spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(plain, "ab↵Xcd");
        let added = lines[0].spans.iter().find(|s| s.content == "X").unwrap();
        assert!(added.style.add_modifier.contains(Modifier::REVERSED));
        assert_eq!(added.style.fg, Some(peer_color(ReplicaId(2))));
    }
}
