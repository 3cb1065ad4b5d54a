//! The command language of `rumor`'s prompt and scripts, parsed by hand.
//!
//! One command per line. The first word names the command; the rest are
//! its arguments. `edit insert POS TEXT` takes the rest of the line after
//! the single space that follows POS as TEXT, with the escapes `\n`, `\t`,
//! `\r`, `\\`, `\xHH` and `\u{H}` (those [`escape`] writes); `save FILE`
//! takes the rest of the line as the path. Blank lines and lines starting
//! with `#` are not commands (no reply).
//!
//! Parsing never panics: anything else is a [`ParseError`], a one-line
//! message the program prints after `error: `.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Default for `history` without N.
pub const DEFAULT_HISTORY: usize = 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Add(SocketAddr),
    Insert {
        pos: usize,
        text: String,
    },
    Delete {
        pos: usize,
        len: usize,
    },
    View,
    /// `view @V`: the text at an earlier version.
    ViewAt(VersionSpec),
    /// `diff @V [@W]` (`None`: now).
    Diff(VersionSpec, Option<VersionSpec>),
    Restore(VersionSpec),
    /// `blame [@V]` (`None`: now).
    Blame(Option<VersionSpec>),
    Tag(String),
    Tags,
    Save(PathBuf),
    Sync,
    Reconnect,
    Offline,
    Online,
    Peers,
    History(usize),
    Status,
    Undo,
    Redo,
    Invite,
    Help,
    Exit,
}

/// A version, as a command names it (see `commands::versions`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VersionSpec {
    /// `@N`: after the first N entries of this replica's history.
    Number(usize),
    /// `@-K`: K entries back from now.
    Back(usize),
    /// `@TIME`: the latest entry applied at or before this time.
    Time(TimeSpec),
    /// `@NAME`: a tag.
    Tag(String),
}

/// A time as written after `@`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeSpec {
    /// An ISO-8601 UTC date and time: ms since the Unix epoch.
    Utc(u64),
    /// `HH:MM[:SS]`: today in UTC, ms since midnight.
    Today(u64),
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError(msg.into()))
}

/// One-line usage of every command, for `help` and error messages.
pub const USAGE: &[&str] = &[
    "add ADDR                 add a peer (IP:PORT)",
    "edit insert POS TEXT     insert TEXT at char POS (escapes: \\n \\t \\\\ \\xHH \\u{H})",
    "edit delete POS [LEN]    delete LEN chars (default 1) at char POS",
    "view                     print the document",
    "save FILE                write the document text to FILE (atomically)",
    "sync                     run anti-entropy with every peer now",
    "reconnect                go back online and fetch what is missing",
    "offline | online         stop | resume all network traffic",
    "peers                    the peers: address, state, RTT, acknowledged, last heard",
    "history [N]              the last N ops (default 20): version @N, who, when, what",
    "view @V                  the text at version V (@N, @-K, @TIME, @NAME)",
    "diff @V [@W]             unified line diff from V to W (default: now)",
    "restore @V               make the text what it was at V (new edits; one undo step)",
    "blame [@V]               each line with who wrote most of it, and when",
    "tag NAME | tags          name the version now | list the names",
    "undo | redo              revert | re-do this replica's own last edit (never a peer's)",
    "status                   replica id, version, counters",
    "invite                   a one-line ticket to join this document (holds the secret)",
    "exit                     flush the log and quit",
];

