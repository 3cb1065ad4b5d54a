//! The `rumor` program: flags (clap), then the event loop with a prompt
//! (terminal) or a script reader (pipe) feeding it commands.

pub mod client;
pub mod secret;

// The command layer lives beside the front ends (see `commands`); these
// names stay for scripts and tests that use them.
pub use crate::commands::{command, input, session};

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::net::{file_binding, DiscoveryState, Driver, DriverConfig, Faults, StartError};
use crate::node;
use crate::wire::{GroupKey, Ticket};

#[derive(Debug, Parser)]
#[command(
    name = "rumor",
    version,
    about = "A peer-to-peer collaborative plain-text editor",
    subcommand_negates_reqs = true,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Sub>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Sub {
    /// Open the full-screen terminal editor (same flags; `rumor edit PATH`
    /// is `rumor edit --file PATH`).
    Edit(Box<EditArgs>),
    /// Bridge an editor plugin to the running rumor that shares a file
    /// here: JSON-RPC (LSP framing) on standard input and output, to the
    /// socket in the nearest `.rumor/` directory (teamtype's editor
    /// protocol; see README "Use your own editor").
    Client,
    /// Write a new group secret for --secret-file.
    Keygen {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Debug, Clone, Args)]
pub struct EditArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// The text file to edit (the same as --file PATH).
    #[arg(value_name = "PATH", conflicts_with = "file")]
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Address to listen on, IP:PORT (port 0: any free port; with --new
    /// or --join, 0.0.0.0:0 by default).
    #[arg(long, value_name = "ADDR", required_unless_present_any = ["join", "new"],
          value_parser = listen_addr)]
    pub listen: Option<SocketAddr>,
    /// A peer to contact, IP:PORT (repeat for more).
    #[arg(long = "peer", value_name = "ADDR", value_parser = peer_addr)]
    pub peers: Vec<SocketAddr>,
    /// A human name shown to peers.
    #[arg(long, value_name = "NAME", default_value = "")]
    pub name: String,
    /// Keep the document durable in this directory (created if needed;
    /// with --file, default .rumor/NAME/ beside the file).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Bind the document to this plain text file: a founder takes its
    /// text, rumor keeps it written, and saves to it by other programs
    /// are merged as edits.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Group secret that authenticates every datagram (see `rumor keygen`;
    /// default: DIR/secret if the --data DIR holds one).
    #[arg(long, value_name = "F")]
    pub secret_file: Option<PathBuf>,
    /// Start a fresh private document with a new group secret, kept in
    /// --data DIR/secret (else in memory only); `invite` then prints a
    /// ticket for others to join with.
    #[arg(long, conflicts_with_all = ["secret_file", "peers", "join"])]
    pub new: bool,
    /// Join a private document with a ticket printed by `invite`: the
    /// ticket gives the document, its group secret and where to reach it
    /// (the secret is kept in --data DIR/secret).
    #[arg(long, value_name = "TICKET", conflicts_with = "secret_file")]
    pub join: Option<String>,
    /// Drop each datagram sent or received with probability P (experiments).
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = probability)]
    pub loss: f64,
    /// Delay each datagram sent or received by about MS milliseconds
    /// (uniform in 0.5..1.5 x MS, so they also get reordered). At most an hour.
    #[arg(long, value_name = "MS", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    pub delay: u64,
    /// Largest datagram to send, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 1200,
          value_parser = clap::value_parser!(u16).range(512..=65507))]
    pub mtu: u16,
    /// Talk only to the peers given and those that contact this one.
    #[arg(long)]
    pub no_peer_exchange: bool,
    /// Do not announce this peer on the LAN, nor listen for members'
    /// announcements (on by default with a group secret).
    #[arg(long)]
    pub no_discovery: bool,
    /// Seed for --loss/--delay choices (default: random, printed at start).
    #[arg(long, value_name = "N")]
    pub fault_seed: Option<u64>,
    /// Seconds a member may stay unheard before it is declared gone: it no
    /// longer holds back tombstone cleanup, and rejoins as a new replica
    /// when it comes back (its unsent edits are re-made, not lost).
    #[arg(long, value_name = "SECS", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub member_horizon: u64,
}

