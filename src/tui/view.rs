//! Drawing: the text window, the selection and search matches, the
//! peers' cursors, the status bar, the message or prompt line, and a
//! panel. Only the rows on screen are laid
//! out; ratatui then writes to the terminal only the cells that changed
//! since the last frame.

use std::ops::Range;

use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use crate::doc::{Doc, ReplicaId};

use super::model::{char_width, screen_position, Editor, ScreenRow};

/// Rows under the text: the status bar and the message line.
pub const CHROME_ROWS: u16 = 2;

/// Another peer's cursor on screen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marker {
    pub name: String,
    /// Char position (0 ..= len).
    pub pos: usize,
    /// The other end of its selection, if it has text selected.
    pub selection: Option<usize>,
    pub color: Color,
}

/// What the status bar and message line show.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub name: String,
    pub online: bool,
    pub peers_up: usize,
    pub peers_suspect: usize,
    pub peers_down: usize,
    /// This replica's ops some peer has not acknowledged (`None`: no peers).
    pub unacked: Option<u64>,
    /// "saved HH:MM:SS", "data in DIR", "memory only", or a disk error.
    pub save: String,
    /// The bottom line: a message, or the prompt being typed.
    pub message: String,
    /// A prompt is open: the bottom line is the prompt and what is typed
    /// (the message after it).
    pub prompt: Option<String>,
}

/// What a frame shows besides the text.
pub struct Shown<'a> {
    pub markers: &'a [Marker],
    /// Search matches on screen.
    pub matches: &'a [Range<usize>],
    pub status: &'a Status,
    pub panel: Option<&'a Panel>,
    /// The history view (Ctrl-T), drawn over the text.
    pub history: Option<&'a super::history_view::Screen>,
}

/// The background of a search match.
pub const MATCH_COLOR: Color = Color::Yellow;

/// A box over the lower part of the text: command output or the peers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Panel {
    pub title: String,
    pub lines: Vec<String>,
    /// Break lines wider than the box (an invite ticket must be seen
    /// whole) instead of cutting them.
    pub wrap: bool,
}

/// A peer's colour, the same on every screen (chosen from its replica id).
pub fn peer_color(replica: ReplicaId) -> Color {
    const COLORS: [Color; 6] = [
        Color::Yellow,
        Color::Cyan,
        Color::Magenta,
        Color::Green,
        Color::LightBlue,
        Color::LightRed,
    ];
    COLORS[(replica.0 % COLORS.len() as u64) as usize]
}

/// The area the text gets in a terminal of `area`.
pub fn text_area(area: Rect) -> Rect {
    Rect {
        height: area.height.saturating_sub(CHROME_ROWS),
        ..area
    }
}

/// Draws one frame.
pub fn draw(frame: &mut Frame, editor: &mut Editor, doc: &Doc, shown: &Shown) {
    let Shown {
        markers,
        matches,
        status,
        panel,
        history,
    } = *shown;
    let area = frame.area();
    let text = text_area(area);
    let mut rows = editor.screen_rows(doc);
    rows.truncate(text.height.into());
    let rope = editor.mirror.rope();
    let buf = frame.buffer_mut();
    let mut line_buf = String::new();
    for (y, row) in rows.iter().enumerate() {
        line_buf.clear();
        let mut col = 0;
        for c in rope.chars_at(row.start).take(row.end - row.start) {
            let w = char_width(c, col);
            match c {
                '\t' => line_buf.extend(std::iter::repeat_n(' ', w)),
                c if c.is_control()
                    || w != unicode_width::UnicodeWidthChar::width(c).unwrap_or(0) =>
                {
                    line_buf.push('·')
                }
                c => line_buf.push(c),
            }
            col += w;
        }
        buf.set_stringn(
            text.x,
            text.y + y as u16,
            &line_buf,
            text.width as usize,
            Style::default(),
        );
    }
    for m in markers {
        if let Some(end) = m.selection {
            let range = m.pos.min(end)..m.pos.max(end);
            let style = Style::default()
                .fg(m.color)
                .add_modifier(Modifier::UNDERLINED);
            paint(buf, text, rope, &rows, &range, style);
        }
    }
    let found = Style::default().bg(MATCH_COLOR).fg(Color::Black);
    for range in matches {
        paint(buf, text, rope, &rows, range, found);
    }
    if let Some(range) = editor.selection(doc) {
        let selected = Style::default().add_modifier(Modifier::REVERSED);
        paint(buf, text, rope, &rows, &range, selected);
    }
    for m in markers {
        if let Some((y, x)) = screen_position(rope, &rows, m.pos) {
            if (x as u16) < text.width {
                let cell = &mut buf[(text.x + x as u16, text.y + y as u16)];
                cell.set_bg(m.color).set_fg(Color::Black);
            }
        }
    }

    if let Some(panel) = panel {
        draw_panel(frame, text, panel);
    }
    if let Some(screen) = history {
        super::history_view::draw(frame, text, screen);
    }

    let status_y = area.y + area.height.saturating_sub(2);
    if area.height >= 2 {
        let bar = Rect {
            x: area.x,
            y: status_y,
            width: area.width,
            height: 1,
        };
        let line = status_line(status, markers, editor.mirror.rope());
        frame.render_widget(Paragraph::new(line), bar);
    }
    if area.height >= 1 {
        let bottom = Rect {
            x: area.x,
            y: area.y + area.height - 1,
            width: area.width,
            height: 1,
        };
        match &status.prompt {
            Some(line) => {
                let x = line
                    .chars()
                    .count()
                    .min(area.width.saturating_sub(1) as usize);
                let text = format!("{line}   {}", status.message);
                frame.render_widget(Paragraph::new(text), bottom);
                frame.set_cursor_position(Position::new(bottom.x + x as u16, bottom.y));
            }
            None => frame.render_widget(Paragraph::new(status.message.as_str()), bottom),
        }
    }
    if status.prompt.is_none() && history.is_none() {
        let cursor = editor.cursor_pos(doc);
        if let Some((y, x)) = screen_position(editor.mirror.rope(), &rows, cursor) {
            let x = (x as u16).min(text.width.saturating_sub(1));
            frame.set_cursor_position(Position::new(text.x + x, text.y + y as u16));
        }
    }
}

