//! The full-screen terminal editor, `rumor edit`.
//!
//! It runs on the same driver as the command prompt: one thread reads the
//! terminal (crossterm) and hands each event to the mio loop through a
//! channel and the loop's waker; the node stays single-threaded. The loop
//! calls back here for each input, each node event, and once it is idle
//! (everything handled), which is when the screen is redrawn: one frame
//! however many datagrams or keys came in together.
//!
//! - [`mirror`] keeps the text as a rope, in step with the doc;
//! - [`model`] is the cursor, window, wrapping, scrolling, editing (pure);
//! - [`keys`] turns terminal events into commands;
//! - [`burst`] says which edits make one undo step;
//! - [`search`] finds text;
//! - [`history_view`] steps through earlier versions (Ctrl-T);
//! - [`view`] draws.

pub mod burst;
pub mod history_view;
pub mod keys;
pub mod mirror;
pub mod model;
pub mod search;
pub mod view;

use std::cell::RefCell;
use std::io::{self, Stdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread;

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    Event as TermEvent,
};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use mio::Waker;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use crate::commands::command::{self, Command as CliCommand, VersionSpec};
use crate::commands::session::{describe_outcome, Session};
use crate::commands::versions;
use crate::doc::{Doc, Id};
use crate::net::{format_utc, unix_ms_now, Driver, EditError, Flow};
use crate::node::{Edit, Event, PeerState};

use burst::Burst;
use history_view::{HistoryKey, HistoryView};
use keys::{Command, PromptKey, SearchKey};
use model::{Action, Editor, Search, Target};
use view::{Marker, Panel, Status};

/// The driver, for an edit that joins the open undo step or not. Every
/// edit after the first joins: one action (typing over a selection) is
/// one step.
struct InStep<'a> {
    driver: &'a mut Driver,
    merge: bool,
}

impl Target for InStep<'_> {
    fn doc(&self) -> &Doc {
        self.driver.node().doc()
    }
    fn edit(&mut self, edit: Edit) -> Result<Option<String>, String> {
        let result = self.driver.edit_in_step(edit, self.merge);
        self.merge = true;
        match result {
            Ok(()) => Ok(None),
            Err(EditError::NotDurable(e)) => Ok(Some(format!("NOT DURABLE: {e}"))),
            Err(e @ (EditError::Doc(_) | EditError::Refused(_))) => Err(e.to_string()),
        }
    }
}

/// What the terminal thread sends the loop.
pub enum Input {
    Term(TermEvent),
    /// The terminal cannot be read any more.
    Closed(String),
}

/// Whether this process has the terminal in raw mode (for the panic hook).
static RAW: AtomicBool = AtomicBool::new(false);

/// Puts the terminal back as it was; safe to call more than once.
pub fn restore_terminal() {
    if RAW.swap(false, Ordering::SeqCst) {
        let _ = crossterm::execute!(
            io::stdout(),
            DisableMouseCapture,
            DisableBracketedPaste,
            LeaveAlternateScreen,
            crossterm::cursor::Show
        );
        let _ = disable_raw_mode();
    }
}

fn enter_terminal() -> io::Result<Terminal<CrosstermBackend<Stdout>>> {
    // A panic restores the terminal before its message is printed.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
    enable_raw_mode()?;
    RAW.store(true, Ordering::SeqCst);
    crossterm::execute!(
        io::stdout(),
        EnterAlternateScreen,
        EnableBracketedPaste,
        EnableMouseCapture
    )?;
    Terminal::new(CrosstermBackend::new(io::stdout()))
}

/// Reads terminal events on a thread of its own.
fn spawn_reader(tx: Sender<Input>, waker: Arc<Waker>) {
    thread::spawn(move || loop {
        let input = match crossterm::event::read() {
            Ok(event) => Input::Term(event),
            Err(e) => Input::Closed(e.to_string()),
        };
        let closed = matches!(input, Input::Closed(_));
        let sent = tx.send(input).is_ok();
        let _ = waker.wake();
        if closed || !sent {
            return;
        }
    });
}

enum Mode {
    Editing,
    /// The command line being typed.
    Prompt(String),
    /// The search being typed (Ctrl-F). `fresh`: it is the last search,
    /// shown again; the first char typed replaces it.
    Find {
        query: String,
        fresh: bool,
    },
    /// The history view (Ctrl-T).
    History(HistoryView),
}

