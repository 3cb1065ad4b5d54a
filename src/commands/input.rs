//! Reading commands on a thread of their own, so the event loop never
//! blocks on the user: each line goes through a channel, then the loop is
//! woken with its mio `Waker`.

use std::io::{BufRead, Write};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::thread;

use mio::Waker;

/// What the reader thread sends the loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Line(String),
    /// A line that is not UTF-8 (it gets an error reply).
    NotUtf8,
    /// Standard input is closed (or the user pressed Ctrl-D).
    Eof,
}

fn deliver(tx: &Sender<Input>, waker: &Waker, input: Input) -> bool {
    let ok = tx.send(input).is_ok();
    // A failed wake-up can only mean the loop is gone.
    let _ = waker.wake();
    ok
}

/// Script mode: one command per line from standard input.
pub fn spawn_pipe_reader(tx: Sender<Input>, waker: Arc<Waker>) {
    thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut stdin = stdin.lock();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let input = match stdin.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => Input::Eof,
                Ok(_) => match String::from_utf8(std::mem::take(&mut buf)) {
                    Ok(line) => Input::Line(line),
                    Err(_) => Input::NotUtf8,
                },
            };
            let eof = input == Input::Eof;
            if !deliver(&tx, &waker, input) || eof {
                return;
            }
        }
    });
}

/// Prints a notice above the prompt, redrawing what the user is typing.
pub type NoticePrinter = Box<dyn FnMut(String) + Send>;

/// Interactive mode: a prompt with line editing and history (rustyline).
/// The next prompt appears only after the loop has answered (`answered`),
/// so replies never mix with the prompt. Returns a printer for notices
/// that keeps them from garbling the line being typed (`None`: use
/// standard error). Falls back to the pipe reader when the terminal cannot
/// be driven.
pub fn spawn_prompt(
    tx: Sender<Input>,
    waker: Arc<Waker>,
    answered: Receiver<()>,
) -> Option<NoticePrinter> {
    use rustyline::ExternalPrinter;
    let mut editor = match rustyline::DefaultEditor::new() {
        Ok(editor) => editor,
        Err(_) => {
            spawn_pipe_reader(tx, waker);
            return None;
        }
    };
    let printer: Option<NoticePrinter> = editor.create_external_printer().ok().map(|mut p| {
        Box::new(move |msg: String| {
            if p.print(format!("{msg}\n")).is_err() {
                eprintln!("{msg}");
            }
        }) as NoticePrinter
    });
    thread::spawn(move || loop {
        let input = match editor.readline("rumor> ") {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                }
                Input::Line(line)
            }
            // Ctrl-C abandons the line being typed, as in a shell.
            Err(rustyline::error::ReadlineError::Interrupted) => continue,
            Err(_) => Input::Eof,
        };
        let eof = input == Input::Eof;
        if !deliver(&tx, &waker, input) || eof {
            return;
        }
        if answered.recv().is_err() {
            return;
        }
        let _ = std::io::stdout().flush();
    });
    printer
}