/// Styles the cells of the chars of `range` on screen (and the cell after
/// a line's end when its newline is in it).
fn paint(
    buf: &mut Buffer,
    text: Rect,
    rope: &ropey::Rope,
    rows: &[ScreenRow],
    range: &Range<usize>,
    style: Style,
) {
    for (y, row) in rows.iter().enumerate() {
        if range.end <= row.start || range.start > row.end {
            continue;
        }
        let mut col = 0;
        let mut chars = rope.chars_at(row.start);
        for pos in row.start..=row.end {
            let w = if pos < row.end {
                chars.next().map_or(1, |c| char_width(c, col))
            } else if row.last && pos < rope.len_chars() {
                1
            } else {
                break;
            };
            if range.contains(&pos) {
                for x in col..col + w {
                    if x < text.width as usize {
                        buf[(text.x + x as u16, text.y + y as u16)].set_style(style);
                    }
                }
            }
            col += w;
        }
    }
}

fn status_line<'a>(s: &'a Status, markers: &'a [Marker], rope: &ropey::Rope) -> Line<'a> {
    let bar = Style::default().add_modifier(Modifier::REVERSED);
    let mut left = format!(
        " {} | {} | peers {} up",
        if s.name.is_empty() {
            "(no name)"
        } else {
            &s.name
        },
        if s.online { "online" } else { "OFFLINE" },
        s.peers_up
    );
    if s.peers_suspect > 0 {
        left.push_str(&format!(", {} suspect", s.peers_suspect));
    }
    left.push_str(&format!(", {} down", s.peers_down));
    match s.unacked {
        Some(n) => left.push_str(&format!(" | unacked {n}")),
        None => left.push_str(" | unacked -"),
    }
    left.push_str(&format!(" | {} ", s.save));
    let mut spans = vec![Span::styled(left, bar)];
    for m in markers {
        // The line too: the cursor may be off screen.
        let line = rope.char_to_line(m.pos.min(rope.len_chars())) + 1;
        spans.push(Span::styled(
            format!(" {} L{line} ", m.name),
            Style::default().bg(m.color).fg(Color::Black),
        ));
    }
    Line::from(spans).style(bar)
}

fn draw_panel(frame: &mut Frame, text: Rect, panel: &Panel) {
    let inner = usize::from(text.width.saturating_sub(2)).max(1);
    let lines: Vec<String> = if panel.wrap {
        panel
            .lines
            .iter()
            .flat_map(|l| {
                let chars: Vec<char> = l.chars().collect();
                if chars.is_empty() {
                    return vec![String::new()];
                }
                chars
                    .chunks(inner)
                    .map(|c| c.iter().collect())
                    .collect::<Vec<String>>()
            })
            .collect()
    } else {
        panel.lines.clone()
    };
    let height = u16::try_from(lines.len().saturating_add(2))
        .unwrap_or(u16::MAX)
        .min(text.height);
    if height < 3 {
        return;
    }
    let area = Rect {
        x: text.x,
        y: text.y + text.height - height,
        width: text.width,
        height,
    };
    frame.render_widget(Clear, area);
    let body: Vec<Line> = lines.iter().map(|l| Line::raw(l.as_str())).collect();
    let block = Block::default()
        .borders(Borders::ALL)
        .title(panel.title.as_str());
    frame.render_widget(Paragraph::new(body).block(block), area);
}

#[cfg(test)]
mod tests {
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    use super::*;
    use crate::doc::ReplicaId;

    fn screen(terminal: &Terminal<TestBackend>) -> Vec<String> {
        let buf = terminal.backend().buffer();
        (0..buf.area.height)
            .map(|y| {
                (0..buf.area.width)
                    .map(|x| buf[(x, y)].symbol())
                    .collect::<String>()
            })
            .collect()
    }