/// Everything the editor keeps between callbacks.
struct Ui {
    editor: Editor,
    /// Which edits make one undo step.
    burst: Burst,
    session: Session,
    mode: Mode,
    /// Output of the last command, until a key is pressed.
    output: Option<Panel>,
    show_peers: bool,
    message: String,
    /// What Ctrl-C or Ctrl-X took, for Ctrl-V.
    clipboard: String,
    /// The last search, for F3.
    query: String,
    save_path: Option<std::path::PathBuf>,
    last_save: Option<String>,
    /// The cursor and selection anchor last told to the peers.
    told_cursor: Option<(Option<Id>, Option<Option<Id>>)>,
    /// A disk error held node events back: patches may be missing, so
    /// the text is copied whole until it is over.
    stale: bool,
    /// `Driver::file_edits` when last seen: edits from the bound file come
    /// with no patches, so the text is copied whole when it moves.
    file_edits: u64,
    dirty: bool,
    quitting: bool,
    last_drawn: Option<(Status, Vec<Marker>, Option<Panel>)>,
}

/// Runs `rumor edit` until the user quits. The driver is started.
pub fn run(driver: &mut Driver, data_note: String) -> io::Result<()> {
    let terminal = match enter_terminal() {
        Ok(t) => t,
        Err(e) => {
            restore_terminal();
            return Err(e);
        }
    };
    let size = match terminal.size() {
        Ok(size) => size,
        Err(e) => {
            restore_terminal();
            return Err(e);
        }
    };
    let text = view::text_area(ratatui::layout::Rect::new(0, 0, size.width, size.height));
    let ui = RefCell::new(Ui {
        editor: Editor::new(driver.node().doc(), text.width.into(), text.height.into()),
        burst: Burst::default(),
        session: Session::new(true, None),
        mode: Mode::Editing,
        output: None,
        show_peers: false,
        message: format!("{data_note}  |  {}", keys::HELP),
        clipboard: String::new(),
        query: String::new(),
        save_path: None,
        last_save: None,
        told_cursor: None,
        stale: false,
        file_edits: driver.file_edits(),
        dirty: true,
        quitting: false,
        last_drawn: None,
    });
    let (tx, rx) = mpsc::channel();
    spawn_reader(tx, driver.waker());
    let terminal = RefCell::new(terminal);

    let result = driver.run_with_idle(
        &rx,
        |driver, input| ui.borrow_mut().on_input(driver, input),
        |_, event| ui.borrow_mut().on_event(event),
        |notice| {
            let mut ui = ui.borrow_mut();
            ui.message = notice;
            ui.dirty = true;
        },
        |driver| {
            let mut ui = ui.borrow_mut();
            ui.on_idle(driver, &mut terminal.borrow_mut());
            None
        },
    );
    restore_terminal();
    result
}

impl Ui {
    fn on_event(&mut self, event: Event) {
        match event {
            Event::RemoteEdit { patches } => self.editor.mirror.push_patches(&patches),
            Event::PeerUp(addr) => self.message = format!("peer {addr} is up"),
            Event::PeerDown(addr) => self.message = format!("peer {addr} is down"),
            Event::Rejoined { new, .. } => {
                self.message = format!("rejoined the group as replica {new}")
            }
            // (The driver turns these into notices.)
            Event::Refused { .. } => {}
            Event::Tag(tag) => self.message = format!("tag {} from a peer", tag.name),
            Event::Founded { .. } => {
                self.message = "no member answered on the LAN: founded a new document".into()
            }
            Event::OwnOpsLost { peer, .. } => {
                self.message = format!(
                    "{peer} holds edits of ours this data directory lost (a restored backup?): \
                     taking them back"
                )
            }
        }
        self.dirty = true;
    }

    /// Takes in every remote change so far (before any local edit).
    fn sync(&mut self, driver: &mut Driver) {
        let events: Vec<Event> = driver.take_events().collect();
        for event in events {
            self.on_event(event);
        }
        if driver.persist_error().is_some() || driver.file_edits() != self.file_edits {
            self.file_edits = driver.file_edits();
            self.stale = true;
        }
        let doc = driver.node().doc();
        if self.stale {
            if doc.version_ref() != self.editor.mirror.synced() || self.editor.mirror.has_pending()
            {
                self.editor.reload(doc);
                self.dirty = true;
            }
            if driver.persist_error().is_none() {
                self.stale = false;
            }
        } else if self.editor.sync(doc) {
            self.dirty = true;
        }
    }

