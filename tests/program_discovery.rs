//! LAN discovery between real `rumor` processes, each in a network
//! namespace of its own, all on one bridge (in a namespace too) that this
//! test makes: nothing is sent anywhere else. Needs root (`ip netns`);
//! elsewhere it says it is skipped, and with `RUMOR_REQUIRE_NETNS=1` (set
//! in CI) a skip is a failure.
//!
//! Each test makes its own bridge and namespaces (its own subnet), so the
//! tests run side by side:
//!
//! - A founds a private document; B and C join it with a ticket whose only
//!   address reaches nobody, so they can meet A only by discovery. D founds
//!   another document on the same bridge: its announcements and theirs are
//!   heard, counted and dropped, and nothing else passes between them.
//! - B and C start with A's group secret and nothing else (no `--peer`, no
//!   ticket): they join A's document, and D's stays apart.
//! - Two peers start at once with one secret and nothing else, nobody
//!   else there: they make one document between them.
//! - A's address changes after it printed a ticket: A announces itself
//!   again, and B joins with the stale ticket.
//! - On links with no IPv4 address at all, peers listening on `[::]` find
//!   each other by IPv6 link-local announcements.

mod program_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use program_support::netns::{ip, skip, Namespaces};
use program_support::*;
use rumor::wire::Ticket;

const WHAT: &str = "netns LAN discovery test";
const CONVERGE: Duration = Duration::from_secs(30);
/// The subnet of the first test; each test has its own.
const SUBNET: &str = "10.231.9";

/// The namespaces: one per peer, and the bridge's.
struct Lan {
    peers: Vec<String>,
    _guard: Namespaces,
}

/// Makes namespaces `{tag}a..` for `names`, each with a veth `{tag}v{name}`
/// to a bridge in `{tag}br`, at `{subnet}.1`, `.2`, ... (with no subnet,
/// no IPv4 address at all: IPv6 link-local ones only, usable at once).
/// Returns `Err` if `ip netns` cannot be used at all (the test is then
/// skipped).
fn lan(tag: &str, subnet: Option<&str>, names: &[&str]) -> Result<Lan, String> {
    let bridge_ns = format!("{tag}br");
    let mut guard = Namespaces::default();
    ip(&["netns", "add", &bridge_ns])?;
    guard.names.push(bridge_ns.clone());
    let must = |args: &[&str]| ip(args).unwrap_or_else(|e| panic!("namespace setup failed: {e}"));
    must(&["-n", &bridge_ns, "link", "add", "br0", "type", "bridge"]);
    must(&["-n", &bridge_ns, "link", "set", "br0", "up"]);
    let mut peers = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let ns = format!("{tag}{name}");
        let (inside, outside) = (format!("{tag}v{name}"), format!("{tag}p{name}"));
        must(&["netns", "add", &ns]);
        guard.names.push(ns.clone());
        guard.links.push(inside.clone());
        must(&[
            "link", "add", &inside, "type", "veth", "peer", "name", &outside,
        ]);
        must(&["link", "set", &inside, "netns", &ns]);
        must(&["link", "set", &outside, "netns", &bridge_ns]);
        must(&["-n", &bridge_ns, "link", "set", &outside, "master", "br0"]);
        must(&["-n", &bridge_ns, "link", "set", &outside, "up"]);
        if let Some(subnet) = subnet {
            let addr = format!("{subnet}.{}/24", i + 1);
            must(&["-n", &ns, "addr", "add", &addr, "dev", &inside]);
        } else {
            // (No duplicate address detection: the link-local address is
            // usable as soon as the link is up.)
            let dad = format!("net.ipv6.conf.{inside}.accept_dad=0");
            must(&["netns", "exec", &ns, "sysctl", "-qw", &dad]);
        }
        must(&["-n", &ns, "link", "set", "lo", "up"]);
        must(&["-n", &ns, "link", "set", &inside, "up"]);
        peers.push(ns);
    }
    Ok(Lan {
        peers,
        _guard: guard,
    })
}

/// A peer listening on every address of namespace `ns`, discovery on.
fn spec(name: &str, ns: &str) -> Spec {
    Spec::new(name)
        .listen("0.0.0.0:7001".parse().unwrap())
        .prefix(&["ip", "netns", "exec", ns])
        .discovery()
}

