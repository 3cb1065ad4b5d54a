//! The editor bridge: editors edit the bound file (`--file`) through
//! teamtype's editor protocol.
//!
//! An editor plugin starts `rumor client` in the shared directory and
//! speaks JSON-RPC 2.0 with LSP framing (`framing`) on its standard input
//! and output; `rumor client` only copies bytes between those and a Unix
//! socket, `.rumor/NAME.sock` beside the bound file NAME, which the
//! running `rumor` serves here, in its mio loop (non-blocking, any number
//! of editors; the socket is removed on exit, a stale one replaced).
//!
//! - Requests from the editor: `initialize {version}` (newer teamtype
//!   plugins wait for its answer), `open {uri, content}` (the shared file
//!   only; rumor answers, then sends the edit that turns `content` into
//!   the document if they differ), `close {uri}`, `edit {uri, revision,
//!   delta}`, `cursor {uri, ranges}` (to presence). A bad request gets a
//!   JSON-RPC error; a stream that is not framed gets one and is closed.
//! - Notifications to the editor: `edit {uri, revision, delta}` for every
//!   change of the document the editor did not make, and `cursor {userid,
//!   name, uri, ranges}` for peers' cursors (`userid`: the replica id in
//!   decimal, a string as teamtype's are: a 64-bit number does not survive
//!   Lua's or JavaScript's numbers). A peer's range starts at its
//!   selection's other end and ends at its cursor.
//! - Each open editor has an [`ot::EditorSync`]: the two revision
//!   counters, rumor's edits the editor has not acknowledged, and the
//!   transform that lets an editor edit and a remote one cross.
//! - An editor that opens a document holding `\r\n` with a buffer holding
//!   none (Neovim, 'fileformat' dos) sees every `\r\n` as `\n`, and its
//!   line breaks become `\r\n` (`line_endings`); chosen at `open`.
//! - An editor's ranges go to presence as cursors and selections, each
//!   range's end its cursor and its start the selection's other end; the
//!   first is the main one. Presence carries at most
//!   [`crate::wire::MAX_PRESENCE_RANGES`]: further ranges are not sent.
//!   Editors get all of a peer's ranges.
//! - Edits from an editor are not undo steps of rumor's `undo`: the
//!   protocol has no undo, the editor undoes with its own (an ordinary
//!   edit here), and an edit both could revert would be reverted twice.
//! - While an editor has the file open, its buffer is the truth: a save
//!   to the file by another program is not merged (the file is written
//!   over with the document again), see `file_binding`.

pub mod framing;
pub mod line_endings;
pub mod ot;

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use mio::net::{UnixListener, UnixStream};
use mio::{Interest, Registry, Token};
use serde_json::{json, Value};

use crate::doc::{ReplicaId, VersionVector};
use crate::wire::{CursorRange, MAX_PRESENCE_RANGES};

use line_endings::LineEndings;
use ot::{EditorSync, Lines, Outgoing, Position, Range, Replacement};

use super::Driver;

/// The listening socket's token.
pub(super) const LISTENER: Token = Token(2);
/// Connections get tokens from here up.
const FIRST_CONNECTION: usize = 3;
/// Most bytes queued for a slow editor before it is dropped.
const MAX_OUTBOX: usize = 256 << 20;

/// JSON-RPC error codes.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;
/// The file is not the one rumor shares.
const NOT_SHARED: i64 = -32001;
/// An edit or cursor for a file this editor has not opened.
const NOT_OPEN: i64 = -32002;

/// The socket for the file `path`: `.rumor/NAME.sock` beside it.
pub fn socket_path(path: &Path) -> PathBuf {
    let data = super::file_binding::default_data_dir(path);
    let mut name = data.file_name().map(|n| n.to_owned()).unwrap_or_default();
    name.push(".sock");
    data.with_file_name(name)
}