/// Parses one line. `Ok(None)` for a blank line or a `#` comment.
pub fn parse(line: &str) -> Result<Option<Command>, ParseError> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    let trimmed = line.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(None);
    }
    let (word, rest) = split_word(trimmed);
    let command = match word {
        "add" => Command::Add(parse_addr(one_arg(word, rest, "ADDR")?)?),
        "edit" => parse_edit(rest)?,
        "view" => match rest.split_whitespace().collect::<Vec<_>>().as_slice() {
            [] => Command::View,
            [v] => Command::ViewAt(parse_version(v)?),
            _ => return err("usage: view [@V]"),
        },
        "diff" => match rest.split_whitespace().collect::<Vec<_>>().as_slice() {
            [v] => Command::Diff(parse_version(v)?, None),
            [v, w] => Command::Diff(parse_version(v)?, Some(parse_version(w)?)),
            _ => return err("usage: diff @V [@W]"),
        },
        "restore" => Command::Restore(parse_version(one_arg(word, rest, "@V")?)?),
        "blame" => match rest.split_whitespace().collect::<Vec<_>>().as_slice() {
            [] => Command::Blame(None),
            [v] => Command::Blame(Some(parse_version(v)?)),
            _ => return err("usage: blame [@V]"),
        },
        "tag" => Command::Tag(one_arg(word, rest, "NAME")?.to_string()),
        "tags" => no_args(word, rest, Command::Tags)?,
        "save" => {
            let path = rest.trim();
            if path.is_empty() {
                return err("usage: save FILE");
            }
            Command::Save(PathBuf::from(path))
        }
        "sync" => no_args(word, rest, Command::Sync)?,
        "reconnect" => no_args(word, rest, Command::Reconnect)?,
        "offline" => no_args(word, rest, Command::Offline)?,
        "online" => no_args(word, rest, Command::Online)?,
        "peers" => no_args(word, rest, Command::Peers)?,
        "history" => {
            let mut args = rest.split_whitespace();
            let n = match args.next() {
                None => DEFAULT_HISTORY,
                Some(n) => parse_number(n, "N")?,
            };
            if args.next().is_some() {
                return err("usage: history [N]");
            }
            Command::History(n)
        }
        "status" => no_args(word, rest, Command::Status)?,
        "undo" => no_args(word, rest, Command::Undo)?,
        "redo" => no_args(word, rest, Command::Redo)?,
        "invite" => no_args(word, rest, Command::Invite)?,
        "help" => no_args(word, rest, Command::Help)?,
        "exit" | "quit" => no_args(word, rest, Command::Exit)?,
        _ => {
            return err(format!(
                "unknown command {:?} (try help)",
                truncate(word, 40)
            ))
        }
    };
    Ok(Some(command))
}

fn parse_edit(rest: &str) -> Result<Command, ParseError> {
    let (what, rest) = split_word(rest.trim_start());
    match what {
        "insert" => {
            let (pos, after) = split_word(rest.trim_start());
            if pos.is_empty() {
                return err("usage: edit insert POS TEXT");
            }
            let pos = parse_number(pos, "POS")?;
            // TEXT is everything after the one space that ends POS, so it
            // may start with (or be only) spaces.
            let text = after.strip_prefix([' ', '\t']).unwrap_or(after);
            if text.is_empty() {
                return err("usage: edit insert POS TEXT (TEXT is empty)");
            }
            Ok(Command::Insert {
                pos,
                text: unescape(text)?,
            })
        }
        "delete" => {
            let mut args = rest.split_whitespace();
            let pos = match args.next() {
                Some(p) => parse_number(p, "POS")?,
                None => return err("usage: edit delete POS [LEN]"),
            };
            let len = match args.next() {
                Some(l) => parse_number(l, "LEN")?,
                None => 1,
            };
            if args.next().is_some() {
                return err("usage: edit delete POS [LEN]");
            }
            if len == 0 {
                return err("LEN must be at least 1");
            }
            Ok(Command::Delete { pos, len })
        }
        "" => err("usage: edit insert POS TEXT | edit delete POS [LEN]"),
        other => err(format!(
            "unknown edit {:?}: use edit insert or edit delete",
            truncate(other, 40)
        )),
    }
}

/// Splits off the first whitespace-delimited word; the rest keeps its
/// leading whitespace.
fn split_word(s: &str) -> (&str, &str) {
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}

fn no_args(word: &str, rest: &str, command: Command) -> Result<Command, ParseError> {
    if rest.trim().is_empty() {
        Ok(command)
    } else {
        err(format!("{word} takes no arguments"))
    }
}

fn one_arg<'a>(word: &str, rest: &'a str, name: &str) -> Result<&'a str, ParseError> {
    let mut args = rest.split_whitespace();
    match (args.next(), args.next()) {
        (Some(a), None) => Ok(a),
        _ => err(format!("usage: {word} {name}")),
    }
}

fn parse_number(s: &str, name: &str) -> Result<usize, ParseError> {
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return err(format!(
            "{name} must be a whole number, not {:?}",
            truncate(s, 40)
        ));
    }
    s.parse()
        .or_else(|_| err(format!("{name} {} is too large", truncate(s, 40))))
}

