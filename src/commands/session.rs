//! Runs commands against the driver and writes their replies.
//!
//! Every command gets a reply on standard output: zero or more body lines,
//! each indented by two spaces, then one status line, `ok ...` or
//! `error: ...`. So a script reads lines until the first one that does not
//! start with two spaces. Notices (a peer came up, a remote edit arrived,
//! a repaired log) go to standard error, never into a reply.

use std::io::{self, Write};
use std::sync::mpsc::Sender;

use crate::commands::command::{self, Command, VersionSpec, USAGE};
use crate::commands::input::Input;
use crate::commands::versions::{self, Names, Resolved};
use crate::doc::{Outcome, VersionVector};
use crate::net::interfaces::reachable_addrs;
use crate::net::{
    format_duration, format_utc, unix_ms_now, Change, DiscoveryState, Driver, EditError,
    FileStatus, Flow,
};
use crate::node::{Edit, Event, PeerState};
use crate::store::write_user_file;
use crate::wire::Ticket;

/// A command's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub body: Vec<String>,
    /// `Ok(detail)` prints `ok detail`; `Err(msg)` prints `error: msg`.
    pub status: Result<String, String>,
}

impl Reply {
    fn ok(detail: impl Into<String>) -> Reply {
        Reply {
            body: Vec::new(),
            status: Ok(detail.into()),
        }
    }

    fn error(msg: impl Into<String>) -> Reply {
        Reply {
            body: Vec::new(),
            status: Err(msg.into()),
        }
    }

    /// The reply as it is printed, one `\n` per line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.body {
            out.push_str("  ");
            out.push_str(line);
            out.push('\n');
        }
        match &self.status {
            Ok(detail) if detail.is_empty() => out.push_str("ok\n"),
            Ok(detail) => {
                out.push_str("ok ");
                out.push_str(detail);
                out.push('\n');
            }
            // A message is one line whatever went into it.
            Err(msg) => {
                out.push_str("error: ");
                out.push_str(&msg.replace(['\n', '\r'], " "));
                out.push('\n');
            }
        }
        out
    }
}

pub struct Session {
    /// A person at a terminal: `view` shows real lines instead of one
    /// escaped line.
    interactive: bool,
    /// Tells the prompt thread that the reply is out (interactive only).
    answered: Option<Sender<()>>,
}

impl Session {
    pub fn new(interactive: bool, answered: Option<Sender<()>>) -> Session {
        Session {
            interactive,
            answered,
        }
    }

    /// Handles one input from the reader thread.
    pub fn handle(&mut self, driver: &mut Driver, input: Input) -> Flow {
        let (reply, flow) = match input {
            Input::Eof => (None, Flow::Exit),
            Input::NotUtf8 => (
                Some(Reply::error("the line is not valid UTF-8")),
                Flow::Continue,
            ),
            Input::Line(line) => match command::parse(&line) {
                Ok(None) => (None, Flow::Continue),
                Ok(Some(cmd)) => {
                    let flow = if cmd == Command::Exit {
                        Flow::Exit
                    } else {
                        Flow::Continue
                    };
                    (Some(self.execute(driver, cmd)), flow)
                }
                Err(e) => (Some(Reply::error(e.0)), Flow::Continue),
            },
        };
        let mut flow = flow;
        if let Some(reply) = reply {
            let mut out = io::stdout().lock();
            if out
                .write_all(reply.render().as_bytes())
                .and_then(|()| out.flush())
                .is_err()
            {
                // Nobody reads the replies any more: stop, as on end of input.
                flow = Flow::Exit;
            }
        }
        // The prompt comes back only if the loop goes on (after `exit` the
        // prompt thread must not put the terminal back into raw mode).
        if flow == Flow::Continue {
            if let Some(answered) = &self.answered {
                let _ = answered.send(());
            }
        }
        flow
    }

