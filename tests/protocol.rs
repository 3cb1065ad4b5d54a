//! The protocol through an in-memory network: every case converges and
//! loses nothing typed.

mod protocol_harness;

use std::time::Duration;

use protocol_harness::{addr, Net};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rumor::node::{Config, Edit, Event, PeerState};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Each node makes `edits` random edits, one every `every`, in turn.
fn random_typing(net: &mut Net, seed: u64, edits: usize, every: Duration) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for k in 0..edits {
        let i = k % net.nodes.len();
        net.random_edit(i, &mut rng);
        net.run_for(every);
    }
}

#[test]
fn plain_push() {
    let mut net = Net::new(2, 1, Config::default());
    net.add_peer(0, 1);
    net.run_for(ms(100));
    net.insert(0, 0, "hello");
    net.run_for(ms(50));
    assert_eq!(net.text(1), "hello", "pushed within one trip");
    net.insert(1, 5, " world");
    net.run_for(ms(50));
    assert_eq!(net.text(0), "hello world");
    assert!(net.events[1]
        .iter()
        .any(|e| matches!(e, Event::RemoteEdit { patches } if patches[0].inserted == 5)));
    assert!(net.events[0].contains(&Event::PeerUp(addr(1))));
    assert!(
        net.events[1].contains(&Event::PeerUp(addr(0))),
        "contact adds the peer"
    );
    net.assert_nothing_lost();
    // No stray retransmissions on a clean link.
    assert_eq!(net.nodes[0].stats().retransmits, 0);
    let rtt = net.nodes[0].peers()[0].rtt.expect("rtt measured");
    assert!(
        rtt >= ms(20) && rtt <= ms(40),
        "rtt {rtt:?} for 10 ms each way"
    );
}

#[test]
fn typing_is_coalesced_into_few_datagrams() {
    let mut net = Net::new(2, 2, Config::default());
    net.add_peer(0, 1);
    net.run_for(ms(100));
    let before = net.nodes[0].stats().datagrams_sent;
    // 100 chars, one every 2 ms: faster than the 20 ms round trip.
    for k in 0..100 {
        net.insert(0, k, "x");
        net.run_for(ms(2));
    }
    net.run_for(ms(200));
    assert_eq!(net.text(1), "x".repeat(100));
    let sent = net.nodes[0].stats().datagrams_sent - before;
    assert!(sent < 30, "{sent} datagrams for 100 fast keystrokes");
}

#[test]
fn thirty_percent_loss() {
    let mut net = Net::new(3, 3, Config::default());
    net.faults.loss = 0.3;
    net.full_mesh();
    random_typing(&mut net, 33, 300, ms(50));
    let took = net.run_until_converged(secs(120));
    assert!(took.is_some(), "did not converge");
    net.assert_nothing_lost();
    assert!(net.nodes.iter().any(|n| n.stats().retransmits > 0));
}

#[test]
fn duplication() {
    let mut net = Net::new(3, 4, Config::default());
    net.faults.dup = 0.5;
    net.full_mesh();
    random_typing(&mut net, 44, 300, ms(30));
    assert!(net.run_until_converged(secs(30)).is_some());
    net.assert_nothing_lost();
    assert!(net.nodes.iter().any(|n| n.stats().duplicates > 0));
}

#[test]
fn reordering() {
    let mut net = Net::new(3, 5, Config::default());
    net.faults.delay_min = ms(1);
    net.faults.delay_max = ms(300);
    net.full_mesh();
    random_typing(&mut net, 55, 300, ms(10));
    assert!(net.run_until_converged(secs(30)).is_some());
    net.assert_nothing_lost();
}

#[test]
fn partition_heals() {
    let mut net = Net::new(4, 6, Config::default());
    net.full_mesh();
    net.run_for(secs(1));
    net.partition(&[0, 1], &[2, 3]);
    random_typing(&mut net, 66, 200, ms(200)); // 40 s apart: peers go down
    assert!(!net.converged());
    assert!(net.events[0].contains(&Event::PeerDown(addr(2))));
    let down = net.nodes[0]
        .peers()
        .iter()
        .filter(|p| p.state == PeerState::Down)
        .count();
    assert_eq!(down, 2);
    net.heal();
    let took = net.run_until_converged(secs(60));
    assert!(took.is_some(), "did not converge after healing");
    net.assert_nothing_lost();
    let ups = net.events[0]
        .iter()
        .filter(|e| **e == Event::PeerUp(addr(2)))
        .count();
    assert_eq!(ups, 2, "up at first contact and again after the partition");
}

#[test]
fn offline_with_edits_on_both_sides() {
    let mut net = Net::new(2, 7, Config::default());
    net.add_peer(0, 1);
    net.insert(0, 0, "shared ");
    net.run_for(secs(1));
    assert_eq!(net.text(1), "shared ");
    net.set_online(1, false);
    let sent = net.nodes[1].stats().datagrams_sent;
    let mut rng = ChaCha8Rng::seed_from_u64(77);
    for _ in 0..50 {
        net.random_edit(0, &mut rng);
        net.random_edit(1, &mut rng);
        net.run_for(ms(500));
    }
    assert_eq!(
        net.nodes[1].stats().datagrams_sent,
        sent,
        "offline sends nothing"
    );
    assert!(
        net.nodes[1].stats().drops.offline > 0,
        "offline ignores input"
    );
    assert!(!net.converged());
    net.set_online(1, true);
    let took = net.run_until_converged(secs(10)).expect("converges");
    assert!(took < secs(1), "reconnect took {took:?}");
    net.assert_nothing_lost();
}

#[test]
fn chain_of_three_relays() {
    let config = Config {
        peer_exchange: false,
        ..Config::default()
    };
    let mut net = Net::new(3, 8, config);
    net.add_peer(0, 1);
    net.add_peer(2, 1);
    net.partition(&[0], &[2]); // A and C never in contact
    random_typing(&mut net, 88, 200, ms(20));
    assert!(net.run_until_converged(secs(10)).is_some());
    net.assert_nothing_lost();
    assert_eq!(
        net.nodes[0].peers().len(),
        1,
        "no peer exchange: A knows only B"
    );
}

#[test]
fn late_joiner_with_long_history_learns_the_group() {
    let mut net = Net::new(3, 9, Config::default());
    net.add_peer(0, 1);
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    for _ in 0..3000 {
        let i = rng.random_range(0..2);
        net.random_edit(i, &mut rng);
        net.run_for(ms(5));
    }
    net.run_for(secs(5));
    assert_eq!(net.text(0), net.text(1), "the pair converges");
    let big = net.text(0).chars().count();
    assert!(big > 3000, "history of {big} chars");
    // C is told about A only; peer exchange introduces B.
    net.add_peer(2, 0);
    let took = net.run_until_converged(secs(30)).expect("joiner converges");
    net.assert_nothing_lost();
    assert!(took < secs(5), "joining took {took:?}");
    net.run_for(secs(15));
    let known: Vec<_> = net.nodes[2].peers().iter().map(|p| p.addr).collect();
    assert!(known.contains(&addr(1)), "C learned B: {known:?}");
    assert!(net.nodes[1].peers().iter().any(|p| p.addr == addr(2)));
}