fn listen_addr(s: &str) -> Result<SocketAddr, String> {
    if let Some(port) = s.strip_prefix("localhost:") {
        if let Ok(port) = port.parse::<u16>() {
            return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
        }
    }
    s.parse()
        .map_err(|_| format!("{s:?} is not an address (use IP:PORT, e.g. 0.0.0.0:7001)"))
}

fn peer_addr(s: &str) -> Result<SocketAddr, String> {
    command::parse_addr(s).map_err(|e| e.0)
}

fn probability(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("{s:?} is not a probability between 0 and 1")),
    }
}

/// Entry point of the `rumor` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Sub::Edit(args)) => {
            let EditArgs { mut run, path } = *args;
            if path.is_some() {
                run.file = path;
            }
            edit(run)
        }
        Some(Sub::Client) => client::run(),
        Some(Sub::Keygen { file }) => match secret::keygen(&file) {
            Ok(key) => {
                eprintln!(
                    "rumor: wrote a new group secret to {} (key fingerprint {}); \
                     give it to each member over a private channel and start them with --secret-file",
                    file.display(),
                    key.fingerprint()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        },
        None => run(cli.run),
    }
}

/// `rumor edit`: the same driver, with the full-screen editor as front end.
fn edit(args: RunArgs) -> ExitCode {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        eprintln!("error: rumor edit needs a terminal (run rumor without `edit` for scripts)");
        return ExitCode::from(2);
    }
    let mut driver = match start(&args) {
        Ok((driver, _)) => driver,
        Err(code) => return code,
    };
    let mut note = match (&args.file, &args.data) {
        (Some(file), _) => format!("editing {}", file.display()),
        (None, Some(dir)) => format!("data in {}", dir.display()),
        (None, None) => "no --data: the text is lost on exit unless saved (^S)".to_string(),
    };
    if driver.node().config().key.is_none() {
        note.push_str("; no --secret-file: anyone who can reach the port can edit");
    } else if args.new {
        note.push_str("; a new private document: Esc, then invite, for a ticket");
    } else if driver.node().is_founding() {
        note.push_str("; looking for the group on the LAN (founds the document in a few seconds if none answers)");
    }
    match crate::tui::run(&mut driver, note) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Where the group secret comes from, and what a ticket tells.
struct Group {
    key: Option<GroupKey>,
    /// The ticket's document (0: none given).
    document: u32,
    /// The ticket's addresses.
    peers: Vec<SocketAddr>,
    /// Keep the key here once the replica has started (a joined data
    /// directory that holds no secret yet).
    keep_at: Option<PathBuf>,
    /// Said at start.
    note: Option<String>,
}

/// The group secret: `--secret-file`, a `--join` ticket's, a new one for
/// `--new`, or the one the data directory keeps; none otherwise.
fn group(args: &RunArgs, data: Option<&Path>) -> Result<Group, ExitCode> {
    let usage = |e: String| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    };
    let load = |path: &Path, flag: &str| match secret::load(path) {
        Ok((key, warning)) => {
            if let Some(w) = warning {
                eprintln!("rumor: warning: {w}");
            }
            Ok(key)
        }
        Err(e) => Err(usage(format!("{flag} {e}"))),
    };
    let kept = data.map(|dir| dir.join(secret::DATA_SECRET));
    let kept_exists = kept.as_deref().is_some_and(Path::exists);
    let mut group = Group {
        key: None,
        document: 0,
        peers: Vec::new(),
        keep_at: None,
        note: None,
    };
    if let Some(path) = &args.secret_file {
        let key = load(path, "--secret-file")?;
        if let Some(kept) = kept.as_deref().filter(|_| kept_exists) {
            if secret::load(kept).is_ok_and(|(k, _)| k.secret() != key.secret()) {
                eprintln!(
                    "rumor: warning: {} holds another group secret than --secret-file; \
                     using --secret-file",
                    kept.display()
                );
            }
        }
        group.key = Some(key);
    } else if let Some(text) = &args.join {
        // The ticket is not echoed: it holds the secret.
        let ticket = Ticket::decode(text).map_err(|e| usage(format!("--join: {e}")))?;
        let key = GroupKey::from_secret(&ticket.secret);
        match &kept {
            Some(path) if kept_exists => {
                let held = load(path, "--data")?;
                if held.secret() != key.secret() {
                    return Err(usage(format!(
                        "--join: {} holds the secret of another group than the ticket's; \
                         use another --data DIR",
                        path.display()
                    )));
                }
            }
            Some(path) => group.keep_at = Some(path.clone()),
            None => {}
        }
        group.note = Some(format!(
            "joining document {} with a ticket ({} addresses to try){}",
            crate::net::document_name(ticket.document),
            ticket.addrs.len(),
            match (&group.keep_at, &kept) {
                (Some(path), _) => format!("; its group secret is kept in {}", path.display()),
                (None, Some(_)) => String::new(),
                (None, None) => "; no --data: the group secret is in memory only".to_string(),
            }
        ));
        group.key = Some(key);
        group.document = ticket.document;
        group.peers = ticket.addrs;
    } else if let Some(path) = kept.as_deref().filter(|_| kept_exists) {
        group.key = Some(load(path, "--data")?);
        group.note = Some(format!("using the group secret kept in {}", path.display()));
    } else if args.new {
        // Kept only once the replica has started: a directory another
        // rumor holds must not gain a secret it would use on its restart.
        group.key = Some(GroupKey::from_secret(&rand::random()));
        group.keep_at = kept.clone();
        group.note = Some(match &kept {
            Some(path) => format!(
                "a new private document; its group secret is kept in {} (type invite for a ticket)",
                path.display()
            ),
            None => "a new private document; no --data: its group secret is in memory only, \
                     so tickets stop working when this peer exits (type invite for a ticket)"
                .to_string(),
        });
    }
    Ok(group)
}