    #[test]
    fn draws_text_markers_and_status() {
        let mut doc = Doc::new(ReplicaId(1));
        doc.insert(0, "hello\tworld\nsecond line that wraps")
            .unwrap();
        let mut ed = Editor::new(&doc, 16, 4);
        let mut terminal = Terminal::new(TestBackend::new(16, 6)).unwrap();
        let markers = vec![Marker {
            name: "bob".into(),
            pos: 2,
            selection: Some(0),
            color: Color::Cyan,
        }];
        let status = Status {
            name: "ann".into(),
            online: true,
            message: "hi".into(),
            ..Status::default()
        };
        terminal
            .draw(|f| {
                let shown = Shown {
                    markers: &markers,
                    matches: &[],
                    status: &status,
                    panel: None,
                    history: None,
                };
                draw(f, &mut ed, &doc, &shown)
            })
            .unwrap();
        let lines = screen(&terminal);
        assert_eq!(lines[0], "hello   world   ");
        assert_eq!(lines[1], "second line that");
        assert_eq!(lines[2], " wraps          ");
        assert!(lines[4].starts_with(" ann | online"));
        assert_eq!(lines[5].trim_end(), "hi");
        let buf = terminal.backend().buffer();
        assert_eq!(buf[(2, 0)].bg, Color::Cyan, "bob's cursor");
        assert_eq!(buf[(3, 0)].bg, Color::Reset);
        assert_eq!(buf[(0, 0)].fg, Color::Cyan, "bob's selection");
        assert!(buf[(1, 0)].modifier.contains(Modifier::UNDERLINED));
        assert!(!buf[(2, 0)].modifier.contains(Modifier::UNDERLINED));
        terminal
            .backend_mut()
            .assert_cursor_position(Position::new(0, 0));
    }

    #[test]
    fn a_wrapping_panel_shows_a_long_line_whole() {
        let doc = Doc::new(ReplicaId(1));
        let ticket: String = (0..70).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        let shown = |wrap: bool| {
            let mut ed = Editor::new(&doc, 30, 10);
            let mut terminal = Terminal::new(TestBackend::new(30, 12)).unwrap();
            let panel = Panel {
                title: "invite".into(),
                lines: vec![ticket.clone()],
                wrap,
            };
            terminal
                .draw(|f| {
                    let parts = Shown {
                        markers: &[],
                        matches: &[],
                        status: &Status::default(),
                        panel: Some(&panel),
                        history: None,
                    };
                    draw(f, &mut ed, &doc, &parts)
                })
                .unwrap();
            screen(&terminal)
                .concat()
                .chars()
                .filter(|c| c.is_ascii_lowercase())
                .collect::<String>()
        };
        assert!(shown(true).contains(&ticket), "{}", shown(true));
        assert!(!shown(false).contains(&ticket));
    }

    #[test]
    fn the_selection_and_matches_are_painted() {
        let mut doc = Doc::new(ReplicaId(1));
        doc.insert(0, "find me\nme too").unwrap();
        let mut ed = Editor::new(&doc, 10, 3);
        ed.select_range(&doc, 5..9);
        let mut terminal = Terminal::new(TestBackend::new(10, 5)).unwrap();
        terminal
            .draw(|f| {
                let shown = Shown {
                    markers: &[],
                    matches: &[8..10, 12..13],
                    status: &Status::default(),
                    panel: None,
                    history: None,
                };
                draw(f, &mut ed, &doc, &shown)
            })
            .unwrap();
        let buf = terminal.backend().buffer();
        let reversed = |x: u16, y: u16| buf[(x, y)].modifier.contains(Modifier::REVERSED);
        assert!(!reversed(4, 0));
        assert!(reversed(5, 0) && reversed(6, 0));
        assert!(
            reversed(7, 0),
            "the selected newline: the cell after the line"
        );
        assert!(reversed(0, 1) && !reversed(1, 1));
        assert_eq!(buf[(1, 1)].bg, MATCH_COLOR, "a match");
        assert_eq!(buf[(2, 1)].bg, Color::Reset);
    }

    #[test]
    fn tiny_terminals_do_not_break_drawing() {
        let mut doc = Doc::new(ReplicaId(1));
        doc.insert(0, "日本語\tand\u{7}more\n").unwrap();
        for (w, h) in [(1usize, 1usize), (2, 2), (3, 3), (5, 1), (1, 5)] {
            let mut ed = Editor::new(&doc, w, h.saturating_sub(2).max(1));
            let mut terminal = Terminal::new(TestBackend::new(w as u16, h as u16)).unwrap();
            let panel = Panel {
                title: "t".into(),
                lines: vec!["x".into(); 9],
                wrap: false,
            };
            terminal
                .draw(|f| {
                    let shown = Shown {
                        markers: &[],
                        matches: &[0..2, 3..4],
                        status: &Status::default(),
                        panel: Some(&panel),
                        history: None,
                    };
                    draw(f, &mut ed, &doc, &shown)
                })
                .unwrap();
        }
    }
}