    fn on_input(&mut self, driver: &mut Driver, input: Input) -> Flow {
        self.sync(driver);
        self.dirty = true;
        let event = match input {
            Input::Term(event) => event,
            Input::Closed(e) => {
                let flow = self.quit(driver);
                eprintln!("rumor: the terminal cannot be read ({e}); quitting");
                return flow;
            }
        };
        if let Mode::Prompt(line) = &mut self.mode {
            match keys::prompt_key(&event) {
                Some(PromptKey::Type(s)) => line.push_str(&s),
                Some(PromptKey::Backspace) => {
                    line.pop();
                }
                Some(PromptKey::Cancel) => self.mode = Mode::Editing,
                Some(PromptKey::Run) => {
                    let line = std::mem::take(line);
                    self.mode = Mode::Editing;
                    return self.run_command(driver, &line);
                }
                None => {
                    if let TermEvent::Resize(w, h) = event {
                        self.resize(driver, w, h);
                    }
                }
            }
            return Flow::Continue;
        }
        if let Mode::History(view) = &mut self.mode {
            let total = driver.history().versions().len();
            match history_view::history_key(&event) {
                Some(HistoryKey::Older) => view.n = view.n.saturating_sub(1),
                Some(HistoryKey::Newer) => view.n = (view.n + 1).min(total),
                Some(HistoryKey::Oldest) => view.n = 0,
                Some(HistoryKey::Newest) => view.n = total,
                Some(HistoryKey::Up) => view.scroll = view.scroll.saturating_sub(1),
                Some(HistoryKey::Down) => view.scroll += 1,
                Some(HistoryKey::Close) => {
                    self.mode = Mode::Editing;
                    self.message = keys::HELP.into();
                }
                Some(HistoryKey::Restore) => {
                    let line = format!("restore @{}", view.n);
                    self.mode = Mode::Editing;
                    return self.run_command(driver, &line);
                }
                None => {
                    if let TermEvent::Resize(w, h) = event {
                        self.resize(driver, w, h);
                    }
                }
            }
            return Flow::Continue;
        }
        if let Mode::Find { query, fresh } = &mut self.mode {
            let key = keys::search_key(&event);
            if *fresh && matches!(key, Some(SearchKey::Type(_) | SearchKey::Backspace)) {
                query.clear();
            }
            if key.is_some() {
                *fresh = false;
            }
            let how = match key {
                Some(SearchKey::Type(s)) => {
                    query.push_str(&s);
                    Search::Here
                }
                Some(SearchKey::Backspace) => {
                    query.pop();
                    Search::Here
                }
                Some(SearchKey::Next) => Search::Next,
                Some(SearchKey::Previous) => Search::Previous,
                Some(SearchKey::Close) => {
                    self.mode = Mode::Editing;
                    return Flow::Continue;
                }
                None => {
                    if let TermEvent::Resize(w, h) = event {
                        self.resize(driver, w, h);
                    }
                    return Flow::Continue;
                }
            };
            self.query = query.clone();
            self.find(driver, how);
            return Flow::Continue;
        }
        let Some(command) = keys::command(&event) else {
            return Flow::Continue;
        };
        if self.output.take().is_some() && !matches!(command, Command::Resize(..)) {
            // A key closes the command output, and does nothing else.
            return Flow::Continue;
        }
        if !matches!(command, Command::Edit(_) | Command::Resize(..)) {
            self.burst.close();
        }
        match command {
            Command::Edit(action) => self.edit(driver, action),
            Command::Select(action) => {
                self.editor.select(driver.node().doc(), action);
                self.tell_cursor(driver);
            }
            Command::SelectAll => {
                let doc = driver.node().doc();
                self.editor.select_range(doc, 0..doc.len());
                self.tell_cursor(driver);
            }
            Command::Click { x, y, drag } => {
                let text = self.editor.height();
                if usize::from(y) < text || drag {
                    let y = usize::from(y).min(text.saturating_sub(1));
                    self.editor.click(driver.node().doc(), x.into(), y, drag);
                    self.tell_cursor(driver);
                }
            }
            Command::Copy | Command::Cut => {
                let doc = driver.node().doc();
                match self.editor.selected_text(doc) {
                    None => {
                        self.message =
                            "nothing selected (Shift with a move selects; ^Q quits)".into()
                    }
                    Some(text) => {
                        let n = text.chars().count();
                        let system = copy_to_terminal(&text);
                        self.clipboard = text;
                        if command == Command::Cut {
                            driver.close_undo_step();
                            let mut target = InStep {
                                driver,
                                merge: false,
                            };
                            match self.editor.delete_selection(&mut target) {
                                Ok(Some(warning)) => self.message = warning,
                                Ok(None) => self.message = format!("cut {n} chars"),
                                Err(e) => self.message = format!("error: {e}"),
                            }
                            self.tell_cursor(driver);
                        } else {
                            self.message = format!("copied {n} chars");
                            if !system {
                                self.message
                                    .push_str(" (too many for the system clipboard)");
                            }
                        }
                    }
                }
            }
            Command::Paste => {
                if self.clipboard.is_empty() {
                    self.message = "nothing to paste: ^C or ^X a selection first".into();
                } else {
                    self.edit(driver, Action::Insert(self.clipboard.clone()));
                }
            }
            Command::Find => {
                self.mode = Mode::Find {
                    query: self.query.clone(),
                    fresh: true,
                };
                self.message = "Enter/F3 next, Shift-F3/Up previous, Esc back to editing".into();
            }
            Command::FindAgain { forward } => {
                let how = if forward {
                    Search::Next
                } else {
                    Search::Previous
                };
                self.find(driver, how);
            }
            Command::Save => match self.save_path.clone() {
                Some(path) => return self.run_command(driver, &format!("save {}", path.display())),
                None => self.mode = Mode::Prompt("save ".into()),
            },
            Command::ToggleOnline => {
                let online = !driver.node().is_online();
                driver.set_online(online);
                self.message = if online {
                    "online: catching up with the peers".into()
                } else {
                    "offline: no network traffic; editing goes on (^O to come back)".into()
                };
            }
            Command::Undo => self.undo_or_redo(driver, true),
            Command::Redo => self.undo_or_redo(driver, false),
            Command::TogglePeers => self.show_peers = !self.show_peers,
            Command::Prompt => self.mode = Mode::Prompt(String::new()),
            Command::History => {
                let n = driver.history().versions().len();
                self.mode = Mode::History(HistoryView { n, scroll: 0 });
                self.message = history_view::HELP.into();
            }
            Command::Quit => return self.quit(driver),
            Command::Resize(w, h) => self.resize(driver, w, h),
        }
        Flow::Continue
    }