/// Checks the flags and starts the driver (with the fault seed used).
fn start(args: &RunArgs) -> Result<(Driver, u64), ExitCode> {
    let Some(listen) = args.listen.or_else(|| {
        (args.new || args.join.is_some()).then_some(SocketAddr::from(([0, 0, 0, 0], 0)))
    }) else {
        eprintln!("error: --listen ADDR is required");
        return Err(ExitCode::from(2));
    };
    let mut data = args.data.clone();
    if let Some(file) = &args.file {
        if let Err(e) = file_binding::check_bindable(file) {
            eprintln!("error: --file {}: {e}", file.display());
            return Err(ExitCode::from(2));
        }
        // A bound file is durable without more flags.
        data.get_or_insert_with(|| file_binding::default_data_dir(file));
    }
    let group = group(args, data.as_deref())?;
    let key = group.key;
    let mut peers = group.peers;
    for peer in &args.peers {
        if !peers.contains(peer) {
            peers.push(*peer);
        }
    }
    let fault_seed = args.fault_seed.unwrap_or_else(rand::random);
    let config = DriverConfig {
        peers,
        node: node::Config {
            mtu: usize::from(args.mtu),
            peer_exchange: !args.no_peer_exchange,
            name: args.name.clone(),
            key: key.clone(),
            member_horizon: Duration::from_secs(args.member_horizon),
            // With a group secret and nothing else, look for the group on
            // the LAN before founding (the host decides whether this run
            // is such a one). `--new` founds at once; a bound file's text
            // is imported by a founder at start.
            found_after: (!args.new && args.file.is_none()).then_some(node::FOUND_AFTER),
            ..node::Config::default()
        },
        data,
        file: args.file.clone(),
        faults: Faults::new(args.loss, Duration::from_millis(args.delay), fault_seed),
        document: group.document,
        discovery: !args.no_discovery,
        ..DriverConfig::new(listen)
    };
    match Driver::start(config) {
        Ok(driver) => {
            let document = driver.node().document();
            if group.document != 0 && document != group.document {
                eprintln!(
                    "error: --join: the data directory holds document {}, not the ticket's {}; \
                     use another --data DIR",
                    crate::net::document_name(document),
                    crate::net::document_name(group.document)
                );
                return Err(ExitCode::from(2));
            }
            if let (Some(path), Some(key)) = (&group.keep_at, &key) {
                if let Err(e) = secret::write(path, key.secret()) {
                    // Without it, a restart on this directory would not be
                    // in the group.
                    eprintln!("error: the group secret could not be kept: {e}");
                    return Err(ExitCode::from(1));
                }
            }
            if let Some(note) = group.note {
                eprintln!("rumor: {note}");
            }
            Ok((driver, fault_seed))
        }
        Err(e @ StartError::File(_)) => {
            eprintln!("error: {e}");
            Err(ExitCode::from(2))
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(ExitCode::from(1))
        }
    }
}