#[test]
fn restarted_peer_with_fresh_replica_catches_up() {
    let mut net = Net::new(2, 10, Config::default());
    net.add_peer(0, 1);
    net.insert(0, 0, "before restart");
    net.run_for(secs(1));
    // Node 1 loses everything: a new replica at the same address.
    net.nodes[1] = rumor::node::Node::new(
        rumor::doc::Doc::new(rumor::doc::ReplicaId(4242)),
        Config::default(),
        ChaCha8Rng::seed_from_u64(1),
        net.now,
    );
    net.add_peer(1, 0);
    assert!(net.run_until_converged(secs(10)).is_some());
    assert_eq!(net.text(1), "before restart");
}

#[test]
fn garbage_and_wrong_version_are_counted_not_fatal() {
    let mut net = Net::new(2, 11, Config::default());
    net.add_peer(0, 1);
    net.run_for(ms(100));
    let now = net.now;
    let node = &mut net.nodes[0];
    node.handle_datagram(now, addr(1), b"");
    node.handle_datagram(now, addr(1), b"hello there");
    let mut bad_version = vec![b'r', b'M', 99];
    bad_version.extend_from_slice(&[0; 12]);
    node.handle_datagram(now, addr(1), &bad_version);
    node.handle_datagram(now, addr(1), &[b'r', b'M', rumor::wire::VERSION, 1, 2, 3]);
    let d = &node.stats().drops;
    assert_eq!(d.not_rumor, 2);
    assert_eq!(d.wrong_version, 1);
    assert_eq!(d.malformed, 1);
    net.insert(0, 0, "still fine");
    net.run_for(ms(100));
    assert_eq!(net.text(1), "still fine");
}

#[test]
fn sync_now_repairs_what_acks_cannot() {
    // Ops that were acknowledged but then lost by the receiver (here: a
    // node that drops the data by going offline mid-flight) are found by
    // the digest exchange.
    let mut net = Net::new(2, 12, Config::default());
    net.add_peer(0, 1);
    net.run_for(ms(100));
    net.insert(0, 0, "abc");
    net.set_online(1, false);
    net.run_for(secs(3));
    net.set_online(1, true);
    net.sync_now(1);
    assert!(net.run_until_converged(secs(2)).is_some());
}

#[test]
fn delete_edits_travel() {
    let mut net = Net::new(2, 13, Config::default());
    net.add_peer(0, 1);
    net.insert(0, 0, "hello world");
    net.run_for(ms(100));
    net.edit(1, Edit::Delete { pos: 0, len: 6 });
    net.run_for(ms(100));
    assert_eq!(net.text(0), "world");
}

#[test]
fn restarted_peer_with_its_data_resumes_quickly() {
    let mut net = Net::new(2, 14, Config::default());
    net.add_peer(0, 1);
    for k in 0..300 {
        net.insert(k % 2, 0, "ab");
        net.run_for(ms(20));
    }
    net.run_for(secs(1));
    assert!(net.converged());
    // Node 1 restarts from its persisted doc: same replica, fresh protocol
    // state, packet numbers from zero again.
    let doc = net.nodes[1].doc().clone();
    net.nodes[1] = rumor::node::Node::new(
        doc,
        Config::default(),
        ChaCha8Rng::seed_from_u64(2),
        net.now,
    );
    net.add_peer(1, 0);
    for k in 0..50 {
        net.insert(k % 2, 0, "cd");
        net.run_for(ms(20));
    }
    assert!(net.run_until_converged(secs(1)).is_some());
    net.assert_nothing_lost();
    assert_eq!(
        net.nodes[1].stats().retransmits,
        0,
        "its new packet numbers are acknowledged"
    );
}

#[test]
fn mutated_real_traffic_never_breaks_a_node() {
    // Record a session with every kind of frame (ops, deletes, acks,
    // digests, pings, hellos, peer lists), then feed mutations of it to a
    // live node: it must neither panic nor stop working.
    let mut net = Net::new(3, 15, Config::default());
    net.record = Some(Vec::new());
    net.faults.loss = 0.2;
    net.full_mesh();
    random_typing(&mut net, 151, 200, ms(30));
    net.run_for(secs(12));
    let traffic = net.record.take().unwrap();
    assert!(traffic.len() > 100);
    let mut rng = ChaCha8Rng::seed_from_u64(152);
    for k in 0..20_000 {
        let mut bytes = traffic[rng.random_range(0..traffic.len())].clone();
        for _ in 0..rng.random_range(1..5) {
            let at = rng.random_range(0..bytes.len());
            match rng.random_range(0..3) {
                0 => bytes[at] = rng.random(),
                1 => bytes.insert(at, rng.random()),
                _ => bytes.truncate(at.max(1)),
            }
        }
        let now = net.now;
        let from = addr(1 + k % 2);
        net.nodes[0].handle_datagram(now, from, &bytes);
        net.nodes[0].handle_timeout(now);
        while net.nodes[0].poll_transmit().is_some() {}
        while net.nodes[0].poll_event().is_some() {}
    }
    assert!(net.nodes[0].stats().drops.malformed > 1000);
    let known: Vec<_> = net.nodes[0].peers().iter().map(|p| p.addr).collect();
    assert!(
        known.contains(&addr(1)) && known.contains(&addr(2)),
        "it still knows its peers: {known:?}"
    );
    // Still converging with the others afterwards. (Mutations that decode
    // as valid ops are accepted and relayed, as any op is: authentication
    // is issue 6. Forged ops whose causes never come stay held at node 0,
    // so `converged()`, which wants nothing held, is not the test here.)
    net.faults.loss = 0.0;
    net.insert(0, 0, "after the storm");
    net.insert(2, 0, "and the calm ");
    net.sync_now(0);
    net.run_for(secs(10));
    let v = net.nodes[0].doc().version();
    for i in 1..3 {
        assert_eq!(net.nodes[i].doc().version(), v);
        assert_eq!(net.text(i), net.text(0));
    }
    assert!(net.text(1).contains("after the storm"));
    assert!(net.text(0).contains("and the calm "));
}

#[test]
fn adding_itself_is_harmless() {
    let mut net = Net::new(2, 16, Config::default());
    net.add_peer(0, 0);
    net.add_peer(0, 1);
    net.run_for(secs(2));
    // Its one try (a first contact, which goes as five copies) came back.
    assert_eq!(net.nodes[0].stats().drops.from_self, 5);
    let peers: Vec<_> = net.nodes[0].peers().iter().map(|p| p.addr).collect();
    assert_eq!(peers, vec![addr(1)], "its own address is forgotten");
    net.add_peer(0, 0);
    assert_eq!(net.nodes[0].peers().len(), 1, "and not added again");
}