/// Parses a version: `@N`, `@-K`, `@TIME` (`YYYY-MM-DDTHH:MM[:SS][Z]`, UTC,
/// or `HH:MM[:SS]`, today in UTC) or `@NAME`.
pub fn parse_version(s: &str) -> Result<VersionSpec, ParseError> {
    let Some(v) = s.strip_prefix('@') else {
        return err(format!(
            "{:?} is not a version (use @N, @-K, @TIME or @NAME)",
            truncate(s, 40)
        ));
    };
    if let Some(k) = v.strip_prefix('-') {
        return Ok(VersionSpec::Back(parse_number(k, "K")?));
    }
    if v.contains(':') {
        return parse_time(v).map(VersionSpec::Time).ok_or_else(|| {
            ParseError(format!(
                "{:?} is not a time (use HH:MM[:SS] or YYYY-MM-DDTHH:MM[:SS]Z, in UTC)",
                truncate(v, 40)
            ))
        });
    }
    if v.starts_with(|c: char| c.is_ascii_digit()) {
        return Ok(VersionSpec::Number(parse_number(v, "N")?));
    }
    if crate::host::valid_name(v) {
        return Ok(VersionSpec::Tag(v.to_string()));
    }
    err(format!(
        "{:?} is not a version (use @N, @-K, @TIME or @NAME)",
        truncate(s, 40)
    ))
}

/// `HH:MM[:SS]` or `YYYY-MM-DDTHH:MM[:SS][Z]` (UTC).
fn parse_time(s: &str) -> Option<TimeSpec> {
    let clock = |t: &str| -> Option<u64> {
        let parts: Vec<&str> = t.split(':').collect();
        if !(2..=3).contains(&parts.len()) {
            return None;
        }
        let mut fields = [0u64; 3];
        for (f, p) in fields.iter_mut().zip(&parts) {
            if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            *f = p.parse().ok()?;
        }
        let [h, m, sec] = fields;
        (h < 24 && m < 60 && sec < 60).then_some(((h * 60 + m) * 60 + sec) * 1000)
    };
    let Some((date, time)) = s.split_once('T') else {
        return clock(s).map(TimeSpec::Today);
    };
    let time = time.strip_suffix('Z').unwrap_or(time);
    let ymd: Vec<&str> = date.split('-').collect();
    let [y, m, d] = ymd.as_slice() else {
        return None;
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d): (i64, i64, i64) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || y < 1970 {
        return None;
    }
    // Days since 1970-01-01 from a civil date (H. Hinnant's algorithm).
    let yy = if m <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let day_ms = u64::try_from(days).ok()? * 86_400_000;
    Some(TimeSpec::Utc(day_ms + clock(time)?))
}

/// Parses `IP:PORT` (IPv6 as `[ADDR]:PORT`); `localhost:PORT` means 127.0.0.1.
pub fn parse_addr(s: &str) -> Result<SocketAddr, ParseError> {
    if let Some(port) = s.strip_prefix("localhost:") {
        if let Ok(port) = port.parse::<u16>() {
            return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
        }
    }
    match s.parse::<SocketAddr>() {
        Ok(addr) if addr.port() != 0 => Ok(addr),
        Ok(_) => err("port 0 is not a peer's port"),
        Err(_) => err(format!(
            "{:?} is not an address (use IP:PORT, e.g. 127.0.0.1:7001)",
            truncate(s, 60)
        )),
    }
}

/// Turns the escapes [`escape`] writes into the chars they name: `\n`,
/// `\t`, `\r`, `\\`, `\xHH` (a char up to U+007F) and `\u{H...}`.
pub fn unescape(s: &str) -> Result<String, ParseError> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                match u8::from_str_radix(&hex, 16) {
                    Ok(b) if hex.len() == 2 && b.is_ascii() => out.push(char::from(b)),
                    _ => return err("\\x takes two hex digits up to 7f (e.g. \\x1b)"),
                }
            }
            Some('u') => {
                let rest = chars.as_str();
                let code = rest
                    .strip_prefix('{')
                    .and_then(|r| r.split_once('}'))
                    .filter(|(hex, _)| (1..=6).contains(&hex.len()))
                    .and_then(|(hex, _)| u32::from_str_radix(hex, 16).ok())
                    .and_then(char::from_u32);
                match code {
                    Some(c) => {
                        out.push(c);
                        let skip = rest.find('}').expect("found above") + 1;
                        chars = rest[skip..].chars();
                    }
                    None => return err("\\u takes a char's hex code in braces (e.g. \\u{9b})"),
                }
            }
            Some(other) => {
                return err(format!(
                    "unknown escape \\{other} (use \\n, \\t, \\r, \\\\, \\xHH or \\u{{H}})"
                ))
            }
            None => return err("a lone \\ ends the text (write \\\\ for a backslash)"),
        }
    }
    Ok(out)
}