    /// An edit at the cursor (replacing the selection), in the open undo
    /// step if the burst goes on.
    fn edit(&mut self, driver: &mut Driver, action: Action) {
        let merge = self.burst.joins(&action, driver.now());
        if !merge {
            driver.close_undo_step();
        }
        let mut target = InStep { driver, merge };
        match self.editor.apply(&mut target, action) {
            Ok(Some(warning)) => self.message = warning,
            Ok(None) => {}
            Err(e) => self.message = format!("error: {e}"),
        }
        self.tell_cursor(driver);
    }

    /// Selects a match of the last search.
    fn find(&mut self, driver: &mut Driver, how: Search) {
        if self.query.is_empty() {
            self.message = "nothing to find: ^F to search".into();
            return;
        }
        self.message = match self.editor.find(driver.node().doc(), &self.query, how) {
            None => format!("not found: {}", self.query),
            Some(true) => "wrapped around".into(),
            Some(false) => String::new(),
        };
        self.tell_cursor(driver);
    }

    /// Ctrl-Z / Ctrl-Y: the text is taken whole (local edits bring no
    /// patches) and the cursor goes where the change was.
    fn undo_or_redo(&mut self, driver: &mut Driver, undo: bool) {
        let (result, done, none) = if undo {
            (driver.undo(), "undone", "nothing to undo")
        } else {
            (driver.redo(), "redone", "nothing to redo")
        };
        self.message = match result {
            Ok(Some(outcome)) => {
                self.editor.reload_at(driver.node().doc(), outcome.cursor);
                format!("{done}: {}", describe_outcome(&outcome))
            }
            Ok(None) => none.to_string(),
            Err(e) => {
                self.editor.reload(driver.node().doc());
                format!("error: {e}")
            }
        };
        self.tell_cursor(driver);
    }

    fn resize(&mut self, driver: &Driver, w: u16, h: u16) {
        let text = view::text_area(ratatui::layout::Rect::new(0, 0, w, h));
        self.editor
            .resize(driver.node().doc(), text.width.into(), text.height.into());
    }