fn run(args: RunArgs) -> ExitCode {
    let (mut driver, fault_seed) = match start(&args) {
        Ok(started) => started,
        Err(code) => return code,
    };

    eprintln!(
        "rumor: replica {} listening on {}",
        driver.node().doc().replica(),
        driver.local_addr()
    );
    match &driver.node().config().key {
        Some(key) => eprintln!(
            "rumor: every datagram is sealed with the group secret (key fingerprint {}); \
             only peers with the same secret can read or edit",
            key.fingerprint()
        ),
        None => eprintln!(
            "rumor: WARNING: no --secret-file: datagrams are neither authenticated nor encrypted; \
             anyone who can reach {} can read and edit the document (see rumor --new, \
             or rumor keygen)",
            driver.local_addr()
        ),
    }
    let group = crate::net::discovery_addr_for(driver.local_addr());
    if let Some(note) = discovery_note(driver.discovery(), group) {
        eprintln!("rumor: {note}");
    }
    if driver.node().is_founding() {
        eprintln!(
            "rumor: no --peer: looking for members of this group on the LAN for {} s; \
             if none answers, this peer founds the document",
            node::FOUND_AFTER.as_secs()
        );
    }
    match driver.store() {
        Some(store) => eprintln!(
            "rumor: data in {} ({} chars replayed)",
            store.dir().display(),
            driver.node().doc().len()
        ),
        None => eprintln!(
            "rumor: no --data given: the document is in memory only and is lost when rumor exits"
        ),
    }
    if let Some(file) = driver.file_status() {
        eprintln!(
            "rumor: the document is bound to {}: kept written, and saves to it by other \
             programs are merged",
            file.path.display()
        );
    }
    if driver.faults().is_active() {
        eprintln!(
            "rumor: injecting faults: loss {} and delay {}ms on datagrams sent and received, \
             --fault-seed {}",
            args.loss, args.delay, fault_seed
        );
    }

    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let (tx, rx) = mpsc::channel();
    let mut printer: Option<input::NoticePrinter> = None;
    let mut session = if interactive {
        let (answered_tx, answered_rx) = mpsc::channel();
        eprintln!("rumor: type help for the commands");
        printer = input::spawn_prompt(tx, driver.waker(), answered_rx);
        session::Session::new(true, Some(answered_tx))
    } else {
        input::spawn_pipe_reader(tx, driver.waker());
        session::Session::new(false, None)
    };
    // Notices: above the prompt when there is one, else on standard error.
    let mut notify = move |msg: String| match &mut printer {
        Some(print) => print(format!("rumor: {msg}")),
        None => eprintln!("rumor: {msg}"),
    };
    let notify = std::cell::RefCell::new(&mut notify);

    let result = driver.run(
        &rx,
        |driver, input| session.handle(driver, input),
        |_, event| {
            if let Some(notice) = session::describe_event(&event) {
                (notify.borrow_mut())(notice)
            }
        },
        |notice| (notify.borrow_mut())(notice),
    );
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: event loop failed: {e}");
            ExitCode::from(1)
        }
    }
}

/// What `rumor` says at start about LAN discovery (nothing when it was
/// turned off with `--no-discovery`).
fn discovery_note(state: &DiscoveryState, group: SocketAddr) -> Option<String> {
    match state {
        DiscoveryState::On(interfaces) if interfaces.is_empty() => Some(format!(
            "LAN discovery on ({group}), but no interface takes multicast yet; looked at again every few seconds",
        )),
        DiscoveryState::On(interfaces) => Some(format!(
            "LAN discovery on: announcing this peer to members of its document on {} ({})",
            interfaces
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            group
        )),
        DiscoveryState::Off => None,
        DiscoveryState::NoSecret => Some(
            "no LAN discovery: without a group secret there is nothing to seal announcements \
             with (see rumor --new)"
                .to_string(),
        ),
        DiscoveryState::Failed(why) => Some(format!("no LAN discovery: {why}")),
    }
}