#[test]
fn chain_relays_even_when_gossip_points_at_an_unreachable_peer() {
    // Peer exchange on: A hears of C through B but can never reach it.
    let mut net = Net::new(3, 18, Config::default());
    net.partition(&[0], &[2]);
    net.add_peer(0, 1);
    net.add_peer(2, 1);
    random_typing(&mut net, 181, 200, ms(20));
    net.run_for(secs(15));
    assert!(net.run_until_converged(secs(10)).is_some());
    net.assert_nothing_lost();
}

#[test]
fn reconnect_sends_only_the_difference() {
    let mut net = Net::new(2, 19, Config::default());
    net.add_peer(0, 1);
    let mut rng = ChaCha8Rng::seed_from_u64(191);
    for _ in 0..2000 {
        net.random_edit(0, &mut rng);
        net.run_for(ms(5));
    }
    net.run_until_converged(secs(10)).expect("history shared");
    let history_bytes = net.nodes[0].stats().bytes_sent;
    net.set_online(1, false);
    net.insert(0, 0, "0123456789");
    net.run_for(secs(60));
    let before: u64 = net.nodes.iter().map(|n| n.stats().bytes_sent).sum();
    net.set_online(1, true);
    let took = net.run_until_converged(secs(10)).expect("reconnects");
    let bytes: u64 = net.nodes.iter().map(|n| n.stats().bytes_sent).sum::<u64>() - before;
    assert!(took <= ms(25), "one round trip (20 ms), took {took:?}");
    assert!(
        bytes < 400,
        "{bytes} bytes to reconnect (the history took {history_bytes})"
    );
}

/// A document with a long history of edits by one replica: many ops, many
/// tombstones.
fn long_history(replica: u64, edits: usize) -> rumor::Doc {
    let mut doc = rumor::Doc::new(rumor::ReplicaId(replica));
    let mut rng = ChaCha8Rng::seed_from_u64(replica);
    for _ in 0..edits {
        let len = doc.len();
        if len > 20 && rng.random_bool(0.3) {
            let pos = rng.random_range(0..len - 5);
            doc.delete(pos, rng.random_range(1..5)).unwrap();
        } else {
            let pos = rng.random_range(0..=len);
            doc.insert(pos, "words ").unwrap();
        }
    }
    doc
}

#[test]
fn a_newcomer_gets_a_snapshot_through_loss_and_keeps_its_own_edits() {
    let holder = long_history(1, 5000);
    let mut newcomer = rumor::Doc::new(rumor::ReplicaId(2));
    newcomer.insert(0, "written before joining. ").unwrap();
    let mut net = protocol_harness::Net::with_docs(vec![holder, newcomer], 11, Config::default());
    net.faults.loss = 0.2;
    net.faults.dup = 0.05;
    net.add_peer(1, 0);
    let took = net.run_until_converged(secs(120));
    assert!(took.is_some(), "did not converge");
    net.assert_nothing_lost();
    assert!(net.text(0).contains("written before joining. "));
    assert_eq!(net.nodes[1].stats().snapshots_received, 1);
    // Every chunk is acknowledged in the end, lost acks included.
    net.run_for(secs(10));
    assert_eq!(net.nodes[0].stats().snapshots_sent, 1);
    // The bulk went as a snapshot: the holder sent few ops.
    assert!(
        net.nodes[0].stats().ops_sent < 100,
        "{:?}",
        net.nodes[0].stats()
    );
}

#[test]
fn a_snapshot_is_encoded_once_and_a_newcomer_passes_on_the_one_it_loaded() {
    let config = Config {
        peer_exchange: false,
        // No cleanup: it changes the document's snapshot (a smaller one is
        // encoded after each), which is not what this test counts.
        collect_min_runs: usize::MAX,
        ..Config::default()
    };
    let docs = (1..=4).map(|r| rumor::Doc::new(rumor::ReplicaId(r)));
    let docs = std::iter::once(long_history(1, 5000)).chain(docs.skip(1));
    let mut net = protocol_harness::Net::with_docs(docs.collect(), 13, config);
    // Made ahead of time (a driver does it at start).
    net.nodes[0].prepare_snapshot();
    assert_eq!(net.nodes[0].stats().snapshots_encoded, 1);
    // Two newcomers join the holder, one after the other; a third joins
    // the first newcomer only.
    net.add_peer(1, 0);
    assert!(net.run_until_converged(secs(30)).is_none(), "3 lacks all");
    net.add_peer(2, 0);
    net.run_for(secs(5));
    net.add_peer(3, 1);
    assert!(net.run_until_converged(secs(60)).is_some());
    net.assert_nothing_lost();
    // Until every chunk is acknowledged.
    net.run_for(secs(10));
    for i in 1..=3 {
        assert_eq!(net.nodes[i].stats().snapshots_received, 1, "node {i}");
    }
    assert_eq!(net.nodes[0].stats().snapshots_sent, 2);
    assert_eq!(net.nodes[1].stats().snapshots_sent, 1);
    // Nobody encoded another: the holder sent the one it made twice, and
    // the first newcomer sent the bytes it had loaded.
    for i in 0..=3 {
        assert_eq!(net.nodes[i].stats().snapshots_encoded, (i == 0) as u64);
    }
    // A change makes the next one anew.
    net.insert(0, 0, "more ");
    let before = net.nodes[0].snapshot_now();
    assert_eq!(net.nodes[0].stats().snapshots_encoded, 2);
    let loaded = rumor::Doc::decode_history(rumor::ReplicaId(9), &before).unwrap();
    assert_eq!(loaded.text(), net.text(0));
    assert!(std::sync::Arc::ptr_eq(
        &before,
        &net.nodes[0].snapshot_now()
    ));
}

#[test]
fn a_peer_that_has_most_of_the_document_gets_ops_not_a_snapshot() {
    let holder = long_history(1, 5000);
    let mut behind = holder.clone();
    // Same history, another replica id: it lacks only what comes next.
    behind = {
        let mut d = rumor::Doc::new(rumor::ReplicaId(2));
        for op in behind.ops_since(&rumor::VersionVector::new()) {
            d.apply(op).unwrap();
        }
        d
    };
    let mut net = protocol_harness::Net::with_docs(vec![holder, behind], 12, Config::default());
    net.add_peer(1, 0);
    net.run_for(ms(200));
    net.insert(0, 0, "fresh ");
    assert!(net.run_until_converged(secs(30)).is_some());
    assert_eq!(net.nodes[1].stats().snapshots_received, 0);
}