/// An editor's open file.
struct OpenFile {
    uri: String,
    sync: EditorSync,
    /// Whether the editor sees `\r\n` as `\n` (`line_endings`).
    endings: LineEndings,
    /// The document's version the editor is in step with.
    version: VersionVector,
    /// Peers' cursors last sent.
    cursors: BTreeMap<ReplicaId, PeerCursor>,
}

/// A peer's cursors as last sent to an editor: its name, and for each
/// range the char offsets in the document of the cursor and of the
/// selection's other end (`None`: nothing selected).
#[derive(Debug, Clone, PartialEq, Eq)]
struct PeerCursor {
    name: String,
    ranges: Vec<(usize, Option<usize>)>,
}

struct Connection {
    stream: UnixStream,
    inbox: Vec<u8>,
    outbox: Vec<u8>,
    open: Option<OpenFile>,
    /// To be dropped (after a last try to send what is queued).
    closing: bool,
}

impl Connection {
    fn send(&mut self, message: &Value) {
        let body = message.to_string();
        self.outbox.extend(framing::frame(body.as_bytes()));
        if self.outbox.len() > MAX_OUTBOX {
            self.closing = true;
        }
    }

    fn reply(&mut self, id: Option<&Value>, result: Result<Value, (i64, String)>) {
        let Some(id) = id else {
            return; // a notification gets no answer
        };
        let message = match result {
            Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
            Err((code, message)) => {
                json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
            }
        };
        self.send(&message);
    }

    fn notify_edit(&mut self, uri: &str, out: Outgoing) {
        self.send(&json!({
            "jsonrpc": "2.0",
            "method": "edit",
            "params": {"uri": uri, "revision": out.revision, "delta": out.delta},
        }));
    }

    /// Sends what is queued until the socket would block.
    fn flush(&mut self) {
        while !self.outbox.is_empty() {
            match self.stream.write(&self.outbox) {
                Ok(0) => {
                    self.closing = true;
                    return;
                }
                Ok(n) => {
                    self.outbox.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.closing = true;
                    self.outbox.clear();
                    return;
                }
            }
        }
    }