/// The number after `label` on `status`'s discovery line.
fn discovery_count(peer: &mut Peer, label: &str) -> u64 {
    let line = peer.status_value("discovery");
    let rest = line
        .split(&format!("{label} "))
        .nth(1)
        .unwrap_or_else(|| panic!("no {label:?} in {line:?}"));
    rest.split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count after {label:?} in {line:?}"))
}

/// The addresses in `peers`' table.
fn peer_addrs(peer: &mut Peer) -> Vec<String> {
    peer.ok("peers")
        .iter()
        .skip(1)
        .filter_map(|row| row.split_whitespace().next().map(str::to_string))
        .collect()
}

/// Waits until `cond` holds of `peer`, polling.
fn wait_until(peer: &mut Peer, what: &str, mut cond: impl FnMut(&mut Peer) -> bool) {
    let start = Instant::now();
    while !cond(peer) {
        if start.elapsed() > CONVERGE {
            let status = peer.ok("status").join("\n");
            panic!(
                "{}: no {what} in {CONVERGE:?}\n{status}\n--- stderr\n{}",
                peer.spec.name,
                tail(&peer.stderr(), 20)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn members_find_each_other_on_a_lan_and_another_document_stays_apart() {
    if !is_root() {
        return skip(WHAT, "not root");
    }
    let tag = format!("rmd{}", std::process::id() % 100_000);
    let lan = match lan(&tag, Some(SUBNET), &["a", "b", "c", "d"]) {
        Ok(lan) => lan,
        Err(e) => return skip(WHAT, &e),
    };
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();

    let mut a = Peer::start(spec("a", &lan.peers[0]).arg("--new"), logs);
    let reply = a.cmd("invite");
    assert!(reply.is_ok(), "{reply:?}");
    let mut ticket = Ticket::decode(&reply.body[0]).expect("invite's ticket decodes");
    // Only an address where nobody listens (on the bridge, unassigned):
    // B and C can meet A by discovery alone.
    ticket.addrs = vec![format!("{SUBNET}.99:7001").parse().unwrap()];
    let ticket = ticket.encode();
    let mut d = Peer::start(spec("d", &lan.peers[3]).arg("--new"), logs);
    d.insert(0, "d's own text");
    let mut b = Peer::start(spec("b", &lan.peers[1]).arg("--join").arg(&ticket), logs);
    let mut c = Peer::start(spec("c", &lan.peers[2]).arg("--join").arg(&ticket), logs);
    for p in [&mut a, &mut b, &mut c, &mut d] {
        let line = p.status_value("discovery");
        assert!(line.starts_with("on ("), "{}: {line}", p.spec.name);
    }

    a.insert(0, "from a. ");
    wait_until(&mut b, "join", |b| b.text().contains("from a."));
    b.insert(0, "from b. ");
    wait_until(&mut c, "join", |c| c.text().contains("from b."));
    c.insert(0, "from c. ");
    converge(&mut [&mut a, &mut b, &mut c], CONVERGE, logs, |t| {
        t.contains("from a.") && t.contains("from b.") && t.contains("from c.")
    });
    // A heard B and C announce as they started, and probed them.
    let line = a.status_value("discovery");
    assert!(discovery_count(&mut a, "heard") >= 2, "{line}");
    assert!(discovery_count(&mut a, "peers found") >= 2, "{line}");

    // D heard the others' announcements (B's and C's at least: they
    // started after it) and dropped them unopened; A heard D's.
    wait_until(&mut d, "other document dropped", |d| {
        discovery_count(d, "other document") >= 2
    });
    assert!(discovery_count(&mut a, "other document") >= 1);
    let d_addr = format!("{SUBNET}.4:7001");
    for p in [&mut a, &mut b, &mut c] {
        let peers = peer_addrs(p);
        assert!(!peers.contains(&d_addr), "{}: {peers:?}", p.spec.name);
        assert!(!p.text().contains("d's own"), "{}", p.spec.name);
    }
    assert_eq!(d.text(), "d's own text");
    assert!(peer_addrs(&mut d).is_empty(), "{:?}", d.ok("peers"));
    assert_eq!(discovery_count(&mut d, "peers found"), 0);
    let members: Vec<SocketAddr> = [1, 2, 3]
        .iter()
        .map(|i| format!("{SUBNET}.{i}:7001").parse().unwrap())
        .collect();
    let found = peer_addrs(&mut a);
    for m in &members[1..] {
        assert!(found.contains(&m.to_string()), "a knows {found:?}");
    }
    drop((a, b, c, d));
}

/// The tag of a test's namespaces: the process and the test (`which`).
fn tag(which: char) -> String {
    format!("rm{which}{}", std::process::id() % 100_000)
}

/// Whether `peer` told it founded a document (the `Event::Founded` notice).
fn founded(peer: &Peer) -> bool {
    peer.stderr().contains("founded document")
}

#[test]
fn peers_with_only_the_secret_join_the_document_on_the_lan() {
    const SUBNET: &str = "10.231.10";
    if !is_root() {
        return skip(WHAT, "not root");
    }
    let lan = match lan(&tag('s'), Some(SUBNET), &["a", "b", "c", "d"]) {
        Ok(lan) => lan,
        Err(e) => return skip(WHAT, &e),
    };
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();
    let a_data = tmp.path().join("a-data");

    // A's group secret, kept by --new in its data directory, is all B and
    // C are given.
    let mut a = Peer::start(spec("a", &lan.peers[0]).arg("--new").data(&a_data), logs);
    a.insert(0, "from a. ");
    let secret = a_data.join("secret");
    assert!(secret.exists());
    let mut d = Peer::start(spec("d", &lan.peers[3]).arg("--new"), logs);
    d.insert(0, "d's own text");
    let with_secret = |name: &str, ns: &str| {
        spec(name, ns)
            .arg("--secret-file")
            .arg(secret.to_str().unwrap())
    };
    let mut b = Peer::start(with_secret("b", &lan.peers[1]), logs);
    let mut c = Peer::start(with_secret("c", &lan.peers[2]), logs);
    assert!(
        b.stderr()
            .contains("looking for members of this group on the LAN"),
        "{}",
        b.stderr()
    );
    wait_until(&mut b, "join", |b| b.text().contains("from a."));
    wait_until(&mut c, "join", |c| c.text().contains("from a."));
    b.insert(0, "from b. ");
    c.insert(0, "from c. ");
    converge(&mut [&mut a, &mut b, &mut c], CONVERGE, logs, |t| {
        t.contains("from a.") && t.contains("from b.") && t.contains("from c.")
    });
    let document = a.status_value("document");
    for p in [&mut b, &mut c] {
        assert_eq!(p.status_value("document"), document, "{}", p.spec.name);
        assert!(!founded(p), "{}: {}", p.spec.name, p.stderr());
    }
    // D, another document on the same bridge, saw nothing of theirs.
    assert_eq!(d.text(), "d's own text");
    assert!(peer_addrs(&mut d).is_empty(), "{:?}", d.ok("peers"));
    let d_addr = format!("{SUBNET}.4:7001");
    for p in [&mut a, &mut b, &mut c] {
        assert!(!peer_addrs(p).contains(&d_addr), "{}", p.spec.name);
    }
    drop((a, b, c, d));
}

#[test]
fn two_peers_started_at_once_with_only_the_secret_make_one_document() {
    const SUBNET: &str = "10.231.11";
    if !is_root() {
        return skip(WHAT, "not root");
    }
    let lan = match lan(&tag('t'), Some(SUBNET), &["e", "f"]) {
        Ok(lan) => lan,
        Err(e) => return skip(WHAT, &e),
    };
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();
    let secret = tmp.path().join("secret");
    let keygen = std::process::Command::new(rumor_bin())
        .arg("keygen")
        .arg(&secret)
        .output()
        .unwrap();
    assert!(keygen.status.success(), "{keygen:?}");
    let with_secret = |name: &str, ns: &str| {
        spec(name, ns)
            .arg("--secret-file")
            .arg(secret.to_str().unwrap())
    };
    let mut e = Peer::start(with_secret("e", &lan.peers[0]), logs);
    let mut f = Peer::start(with_secret("f", &lan.peers[1]), logs);
    // Typed while they look for each other: kept either way.
    e.insert(0, "from e. ");
    f.insert(0, "from f. ");
    converge(&mut [&mut e, &mut f], CONVERGE, logs, |t| {
        t.contains("from e.") && t.contains("from f.")
    });
    let document = e.status_value("document");
    assert!(!document.contains("none"), "{document}");
    assert_eq!(f.status_value("document"), document);
    // Exactly one of them founded it; the other joined.
    assert!(
        founded(&e) != founded(&f),
        "e: {}\nf: {}",
        e.stderr(),
        f.stderr()
    );
    drop((e, f));
}

#[test]
fn a_ticket_still_joins_after_the_inviter_s_address_changed() {
    const SUBNET: &str = "10.231.12";
    if !is_root() {
        return skip(WHAT, "not root");
    }
    let tag = tag('c');
    let lan = match lan(&tag, Some(SUBNET), &["a", "b"]) {
        Ok(lan) => lan,
        Err(e) => return skip(WHAT, &e),
    };
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();
    let mut a = Peer::start(spec("a", &lan.peers[0]).arg("--new"), logs);
    a.insert(0, "from a. ");
    let reply = a.cmd("invite");
    assert!(reply.is_ok(), "{reply:?}");
    let ticket = reply.body[0].clone();
    let old = format!("{SUBNET}.1:7001");
    let decoded = Ticket::decode(&ticket).unwrap();
    assert!(decoded.addrs.contains(&old.parse().unwrap()), "{decoded:?}");
    // A moves: its address in the ticket is given up for another.
    let announced = discovery_count(&mut a, "announced");
    let dev = format!("{tag}va");
    let ns = &lan.peers[0];
    // (Deleted first: deleting a primary address deletes the secondary
    // ones of its subnet too.)
    ip(&[
        "-n",
        ns,
        "addr",
        "del",
        &format!("{SUBNET}.1/24"),
        "dev",
        &dev,
    ])
    .unwrap();
    ip(&[
        "-n",
        ns,
        "addr",
        "add",
        &format!("{SUBNET}.21/24"),
        "dev",
        &dev,
    ])
    .unwrap();
    // It notices, and announces itself again well before the next
    // periodic announcement (about 30 s).
    wait_until(&mut a, "announcement after the address change", |a| {
        discovery_count(a, "announced") > announced
    });
    let mut b = Peer::start(spec("b", &lan.peers[1]).arg("--join").arg(&ticket), logs);
    wait_until(&mut b, "join", |b| b.text().contains("from a."));
    b.insert(0, "from b. ");
    converge(&mut [&mut a, &mut b], CONVERGE, logs, |t| {
        t.contains("from a.") && t.contains("from b.")
    });
    let new = format!("{SUBNET}.21:7001");
    assert!(peer_addrs(&mut b).contains(&new), "{:?}", b.ok("peers"));
    drop((a, b));
}

#[test]
fn without_ipv4_peers_find_each_other_by_ipv6_link_local_announcements() {
    if !is_root() {
        return skip(WHAT, "not root");
    }
    let lan = match lan(&tag('6'), None, &["a", "b"]) {
        Ok(lan) => lan,
        Err(e) => return skip(WHAT, &e),
    };
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();
    let on_v6 = |name: &str, ns: &str| spec(name, ns).listen("[::]:7001".parse().unwrap());
    let mut a = Peer::start(on_v6("a", &lan.peers[0]).arg("--new"), logs);
    a.insert(0, "from a. ");
    let reply = a.cmd("invite");
    assert!(reply.is_ok(), "{reply:?}");
    // The ticket can list no address of A's link (link-local ones need an
    // interface to be of use): only loopback, B's own.
    let ticket = Ticket::decode(&reply.body[0]).unwrap();
    assert!(
        ticket.addrs.iter().all(|a| a.ip().is_loopback()),
        "{ticket:?}"
    );
    let line = a.status_value("discovery");
    assert!(line.starts_with("on (fe80::"), "{line}");
    let mut b = Peer::start(
        on_v6("b", &lan.peers[1]).arg("--join").arg(&reply.body[0]),
        logs,
    );
    wait_until(&mut b, "join", |b| b.text().contains("from a."));
    b.insert(0, "from b. ");
    converge(&mut [&mut a, &mut b], CONVERGE, logs, |t| {
        t.contains("from a.") && t.contains("from b.")
    });
    // B reached A at its link-local address, found by discovery.
    let peers = peer_addrs(&mut b);
    assert!(peers.iter().any(|p| p.starts_with("[fe80::")), "{peers:?}");
    assert!(discovery_count(&mut a, "peers found") >= 1);
    drop((a, b));
}