#[test]
fn lazy_announcements_repair_what_the_gossip_tree_misses() {
    // The three meet; then A's (0) datagrams to C (2) are lost, while C
    // still reaches A and B (1) reaches both. A hears C and C proved it
    // hears A, so A names C in its peer lists and B leaves A's ops to A:
    // in a group this small each author pushes to every member it reaches
    // and nobody relays to those. C can learn A's edits only from B's
    // announcements and a pull (anti-entropy is made too slow to help).
    // Without announcements, C stays behind.
    for lazy_fanout in [2, 0] {
        let config = Config {
            anti_entropy_interval: secs(600),
            peer_exchange_interval: secs(1),
            lazy_fanout,
            ..Config::default()
        };
        let mut net = Net::new(3, 21, config);
        net.add_peer(0, 1);
        net.add_peer(2, 1);
        net.run_for(secs(3));
        assert!(net.nodes[0].peers().iter().any(|p| p.addr == addr(2)));
        net.cut.insert((0, 2));
        net.run_for(secs(2));
        net.insert(0, 0, "hello");
        net.run_for(secs(3));
        assert_eq!(net.text(1), "hello");
        let repaired = net.text(2) == "hello";
        assert_eq!(repaired, lazy_fanout > 0, "lazy_fanout {lazy_fanout}");
    }
}

#[test]
fn a_member_relays_to_a_peer_the_author_does_not_reach() {
    // A (0) and C (2) cannot reach each other; B (1) reaches both. In a
    // group this small each author pushes to every member directly, so
    // nobody relayed: C learned A's edits only from B's announcements and
    // a pull, after up to a gossip interval and a pull delay. A never
    // names C in a peer list to B, so B passes A's ops on at once.
    let config = Config {
        anti_entropy_interval: secs(600),
        lazy_fanout: 0,
        ..Config::default()
    };
    let mut net = Net::new(3, 21, config);
    net.partition(&[0], &[2]);
    net.add_peer(0, 1);
    net.add_peer(2, 1);
    net.run_for(secs(2));
    net.insert(0, 0, "hello");
    // Two hops of 10 ms, and B's ack delay at most.
    net.run_for(ms(60));
    assert_eq!(net.text(2), "hello");
    // And back: B relays C's edits to A too.
    net.insert(2, 5, " you");
    net.run_for(ms(60));
    assert_eq!(net.text(0), "hello you");
}

/// A newcomer that asked again (its anti-entropy tick: a digest lacking
/// everything and a `Join`) while a snapshot was on its way: that ask,
/// arriving after the snapshot was delivered, does not start a second one.
#[test]
fn an_ask_sent_before_a_snapshot_landed_does_not_start_another() {
    use rumor::node::{Node, Time};
    let (holder_addr, newcomer_addr) = (addr(0), addr(1));
    let mut holder = Node::new(
        long_history(1, 5000),
        Config::default(),
        ChaCha8Rng::seed_from_u64(1),
        Time(0),
    );
    // It asks again every 1.5 ms: during the transfer.
    let eager = Config {
        anti_entropy_interval: Duration::from_micros(1500),
        ..Config::default()
    };
    let mut newcomer = Node::new(
        rumor::Doc::new(rumor::ReplicaId(2)),
        eager,
        ChaCha8Rng::seed_from_u64(2),
        Time(0),
    );
    let mut now = Time::from_millis(1);
    newcomer.add_peer(now, holder_addr);
    let mut late = Vec::new();
    let mut datagrams = 0;
    for _ in 0..5000 {
        now += Duration::from_micros(100);
        while let Some(t) = newcomer.poll_transmit() {
            if (20..40).contains(&datagrams) {
                // Held back (asks and acks alike), to arrive late.
                late.push(t.bytes);
            } else {
                holder.handle_datagram(now, newcomer_addr, &t.bytes);
            }
        }
        holder.handle_timeout(now);
        // One datagram of the holder's at a time.
        if let Some(t) = holder.poll_transmit() {
            newcomer.handle_datagram(now, holder_addr, &t.bytes);
            datagrams += 1;
        }
        newcomer.handle_timeout(now);
        if holder.stats().snapshots_sent == 1 {
            break;
        }
    }
    assert_eq!(newcomer.stats().snapshots_received, 1);
    assert_eq!(holder.stats().snapshots_sent, 1, "delivered");
    for bytes in &late {
        holder.handle_datagram(now, newcomer_addr, bytes);
    }
    for _ in 0..300 {
        now += Duration::from_millis(1);
        while let Some(t) = holder.poll_transmit() {
            newcomer.handle_datagram(now, holder_addr, &t.bytes);
        }
        while let Some(t) = newcomer.poll_transmit() {
            holder.handle_datagram(now, newcomer_addr, &t.bytes);
        }
        holder.handle_timeout(now);
        newcomer.handle_timeout(now);
    }
    assert_eq!(newcomer.doc().text(), holder.doc().text());
    assert_eq!(holder.stats().snapshots_sent, 1, "no second snapshot");
    assert_eq!(newcomer.stats().snapshots_received, 1, "no second snapshot");
}

#[test]
fn a_peer_restarted_with_a_multi_megabyte_document_re_sends_none_of_it() {
    // Node 0 pasted 3 MB (ASCII and multi-byte chars); node 1 has it all.
    let mut pasted = rumor::Doc::new(rumor::ReplicaId(0x51));
    let mut rng = ChaCha8Rng::seed_from_u64(30);
    let alphabet: Vec<char> = "abcdefghijklmnopqrstuvwxyz .,\n→üïöé😀".chars().collect();
    let text: String = (0..2_600_000)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())])
        .collect();
    pasted.insert(0, &text).unwrap();
    let snapshot = pasted.encode_snapshot();
    assert!(pasted.text().len() > 3_000_000);
    let other = rumor::Doc::decode_history(rumor::ReplicaId(0x52), &snapshot).unwrap();
    let mut net = Net::with_docs(vec![pasted, other], 31, Config::default());
    net.add_peer(0, 1);
    net.run_for(secs(3));
    assert_eq!(
        net.nodes[0].doc().version_ref(),
        net.nodes[1].doc().version_ref()
    );
    // Node 0 exits and restarts from its log, compacted into a snapshot:
    // same replica, fresh protocol state, nothing known about its peers.
    let doc = rumor::Doc::decode_history(rumor::ReplicaId(0x51), &snapshot).unwrap();
    net.nodes[0] = rumor::node::Node::new(
        doc,
        Config::default(),
        ChaCha8Rng::seed_from_u64(3),
        net.now,
    );
    let received_before = net.nodes[1].stats().ops_received;
    let sent_before = net.nodes[1].stats().bytes_sent;
    net.add_peer(0, 1);
    net.run_for(secs(3));
    let restarted = net.nodes[0].stats();
    assert_eq!(restarted.ops_sent, 0, "the restarted node re-sent ops");
    assert!(
        restarted.bytes_sent < 2_000,
        "the restarted node sent {} bytes",
        restarted.bytes_sent
    );
    assert_eq!(net.nodes[1].stats().ops_received, received_before);
    assert!(net.nodes[1].stats().bytes_sent - sent_before < 2_000);
    // And it still pushes what is new.
    net.insert(0, 0, "after the restart ");
    net.run_for(secs(1));
    assert!(net.converged());
    assert!(net.text(1).starts_with("after the restart "));
}