    /// Reads what has arrived; false at the end of the stream.
    fn fill(&mut self) -> bool {
        let mut buf = [0u8; 16 << 10];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return false,
                Ok(n) => {
                    self.inbox.extend_from_slice(&buf[..n]);
                    if self.inbox.len() > framing::MAX_HEADER + framing::MAX_BODY + 4 {
                        return false;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
    }
}

/// The socket and the editors connected to it, owned by the driver.
pub struct EditorBridge {
    listener: UnixListener,
    path: PathBuf,
    /// The bound file.
    file: PathBuf,
    connections: BTreeMap<usize, Connection>,
    next: usize,
}

impl Drop for EditorBridge {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl EditorBridge {
    /// Serves editors of `file` on [`socket_path`]. A socket left by a
    /// rumor that is gone is replaced; one that a running rumor serves is
    /// an error.
    pub fn listen(file: &Path, registry: &Registry) -> Result<EditorBridge, String> {
        let path = socket_path(file);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
        }
        if let Ok(meta) = std::fs::symlink_metadata(&path) {
            use std::os::unix::fs::FileTypeExt;
            if !meta.file_type().is_socket() {
                return Err(format!("{} exists and is not a socket", path.display()));
            }
            if std::os::unix::net::UnixStream::connect(&path).is_ok() {
                return Err(format!(
                    "{} is served by another running rumor",
                    path.display()
                ));
            }
            std::fs::remove_file(&path)
                .map_err(|e| format!("cannot replace {}: {e}", path.display()))?;
        }
        let mut listener = UnixListener::bind(&path)
            .map_err(|e| format!("cannot listen on {}: {e}", path.display()))?;
        registry
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(|e| format!("cannot watch {}: {e}", path.display()))?;
        let file = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
        Ok(EditorBridge {
            listener,
            path,
            file,
            connections: BTreeMap::new(),
            next: FIRST_CONNECTION,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Some editor has the file open.
    pub fn has_open(&self) -> bool {
        self.connections.values().any(|c| c.open.is_some())
    }

    /// Editors connected.
    pub fn connections(&self) -> usize {
        self.connections.len()
    }

    fn accept(&mut self, registry: &Registry) {
        loop {
            match self.listener.accept() {
                Ok((mut stream, _)) => {
                    let token = self.next;
                    self.next += 1;
                    if registry
                        .register(
                            &mut stream,
                            Token(token),
                            Interest::READABLE | Interest::WRITABLE,
                        )
                        .is_ok()
                    {
                        self.connections.insert(
                            token,
                            Connection {
                                stream,
                                inbox: Vec::new(),
                                outbox: Vec::new(),
                                open: None,
                                closing: false,
                            },
                        );
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return, // WouldBlock, or out of descriptors: later
            }
        }
    }

    /// Whether `uri` names the shared file.
    fn is_shared(&self, uri: &str) -> bool {
        let Some(path) = uri_path(uri) else {
            return false;
        };
        if path == self.file {
            return true;
        }
        match (
            std::fs::canonicalize(&path),
            std::fs::canonicalize(&self.file),
        ) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }

    fn drop_closed(&mut self, registry: &Registry) {
        let closed: Vec<usize> = self
            .connections
            .iter()
            .filter(|(_, c)| c.closing)
            .map(|(t, _)| *t)
            .collect();
        for token in closed {
            if let Some(mut c) = self.connections.remove(&token) {
                c.flush();
                let _ = registry.deregister(&mut c.stream);
            }
        }
    }
}

/// The path of a `file://` URI (percent-escapes decoded).
pub fn uri_path(uri: &str) -> Option<PathBuf> {
    let rest = uri.strip_prefix("file://")?;
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    use std::os::unix::ffi::OsStringExt;
    Some(PathBuf::from(std::ffi::OsString::from_vec(out)))
}

fn invalid(message: impl Into<String>) -> (i64, String) {
    (INVALID_PARAMS, message.into())
}

fn param_str<'a>(params: &'a Value, name: &str) -> Result<&'a str, (i64, String)> {
    params
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("`{name}` (a string) is missing")))
}

impl Driver {
    /// Starts serving editors of the bound file `path`; a notice when it
    /// cannot (the file binding goes on without).
    pub(super) fn serve_editors(&mut self, path: &Path) {
        match EditorBridge::listen(path, self.poll.registry()) {
            Ok(bridge) => self.editors = Some(bridge),
            Err(e) => self
                .host
                .push_notice(format!("editors cannot connect: {e}")),
        }
    }

    /// The socket editors connect to, if served.
    pub fn editor_socket(&self) -> Option<&Path> {
        self.editors.as_ref().map(EditorBridge::path)
    }

    /// An editor has the bound file open (its buffer is the truth).
    pub(super) fn editor_owns_file(&self) -> bool {
        self.editors.as_ref().is_some_and(EditorBridge::has_open)
    }

    /// mio said `token` is ready: the listener or a connection.
    pub(super) fn editor_ready(&mut self, token: Token) {
        let Some(mut bridge) = self.editors.take() else {
            return;
        };
        if token == LISTENER {
            bridge.accept(self.poll.registry());
        } else if let Some(conn) = bridge.connections.get_mut(&token.0) {
            conn.flush();
            if !conn.fill() {
                conn.closing = true;
            }
            self.take_messages(&mut bridge, token.0);
        }
        bridge.drop_closed(self.poll.registry());
        self.editors = Some(bridge);
    }

    /// Handles every whole message a connection has sent.
    fn take_messages(&mut self, bridge: &mut EditorBridge, token: usize) {
        loop {
            let Some(conn) = bridge.connections.get_mut(&token) else {
                return;
            };
            match framing::take_frame(&mut conn.inbox) {
                Ok(Some(body)) => self.handle_message(bridge, token, &body),
                Ok(None) => break,
                Err(e) => {
                    conn.send(&json!({
                        "jsonrpc": "2.0", "id": null,
                        "error": {"code": PARSE_ERROR, "message": format!("not a framed message: {e}")},
                    }));
                    conn.inbox.clear();
                    conn.closing = true;
                    break;
                }
            }
        }
        if let Some(conn) = bridge.connections.get_mut(&token) {
            conn.flush();
        }
    }

    fn handle_message(&mut self, bridge: &mut EditorBridge, token: usize, body: &[u8]) {
        let message: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                if let Some(conn) = bridge.connections.get_mut(&token) {
                    conn.reply(
                        Some(&Value::Null),
                        Err((PARSE_ERROR, format!("not JSON: {e}"))),
                    );
                }
                return;
            }
        };
        let id = message.get("id").cloned();
        let Some(method) = message.get("method").and_then(Value::as_str) else {
            // A response to a notification of ours, or nonsense: a
            // response needs no answer.
            if message.get("result").is_none() && message.get("error").is_none() {
                if let Some(conn) = bridge.connections.get_mut(&token) {
                    conn.reply(
                        Some(id.as_ref().unwrap_or(&Value::Null)),
                        Err((INVALID_REQUEST, "no method".into())),
                    );
                }
            }
            return;
        };
        let params = message.get("params").cloned().unwrap_or(Value::Null);
        let result = match method {
            // Newer teamtype plugins greet first and wait for an answer.
            "initialize" => Ok((
                json!({"name": "rumor", "version": env!("CARGO_PKG_VERSION")}),
                Vec::new(),
            )),
            "open" => self.editor_open(bridge, token, &params),
            "close" => self.editor_close(bridge, token, &params),
            "edit" => self.editor_edit(bridge, token, &params),
            "cursor" => self.editor_cursor(bridge, token, &params),
            other => Err((METHOD_NOT_FOUND, format!("no method {other:?}"))),
        };
        let Some(conn) = bridge.connections.get_mut(&token) else {
            return;
        };
        let (reply, after) = match result {
            Ok((value, after)) => (Ok(value), after),
            Err(e) => (Err(e), Vec::new()),
        };
        conn.reply(id.as_ref(), reply);
        // Edits to send come after the answer.
        let uri = conn
            .open
            .as_ref()
            .map(|o| o.uri.clone())
            .unwrap_or_default();
        for out in after {
            conn.notify_edit(&uri, out);
        }
    }

    fn editor_open(
        &mut self,
        bridge: &mut EditorBridge,
        token: usize,
        params: &Value,
    ) -> Result<(Value, Vec<Outgoing>), (i64, String)> {
        let uri = param_str(params, "uri")?;
        if !bridge.is_shared(uri) {
            return Err((
                NOT_SHARED,
                format!(
                    "not shared: this rumor shares only {}",
                    bridge.file.display()
                ),
            ));
        }
        let doc = self.host.node().doc();
        let text = doc.text();
        let content = match params.get("content") {
            Some(Value::String(s)) => s.clone(),
            None | Some(Value::Null) => text.clone(),
            Some(_) => return Err(invalid("`content` must be a string")),
        };
        let mut endings = LineEndings::for_editor(&content, &text);
        let (sync, first) = EditorSync::open(&content, &endings.view(&text));
        let conn = bridge
            .connections
            .get_mut(&token)
            .ok_or_else(|| invalid("connection gone"))?;
        conn.open = Some(OpenFile {
            uri: uri.to_string(),
            sync,
            endings,
            version: doc.version(),
            cursors: BTreeMap::new(),
        });
        Ok((json!("ok"), first.into_iter().collect()))
    }

    fn editor_close(
        &mut self,
        bridge: &mut EditorBridge,
        token: usize,
        params: &Value,
    ) -> Result<(Value, Vec<Outgoing>), (i64, String)> {
        let uri = param_str(params, "uri")?;
        if let Some(conn) = bridge.connections.get_mut(&token) {
            if conn.open.as_ref().is_some_and(|o| o.uri == uri) {
                conn.open = None;
            }
        }
        Ok((json!("ok"), Vec::new()))
    }

    fn editor_edit(
        &mut self,
        bridge: &mut EditorBridge,
        token: usize,
        params: &Value,
    ) -> Result<(Value, Vec<Outgoing>), (i64, String)> {
        let uri = param_str(params, "uri")?;
        // The guide's older shape nests `{delta, revision}` in `delta`.
        let (revision, delta) = match params.get("delta") {
            Some(inner @ Value::Object(_)) => (inner.get("revision"), inner.get("delta")),
            delta => (params.get("revision"), delta),
        };
        let revision = revision
            .and_then(Value::as_u64)
            .ok_or_else(|| invalid("`revision` (a number) is missing"))?;
        let delta: Vec<Replacement> = delta
            .cloned()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| invalid(format!("bad `delta`: {e}")))?
            .ok_or_else(|| invalid("`delta` is missing"))?;
        let text = self.host.node().doc().text();
        let version = self.host.node().doc().version();
        let conn = bridge
            .connections
            .get_mut(&token)
            .ok_or_else(|| invalid("connection gone"))?;
        let Some(open) = conn.open.as_mut().filter(|o| o.uri == uri) else {
            return Err((NOT_OPEN, format!("{uri} is not open")));
        };
        // In step with the document first, so the transformed edit
        // applies to its text.
        let mut out: Vec<Outgoing> = Vec::new();
        if open.version != version {
            out.extend(open.sync.document_changed(&open.endings.view(&text)));
            open.version = version;
        }
        let result = open.sync.editor_edit(revision, &delta);
        let (to_doc, resend) = match result {
            Ok(r) => r,
            Err(e) => {
                let uri = open.uri.clone();
                for o in out {
                    conn.notify_edit(&uri, o);
                }
                return Err(invalid(e));
            }
        };
        let to_doc = open.endings.hunks_to_doc(to_doc);
        // Seen through `\r\n` as `\n`, the document may come out other
        // than the editor's text (a lone `\r` the edit put before a `\n`):
        // such an editor is brought in step again at the loop's turn.
        let translated = open.endings.is_crlf();
        // The edits that were queued before this one go out now (the
        // editor ignores them if stale; `resend` has them moved).
        let uri = open.uri.clone();
        for o in out {
            conn.notify_edit(&uri, o);
        }
        let applied = self.apply_hunks(&to_doc);
        if let Some(open) = bridge
            .connections
            .get_mut(&token)
            .and_then(|c| c.open.as_mut())
            .filter(|_| !translated)
        {
            open.version = self.host.node().doc().version();
        }
        if let Err(e) = applied {
            return Err((
                INVALID_PARAMS,
                format!("the document refused the edit: {e}"),
            ));
        }
        Ok((json!("ok"), resend))
    }