    pub fn execute(&mut self, driver: &mut Driver, cmd: Command) -> Reply {
        match cmd {
            Command::Add(addr) => {
                if addr == driver.local_addr() {
                    return Reply::error(format!("{addr} is this peer's own address"));
                }
                if driver.add_peer(addr) {
                    Reply::ok(format!("peer {addr} added"))
                } else {
                    Reply::error(format!(
                        "{addr} was not added: it is this peer, or the peer table is full"
                    ))
                }
            }
            Command::Insert { pos, text } => edit(driver, Edit::Insert { pos, text }),
            Command::Delete { pos, len } => edit(driver, Edit::Delete { pos, len }),
            Command::View => {
                let doc = driver.node().doc();
                let text = doc.text();
                let body = if self.interactive {
                    // Shown, never obeyed: a peer may type terminal escapes.
                    text.split('\n').map(command::escape_for_terminal).collect()
                } else {
                    vec![command::escape(&text)]
                };
                Reply {
                    body,
                    status: Ok(format!("{} chars", doc.len())),
                }
            }
            Command::ViewAt(spec) => match resolve(driver, &spec) {
                Ok(r) => {
                    let body = if self.interactive {
                        r.past
                            .text
                            .split('\n')
                            .map(command::escape_for_terminal)
                            .collect()
                    } else {
                        vec![command::escape(&r.past.text)]
                    };
                    Reply {
                        body,
                        status: Ok(format!(
                            "{} chars at {}",
                            r.past.text.chars().count(),
                            r.label
                        )),
                    }
                }
                Err(e) => Reply::error(e),
            },
            Command::Diff(from, to) => diff(driver, &from, to.as_ref()),
            Command::Restore(spec) => restore(driver, &spec),
            Command::Blame(spec) => blame(driver, spec.as_ref()),
            Command::Tag(name) => match driver.tag(&name) {
                Ok(()) => {
                    let n = driver.history().versions().len();
                    Reply::ok(format!(
                        "tagged @{n} as {name} ({} chars)",
                        driver.node().doc().len()
                    ))
                }
                Err(e) => Reply::error(e.to_string()),
            },
            Command::Tags => tags(driver),
            Command::Save(path) => {
                let text = driver.node().doc().text();
                match write_user_file(&path, text.as_bytes()) {
                    Ok(()) => {
                        Reply::ok(format!("wrote {} bytes to {}", text.len(), path.display()))
                    }
                    Err(e) => Reply::error(format!("cannot write {}: {e}", path.display())),
                }
            }
            Command::Sync => {
                driver.sync_now();
                Reply::ok(format!(
                    "syncing with {} peers",
                    driver.node().peers().len()
                ))
            }
            Command::Reconnect => {
                driver.reconnect();
                Reply::ok(format!(
                    "reconnecting to {} peers",
                    driver.node().peers().len()
                ))
            }
            Command::Offline => {
                driver.set_online(false);
                Reply::ok("offline: no network traffic; editing goes on")
            }
            Command::Online => {
                driver.set_online(true);
                Reply::ok("online")
            }
            Command::Peers => peers(driver),
            Command::History(n) => history(driver, n),
            Command::Status => status(driver),
            Command::Undo => undo_or_redo(driver.undo(), "undone", "nothing to undo"),
            Command::Redo => undo_or_redo(driver.redo(), "redone", "nothing to redo"),
            Command::Invite => invite(driver),
            Command::Help => Reply {
                body: USAGE.iter().map(|s| s.to_string()).collect(),
                status: Ok(String::new()),
            },
            Command::Exit => match driver.persist_error() {
                // Said plainly: what is only in memory goes with the process.
                Some(e) => Reply::ok(format!(
                    "bye (edits since the last write error are NOT saved and are lost: {e})"
                )),
                None => Reply::ok("bye"),
            },
        }
    }
}

fn edit(driver: &mut Driver, edit: Edit) -> Reply {
    match driver.edit(edit) {
        Ok(()) => Reply::ok(""),
        Err(e) => Reply::error(e.to_string()),
    }
}

/// `ok undone: removed 5 chars "hello"`, `ok redone: restored 2 chars
/// "ab"`, or both parts.
fn undo_or_redo(result: Result<Option<Outcome>, EditError>, done: &str, none: &str) -> Reply {
    match result {
        Ok(Some(o)) => Reply::ok(format!("{done}: {}", describe_outcome(&o))),
        Ok(None) => Reply::error(none),
        Err(e) => Reply::error(e.to_string()),
    }
}