#[test]
fn a_restarted_founder_whose_peer_has_its_document_is_not_sent_a_snapshot() {
    // The driver starts a replica with only its own ops and a peer as a
    // newcomer (`joining`): so does a founder that restarts after its peer
    // got everything. The peer has its document: no snapshot, no new id.
    let mut founder = rumor::Doc::new(rumor::ReplicaId(0x61));
    let mut rng = ChaCha8Rng::seed_from_u64(61);
    let text: String = (0..300_000)
        .map(|_| char::from(b'a' + rng.random_range(0..26u8)))
        .collect();
    founder.insert(0, &text).unwrap();
    let snapshot = founder.encode_snapshot();
    let other = rumor::Doc::decode_history(rumor::ReplicaId(0x62), &snapshot).unwrap();
    let mut net = Net::with_docs(vec![founder, other], 32, Config::default());
    net.add_peer(0, 1);
    net.run_for(secs(3));
    let doc = rumor::Doc::decode_history(rumor::ReplicaId(0x61), &snapshot).unwrap();
    let joining = Config {
        joining: true,
        ..Config::default()
    };
    net.nodes[0] = rumor::node::Node::new(doc, joining, ChaCha8Rng::seed_from_u64(4), net.now);
    let sent_before = net.nodes[1].stats().bytes_sent;
    net.add_peer(0, 1);
    net.run_for(secs(5));
    assert!(net.nodes[0].is_joined());
    assert_eq!(
        net.nodes[0].replica(),
        rumor::ReplicaId(0x61),
        "not renamed"
    );
    assert_eq!(net.nodes[1].stats().snapshots_sent, 0);
    let sent = net.nodes[1].stats().bytes_sent - sent_before;
    assert!(
        sent < 2_000,
        "the peer sent {sent} bytes to the restarted founder"
    );
    net.insert(0, 0, "still the founder ");
    net.insert(1, 0, "and its peer ");
    net.run_for(secs(1));
    assert!(net.converged());
}

#[test]
fn retransmissions_keep_their_pace_while_the_peer_is_heard() {
    // Node 0's datagrams to 1 are lost; 1's reach 0 (its pings, as it
    // hears nothing from 0). The peer is plainly alive, so 0 resends its
    // op once per RTO instead of doubling the wait each time, and the op
    // arrives about one RTO after the path heals.
    let mut net = Net::new(2, 16, Config::default());
    net.add_peer(0, 1);
    net.run_for(secs(2));
    net.cut.insert((0, 1));
    net.insert(0, 0, "x");
    net.run_for(secs(6));
    let resent = net.nodes[0].stats().retransmits;
    // Doubling from 200 ms would resend 4 or 5 times in 6 s.
    assert!(resent >= 20, "{resent} retransmissions in 6 s");
    net.heal();
    net.run_for(ms(400));
    assert_eq!(net.text(1), "x", "resent within an RTO of the heal");
    net.assert_nothing_lost();
}

#[test]
fn retransmissions_back_off_while_the_peer_is_silent() {
    // Both ways cut: nothing is heard from 1, so 0 backs off (RFC 6298).
    let mut net = Net::new(2, 17, Config::default());
    net.add_peer(0, 1);
    net.run_for(secs(2));
    net.partition(&[0], &[1]);
    net.insert(0, 0, "x");
    net.run_for(secs(6));
    let resent = net.nodes[0].stats().retransmits;
    // Once silent for a ping interval, each wait doubles: a handful in
    // all, never one per RTO (that would be about 30).
    assert!(
        (2..=10).contains(&resent),
        "{resent} retransmissions in 6 s"
    );
    net.heal();
    assert!(net.run_until_converged(secs(20)).is_some());
    net.assert_nothing_lost();
}

#[test]
fn a_lost_last_datagram_is_resent_after_the_measured_timeout() {
    // Links of 10 ms (20 ms round trips), both nodes typing, then node
    // 0's datagram with "b" is lost and nothing follows it (no later ack
    // can reveal the loss), so only its timeout finds it: SRTT + 4 RTTVAR
    // + the peer's ack delay, at least 50 ms, not a fixed 200 ms floor
    // (which made every try on a lossy link cost ten round trips).
    let mut net = Net::new(2, 18, Config::default());
    net.add_peer(0, 1);
    for k in 0..10 {
        net.insert(k % 2, 0, "a");
        net.run_for(ms(100));
    }
    assert!(net.converged());
    net.cut.insert((0, 1));
    net.insert(0, 0, "b");
    net.heal();
    let took = net.run_until_converged(secs(1)).expect("converged");
    // (60 ms here; 90 ms with the 200 ms floor, where the peer's own
    // traffic repaired it first.)
    assert!(took < ms(80), "\"b\" arrived after {took:?}");
    assert_eq!(net.nodes[0].stats().retransmits, 1);
    net.assert_nothing_lost();
}

#[test]
fn an_unanswered_challenge_goes_again_before_the_next_ping() {
    // With a group key, peers prove themselves with a challenge first.
    // Both first challenges are lost: each goes again after a quarter of
    // the initial timeout (nothing is measured yet), not a ping interval
    // later, and the edit made meanwhile follows at once.
    let config = Config {
        key: Some(rumor::wire::GroupKey::from_secret(&[9; 32])),
        epoch: 1,
        ..Config::default()
    };
    let mut net = Net::new(2, 19, config);
    net.partition(&[0], &[1]);
    net.add_peer(0, 1);
    net.add_peer(1, 0);
    net.insert(0, 0, "x");
    net.run_for(ms(100));
    net.heal();
    net.run_for(ms(400));
    assert_eq!(net.text(1), "x", "still not through 500 ms after the start");
    net.assert_nothing_lost();
}

