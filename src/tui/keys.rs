//! Keys to commands. Plain functions of crossterm's events, so they are
//! tested without a terminal.

use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEventKind,
};

use super::model::Action;

/// What an input asks of the editor while editing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Edit(Action),
    /// Shift with a move: the move, stretching the selection.
    Select(Action),
    /// Ctrl-A: select the whole text.
    SelectAll,
    /// Ctrl-C: copy the selection.
    Copy,
    /// Ctrl-X: cut the selection.
    Cut,
    /// Ctrl-V: paste what was copied or cut here.
    Paste,
    /// Ctrl-F: the search prompt.
    Find,
    /// F3 / Shift-F3: the next / previous match of the last search.
    /// (xterm's Shift-F3, `CSI 1;2R`, reads as a cursor position report
    /// and never arrives: Ctrl-F then Up works on every terminal.)
    FindAgain {
        forward: bool,
    },
    /// The left button went down (`drag`: moved while down) at a cell.
    Click {
        x: u16,
        y: u16,
        drag: bool,
    },
    /// Ctrl-S: save the text to the last file, or ask for one.
    Save,
    /// Ctrl-O: go offline / online.
    ToggleOnline,
    /// Ctrl-P: show / hide the peers panel.
    TogglePeers,
    /// Esc or Ctrl-K: the command prompt.
    Prompt,
    /// Ctrl-T: the history view.
    History,
    /// Ctrl-Z: undo this replica's last own step.
    Undo,
    /// Ctrl-Y or Ctrl-Shift-Z: redo.
    Redo,
    /// Ctrl-Q.
    Quit,
    /// The terminal changed size (columns, rows).
    Resize(u16, u16),
}

/// The one-line reminder of the keys.
pub const HELP: &str =
    "Shift+move select  ^C/^X/^V copy/cut/paste  ^F find  ^S save  ^Z/^Y undo/redo  \
     ^O offline/online  ^P peers  ^T history  Esc/^K command (help, quit, ...)  ^Q quit";