    fn quit(&mut self, driver: &mut Driver) -> Flow {
        self.quitting = true;
        driver.leave_presence();
        restore_terminal();
        if !driver.peers_have_everything() {
            eprintln!(
                "rumor: sending the peers what they lack (at most {}s)",
                crate::net::LINGER.as_secs()
            );
        }
        Flow::Exit
    }

    /// A command-mode line from the prompt: the reply's status goes to the
    /// message line, its body (if any) to a panel.
    fn run_command(&mut self, driver: &mut Driver, line: &str) -> Flow {
        let cmd = match command::parse(line) {
            Ok(Some(cmd)) => cmd,
            Ok(None) => return Flow::Continue,
            Err(e) => {
                self.message = format!("error: {}", e.0);
                return Flow::Continue;
            }
        };
        if cmd == CliCommand::Exit {
            return self.quit(driver);
        }
        let before = driver.node().doc().version();
        let reply = self.session.execute(driver, cmd.clone());
        if driver.node().doc().version_ref() != &before {
            // `edit insert`/`edit delete` from the prompt: no patches for
            // local edits, so take the text whole.
            self.editor.reload(driver.node().doc());
            self.tell_cursor(driver);
        }
        if let (CliCommand::Save(path), Ok(_)) = (&cmd, &reply.status) {
            self.save_path = Some(path.clone());
            let time = format_utc(unix_ms_now());
            self.last_save = Some(time.rsplit(' ').next().unwrap_or(&time).to_string());
        }
        self.message = match &reply.status {
            Ok(detail) if detail.is_empty() => format!("ok: {line}"),
            Ok(detail) => format!("ok: {detail}"),
            Err(e) => format!("error: {e}"),
        };
        if !reply.body.is_empty() {
            self.output = Some(Panel {
                title: format!(" {line} (any key closes) "),
                lines: reply.body,
                wrap: cmd == CliCommand::Invite,
            });
        }
        Flow::Continue
    }

    fn tell_cursor(&mut self, driver: &mut Driver) {
        let cursor = self.editor.cursor_id();
        let anchor = self.editor.selection_anchor(driver.node().doc());
        if self.told_cursor != Some((cursor, anchor)) {
            driver.set_selection(cursor, anchor);
            self.told_cursor = Some((cursor, anchor));
        }
    }

    fn on_idle(&mut self, driver: &mut Driver, terminal: &mut Terminal<CrosstermBackend<Stdout>>) {
        if self.quitting {
            return;
        }
        self.sync(driver);
        // The first frame, or a remote delete moved the cursor's anchor.
        self.tell_cursor(driver);
        let status = self.status(driver);
        let markers = markers(driver);
        let panel = self.panel(driver);
        let snapshot = (status, markers, panel);
        if !self.dirty && self.last_drawn.as_ref() == Some(&snapshot) {
            return;
        }
        let doc = driver.node().doc();
        // Matches change only with a key or a remote edit, both of which
        // make the screen dirty.
        let matches = match &self.mode {
            Mode::Find { query, .. } => self.editor.matches_on_screen(doc, query),
            _ => Vec::new(),
        };
        let history = match &self.mode {
            Mode::History(v) => Some(history_screen(driver, v)),
            _ => None,
        };
        let (status, markers, panel) = &snapshot;
        let editor = &mut self.editor;
        let shown = view::Shown {
            markers,
            matches: &matches,
            status,
            panel: panel.as_ref(),
            history: history.as_ref(),
        };
        if let Err(e) = terminal.draw(|f| view::draw(f, editor, doc, &shown)) {
            self.message = format!("cannot draw: {e}");
        }
        self.dirty = false;
        self.last_drawn = Some(snapshot);
    }

    fn panel(&mut self, driver: &mut Driver) -> Option<Panel> {
        if let Some(output) = &self.output {
            return Some(output.clone());
        }
        if self.show_peers {
            let reply = self.session.execute(driver, CliCommand::Peers);
            return Some(Panel {
                title: " peers (^P closes) ".into(),
                lines: reply.body,
                wrap: false,
            });
        }
        None
    }