/// What an undo or redo changed, in words.
pub fn describe_outcome(o: &Outcome) -> String {
    let part = |verb: &str, n: usize, preview: &str| {
        let more = if n > preview.chars().count() {
            "..."
        } else {
            ""
        };
        let chars = if n == 1 { "char" } else { "chars" };
        format!("{verb} {n} {chars} \"{}{more}\"", command::escape(preview))
    };
    let mut parts = Vec::new();
    if o.removed > 0 {
        parts.push(part("removed", o.removed, &o.removed_preview));
    }
    if o.restored > 0 {
        parts.push(part("restored", o.restored, &o.restored_preview));
    }
    parts.join(", ")
}

fn resolve(driver: &Driver, spec: &VersionSpec) -> Result<Resolved, String> {
    versions::resolve(driver.host(), spec, unix_ms_now())
}

/// Replicas by the names people know them by: peers' names, `me`.
fn names(driver: &Driver) -> Names {
    let mut names: Names = driver
        .node()
        .peers()
        .into_iter()
        .filter_map(|p| Some((p.replica?, p.name.filter(|n| !n.is_empty())?)))
        .collect();
    names.insert(driver.node().doc().replica(), "me".into());
    // The ids this replica edited under before (one per run) are us too.
    for &former in driver.host().former_ids() {
        names.insert(former, "me".into());
    }
    names
}

fn diff(driver: &Driver, from: &VersionSpec, to: Option<&VersionSpec>) -> Reply {
    let a = match resolve(driver, from) {
        Ok(a) => a,
        Err(e) => return Reply::error(e),
    };
    let b = match to {
        Some(spec) => match resolve(driver, spec) {
            Ok(b) => b,
            Err(e) => return Reply::error(e),
        },
        None => versions::now(driver.host()),
    };
    let body = versions::unified_diff(&a, &b);
    let (mut added, mut removed) = (0, 0);
    for line in body.iter().skip(2) {
        if line.starts_with('+') {
            added += 1;
        } else if line.starts_with('-') {
            removed += 1;
        }
    }
    Reply {
        body,
        status: Ok(format!(
            "{} to {}: {removed} lines removed, {added} added",
            a.label, b.label
        )),
    }
}

/// `restore @V`: the fewest edits (by this replica, as one undo step)
/// that make the text now what it was at V.
fn restore(driver: &mut Driver, spec: &VersionSpec) -> Reply {
    let target = match resolve(driver, spec) {
        Ok(t) => t,
        Err(e) => return Reply::error(e),
    };
    let (edits, removed, inserted) = versions::restore_edits(driver.node().doc(), &target.past);
    match driver.edit_as_one_step(edits) {
        Ok(()) => Reply::ok(format!(
            "restored {}: removed {removed} chars, re-inserted {inserted} chars",
            target.label
        )),
        Err(e) => Reply::error(e.to_string()),
    }
}

fn blame(driver: &Driver, spec: Option<&VersionSpec>) -> Reply {
    let at = match spec {
        Some(spec) => match resolve(driver, spec) {
            Ok(r) => r,
            Err(e) => return Reply::error(e),
        },
        None => versions::now(driver.host()),
    };
    let body = versions::blame(driver.host(), &at.past, &names(driver));
    let lines = body.len();
    Reply {
        body,
        status: Ok(format!("{lines} lines at {}", at.label)),
    }
}

fn tags(driver: &Driver) -> Reply {
    let names = names(driver);
    let mut body = vec![format!(
        "{:<20}  {:<19}  {:<16}  TEXT",
        "NAME", "MADE (UTC)", "BY"
    )];
    for tag in driver.host().tags().iter() {
        let by = tag.name.by;
        let who = names.get(&by).cloned().unwrap_or_else(|| by.to_string());
        let what = match &tag.kept {
            crate::host::Kept::Text { text, .. } => format!("{} chars", text.chars().count()),
            crate::host::Kept::Waiting => "waiting for its ops".into(),
            crate::host::Kept::Lost => "cleaned up before it arrived".into(),
        };
        body.push(format!(
            "{:<20}  {:<19}  {:<16}  {what}",
            tag.name.name,
            format_utc(tag.name.unix_ms),
            command::truncate(&who, 16)
        ));
    }
    let n = body.len() - 1;
    Reply {
        body,
        status: Ok(format!("{n} tags")),
    }
}