/// The command for a terminal event while editing, if any.
pub fn command(event: &Event) -> Option<Command> {
    match event {
        Event::Key(key) if key.kind != KeyEventKind::Release => key_command(key),
        Event::Paste(text) => Some(Command::Edit(Action::Insert(text.clone()))),
        Event::Resize(w, h) => Some(Command::Resize(*w, *h)),
        Event::Mouse(m) => {
            let (x, y) = (m.column, m.row);
            match m.kind {
                MouseEventKind::Down(MouseButton::Left) => {
                    Some(Command::Click { x, y, drag: false })
                }
                MouseEventKind::Drag(MouseButton::Left) => {
                    Some(Command::Click { x, y, drag: true })
                }
                MouseEventKind::ScrollUp => Some(Command::Edit(Action::Up)),
                MouseEventKind::ScrollDown => Some(Command::Edit(Action::Down)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A move with Shift held stretches the selection.
fn select_command(key: &KeyEvent) -> Option<Command> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let action = match key.code {
        KeyCode::Left if ctrl => Action::WordLeft,
        KeyCode::Right if ctrl => Action::WordRight,
        KeyCode::Left => Action::Left,
        KeyCode::Right => Action::Right,
        KeyCode::Up => Action::Up,
        KeyCode::Down => Action::Down,
        KeyCode::Home if ctrl => Action::DocStart,
        KeyCode::End if ctrl => Action::DocEnd,
        KeyCode::Home => Action::Home,
        KeyCode::End => Action::End,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown => Action::PageDown,
        _ => return None,
    };
    Some(Command::Select(action))
}

fn key_command(key: &KeyEvent) -> Option<Command> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    let shift = key.modifiers.contains(KeyModifiers::SHIFT);
    let edit = |a| Some(Command::Edit(a));
    if shift {
        if let Some(select) = select_command(key) {
            return Some(select);
        }
    }
    match key.code {
        KeyCode::Char(c) if ctrl => match c.to_ascii_lowercase() {
            's' => Some(Command::Save),
            'o' => Some(Command::ToggleOnline),
            'p' => Some(Command::TogglePeers),
            't' => Some(Command::History),
            'k' => Some(Command::Prompt),
            // Ctrl-Shift-Z where the terminal tells it from Ctrl-Z.
            'z' if shift || c == 'Z' => Some(Command::Redo),
            'z' => Some(Command::Undo),
            'y' => Some(Command::Redo),
            'q' => Some(Command::Quit),
            'a' => Some(Command::SelectAll),
            'c' => Some(Command::Copy),
            'x' => Some(Command::Cut),
            'v' => Some(Command::Paste),
            'f' => Some(Command::Find),
            _ => None,
        },
        KeyCode::Char(_) if alt => None,
        KeyCode::Char(c) => edit(Action::Insert(c.to_string())),
        KeyCode::Enter => edit(Action::Insert("\n".into())),
        KeyCode::Tab => edit(Action::Insert("\t".into())),
        KeyCode::Backspace => edit(Action::Backspace),
        KeyCode::Delete => edit(Action::Delete),
        KeyCode::Left if ctrl => edit(Action::WordLeft),
        KeyCode::Right if ctrl => edit(Action::WordRight),
        KeyCode::Left => edit(Action::Left),
        KeyCode::Right => edit(Action::Right),
        KeyCode::Up => edit(Action::Up),
        KeyCode::Down => edit(Action::Down),
        KeyCode::Home if ctrl => edit(Action::DocStart),
        KeyCode::End if ctrl => edit(Action::DocEnd),
        KeyCode::Home => edit(Action::Home),
        KeyCode::End => edit(Action::End),
        KeyCode::PageUp => edit(Action::PageUp),
        KeyCode::PageDown => edit(Action::PageDown),
        KeyCode::Esc => Some(Command::Prompt),
        KeyCode::F(3) => Some(Command::FindAgain { forward: !shift }),
        _ => None,
    }
}

/// What a key does to the search being typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SearchKey {
    Type(String),
    Backspace,
    /// Enter, F3, Down or Ctrl-F: the next match.
    Next,
    /// Shift-F3 or Up: the previous match.
    Previous,
    /// Esc (or Ctrl-C, Ctrl-Q): back to editing.
    Close,
}

pub fn search_key(event: &Event) -> Option<SearchKey> {
    match event {
        Event::Paste(text) => Some(SearchKey::Type(text.clone())),
        Event::Key(key) if key.kind != KeyEventKind::Release => {
            let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
            let shift = key.modifiers.contains(KeyModifiers::SHIFT);
            match key.code {
                KeyCode::Char('f') if ctrl => Some(SearchKey::Next),
                KeyCode::Char('c') | KeyCode::Char('q') if ctrl => Some(SearchKey::Close),
                KeyCode::Char(_) if ctrl => None,
                KeyCode::Char(c) => Some(SearchKey::Type(c.to_string())),
                KeyCode::Backspace => Some(SearchKey::Backspace),
                KeyCode::Enter | KeyCode::Down => Some(SearchKey::Next),
                KeyCode::F(3) if shift => Some(SearchKey::Previous),
                KeyCode::F(3) => Some(SearchKey::Next),
                KeyCode::Up => Some(SearchKey::Previous),
                KeyCode::Esc => Some(SearchKey::Close),
                _ => None,
            }
        }
        _ => None,
    }
}

/// What a key does to the command line being typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PromptKey {
    Type(String),
    Backspace,
    Run,
    Cancel,
}

pub fn prompt_key(event: &Event) -> Option<PromptKey> {
    match event {
        Event::Paste(text) => Some(PromptKey::Type(text.replace(['\r', '\n'], " "))),
        Event::Key(key) if key.kind != KeyEventKind::Release => {
            let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
            match key.code {
                KeyCode::Char('c') | KeyCode::Char('q') if ctrl => Some(PromptKey::Cancel),
                KeyCode::Char(_) if ctrl => None,
                KeyCode::Char(c) => Some(PromptKey::Type(c.to_string())),
                KeyCode::Backspace => Some(PromptKey::Backspace),
                KeyCode::Enter => Some(PromptKey::Run),
                KeyCode::Esc => Some(PromptKey::Cancel),
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> Event {
        Event::Key(KeyEvent::new(code, modifiers))
    }

    #[test]
    fn keys_map_to_commands() {
        let none = KeyModifiers::NONE;
        let ctrl = KeyModifiers::CONTROL;
        let ins = |s: &str| Some(Command::Edit(Action::Insert(s.into())));
        assert_eq!(command(&key(KeyCode::Char('a'), none)), ins("a"));
        assert_eq!(
            command(&key(KeyCode::Char('A'), KeyModifiers::SHIFT)),
            ins("A")
        );
        assert_eq!(command(&key(KeyCode::Enter, none)), ins("\n"));
        assert_eq!(command(&key(KeyCode::Tab, none)), ins("\t"));
        assert_eq!(
            command(&Event::Paste("two\nlines".into())),
            ins("two\nlines")
        );
        assert_eq!(command(&key(KeyCode::Char('s'), ctrl)), Some(Command::Save));
        assert_eq!(
            command(&key(KeyCode::Char('o'), ctrl)),
            Some(Command::ToggleOnline)
        );
        assert_eq!(
            command(&key(KeyCode::Char('p'), ctrl)),
            Some(Command::TogglePeers)
        );
        assert_eq!(command(&key(KeyCode::Char('q'), ctrl)), Some(Command::Quit));
        assert_eq!(command(&key(KeyCode::Char('c'), ctrl)), Some(Command::Copy));
        assert_eq!(command(&key(KeyCode::Char('x'), ctrl)), Some(Command::Cut));
        assert_eq!(
            command(&key(KeyCode::Char('v'), ctrl)),
            Some(Command::Paste)
        );
        assert_eq!(command(&key(KeyCode::Char('f'), ctrl)), Some(Command::Find));
        let shift = KeyModifiers::SHIFT;
        assert_eq!(
            command(&key(KeyCode::Left, shift)),
            Some(Command::Select(Action::Left))
        );
        assert_eq!(
            command(&key(KeyCode::Right, shift | ctrl)),
            Some(Command::Select(Action::WordRight))
        );
        assert_eq!(
            command(&key(KeyCode::End, shift)),
            Some(Command::Select(Action::End))
        );
        assert_eq!(
            command(&key(KeyCode::F(3), shift)),
            Some(Command::FindAgain { forward: false })
        );
        assert_eq!(
            search_key(&key(KeyCode::Enter, none)),
            Some(SearchKey::Next)
        );
        assert_eq!(
            search_key(&key(KeyCode::F(3), shift)),
            Some(SearchKey::Previous)
        );
        assert_eq!(search_key(&key(KeyCode::Esc, none)), Some(SearchKey::Close));
        assert_eq!(command(&key(KeyCode::Esc, none)), Some(Command::Prompt));
        assert_eq!(command(&key(KeyCode::Char('w'), ctrl)), None);
        assert_eq!(command(&key(KeyCode::Char('z'), ctrl)), Some(Command::Undo));
        assert_eq!(command(&key(KeyCode::Char('y'), ctrl)), Some(Command::Redo));
        let ctrl_shift = ctrl | KeyModifiers::SHIFT;
        assert_eq!(
            command(&key(KeyCode::Char('Z'), ctrl_shift)),
            Some(Command::Redo)
        );
        assert_eq!(
            command(&key(KeyCode::Char('z'), ctrl_shift)),
            Some(Command::Redo)
        );
        assert_eq!(
            command(&key(KeyCode::Left, ctrl)),
            Some(Command::Edit(Action::WordLeft))
        );
        assert_eq!(
            command(&key(KeyCode::End, ctrl)),
            Some(Command::Edit(Action::DocEnd))
        );
        assert_eq!(
            command(&Event::Resize(80, 24)),
            Some(Command::Resize(80, 24))
        );
        assert_eq!(
            prompt_key(&key(KeyCode::Char('s'), none)),
            Some(PromptKey::Type("s".into()))
        );
        assert_eq!(prompt_key(&key(KeyCode::Enter, none)), Some(PromptKey::Run));
        assert_eq!(
            prompt_key(&key(KeyCode::Esc, none)),
            Some(PromptKey::Cancel)
        );
    }
}
