//! The decoder never allocates more than the datagram's size justifies,
//! whatever lengths the bytes claim. Measured with a counting allocator
//! (its own test binary, one test, so nothing else allocates meanwhile).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use rumor::doc::{Id, IdSpan, Op, OpKind, ReplicaId, TargetSpan};
use rumor::wire::{self, Frame, Header};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
        PEAK.fetch_max(live, Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            let live = LIVE.fetch_add(new_size - layout.size(), Relaxed) + new_size - layout.size();
            PEAK.fetch_max(live, Relaxed);
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Peak bytes allocated (above what was live before) while decoding `bytes`.
fn peak_decoding(bytes: &[u8]) -> usize {
    let base = LIVE.load(Relaxed);
    PEAK.store(base, Relaxed);
    let result = wire::decode(bytes);
    let peak = PEAK.load(Relaxed) - base;
    drop(result);
    peak
}

/// What a datagram of `len` bytes may cost to decode: a bounded factor of
/// its size (decoded structs are larger than their varints: a full datagram
/// of one-char ops measured about 19 bytes per byte) plus a constant.
fn budget(len: usize) -> usize {
    32 * len + 1024
}

fn header() -> Header {
    Header {
        document: 0,
        sender: ReplicaId(9),
        packet: 1,
    }
}

#[test]
fn decoding_allocates_in_proportion_to_the_datagram() {
    // 1. Hostile length prefixes: a delete op claiming a billion targets,
    //    a peer list and a digest claiming as many, a string claiming 4 GB.
    let mut hostile = Vec::new();
    for frame_tag in [5u8, 4, 3, 2] {
        let mut payload = vec![frame_tag];
        match frame_tag {
            // Op, Delete, id Sender(0), then the target count.
            5 => payload.extend_from_slice(&[1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]),
            // Digest: no scope, then the entry count.
            3 => payload.extend_from_slice(&[0, 0xff, 0xff, 0xff, 0xff, 0x0f]),
            // Hello: session 0, then the name's length.
            2 => payload.extend_from_slice(&[0, 0xff, 0xff, 0xff, 0xff, 0x0f]),
            // Peers: the address count.
            _ => payload.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]),
        }
        payload.extend_from_slice(&[7; 20]);
        let mut bytes = Vec::new();
        wire::seal(&header(), &payload, &mut bytes);
        hostile.push(bytes);
    }
    for bytes in &hostile {
        assert!(wire::decode(bytes).is_err());
        let peak = peak_decoding(bytes);
        assert!(
            peak <= budget(bytes.len()),
            "hostile {bytes:?}: {peak} bytes"
        );
    }

    // 2. Valid full datagrams: many small ops, a long delete, a long text.
    let mut valid = Vec::new();
    let mut b = wire::DatagramBuilder::new(header(), 1200);
    let mut c = 0;
    while b.push(&Frame::Op(Op {
        id: Id::new(ReplicaId(3), c),
        kind: OpKind::Insert {
            left: None,
            right: None,
            text: "x".into(),
        },
    })) {
        c += 1;
    }
    valid.push(b.finish());
    let targets: Vec<TargetSpan> = (0..300)
        .map(|i| TargetSpan::forward(IdSpan::new(Id::new(ReplicaId(1), i * 2), 1)))
        .collect();
    let delete = Frame::Op(Op {
        id: Id::new(ReplicaId(2), 1000),
        kind: OpKind::Delete { targets },
    });
    valid.push(wire::encode(&header(), &[delete]));
    for bytes in &valid {
        assert!(wire::decode(bytes).is_ok());
        let peak = peak_decoding(bytes);
        assert!(
            peak <= budget(bytes.len()),
            "valid: {peak} bytes for {}",
            bytes.len()
        );
    }

    // 3. Mutations of those, and random bytes behind a valid header
    //    (proptest, run by hand: one test, so nothing else allocates).
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 3000,
        ..ProptestConfig::default()
    });
    let mutated = (
        0..valid.len(),
        proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
    );
    runner
        .run(&mutated, |(which, edits)| {
            let mut bytes = valid[which].clone();
            for (at, value) in edits {
                let at = at % bytes.len();
                bytes[at] = value;
            }
            let peak = peak_decoding(&bytes);
            prop_assert!(peak <= budget(bytes.len()), "mutated: {} bytes", peak);
            Ok(())
        })
        .unwrap();
    let random = proptest::collection::vec(any::<u8>(), 0..1200);
    runner
        .run(&random, |payload| {
            let mut bytes = Vec::new();
            wire::seal(&header(), &payload, &mut bytes);
            let peak = peak_decoding(&bytes);
            prop_assert!(peak <= budget(bytes.len()), "random: {} bytes", peak);
            Ok(())
        })
        .unwrap();
}