fn version_line(v: &VersionVector) -> String {
    if v.is_empty() {
        return "(empty)".to_string();
    }
    v.iter()
        .map(|(r, n)| format!("{r}:{n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn peers(driver: &Driver) -> Reply {
    let now = driver.now();
    let peers = driver.node().peers();
    let mut body = vec![format!(
        "{:<22} {:<18} {:<8} {:>8} {:>10}  {}",
        "ADDRESS", "REPLICA/NAME", "STATE", "RTT", "HEARD", "ACKNOWLEDGED"
    )];
    for p in &peers {
        let who = match (&p.name, p.replica) {
            (Some(name), _) if !name.is_empty() => command::truncate(name, 18),
            (_, Some(r)) => r.to_string(),
            _ => "?".to_string(),
        };
        let state = match p.state {
            PeerState::Alive => "alive",
            PeerState::Suspect => "suspect",
            PeerState::Down => "down",
        };
        let rtt = p.rtt.map(format_duration).unwrap_or_else(|| "-".into());
        let heard = p
            .last_heard
            .map(|t| format!("{} ago", format_duration(now.saturating_since(t))))
            .unwrap_or_else(|| "never".into());
        body.push(format!(
            "{:<22} {:<18} {:<8} {:>8} {:>10}  {}",
            p.addr.to_string(),
            who,
            state,
            rtt,
            heard,
            version_line(&p.acked)
        ));
    }
    Reply {
        body,
        status: Ok(format!("{} peers", peers.len())),
    }
}

fn history(driver: &Driver, n: usize) -> Reply {
    let names = names(driver);
    let mut body = vec![format!(
        "{:<7}  {:<19}  {:<16}  #COUNTER  CHANGE",
        "VERSION", "WRITTEN HERE (UTC)", "REPLICA"
    )];
    for e in driver.history().last(n) {
        let when = if e.unix_ms == 0 {
            "(from snapshot)    ".to_string()
        } else {
            format_utc(e.unix_ms)
        };
        let who = if let Some(name) = names.get(&e.id.replica) {
            format!("{} ({})", e.id.replica, command::truncate(name, 12))
        } else {
            e.id.replica.to_string()
        };
        let what = match &e.change {
            Change::Insert { preview } => {
                let more = if e.len as usize > preview.chars().count() {
                    "..."
                } else {
                    ""
                };
                format!("insert {} \"{}{more}\"", e.len, command::escape(preview))
            }
            Change::Delete => format!("delete {}", e.len),
        };
        let version = format!("@{}", e.number);
        body.push(format!(
            "{version:<7}  {when}  {who}  #{}  {what}",
            e.id.counter
        ));
    }
    let shown = body.len() - 1;
    Reply {
        body,
        status: Ok(format!("{shown} ops")),
    }
}

/// `invite`: a ticket with the document, the group secret and where this
/// peer listens (see `wire::ticket`).
fn invite(driver: &Driver) -> Reply {
    let node = driver.node();
    let Some(key) = &node.config().key else {
        return Reply::error(
            "this peer has no group secret, so a ticket could not keep the document private: \
             start it with --new (a fresh private document) or --secret-file F",
        );
    };
    if node.is_founding() {
        return Reply::error(
            "this peer is still looking for its group on the LAN: it joins a member that \
             answers, or founds the document within a few seconds; invite then",
        );
    }
    if node.document() == 0 {
        return Reply::error(
            "this peer has not joined its document yet (no member has sent it a copy): \
             invite from a member, or wait until status shows a document",
        );
    }
    let ticket = Ticket {
        document: node.document(),
        secret: *key.secret(),
        addrs: reachable_addrs(driver.local_addr()),
    };
    Reply {
        body: vec![ticket.encode()],
        status: Ok(format!(
            "ticket for document {}: treat it like a password (it holds the group secret); \
             join with rumor --join TICKET",
            crate::net::document_name(node.document())
        )),
    }
}

fn status(driver: &Driver) -> Reply {
    let node = driver.node();
    let doc = node.doc();
    let s = node.stats();
    let d = driver.stats();
    let sizes = doc.stats();
    let mut body = vec![
        format!(
            "replica     {}{}",
            doc.replica(),
            if node.config().name.is_empty() {
                String::new()
            } else {
                format!(" ({})", node.config().name)
            }
        ),
        format!("document    {}", crate::net::document_name(node.document())),
        format!(
            "listen      {} ({})",
            driver.local_addr(),
            if node.is_online() {
                "online"
            } else {
                "offline"
            }
        ),
    ];
    body.push(match driver.store() {
        Some(store) => {
            let st = store.stats();
            format!(
                "data        {} (log {} bytes, snapshot {} bytes, {} fsyncs, {} compactions)",
                store.dir().display(),
                st.log_bytes,
                st.snapshot_bytes,
                st.syncs,
                st.compactions
            )
        }
        None => "data        memory only".to_string(),
    });
    if let Some(file) = driver.file_status() {
        body.push(format!("file        {}", file_line(&file)));
    }
    if let Some(e) = driver.persist_error() {
        body.push(format!(
            "NOT SAVED   {e}: recent changes are in memory only and held back from peers; retried on every input"
        ));
    }
    if node.is_founding() {
        body.push(
            "joining     looking for a member of this group on the LAN: edits stay here until \
             one sends its copy; if none answers in a few seconds, this peer founds the document"
                .to_string(),
        );
    } else if !node.is_joined() {
        body.push(
            "joining     waiting for a member of the document: edits stay here until one \
             sends its copy (a peer started with --peer never founds a document; start \
             the first peer without --peer)"
                .to_string(),
        );
    }
    body.extend([
        format!("version     {}", version_line(doc.version_ref())),
        format!("text        {} chars", doc.len()),
        format!(
            "ops         {} ops ({} log runs), {} held waiting for dependencies",
            doc.version_ref().total(),
            doc.log_entries(),
            doc.pending_len()
        ),
        format!(
            "tombstones  {} held, {} reclaimed ({} runs in the sequence; {} cleanups)",
            sizes.tombstones, sizes.tombstones_reclaimed, sizes.runs, s.collections
        ),
        format!(
            "members     {} declared gone; {} ops of gone members refused; rejoined {} times; \
             {} earlier ids retired",
            s.members_gone, s.drops.gone_author, s.rejoins, s.ids_retired
        ),
        format!("peers       {}", node.peers().len()),
        format!(
            "sent        {} datagrams, {} bytes, {} ops, {} retransmits",
            s.datagrams_sent, s.bytes_sent, s.ops_sent, s.retransmits
        ),
        format!(
            "received    {} datagrams, {} bytes, {} ops",
            s.datagrams_received, s.bytes_received, s.ops_received
        ),
        format!(
            "drops       offline {}, not rumor {}, wrong version {}, malformed {}, from self {}, bad op {}, peer table full {}, held limit {}, other document {}",
            s.drops.offline,
            s.drops.not_rumor,
            s.drops.wrong_version,
            s.drops.malformed,
            s.drops.from_self,
            s.drops.bad_op,
            s.drops.peer_table_full,
            s.drops.held_limit,
            s.drops.other_document
        ),
        format!(
            "auth        {}; drops: bad tag {}, replayed {}, unsealed {}, sealed {}, unproven {}",
            match &node.config().key {
                Some(key) => format!("sealed, key fingerprint {}", key.fingerprint()),
                None => "OFF (no --secret-file): anyone who can reach this port can edit".into(),
            },
            s.drops.bad_tag,
            s.drops.replayed,
            s.drops.unsealed,
            s.drops.sealed,
            s.drops.unproven
        ),
        format!(
            "snapshots   {} sent, {} received, {} refused",
            s.snapshots_sent, s.snapshots_received, s.drops.bad_snapshot
        ),
        format!(
            "discovery   {}; announced {}, heard {}, peers found {}; drops: other document {}, other key {}, malformed {}, replayed {}, ignored {}",
            describe_discovery(driver.discovery()),
            s.discovery.announced,
            s.discovery.heard,
            s.discovery.found,
            s.discovery.other_document,
            s.discovery.other_key,
            s.discovery.malformed,
            s.discovery.replayed,
            s.discovery.ignored
        ),
        format!(
            "socket      {} send errors, {} receive errors, {} sends blocked",
            d.send_errors, d.recv_errors, d.sends_blocked
        ),
    ]);
    let f = driver.faults();
    if f.is_active() {
        body.push(format!(
            "faults      loss {} (dropped {} out, {} in), delay {}ms ({} held, {} dropped: delay queue full), seed {}",
            f.loss(),
            d.injected_loss_out,
            d.injected_loss_in,
            f.delay().as_millis(),
            d.delayed,
            d.delay_queue_full,
            f.seed()
        ));
    }
    Reply {
        body,
        status: Ok(String::new()),
    }
}

/// The bound file, when it was last written, and how it is doing.
fn file_line(file: &FileStatus) -> String {
    let mut line = file.path.display().to_string();
    if file.joining {
        line.push_str(" (waiting for the group's text before writing it)");
        return line;
    }
    match (file.last_written_unix_ms, file.modified_unix_ms) {
        (Some(ms), _) => line.push_str(&format!(" (last written {} UTC", format_utc(ms))),
        (None, Some(ms)) => line.push_str(&format!(
            " (not written by this run; file last changed {} UTC",
            format_utc(ms)
        )),
        (None, None) => line.push_str(" (not written by this run; no such file yet"),
    }
    line.push_str(&format!(
        "; {} outside changes merged; {})",
        file.merges,
        if file.watching {
            "watched"
        } else {
            "polled: change notifications unavailable"
        }
    ));
    if let Some(problem) = &file.problem {
        line.push_str(&format!(" PROBLEM: {problem}"));
    }
    line
}

/// A notice for standard error about a node event (`None`: nothing worth
/// saying, as a remote change that changed no visible char, e.g. the
/// snapshot of an empty document a newcomer joins).
pub fn describe_event(event: &Event) -> Option<String> {
    Some(match event {
        Event::RemoteEdit { patches } => {
            let inserted: usize = patches.iter().map(|p| p.inserted).sum();
            let deleted: usize = patches.iter().map(|p| p.deleted).sum();
            if inserted == 0 && deleted == 0 {
                return None;
            }
            format!("remote edit: +{inserted} -{deleted} chars")
        }
        Event::PeerUp(addr) => format!("peer {addr} is up"),
        Event::PeerDown(addr) => format!("peer {addr} is down"),
        Event::Rejoined { old, new } => format!(
            "joined the group's document as replica {new}: edits made as replica {old} that \
             the group did not have (typed before joining, or while away past the member \
             horizon) were re-made on it"
        ),
        Event::OwnOpsLost {
            peer,
            peer_has,
            we_have,
        } => format!(
            "peer {peer} holds {peer_has} edits of this replica's earlier runs, but its data \
             directory had only {we_have} (restored from a backup?): they are taken back from \
             peers, and this run edits under a fresh replica id, so no id names two edits"
        ),
        Event::Refused { from, reason } => {
            format!("a datagram from {from} was refused: {reason:?}")
        }
        Event::Tag(tag) => format!("tag {} from replica {}", tag.name, tag.by),
        Event::Founded { document } => format!(
            "no member of this group answered on the LAN: founded document {} (others \
             started with the same secret join it; invite prints a ticket)",
            crate::net::document_name(*document)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_end_with_one_status_line() {
        let r = Reply {
            body: vec!["a".into(), "ok".into()],
            status: Ok("2 things".into()),
        };
        assert_eq!(r.render(), "  a\n  ok\nok 2 things\n");
        assert_eq!(Reply::ok("").render(), "ok\n");
        assert_eq!(Reply::error("bad\nthing").render(), "error: bad thing\n");
    }

    #[test]
    fn an_undo_says_what_it_removed_and_restored() {
        let o = Outcome {
            removed: 1,
            restored: 50,
            removed_preview: "\n".into(),
            restored_preview: "x".repeat(40),
            cursor: 0,
        };
        let r = undo_or_redo(Ok(Some(o)), "undone", "nothing to undo");
        let more = format!("restored 50 chars \"{}...\"", "x".repeat(40));
        assert_eq!(
            r.render(),
            format!("ok undone: removed 1 char \"\\n\", {more}\n")
        );
        let r = undo_or_redo(Ok(None), "redone", "nothing to redo");
        assert_eq!(r.render(), "error: nothing to redo\n");
    }
}

#[cfg(test)]
mod model_tests {
    //! Random command lines against a real driver and a plain model of the
    //! text: no panic, the right reply kind, the same text.
    use super::*;
    use crate::net::DriverConfig;
    use proptest::prelude::*;

    fn line() -> impl Strategy<Value = String> {
        prop_oneof![
            (0usize..40, "[a-z \\\\nt]{0,8}").prop_map(|(p, t)| format!("edit insert {p} {t}")),
            (0usize..40, 0usize..6).prop_map(|(p, l)| format!("edit delete {p} {l}")),
            (0usize..40).prop_map(|p| format!("edit delete {p}")),
            Just("view".to_string()),
            Just("status".to_string()),
            Just("peers".to_string()),
            Just("sync".to_string()),
            Just("offline".to_string()),
            Just("online".to_string()),
            Just("reconnect".to_string()),
            (0usize..30).prop_map(|n| format!("history {n}")),
            Just("undo".to_string()),
            Just("redo".to_string()),
            "[ -~]{0,30}".prop_filter("no save, add or exit", |l| {
                let w = l.split_whitespace().next().unwrap_or("");
                !matches!(w, "save" | "add" | "exit" | "quit")
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn random_lines_follow_the_model(lines in prop::collection::vec(line(), 1..40)) {
            let mut driver = Driver::start(DriverConfig::new("127.0.0.1:0".parse().unwrap())).unwrap();
            let mut session = Session::new(false, None);
            let mut model: Vec<char> = Vec::new();
            // Each command's text before / after it: a plain undo stack.
            let mut undo: Vec<Vec<char>> = Vec::new();
            let mut redo: Vec<Vec<char>> = Vec::new();
            for l in &lines {
                let before = model.clone();
                let parsed = command::parse(l);
                let reply = match parsed.clone() {
                    Ok(Some(cmd)) => session.execute(&mut driver, cmd),
                    Ok(None) => continue,
                    Err(e) => Reply::error(e.0),
                };
                prop_assert!(!reply.render().is_empty());
                match parsed {
                    Ok(Some(Command::Insert { pos, text })) => {
                        prop_assert_eq!(reply.status.is_ok(), pos <= model.len(), "{}", l);
                        if pos <= model.len() {
                            model.splice(pos..pos, text.chars());
                            if !text.is_empty() {
                                undo.push(before);
                                redo.clear();
                            }
                        }
                    }
                    Ok(Some(Command::Delete { pos, len })) => {
                        let fits = pos + len <= model.len();
                        prop_assert_eq!(reply.status.is_ok(), fits, "{}", l);
                        if fits {
                            model.drain(pos..pos + len);
                            undo.push(before);
                            redo.clear();
                        }
                    }
                    Ok(Some(Command::Undo)) => match undo.pop() {
                        Some(text) => {
                            prop_assert!(reply.status.as_ref().is_ok_and(|s| s.starts_with("undone: ")), "{:?}", reply);
                            model = text;
                            redo.push(before);
                        }
                        None => prop_assert_eq!(reply.status, Err("nothing to undo".to_string())),
                    },
                    Ok(Some(Command::Redo)) => match redo.pop() {
                        Some(text) => {
                            prop_assert!(reply.status.as_ref().is_ok_and(|s| s.starts_with("redone: ")), "{:?}", reply);
                            model = text;
                            undo.push(before);
                        }
                        None => prop_assert_eq!(reply.status, Err("nothing to redo".to_string())),
                    },
                    Ok(Some(_)) => prop_assert!(reply.status.is_ok(), "{} -> {:?}", l, reply),
                    _ => prop_assert!(reply.status.is_err()),
                }
                prop_assert_eq!(driver.node().doc().text(), model.iter().collect::<String>());
            }
        }
    }
}

/// LAN discovery as `status` shows it.
fn describe_discovery(state: &DiscoveryState) -> String {
    match state {
        DiscoveryState::On(interfaces) if interfaces.is_empty() => {
            "on, no interface takes multicast yet".to_string()
        }
        DiscoveryState::On(interfaces) => format!(
            "on ({})",
            interfaces
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        DiscoveryState::Off => "off (--no-discovery)".to_string(),
        DiscoveryState::NoSecret => "off (no group secret)".to_string(),
        DiscoveryState::Failed(why) => format!("off ({why})"),
    }
}
