//! Two real `rumor edit` processes on 127.0.0.1, each in its own tmux
//! window: text typed (and pasted) in one appears in the other, each shows
//! the other's cursor, Ctrl-Z and Ctrl-Y undo and redo one's own typing,
//! and Ctrl-Q or `quit` at the prompt gives back a working terminal; in
//! one editor, typing over a Shift-selection, copy and paste, and find.
//!
//! Driven with `tmux send-keys` and read with `tmux capture-pane`, polled
//! until a deadline (never a fixed sleep). tmux runs on a private socket
//! that the test kills at the end, pass or fail. Without tmux the test is
//! skipped, unless `RUMOR_REQUIRE_TMUX` is set (CI sets it).

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(30);

/// A tmux server of our own, killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            // Run from inside tmux too: this is a server of our own.
            .env_remove("TMUX")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs")
    }

    fn ok(&self, args: &[&str]) {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The window's screen as text (`escapes`: with colours).
    fn screen(&self, window: &str, escapes: bool) -> String {
        let mut args = vec!["capture-pane", "-p", "-t", window];
        if escapes {
            args.push("-e");
        }
        String::from_utf8_lossy(&self.run(&args).stdout).to_string()
    }

    /// Waits until `check` holds for the window's screen.
    fn wait_for(&self, window: &str, what: &str, escapes: bool, check: impl Fn(&str) -> bool) {
        let start = Instant::now();
        loop {
            let screen = self.screen(window, escapes);
            if check(&screen) {
                return;
            }
            if start.elapsed() > DEADLINE {
                panic!("{window}: no {what} within {DEADLINE:?}; the screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn type_text(&self, window: &str, text: &str) {
        self.ok(&["send-keys", "-t", window, "-l", text]);
    }

    fn keys(&self, window: &str, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", window];
        args.extend_from_slice(keys);
        self.ok(&args);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tmux_available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The shell line that runs the editor and then records how the terminal
/// is set (`stty -g`) before and after, and the exit status.
fn editor_line(dir: &Path, who: &str, args: &str) -> String {
    let bin = env!("CARGO_BIN_EXE_rumor");
    let d = dir.display();
    format!(
        "stty -g > {d}/{who}.before; {bin} edit {args} --name {who} 2> {d}/{who}.err; \
         echo \"EXITED-$?\"; stty -g > {d}/{who}.after"
    )
}

#[test]
fn two_editors_in_tmux_see_each_other() {
    if !tmux_available() {
        assert!(
            std::env::var_os("RUMOR_REQUIRE_TMUX").is_none(),
            "tmux is required here (RUMOR_REQUIRE_TMUX is set) but not installed"
        );
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tmux = Tmux {
        socket: format!("rumor-test-{}", std::process::id()),
    };
    let shell = "env -i PATH=/usr/bin:/bin TERM=xterm-256color PS1='$ ' bash --norc --noprofile";
    tmux.ok(&[
        "-f",
        "/dev/null",
        "new-session",
        "-d",
        "-s",
        "t",
        "-n",
        "alice",
        "-x",
        "80",
        "-y",
        "14",
        shell,
    ]);
    tmux.ok(&["set-option", "-g", "escape-time", "0"]);
    tmux.ok(&["new-window", "-d", "-t", "t:1", "-n", "bob", shell]);
    let (alice, bob) = ("t:0", "t:1");

    let (pa, pb) = (free_port(), free_port());
    tmux.type_text(
        alice,
        &editor_line(dir.path(), "alice", &format!("--listen 127.0.0.1:{pa}")),
    );
    tmux.keys(alice, &["Enter"]);
    tmux.type_text(
        bob,
        &editor_line(
            dir.path(),
            "bob",
            &format!("--listen 127.0.0.1:{pb} --peer 127.0.0.1:{pa}"),
        ),
    );
    tmux.keys(bob, &["Enter"]);
    for w in [alice, bob] {
        tmux.wait_for(w, "peer up in the status bar", false, |s| {
            s.contains("| online | peers 1 up")
        });
    }

    // Typed in one, seen in the other.
    tmux.type_text(alice, "hello from alice");
    tmux.wait_for(bob, "alice's text", false, |s| {
        s.lines().next() == Some("hello from alice")
    });

    // Bob goes to the start of the line and types: alice's text moves,
    // her cursor stays after her own text.
    tmux.keys(bob, &["Home"]);
    tmux.type_text(bob, "bob: ");
    tmux.wait_for(alice, "bob's text", false, |s| {
        s.lines().next() == Some("bob: hello from alice")
    });
    tmux.type_text(alice, "!");
    tmux.wait_for(bob, "alice typing at her cursor", false, |s| {
        s.lines().next() == Some("bob: hello from alice!")
    });

    // Each shows the other's cursor: a coloured cell (a background colour
    // on the first line) and the name in the status bar.
    for (w, other) in [(alice, "bob"), (bob, "alice")] {
        tmux.wait_for(w, "the other's cursor marker", true, |s| {
            s.lines().next().is_some_and(|l| l.contains("\x1b[48;"))
        });
        tmux.wait_for(w, "the other's name in the status bar", false, |s| {
            s.contains(&format!("memory only  {other} L1"))
        });
    }

    // A bracketed paste arrives whole, newlines included.
    tmux.ok(&["set-buffer", "-b", "p", "pasted\nlines"]);
    tmux.ok(&["paste-buffer", "-p", "-b", "p", "-t", bob]);
    tmux.wait_for(alice, "the pasted lines", false, |s| {
        let lines: Vec<&str> = s.lines().collect();
        lines.len() > 1 && lines[0] == "bob: pasted" && lines[1] == "lineshello from alice!"
    });

    // The command prompt runs command-mode commands.
    let saved = dir.path().join("saved.txt");
    tmux.keys(alice, &["C-k"]);
    tmux.type_text(alice, &format!("save {}", saved.display()));
    tmux.keys(alice, &["Enter"]);
    tmux.wait_for(alice, "the save reply", false, |s| s.contains("ok: wrote"));
    assert_eq!(
        std::fs::read_to_string(&saved).unwrap(),
        "bob: pasted\nlineshello from alice!"
    );

    // Ctrl-Z undoes alice's own last burst of typing (ended by a cursor
    // move) on both screens, and Ctrl-Y brings it back.
    tmux.keys(alice, &["End"]);
    tmux.type_text(alice, " bye");
    tmux.wait_for(bob, "alice's new typing", false, |s| {
        s.lines().nth(1) == Some("lineshello from alice! bye")
    });
    tmux.keys(alice, &["C-z"]);
    tmux.wait_for(alice, "the undo message", false, |s| {
        s.contains("undone: removed 4 chars")
    });
    tmux.wait_for(bob, "alice's undo", false, |s| {
        s.lines().nth(1) == Some("lineshello from alice!")
    });
    tmux.keys(alice, &["C-y"]);
    tmux.wait_for(bob, "alice's redo", false, |s| {
        s.lines().nth(1) == Some("lineshello from alice! bye")
    });

    // A selection is presence too: bob sees alice's selected "bye"
    // underlined (in her colour).
    tmux.keys(alice, &["End", "S-Left", "S-Left", "S-Left"]);
    tmux.wait_for(bob, "alice's selection", true, |s| {
        s.lines().nth(1).is_some_and(|l| l.contains("\x1b[4m"))
    });

    // Ctrl-Q (alice) and `quit` at the prompt (bob): the editors exit
    // cleanly and the terminal is as before.
    for (w, who) in [(alice, "alice"), (bob, "bob")] {
        if who == "alice" {
            tmux.keys(w, &["C-q"]);
        } else {
            tmux.keys(w, &["C-k"]);
            tmux.type_text(w, "quit");
            tmux.keys(w, &["Enter"]);
        }
        tmux.wait_for(w, "the editor's exit", false, |s| s.contains("EXITED-0"));
        let read = |f: &str| std::fs::read_to_string(dir.path().join(format!("{who}.{f}")));
        let start = Instant::now();
        while read("after").map_or(true, |s| s.is_empty()) && start.elapsed() < DEADLINE {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(
            read("before").unwrap(),
            read("after").unwrap(),
            "{who}: terminal settings restored (stderr: {:?})",
            read("err")
        );
        // And the shell works: a command typed now runs and prints.
        tmux.type_text(w, "echo still-$((40 + 2))");
        tmux.keys(w, &["Enter"]);
        tmux.wait_for(w, "the shell's answer", false, |s| {
            s.lines().any(|l| l.trim() == "still-42")
        });
    }
}

/// `rumor edit PATH`: the editor shows the file, what is typed reaches the
/// file, and a save by another program (`sed -i`) shows on the screen
/// (a same-length change: the editor must reload, a length check alone
/// would not notice).
#[test]
fn the_editor_on_a_file_keeps_it_written_and_shows_outside_saves() {
    if !tmux_available() {
        assert!(
            std::env::var_os("RUMOR_REQUIRE_TMUX").is_none(),
            "tmux is required here (RUMOR_REQUIRE_TMUX is set) but not installed"
        );
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, "first line\nsecond line\n").unwrap();
    let tmux = Tmux {
        socket: format!("rumor-test-file-{}", std::process::id()),
    };
    let shell = "env -i PATH=/usr/bin:/bin TERM=xterm-256color PS1='$ ' bash --norc --noprofile";
    tmux.ok(&[
        "-f",
        "/dev/null",
        "new-session",
        "-d",
        "-s",
        "t",
        "-n",
        "alice",
        "-x",
        "80",
        "-y",
        "14",
        shell,
    ]);
    tmux.ok(&["set-option", "-g", "escape-time", "0"]);
    let alice = "t:0";
    let args = format!("{} --listen 127.0.0.1:{}", file.display(), free_port());
    tmux.type_text(alice, &editor_line(dir.path(), "alice", &args));
    tmux.keys(alice, &["Enter"]);
    tmux.wait_for(alice, "the file's text", false, |s| {
        s.lines().take(2).eq(["first line", "second line"])
    });

    tmux.type_text(alice, ">> ");
    let start = Instant::now();
    while std::fs::read_to_string(&file).unwrap() != ">> first line\nsecond line\n" {
        assert!(
            start.elapsed() < DEADLINE,
            "the typed text never reached the file: {:?}",
            std::fs::read_to_string(&file)
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let sed = Command::new("sed")
        .args(["-i", "s/second/SECOND/"])
        .arg(&file)
        .status()
        .unwrap();
    assert!(sed.success());
    tmux.wait_for(alice, "the outside save", false, |s| {
        s.lines().take(2).eq([">> first line", "SECOND line"])
    });

    tmux.keys(alice, &["C-q"]);
    tmux.wait_for(alice, "the editor's exit", false, |s| {
        s.contains("EXITED-0")
    });
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        ">> first line\nSECOND line\n"
    );
}

/// Selecting, copy and paste, and find, in one editor: typing over a
/// Shift-selection replaces it and one Ctrl-Z brings it back; Ctrl-C then
/// Ctrl-V duplicates text; Ctrl-F finds, Enter goes to the next match.
#[test]
fn the_editor_selects_copies_pastes_and_finds() {
    if !tmux_available() {
        assert!(
            std::env::var_os("RUMOR_REQUIRE_TMUX").is_none(),
            "tmux is required here (RUMOR_REQUIRE_TMUX is set) but not installed"
        );
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tmux = Tmux {
        socket: format!("rumor-test-select-{}", std::process::id()),
    };
    let shell = "env -i PATH=/usr/bin:/bin TERM=xterm-256color PS1='$ ' bash --norc --noprofile";
    tmux.ok(&[
        "-f",
        "/dev/null",
        "new-session",
        "-d",
        "-s",
        "t",
        "-n",
        "alice",
        "-x",
        "100",
        "-y",
        "14",
        shell,
    ]);
    tmux.ok(&["set-option", "-g", "escape-time", "0"]);
    let alice = "t:0";
    let args = format!("--listen 127.0.0.1:{}", free_port());
    tmux.type_text(alice, &editor_line(dir.path(), "alice", &args));
    tmux.keys(alice, &["Enter"]);
    tmux.wait_for(alice, "the editor", false, |s| s.contains("| online |"));
    let first_line = |want: &'static str| move |s: &str| s.lines().next() == Some(want);

    tmux.type_text(alice, "one two three");
    tmux.wait_for(alice, "the typing", false, first_line("one two three"));

    // Shift+Ctrl+Right selects a word; typing replaces it; one Ctrl-Z
    // undoes the whole replacement.
    tmux.keys(alice, &["Home", "C-Right", "Right", "C-S-Right"]);
    tmux.wait_for(alice, "the selection", false, |s| {
        s.contains("L1 C8 (3 selected)")
    });
    tmux.type_text(alice, "2");
    tmux.wait_for(alice, "the replacement", false, first_line("one 2 three"));
    tmux.keys(alice, &["C-z"]);
    tmux.wait_for(alice, "the undo", false, first_line("one two three"));

    // Shift+Home selects the line, Ctrl-C copies, Ctrl-V pastes at the end.
    tmux.keys(alice, &["End", "S-Home", "C-c"]);
    tmux.wait_for(alice, "the copy", false, |s| s.contains("copied 13 chars"));
    tmux.keys(alice, &["End", "C-v"]);
    tmux.wait_for(
        alice,
        "the paste",
        false,
        first_line("one two threeone two three"),
    );

    // Ctrl-F finds (from the end: wraps to the first "two"), Enter goes
    // on to the next, Esc returns to editing with the match selected.
    tmux.keys(alice, &["C-f"]);
    tmux.type_text(alice, "two");
    tmux.wait_for(alice, "the search prompt", false, |s| {
        s.contains("find: two")
    });
    tmux.keys(alice, &["Enter"]);
    tmux.keys(alice, &["Escape"]);
    tmux.wait_for(alice, "the second match", false, |s| {
        s.contains("L1 C21 (3 selected)")
    });
    tmux.type_text(alice, "2");
    tmux.wait_for(
        alice,
        "typing over the match",
        false,
        first_line("one two threeone 2 three"),
    );
    // Ctrl-F shows the last search again; Up goes to the previous match.
    // (Not Shift-F3: xterm's sequence for it reads as a cursor report.)
    tmux.keys(alice, &["C-f", "Up", "Escape"]);
    tmux.wait_for(alice, "the previous match", false, |s| {
        s.contains("L1 C8 (3 selected)")
    });

    tmux.keys(alice, &["C-q"]);
    tmux.wait_for(alice, "the editor's exit", false, |s| {
        s.contains("EXITED-0")
    });
}

#[test]
fn the_editors_history_view_steps_back_and_restores() {
    if !tmux_available() {
        assert!(
            std::env::var_os("RUMOR_REQUIRE_TMUX").is_none(),
            "tmux is required here (RUMOR_REQUIRE_TMUX is set) but not installed"
        );
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tmux = Tmux {
        socket: format!("rumor-test-history-{}", std::process::id()),
    };
    let shell = "env -i PATH=/usr/bin:/bin TERM=xterm-256color PS1='$ ' bash --norc --noprofile";
    tmux.ok(&[
        "-f",
        "/dev/null",
        "new-session",
        "-d",
        "-s",
        "t",
        "-n",
        "alice",
        "-x",
        "100",
        "-y",
        "14",
        shell,
    ]);
    tmux.ok(&["set-option", "-g", "escape-time", "0"]);
    let alice = "t:0";
    let args = format!("--listen 127.0.0.1:{}", free_port());
    tmux.type_text(alice, &editor_line(dir.path(), "alice", &args));
    tmux.keys(alice, &["Enter"]);
    tmux.wait_for(alice, "the editor", false, |s| s.contains("| online |"));
    let first_line = |want: &'static str| move |s: &str| s.lines().next() == Some(want);
    tmux.type_text(alice, "abc");
    tmux.wait_for(alice, "the typing", false, first_line("abc"));

    // Ctrl-T: the version now, in a box titled with its number.
    tmux.keys(alice, &["C-t"]);
    tmux.wait_for(alice, "the history view", false, |s| {
        s.contains("(Enter restores it, Esc closes)")
            && s.lines().nth(1) == Some(&format!("│abc{}│", " ".repeat(95))[..])
    });
    let screen = tmux.screen(alice, false);
    let title = screen.lines().next().unwrap();
    let n: usize = title
        .split_whitespace()
        .find_map(|w| w.strip_prefix('@'))
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no @N in {title}"));
    // Left: one version back, before the "c" was typed; the "b" that step
    // added is shown reversed.
    tmux.keys(alice, &["Left"]);
    let older = format!("@{} of {n}", n - 1);
    tmux.wait_for(alice, "the older version", false, |s| {
        s.contains(&older) && s.lines().nth(1).is_some_and(|l| l.starts_with("│ab "))
    });
    tmux.wait_for(alice, "the added char reversed", true, |s| {
        s.lines()
            .nth(1)
            .is_some_and(|l| l.contains("\u{1b}[7m") && l.contains('b'))
    });
    // Enter restores it (one undo step); Ctrl-Z brings the "c" back.
    tmux.keys(alice, &["Enter"]);
    tmux.wait_for(alice, "the restore", false, |s| {
        s.lines().next() == Some("ab") && s.contains("restored @")
    });
    tmux.keys(alice, &["C-z"]);
    tmux.wait_for(alice, "the undo", false, first_line("abc"));

    tmux.keys(alice, &["C-q"]);
    tmux.wait_for(alice, "the editor's exit", false, |s| {
        s.contains("EXITED-0")
    });
}