/// A configured peer never heard from is pinged again after a short
/// timeout, not a ping interval (1 s) later: one lost first ping costs a
/// quarter of `initial_rto`, not a second.
#[test]
fn a_lost_first_ping_to_a_configured_peer_goes_again_soon() {
    let mut net = Net::new(2, 3, Config::default());
    net.partition(&[0], &[1]);
    net.add_peer(0, 1);
    net.run_for(ms(100));
    net.heal();
    net.run_for(ms(400));
    assert!(
        net.events[1].contains(&Event::PeerUp(addr(0))),
        "the second ping arrived before a ping interval"
    );
    // It backs off while silent: a dead address gets few tries (each a
    // datagram that goes five times, see
    // `a_first_contact_try_goes_as_five_copies`).
    let mut net = Net::new(2, 3, Config::default());
    net.partition(&[0], &[1]);
    net.trace = Some(Vec::new());
    net.add_peer(0, 1);
    net.run_for(secs(10));
    let trace = net.trace.take().unwrap_or_default();
    let mut tries: Vec<&str> = trace
        .iter()
        .filter_map(|l| l.split_whitespace().nth(5))
        .collect();
    tries.dedup();
    assert!(tries.len() <= 14, "{} tries in 10 s", tries.len());
    assert!(
        net.dropped as usize <= 5 * tries.len(),
        "{} datagrams",
        net.dropped
    );
}

/// Node 0 holds "the group's text"; node 1 is a newcomer (`joining`)
/// not yet told of it.
fn holder_and_newcomer() -> Net {
    let mut holder = rumor::Doc::new(rumor::ReplicaId(1));
    holder.insert(0, "the group's text").unwrap();
    let newcomer = rumor::Doc::new(rumor::ReplicaId(2));
    let joining = Config {
        joining: true,
        ..Config::default()
    };
    let configs = vec![Config::default(), joining];
    Net::with_configs(vec![holder, newcomer], 5, configs)
}

/// A newcomer's first-contact retry carries its hello and digest beside
/// its `Join`, and goes as copies: whichever arrives is answered and starts the
/// join by itself. (A bare `Join` and ping, 18 bytes, was below the
/// smallest answer the member may send an address it has not verified, so
/// a newcomer whose first datagram was lost waited for its third try.)
#[test]
fn a_newcomers_retry_is_answered_by_itself() {
    let mut net = holder_and_newcomer();
    // Its first try is lost; the second (after 250 ms) arrives.
    net.cut.insert((1, 0));
    net.add_peer(1, 0);
    net.run_for(ms(100));
    net.cut.clear();
    net.run_for(ms(300));
    assert_eq!(net.text(1), "the group's text", "joined on its second try");
    assert!(
        net.nodes[0].stats().duplicates >= 1,
        "the try went twice: {:?}",
        net.nodes[0].stats()
    );
    net.assert_nothing_lost();
}

/// A newcomer whose first ask is lost asks again soon: it holds the
/// group's text before a ping interval.
#[test]
fn a_newcomer_whose_first_ask_is_lost_asks_again_soon() {
    let mut net = holder_and_newcomer();
    net.partition(&[0], &[1]);
    net.add_peer(1, 0);
    net.run_for(ms(100));
    net.heal();
    net.run_for(ms(800));
    assert_eq!(net.text(1), "the group's text");
    net.assert_nothing_lost();
}

/// A peer not measured yet is timed by the path: once a node has measured
/// a round trip to one peer, what it sends a new one waits that long for
/// an ack (RFC 9002, 6.2.2), not the initial 1 s. Here 0 and 2 add each
/// other, and 0's first datagrams to 2 (its edit among them) are lost.
#[test]
fn what_a_new_peer_lost_goes_again_after_the_paths_timeout() {
    let mut net = Net::new(3, 8, Config::default());
    net.add_peer(1, 0);
    net.run_for(secs(1));
    assert!(net.nodes[0].peers()[0].rtt.is_some(), "a path measured");
    net.insert(0, 0, "x");
    net.run_for(ms(100));
    net.cut.insert((0, 2));
    net.add_peer(0, 2);
    net.add_peer(2, 0);
    net.run_for(ms(40));
    net.cut.clear();
    // (2 pings again only 250 ms after its first try, and 0 hears 2, so
    // it does not ping it sooner.)
    net.run_for(ms(110));
    assert_eq!(
        net.text(2),
        "x",
        "0's lost datagrams went again within the path's timeout"
    );
}

/// A peer both were told of only by a third is introduced to each at
/// once, not at the next peer exchange (10 s later): in a small group
/// nobody carries an author's ops to members it does not know.
#[test]
fn a_new_peer_is_introduced_to_the_others_at_once() {
    let mut net = Net::new(3, 9, Config::default());
    // 0 and 2 know only 1, and cannot reach each other (so they cannot
    // meet by themselves either).
    net.partition(&[0], &[2]);
    net.add_peer(0, 1);
    net.add_peer(2, 1);
    net.run_for(secs(1));
    let knows =
        |net: &Net, i: usize, j: usize| net.nodes[i].peers().iter().any(|p| p.addr == addr(j));
    assert!(knows(&net, 0, 2), "0 was told of 2");
    assert!(knows(&net, 2, 0), "2 was told of 0");
}

/// The datagram of replica 7 (in the clear) numbered `packet`: a hello
/// with a one-letter name and a ping, the smallest first contact.
fn small_probe(packet: u64) -> Vec<u8> {
    use rumor::wire::{encode, Frame, Header};
    let header = Header {
        document: 0,
        sender: rumor::ReplicaId(7),
        packet,
    };
    encode(
        &header,
        &[
            // Sessions are drawn at random: most take the varint's 9 or 10 bytes.
            Frame::Hello {
                session: 0x9e37_79b9_7f4a_7c15,
                name: "c".into(),
            },
            Frame::Ping,
        ],
    )
}

/// A node (replica 1, default config) on its own, driven by hand: the
/// tests below write its datagrams and read what it sends.
fn lone_node() -> rumor::node::Node {
    rumor::node::Node::new(
        rumor::Doc::new(rumor::ReplicaId(1)),
        Config::default(),
        ChaCha8Rng::seed_from_u64(1),
        rumor::node::Time(0),
    )
}

/// An address that wrote first (not verified: it gets no more bytes than
/// it sent) is answered even when it sent the smallest probe, and every
/// answer asks for an ack (a bare ack earns none, and only an ack
/// verifies it): first contacts of real peers with one-letter names went
/// unanswered, and acks alone never ended the limit.
#[test]
fn an_unverified_address_gets_answers_that_ask_for_an_ack() {
    use rumor::node::Time;
    use rumor::wire::decode;
    let mut node = lone_node();
    let stranger = addr(5);
    let mut now = Time(0);
    for packet in 0..6 {
        let probe = small_probe(packet);
        assert_eq!(probe.len(), 30);
        node.handle_datagram(now, stranger, &probe);
        now += ms(5);
        node.handle_timeout(now);
        let mut answers = 0;
        while let Some(t) = node.poll_transmit() {
            assert_eq!(t.to, stranger);
            let (_, frames) = decode(&t.bytes).expect("decodes");
            assert!(
                frames.iter().any(|f| f.is_ack_eliciting()),
                "answer {packet} asks for nothing: {frames:?}"
            );
            answers += 1;
        }
        assert!(answers > 0 || packet > 0, "the first probe went unanswered");
    }
    assert!(node.stats().datagrams_sent >= 3, "{:?}", node.stats());
}

