//! Keys to commands. Plain functions of crossterm's events, so they are
//! tested without a terminal.

use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::model::Action;

/// What an input asks of the editor while editing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Edit(Action),
    /// Ctrl-S: save the text to the last file, or ask for one.
    Save,
    /// Ctrl-O: go offline / online.
    ToggleOnline,
    /// Ctrl-P: show / hide the peers panel.
    TogglePeers,
    /// Esc or Ctrl-K: the command prompt.
    Prompt,
    /// Ctrl-Z: undo this replica's last own step.
    Undo,
    /// Ctrl-Y or Ctrl-Shift-Z: redo.
    Redo,
    /// Ctrl-Q or Ctrl-C.
    Quit,
    /// The terminal changed size (columns, rows).
    Resize(u16, u16),
}

/// The one-line reminder of the keys.
pub const HELP: &str =
    "^S save  ^Z/^Y undo/redo  ^O offline/online  ^P peers  Esc/^K command (help, add, ...)  ^Q quit";

/// The command for a terminal event while editing, if any.
pub fn command(event: &Event) -> Option<Command> {
    match event {
        Event::Key(key) if key.kind != KeyEventKind::Release => key_command(key),
        Event::Paste(text) => Some(Command::Edit(Action::Insert(text.clone()))),
        Event::Resize(w, h) => Some(Command::Resize(*w, *h)),
        _ => None,
    }
}

fn key_command(key: &KeyEvent) -> Option<Command> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    let shift = key.modifiers.contains(KeyModifiers::SHIFT);
    let edit = |a| Some(Command::Edit(a));
    match key.code {
        KeyCode::Char(c) if ctrl => match c.to_ascii_lowercase() {
            's' => Some(Command::Save),
            'o' => Some(Command::ToggleOnline),
            'p' => Some(Command::TogglePeers),
            'k' => Some(Command::Prompt),
            // Ctrl-Shift-Z where the terminal tells it from Ctrl-Z.
            'z' if shift || c == 'Z' => Some(Command::Redo),
            'z' => Some(Command::Undo),
            'y' => Some(Command::Redo),
            'q' | 'c' => Some(Command::Quit),
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
        assert_eq!(command(&key(KeyCode::Char('c'), ctrl)), Some(Command::Quit));
        assert_eq!(command(&key(KeyCode::Esc, none)), Some(Command::Prompt));
        assert_eq!(command(&key(KeyCode::Char('x'), ctrl)), None);
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