    fn editor_cursor(
        &mut self,
        bridge: &mut EditorBridge,
        token: usize,
        params: &Value,
    ) -> Result<(Value, Vec<Outgoing>), (i64, String)> {
        let uri = param_str(params, "uri")?;
        let ranges: Vec<Range> = params
            .get("ranges")
            .cloned()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| invalid(format!("bad `ranges`: {e}")))?
            .unwrap_or_default();
        let Some(open) = bridge
            .connections
            .get(&token)
            .and_then(|c| c.open.as_ref())
            .filter(|o| o.uri == uri)
        else {
            return Err((NOT_OPEN, format!("{uri} is not open")));
        };
        // Each range's end is where that cursor is. Ranges outside the
        // text are skipped; presence itself keeps only the first ones.
        let lines = Lines::new(open.sync.shadow());
        let doc = self.host.node().doc();
        let selections: Vec<CursorRange> = ranges
            .iter()
            .take(MAX_PRESENCE_RANGES)
            .filter_map(|range| {
                let end = open.endings.to_doc_offset(lines.offset(range.end).ok()?);
                let start = open.endings.to_doc_offset(lines.offset(range.start).ok()?);
                Some(CursorRange {
                    cursor: doc.id_at(end),
                    anchor: (start != end).then(|| doc.id_at(start)),
                })
            })
            .collect();
        self.set_selections(&selections);
        Ok((json!("ok"), Vec::new()))
    }

    /// The loop's turn for the editors: the document's changes and peers'
    /// cursors sent to each open editor, queued bytes sent, closed
    /// connections dropped.
    pub(super) fn tend_editors(&mut self) {
        let Some(mut bridge) = self.editors.take() else {
            return;
        };
        let doc = self.host.node().doc();
        let version = doc.version_ref();
        let mut text: Option<String> = None;
        let presences = self.host.node().presences();
        for conn in bridge.connections.values_mut() {
            let mut sends = Vec::new();
            if let Some(open) = conn.open.as_mut() {
                if &open.version != version {
                    let text = text.get_or_insert_with(|| doc.text());
                    sends.extend(open.sync.document_changed(&open.endings.view(text)));
                    open.version = version.clone();
                }
                let mut cursors = Vec::new();
                let mut seen = BTreeMap::new();
                let offset_of = |id: Option<crate::doc::Id>| match id {
                    Some(id) => doc.position_of(id).map(|(at, _)| at),
                    None => Some(doc.len()),
                };
                for p in &presences {
                    let ranges = p
                        .ranges()
                        .into_iter()
                        .filter_map(|r| {
                            let cursor = offset_of(r.cursor)?;
                            let anchor = r.anchor.and_then(offset_of).filter(|&a| a != cursor);
                            Some((cursor, anchor))
                        })
                        .collect();
                    seen.insert(
                        p.replica,
                        PeerCursor {
                            name: p.name.clone(),
                            ranges,
                        },
                    );
                }
                if seen != open.cursors {
                    let lines = Lines::new(open.sync.shadow());
                    let position =
                        |at: usize| -> Position { lines.position(open.endings.to_view_offset(at)) };
                    for (replica, peer) in &seen {
                        if open.cursors.get(replica) == Some(peer) {
                            continue;
                        }
                        // The range's end is the cursor; its start the
                        // selection's other end, which may come after it.
                        let ranges: Vec<Range> = peer
                            .ranges
                            .iter()
                            .map(|&(at, anchor)| {
                                let end = position(at);
                                let start = anchor.map_or(end, position);
                                Range { start, end }
                            })
                            .collect();
                        cursors.push(json!({
                            "jsonrpc": "2.0", "method": "cursor",
                            "params": {"userid": replica.0.to_string(), "name": peer.name, "uri": open.uri, "ranges": ranges},
                        }));
                    }
                    for (replica, PeerCursor { name, .. }) in &open.cursors {
                        if !seen.contains_key(replica) {
                            cursors.push(json!({
                                "jsonrpc": "2.0", "method": "cursor",
                                "params": {"userid": replica.0.to_string(), "name": name, "uri": open.uri, "ranges": []},
                            }));
                        }
                    }
                    open.cursors = seen;
                }
                let uri = open.uri.clone();
                for out in sends {
                    conn.notify_edit(&uri, out);
                }
                for c in cursors {
                    conn.send(&c);
                }
            }
            conn.flush();
        }
        bridge.drop_closed(self.poll.registry());
        self.editors = Some(bridge);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_uris_become_paths() {
        assert_eq!(
            uri_path("file:///tmp/a%20b/%C3%A9.txt"),
            Some(PathBuf::from("/tmp/a b/é.txt"))
        );
        assert_eq!(uri_path("file://localhost/x"), Some(PathBuf::from("/x")));
        assert_eq!(uri_path("http://x/y"), None);
        assert_eq!(uri_path("file:///bad%zz"), None);
        assert_eq!(uri_path("file:///cut%4"), None);
    }

    #[test]
    fn the_socket_is_in_the_rumor_directory_beside_the_file() {
        assert_eq!(
            socket_path(Path::new("/w/notes.txt")),
            PathBuf::from("/w/.rumor/notes.txt.sock")
        );
    }
}