/// An address that wrote first and is not verified yet gets only what
/// earns the ack that verifies it (an ack and a ping), twice when what it
/// sent pays for both: one lost answer no longer costs the newcomer its
/// next try, and the rest (hello, digest, peer list) waits for that ack.
#[test]
fn an_unverified_address_is_answered_twice_within_what_it_sent() {
    use rumor::node::Time;
    use rumor::wire::{decode, encode, Frame, Header};
    let mut node = lone_node();
    let header = Header {
        document: 0,
        sender: rumor::ReplicaId(7),
        packet: 0,
    };
    let session = 0x9e37_79b9_7f4a_7c15;
    // (A name of five letters: the answer's packet number takes two
    // bytes, its two copies 48, see `FIRST_PACKET_SPAN`.)
    let name = "carol".to_string();
    // A newcomer's try: its hello, its digest (its own ops), a `Join`.
    let mut version = rumor::doc::VersionVector::new();
    version.set(rumor::ReplicaId(0x1234_5678_9abc), 17);
    let digest = rumor::wire::DigestFrame {
        scope: None,
        version,
        reply: true,
        members: Vec::new(),
    };
    let hello = Frame::Hello { session, name };
    let frames = [hello, Frame::Join, Frame::Digest(digest), Frame::Ping];
    let try_ = encode(&header, &frames);
    node.handle_datagram(Time(0), addr(5), &try_);
    let answers: Vec<Vec<u8>> = std::iter::from_fn(|| node.poll_transmit())
        .map(|t| t.bytes)
        .collect();
    assert_eq!(answers.len(), 2, "answered twice");
    assert!(2 * answers[0].len() <= try_.len(), "within what it sent");
    assert_eq!(answers[0], answers[1], "the same answer");
    let (_, frames) = decode(&answers[0]).expect("decodes");
    assert!(
        frames
            .iter()
            .all(|f| matches!(f, Frame::Ack(_) | Frame::Ping)),
        "{frames:?}"
    );
    let sent: usize = answers.iter().map(Vec::len).sum();
    assert!(sent <= try_.len(), "{sent} bytes for {}", try_.len());
}

/// In the clear, a first-contact try goes as five copies (each about 45
/// bytes, 230 in all: a fifth of the 1200 bytes a QUIC client's first
/// datagram is padded to), so that at heavy loss (51% a datagram) one try
/// arrives with about 0.97 instead of 0.74, and its sender has paid for
/// more than one answer (the first four tries only); the tries still back
/// off while the peer is silent.
#[test]
fn a_first_contact_try_goes_as_five_copies() {
    use rumor::node::Time;
    let mut node = lone_node();
    assert!(node.add_peer(Time(0), addr(5)));
    let mut now = Time(0);
    let mut tries = Vec::new();
    let mut copies = Vec::new();
    while tries.len() < 6 {
        let sent: Vec<_> = std::iter::from_fn(|| node.poll_transmit()).collect();
        if !sent.is_empty() {
            assert!(sent
                .iter()
                .all(|t| t.to == addr(5) && t.bytes == sent[0].bytes));
            copies.push(sent.len());
            tries.push(now);
        }
        now = node.poll_timeout().expect("a retry is timed");
        node.handle_timeout(now);
    }
    // The first four tries go five times; later ones to a peer still
    // silent twice, as before.
    assert_eq!(copies, [5, 5, 5, 5, 2, 2]);
    let waits: Vec<Duration> = tries.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(waits[1] > waits[0] && waits[2] > waits[1], "{waits:?}");
}

/// The first round-trip sample of a path takes the peer's whole ack delay
/// off (RFC 9002 ignores max_ack_delay before the handshake is confirmed):
/// a newcomer repeats its first ack until one arrives, so the copy that
/// arrives may say it was held 300 ms. Capped at 10 ms, that lateness set
/// the path's timeout near a second, and what was lost next waited it.
#[test]
fn a_late_first_ack_does_not_make_a_long_round_trip() {
    use rumor::node::Time;
    use rumor::wire::{decode, encode, AckFrame, Frame, Header};
    let mut node = lone_node();
    assert!(node.add_peer(Time(0), addr(5)));
    let first = decode(&node.poll_transmit().expect("a first try").bytes)
        .expect("decodes")
        .0
        .packet;
    while node.poll_transmit().is_some() {}
    let header = Header {
        document: 0,
        sender: rumor::ReplicaId(7),
        packet: 0,
    };
    let ack = Frame::Ack(AckFrame {
        largest: first,
        delay_us: 300_000,
        first: 0,
        ranges: Vec::new(),
    });
    let now = Time::ZERO + ms(301);
    node.handle_datagram(now, addr(5), &encode(&header, &[ack, Frame::Ping]));
    let rtt = node.peers()[0].rtt.expect("measured");
    assert!(rtt < ms(10), "{rtt:?}");
}

/// A peer list names only peers shown to hear its sender: here 2 writes
/// to 1, but nothing of 1's reaches 2. Named anyway, 2 would be probed by
/// 0, and 0 would take it that 1 reaches 2 and leave 1's ops to 1
/// (`relay.rs`), so 2 would get them only from anti-entropy.
#[test]
fn a_peer_list_names_only_peers_that_hear_us() {
    let mut net = Net::new(3, 11, Config::default());
    net.add_peer(0, 1);
    net.run_for(secs(1));
    net.cut.insert((1, 2));
    net.add_peer(2, 1);
    // Past a peer-exchange round (10 s).
    net.run_for(secs(12));
    let knows_2 = |net: &Net| net.nodes[0].peers().iter().any(|p| p.addr == addr(2));
    assert!(!knows_2(&net), "{:?}", net.nodes[0].peers());
    net.cut.clear();
    net.run_for(secs(12));
    assert!(knows_2(&net), "named once it hears 1");
}

/// A learned address whose probe (or answer) was lost is probed again
/// while its silence is short: here 0 and 2 learn of each other from 1,
/// and both first probes are lost. They met only once each forgot the
/// other (10 s) and heard of it again.
#[test]
fn a_learned_address_is_probed_again_while_it_is_silent() {
    let mut net = Net::new(3, 12, Config::default());
    net.partition(&[0], &[2]);
    net.add_peer(0, 1);
    net.add_peer(2, 1);
    net.run_for(ms(500));
    let knows = |net: &Net| {
        net.nodes[0]
            .peers()
            .iter()
            .any(|p| p.addr == addr(2) && p.last_heard.is_some())
    };
    assert!(!knows(&net));
    net.heal();
    net.run_for(secs(3));
    assert!(knows(&net), "{:?}", net.nodes[0].peers());
}