/// The inverse of [`unescape`]: one line of text with no control char in
/// it, so that a document (which a peer may fill with terminal escapes)
/// is shown, never obeyed. `\n`, `\t`, `\r`, `\\`; other C0 controls and
/// DEL as `\xHH`; C1 controls (U+0080 to U+009F) as `\u{HH}`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\\' => out.push_str("\\\\"),
            c => push_visible(c, &mut out),
        }
    }
    out
}

/// A line of the document for a person at a terminal: tabs as they are,
/// other control chars escaped as in [`escape`], backslashes as they are
/// (so `\x1b` in the text and an escaped ESC look alike here; script
/// mode's `view` and `save` give the exact text).
pub fn escape_for_terminal(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        match c {
            '\t' => out.push('\t'),
            c => push_visible(c, &mut out),
        }
    }
    out
}

fn push_visible(c: char, out: &mut String) {
    use std::fmt::Write;
    match c {
        '\r' => out.push_str("\\r"),
        c if c.is_ascii_control() => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if c.is_control() => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

/// At most `max` chars of `s`, with `...` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push_str("...");
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(line: &str) -> Command {
        parse(line).unwrap().unwrap()
    }

    fn bad(line: &str) -> String {
        parse(line).unwrap_err().0
    }

    #[test]
    fn every_command() {
        assert_eq!(
            ok("add 127.0.0.1:7001"),
            Command::Add("127.0.0.1:7001".parse().unwrap())
        );
        assert_eq!(
            ok("add localhost:9"),
            Command::Add("127.0.0.1:9".parse().unwrap())
        );
        assert_eq!(
            ok("add [::1]:7001"),
            Command::Add("[::1]:7001".parse().unwrap())
        );
        assert_eq!(
            ok("edit insert 3 hello world"),
            Command::Insert {
                pos: 3,
                text: "hello world".into()
            }
        );
        assert_eq!(
            ok("edit insert 0   two spaces"),
            Command::Insert {
                pos: 0,
                text: "  two spaces".into()
            }
        );
        assert_eq!(
            ok(r"edit insert 0 a\nb\tc\\d"),
            Command::Insert {
                pos: 0,
                text: "a\nb\tc\\d".into()
            }
        );
        assert_eq!(ok("edit delete 4"), Command::Delete { pos: 4, len: 1 });
        assert_eq!(ok("edit delete 4 10"), Command::Delete { pos: 4, len: 10 });
        assert_eq!(ok("view"), Command::View);
        assert_eq!(ok("view @3"), Command::ViewAt(VersionSpec::Number(3)));
        assert_eq!(ok("view @-2"), Command::ViewAt(VersionSpec::Back(2)));
        assert_eq!(
            ok("view @v1.0"),
            Command::ViewAt(VersionSpec::Tag("v1.0".into()))
        );
        assert_eq!(
            ok("view @10:30"),
            Command::ViewAt(VersionSpec::Time(TimeSpec::Today(37_800_000)))
        );
        assert_eq!(
            ok("diff @2000-02-29T00:00:01Z"),
            Command::Diff(VersionSpec::Time(TimeSpec::Utc(951_782_401_000)), None)
        );
        assert_eq!(
            ok("diff @1 @2"),
            Command::Diff(VersionSpec::Number(1), Some(VersionSpec::Number(2)))
        );
        assert_eq!(ok("restore @0"), Command::Restore(VersionSpec::Number(0)));
        assert_eq!(ok("blame"), Command::Blame(None));
        assert_eq!(ok("blame @-1"), Command::Blame(Some(VersionSpec::Back(1))));
        assert_eq!(ok("tag draft"), Command::Tag("draft".into()));
        assert_eq!(ok("tags"), Command::Tags);
        assert_eq!(
            ok("save /tmp/a b.txt"),
            Command::Save("/tmp/a b.txt".into())
        );
        assert_eq!(ok("sync"), Command::Sync);
        assert_eq!(ok("reconnect"), Command::Reconnect);
        assert_eq!(ok("offline"), Command::Offline);
        assert_eq!(ok("online"), Command::Online);
        assert_eq!(ok("peers"), Command::Peers);
        assert_eq!(ok("history"), Command::History(DEFAULT_HISTORY));
        assert_eq!(ok("history 5"), Command::History(5));
        assert_eq!(ok("status"), Command::Status);
        assert_eq!(ok("undo"), Command::Undo);
        assert_eq!(ok(" redo "), Command::Redo);
        assert_eq!(ok("  exit  \r\n"), Command::Exit);
        assert_eq!(parse("   ").unwrap(), None);
        assert_eq!(parse("# a comment").unwrap(), None);
    }

    #[test]
    fn bad_lines_explain_themselves() {
        assert!(bad("frobnicate").contains("unknown command"));
        assert!(bad("add").contains("usage: add ADDR"));
        assert!(bad("add nowhere").contains("not an address"));
        assert!(bad("add 127.0.0.1:0").contains("port 0"));
        assert!(bad("add 1.2.3.4:5 6").contains("usage"));
        assert!(bad("edit").contains("usage"));
        assert!(bad("edit insert").contains("usage"));
        assert!(bad("edit insert 3").contains("TEXT is empty"));
        assert!(bad("edit insert 3 ").contains("TEXT is empty"));
        assert!(bad("edit insert -1 x").contains("whole number"));
        assert!(bad("edit insert 99999999999999999999999 x").contains("too large"));
        assert!(bad(r"edit insert 0 a\qb").contains("unknown escape"));
        assert!(bad(r"edit insert 0 ab\").contains("lone"));
        assert!(bad("edit delete").contains("usage"));
        assert!(bad("edit delete 1 0").contains("at least 1"));
        assert!(bad("edit delete 1 2 3").contains("usage"));
        assert!(bad("edit paste 1").contains("unknown edit"));
        assert!(bad("view now").contains("not a version"));
        assert!(bad("undo 2").contains("no arguments"));
        assert!(bad("save").contains("usage"));
        assert!(bad("history x").contains("whole number"));
        assert!(bad("history 1 2").contains("usage"));
        assert!(bad("view 3").contains("not a version"));
        assert!(bad("view @").contains("not a version"));
        assert!(bad("view @1 @2").contains("usage"));
        assert!(bad("view @25:00").contains("not a time"));
        assert!(bad("view @2026-13-01T00:00Z").contains("not a time"));
        assert!(bad("view @-x").contains("whole number"));
        assert!(bad("diff").contains("usage"));
        assert!(bad("restore").contains("usage"));
        assert!(bad("blame @a b").contains("usage"));
        assert!(bad("tag").contains("usage"));
        assert!(bad("tags x").contains("no arguments"));
    }

    #[test]
    fn escape_round_trips() {
        for s in ["", "plain", "a\nb", "\t\\n", "\\\\", "end\\"] {
            assert_eq!(unescape(&escape(s)).unwrap(), s);
            assert!(!escape(s).contains('\n'));
        }
    }

    #[test]
    fn escape_shows_every_control_char_visibly() {
        let s = "a\u{1b}[2J\u{7}\r\u{0}\u{7f}\u{9b}\u{85}b";
        let e = escape(s);
        assert_eq!(e, r"a\x1b[2J\x07\r\x00\x7f\u{9b}\u{85}b");
        assert!(!e.chars().any(char::is_control), "{e:?}");
        assert_eq!(unescape(&e).unwrap(), s);
        assert_eq!(
            escape_for_terminal("tab\there \\ \u{1b}"),
            "tab\there \\ \\x1b"
        );
    }

    proptest! {
        #[test]
        fn any_text_escapes_to_one_clean_line_and_back(s in any::<String>()) {
            let e = escape(&s);
            prop_assert!(!e.chars().any(char::is_control), "{:?}", e);
            prop_assert_eq!(unescape(&e).unwrap(), s);
        }

        #[test]
        fn any_line_parses_or_errors_in_one_line(line in ".{0,80}") {
            match parse(&line) {
                Ok(_) => {}
                Err(e) => prop_assert!(!e.0.contains('\n'), "{:?}", e.0),
            }
        }

        #[test]
        fn command_like_lines_never_panic(
            word in prop::sample::select(vec!["add", "edit", "edit insert", "edit delete",
                "view", "save", "history", "status", "exit", "peers", "sync"]),
            rest in "[ -~\\\\\t]{0,40}",
        ) {
            let line = format!("{word} {rest}");
            if let Err(e) = parse(&line) {
                prop_assert!(!e.0.contains('\n'), "{:?}", e.0);
            }
        }

        #[test]
        fn inserted_text_survives_escaping(text in "\\PC{1,40}", pos in 0usize..1000) {
            let line = format!("edit insert {pos} {}", escape(&text));
            let expected = Command::Insert { pos, text: text.replace('\r', "") };
            if !text.contains('\r') {
                prop_assert_eq!(parse(&line).unwrap(), Some(expected));
            }
        }
    }
}