    fn status(&self, driver: &Driver) -> Status {
        let node = driver.node();
        let peers = node.peers();
        let count = |s: PeerState| peers.iter().filter(|p| p.state == s).count();
        let me = node.replica();
        let mine = node.doc().version_ref().get(me);
        // Over the peers that are not down (all of them if all are): what
        // of this replica's own ops is not on every one of them yet.
        let any_up = peers.iter().any(|p| p.state != PeerState::Down);
        let unacked = peers
            .iter()
            .filter(|p| !any_up || p.state != PeerState::Down)
            .map(|p| mine.saturating_sub(p.acked.get(me)))
            .max();
        let save = if let Some(e) = driver.persist_error() {
            format!("DISK ERROR: {e}")
        } else if let Some(t) = &self.last_save {
            format!("saved {t}")
        } else if driver.store().is_some() {
            "on disk".to_string()
        } else {
            "memory only".to_string()
        };
        // Line and column (in chars) of the cursor, counted from 1.
        let pos = self.editor.cursor_pos(node.doc());
        let rope = self.editor.mirror.rope();
        let line = rope.char_to_line(pos);
        let col = pos - rope.line_to_char(line);
        let selected = match self.editor.selection(node.doc()) {
            Some(range) => format!(" ({} selected)", range.len()),
            None => String::new(),
        };
        let message = match &self.mode {
            Mode::Prompt(_) => String::new(),
            Mode::Find { .. } | Mode::History(_) => self.message.clone(),
            Mode::Editing => format!("L{} C{}{selected}  {}", line + 1, col + 1, self.message),
        };
        Status {
            name: node.config().name.clone(),
            online: node.is_online(),
            peers_up: count(PeerState::Alive),
            peers_suspect: count(PeerState::Suspect),
            peers_down: count(PeerState::Down),
            unacked,
            save,
            message,
            prompt: match &self.mode {
                Mode::Prompt(line) => Some(format!(":{line}")),
                Mode::Find { query, .. } => Some(format!("find: {query}")),
                Mode::Editing | Mode::History(_) => None,
            },
        }
    }
}

/// What the history view shows at `@n`: the text then, with what entry n
/// changed, each author in its colour.
fn history_screen(driver: &Driver, v: &HistoryView) -> history_view::Screen {
    let total = driver.history().versions().len();
    let at = |n: usize| versions::resolve(driver.host(), &VersionSpec::Number(n), unix_ms_now());
    let body = match at(v.n) {
        Ok(after) => {
            let before = if v.n == 0 {
                Ok(after.clone())
            } else {
                at(v.n - 1)
            };
            // The version before may be cleaned up: then show no changes.
            let before = before.unwrap_or_else(|_| after.clone());
            let shown = history_view::compare(&before.past, &after.past);
            Ok(history_view::lines(&shown))
        }
        Err(e) => Err(e),
    };
    let when = driver
        .history()
        .versions()
        .stamps()
        .get(v.n.wrapping_sub(1))
        .filter(|s| s.unix_ms > 0)
        .map(|s| format!(", {} UTC", format_utc(s.unix_ms)))
        .unwrap_or_default();
    history_view::Screen {
        title: format!(
            " @{} of {total}{when} (Enter restores it, Esc closes) ",
            v.n
        ),
        body,
        scroll: v.scroll,
    }
}

/// The other editors' cursors this replica can place.
fn markers(driver: &Driver) -> Vec<Marker> {
    let doc = driver.node().doc();
    driver
        .node()
        .presences()
        .into_iter()
        .filter_map(|p| {
            let place = |anchor: Option<Id>| match anchor {
                None => Some(doc.len()),
                // A char this replica has not received yet: no marker.
                Some(id) => Some(doc.position_of(id)?.0),
            };
            let pos = place(p.cursor)?;
            let selection = p.anchor.and_then(place);
            let name = if p.name.is_empty() {
                p.replica.to_string()
            } else {
                p.name
            };
            Some(Marker {
                name,
                pos,
                selection,
                color: view::peer_color(p.replica),
            })
        })
        .collect()
}

/// Most text OSC 52 carries: terminals cap the sequence (xterm and tmux
/// at about 100 kB), and a bigger one only slows the screen down.
const OSC52_MAX: usize = 74_000;

/// Puts `text` on the system clipboard through the terminal (OSC 52),
/// where the terminal allows it; others ignore the sequence. `false`: too
/// long to send.
fn copy_to_terminal(text: &str) -> bool {
    use std::io::Write;
    if text.len() > OSC52_MAX {
        return false;
    }
    let mut out = io::stdout();
    let _ = write!(out, "\x1b]52;c;{}\x07", base64(text.as_bytes()));
    let _ = out.flush();
    true
}

/// Standard base64 with padding (for OSC 52).
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_pads_as_the_standard_says() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(super::base64("héllo".as_bytes()), "aMOpbGxv");
    }
}