/// An ack of an answer we had already given up as lost still verifies the
/// address: at heavy loss a newcomer's ack often arrives after our
/// answer's timeout, and ignored, it left the newcomer answered with acks
/// only until a later ack beat the timeout.
#[test]
fn a_late_ack_still_verifies_the_address() {
    use rumor::node::Time;
    use rumor::wire::{decode, encode, AckFrame, Frame, Header};
    let mut node = lone_node();
    let header = |packet| Header {
        document: 0,
        sender: rumor::ReplicaId(7),
        packet,
    };
    let hello = Frame::Hello {
        session: 0x9e37_79b9_7f4a_7c15,
        name: "c".to_string(),
    };
    let try_ = encode(&header(0), &[hello, Frame::Join, Frame::Ping]);
    node.handle_datagram(Time(0), addr(5), &try_);
    let answers: Vec<Vec<u8>> = std::iter::from_fn(|| node.poll_transmit())
        .map(|t| t.bytes)
        .collect();
    let (answer, _) = decode(&answers[0]).expect("decodes");
    // Past the answer's timeout (the initial 1 s, backed off: no path is
    // measured yet): it is given up as lost.
    let mut now = Time(0);
    while now < Time::ZERO + ms(2500) {
        now = node.poll_timeout().expect("timed").max(Time(now.0 + 1));
        node.handle_timeout(now);
        while node.poll_transmit().is_some() {}
    }
    let ack = Frame::Ack(AckFrame {
        largest: answer.packet,
        delay_us: 0,
        first: 0,
        ranges: Vec::new(),
    });
    node.handle_datagram(now, addr(5), &encode(&header(1), &[ack, Frame::Ping]));
    let frames: Vec<Frame> = std::iter::from_fn(|| node.poll_transmit())
        .flat_map(|t| decode(&t.bytes).expect("decodes").1)
        .collect();
    assert!(
        frames.iter().any(|f| matches!(f, Frame::Snapshot(_))),
        "verified: its Join is served {frames:?}"
    );
}

/// A peer list lost on the way goes again (after a timeout, not at the
/// next peer exchange): here 1's introduction of 2 to 0 is lost.
#[test]
fn a_lost_introduction_goes_again() {
    let mut net = Net::new(3, 10, Config::default());
    net.partition(&[0], &[2]);
    net.add_peer(0, 1);
    net.run_for(secs(1));
    net.cut.insert((1, 0));
    net.add_peer(2, 1);
    net.run_for(ms(100));
    let knows_2 = |net: &Net| net.nodes[0].peers().iter().any(|p| p.addr == addr(2));
    assert!(!knows_2(&net), "the introduction was lost");
    net.cut.remove(&(1, 0));
    net.run_for(ms(400));
    assert!(knows_2(&net), "0 was told of 2 again");
}

/// The real-process cold start of issue 20 (`loss_tail_from_a_cold_start`
/// in tests/program.rs) in the harness: a founder (0) and two newcomers
/// given only it (1 and 2, started 20 and 40 ms later), 50 edits in turn
/// 3 ms apart from 60 ms on, each datagram lost with 51% (30% on send and
/// 30% on receive), loopback delays. Prints how long after the last edit
/// each seed converged, and how many within 2 s.
/// `cargo test --test protocol -- --ignored --nocapture cold_start_model`
/// (`COLD_START_TRACE=seed` prints every datagram of that seed).
#[test]
#[ignore]
fn cold_start_model() {
    let seeds: u64 = std::env::var("COLD_START_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let trace_seed: Option<u64> = std::env::var("COLD_START_TRACE")
        .ok()
        .and_then(|s| s.parse().ok());
    let mut times = Vec::new();
    for seed in 0..seeds {
        let (took, trace) = cold_start_once(seed, trace_seed == Some(seed));
        if let Some(trace) = trace {
            for line in trace {
                println!("{line}");
            }
        }
        times.push(took);
    }
    let slow: Vec<String> = (0..seeds)
        .filter(|&s| times[s as usize] > secs(2))
        .map(|s| format!("{s}:{:.1}", times[s as usize].as_secs_f64()))
        .collect();
    println!("slow seeds: {}", slow.join(" "));
    let within = times.iter().filter(|t| **t <= secs(2)).count();
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize].as_secs_f64();
    println!(
        "{within} of {seeds} within 2 s ({:.1}%); median {:.2} s, p90 {:.2} s, worst {:.2} s",
        100.0 * within as f64 / seeds as f64,
        at(0.5),
        at(0.9),
        at(1.0)
    );
}

/// One cold start of `cold_start_model`: how long after the last edit it
/// converged, and its trace if asked for.
fn cold_start_once(seed: u64, trace: bool) -> (Duration, Option<Vec<String>>) {
    let docs = (1..=3).map(|r| rumor::Doc::new(rumor::ReplicaId(r * 0x1234_5678_9abc)));
    let docs: Vec<rumor::Doc> = docs.collect();
    let founder = Config {
        document: rumor::node::new_document(docs[0].replica()),
        ..Config::default()
    };
    let newcomer = Config {
        joining: true,
        ..Config::default()
    };
    let configs = vec![founder, newcomer.clone(), newcomer];
    let mut net = Net::with_configs(docs, seed, configs);
    net.faults.loss = 0.51;
    net.faults.delay_min = Duration::from_micros(100);
    net.faults.delay_max = Duration::from_micros(600);
    if trace {
        net.trace = Some(Vec::new());
    }
    net.run_for(ms(20));
    net.add_peer(1, 0);
    net.run_for(ms(20));
    net.add_peer(2, 0);
    net.run_for(ms(20));
    for k in 0..50 {
        net.insert(k % 3, 0, &format!("<{k}>"));
        net.run_for(ms(3));
    }
    let start = net.now;
    let mut joined = [None, None];
    let limit = start + secs(120);
    while !net.converged() {
        assert!(net.step(limit), "converges");
        for (i, j) in joined.iter_mut().enumerate() {
            if j.is_none() && net.nodes[i + 1].is_joined() {
                *j = Some(net.now);
            }
        }
    }
    let took = net.now - start;
    if std::env::var_os("COLD_START_JOINS").is_some() && took > secs(2) {
        let at = |t: Option<rumor::node::Time>| t.map_or(-1.0, |t| (t - start).as_secs_f64());
        println!(
            "seed {seed}: joined {:.2} and {:.2}, converged {:.2} s after the last edit",
            at(joined[0]),
            at(joined[1]),
            took.as_secs_f64()
        );
    }
    if let Some(t) = &mut net.trace {
        t.push(format!(
            "seed {seed}: converged {:.2} s after the last edit",
            took.as_secs_f64()
        ));
    }
    (took, net.trace.take())
}
