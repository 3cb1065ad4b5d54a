//! Wire unit tests and decoder properties.

use std::net::{Ipv4Addr, SocketAddr};

use proptest::prelude::*;

use super::*;
use crate::doc::{Doc, Id, Op, OpKind, ReplicaId, TargetSpan, VersionVector};

fn header() -> Header {
    Header {
        document: 0,
        sender: ReplicaId(0xdead_beef_1234_5678),
        packet: 300,
    }
}

fn insert(replica: u64, counter: u64, text: &str) -> Op {
    Op {
        id: Id::new(ReplicaId(replica), counter),
        kind: OpKind::Insert {
            left: Some(Id::new(ReplicaId(7), 3)),
            right: None,
            text: text.into(),
        },
    }
}

fn sample_frames() -> Vec<Frame> {
    vec![
        Frame::Ack(AckFrame {
            largest: 90,
            delay_us: 1500,
            first: 3,
            ranges: vec![AckRange { gap: 2, len: 4 }],
        }),
        Frame::Ping,
        Frame::Hello {
            session: 77,
            name: "ann".into(),
        },
        Frame::Digest(DigestFrame {
            members: Vec::new(),
            scope: Some((ReplicaId(1), ReplicaId(9))),
            version: [(ReplicaId(2), 40), (ReplicaId(5), 1)]
                .into_iter()
                .collect(),
            reply: true,
        }),
        Frame::Peers(vec![SocketAddr::from((Ipv4Addr::LOCALHOST, 4000))]),
        Frame::Have(vec![(ReplicaId(2), 40), (ReplicaId(u64::MAX), 1)]),
        Frame::Gone(vec![(ReplicaId(3), 7)]),
        Frame::Join,
        Frame::Tag(TagFrame {
            name: "v1.0".into(),
            version: [(ReplicaId(2), 40), (ReplicaId(5), 1)]
                .into_iter()
                .collect(),
            by: ReplicaId(5),
            unix_ms: 1_796_083_199_000,
        }),
        Frame::Op(insert(3, 10, "héllo")),
        Frame::Presence(PresenceFrame {
            session: 9,
            seq: 4,
            name: "bob".into(),
            cursor: Some(Id::new(ReplicaId(3), 12)),
            leaving: false,
            anchor: Some(None),
            more: vec![
                CursorRange {
                    cursor: None,
                    anchor: Some(Some(Id::new(ReplicaId(3), 2))),
                },
                CursorRange {
                    cursor: Some(Id::new(ReplicaId(u64::MAX), 7)),
                    anchor: None,
                },
            ],
        }),
        Frame::Op(Op {
            id: Id::new(ReplicaId(3), 15),
            kind: OpKind::Delete {
                targets: vec![TargetSpan {
                    start: Id::new(ReplicaId(7), 1),
                    len: 2,
                    backward: true,
                }],
            },
        }),
    ]
}

#[test]
fn every_frame_round_trips() {
    let frames = sample_frames();
    let bytes = encode(&header(), &frames);
    let (h, back) = decode(&bytes).unwrap();
    assert_eq!(h, header());
    assert_eq!(back, frames);
}

#[test]
fn ids_of_the_sender_and_back_references_are_compact() {
    let sender = ReplicaId(0xdead_beef_1234_5678);
    let typed = Frame::Op(Op {
        id: Id::new(sender, 5000),
        kind: OpKind::Insert {
            left: Some(Id::new(sender, 4999)),
            right: None,
            text: "x".into(),
        },
    });
    // tag, Insert, Sender(5000): 1+2, Back(1): 1+1, None: 1, text: 1+1.
    assert_eq!(encoded_len(&typed, sender), 10);
    // Relayed (another sender): the replica id is spelled out once.
    assert!(encoded_len(&typed, ReplicaId(1)) > 18);
    let h = Header {
        document: 0,
        sender,
        packet: 0,
    };
    assert_eq!(
        decode(&encode(&h, std::slice::from_ref(&typed))).unwrap().1,
        vec![typed]
    );
}

#[test]
fn back_references_past_zero_are_refused() {
    // Hand-made: an insert whose left is 5 counters before counter 2.
    let mut payload = Vec::new();
    for v in [5u8, 0, 0, 2, 1, 5, 0, 1, b'x'] {
        payload.push(v); // Op, Insert, Sender(2), Back(5), None, "x"
    }
    let mut bytes = Vec::new();
    seal(&header(), &payload, &mut bytes);
    assert!(decode(&bytes).is_err());
    payload[5] = 1; // Back(1): fine
    let mut bytes = Vec::new();
    seal(&header(), &payload, &mut bytes);
    assert!(decode(&bytes).is_ok());
}

#[test]
fn header_is_magic_version_sender_packet() {
    let bytes = encode(&header(), &[]);
    assert_eq!(&bytes[..2], &MAGIC);
    assert_eq!(bytes[2], VERSION);
    assert_eq!(&bytes[3..11], &0xdead_beef_1234_5678u64.to_le_bytes());
    assert_eq!(bytes.len(), HEADER_LEN + 2, "packet 300 is a 2-byte varint");
}

#[test]
fn other_versions_and_garbage_are_refused() {
    let mut bytes = encode(&header(), &sample_frames());
    bytes[2] = VERSION + 1;
    assert_eq!(decode(&bytes), Err(DecodeError::WrongVersion(VERSION + 1)));
    assert_eq!(decode(b"GET / HTTP/1.1"), Err(DecodeError::NotRumor));
    assert_eq!(decode(b""), Err(DecodeError::NotRumor));
    assert!(matches!(
        decode(&[b'r', b'M', VERSION, 1]),
        Err(DecodeError::Malformed(_))
    ));
    // A frame cut short.
    let bytes = encode(&header(), &sample_frames());
    assert!(decode(&bytes[..bytes.len() - 1]).is_err());
    assert!(decode(&vec![0u8; MAX_DATAGRAM + 1]).is_err());
}

fn presence(more: usize) -> Frame {
    Frame::Presence(PresenceFrame {
        session: 1,
        seq: 1,
        name: "ann".into(),
        cursor: None,
        leaving: false,
        anchor: None,
        more: (0..more as u64)
            .map(|i| CursorRange {
                cursor: Some(Id::new(ReplicaId(1), i)),
                anchor: Some(Some(Id::new(ReplicaId(2), i))),
            })
            .collect(),
    })
}

#[test]
fn a_presence_with_too_many_ranges_is_refused() {
    let most = presence(MAX_PRESENCE_RANGES - 1);
    let bytes = encode(&header(), std::slice::from_ref(&most));
    assert_eq!(decode(&bytes).unwrap().1, vec![most]);
    let over = encode(&header(), &[presence(MAX_PRESENCE_RANGES)]);
    assert_eq!(decode(&over), Err(DecodeError::Malformed("frame")));
    // A length prefix claiming billions of ranges, with none there: refused
    // without reserving room for them (`more` is the frame's last field).
    let mut bomb = encode(&header(), &[presence(0)]);
    assert_eq!(bomb.pop(), Some(0));
    bomb.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert_eq!(decode(&bomb), Err(DecodeError::Malformed("frame")));
}

#[test]
fn invalid_ops_and_acks_are_refused() {
    let empty = Frame::Op(insert(1, 0, ""));
    assert!(decode(&encode(&header(), &[empty])).is_err());
    let overflow = Frame::Op(insert(1, u64::MAX, "ab"));
    assert!(decode(&encode(&header(), &[overflow])).is_err());
    let underflow = Frame::Ack(AckFrame {
        largest: 2,
        delay_us: 0,
        first: 5,
        ranges: vec![],
    });
    assert!(decode(&encode(&header(), &[underflow])).is_err());
    let zero_gap = Frame::Ack(AckFrame {
        largest: 20,
        delay_us: 0,
        first: 0,
        ranges: vec![AckRange { gap: 0, len: 1 }],
    });
    assert!(decode(&encode(&header(), &[zero_gap])).is_err());
}

#[test]
fn unordered_digest_entries_are_refused() {
    // Hand-made: a digest listing replica 5 before replica 2.
    let mut payload = Vec::new();
    payload = postcard::to_extend(&3u8, payload).unwrap(); // WireFrame::Digest
    payload = postcard::to_extend(&None::<(ReplicaId, ReplicaId)>, payload).unwrap();
    payload = postcard::to_extend(&vec![(5u64, 1u64), (2, 1)], payload).unwrap();
    payload = postcard::to_extend(&false, payload).unwrap();
    let mut bytes = Vec::new();
    seal(&header(), &payload, &mut bytes);
    assert!(decode(&bytes).is_err());
}

#[test]
fn unordered_or_repeated_have_entries_are_refused() {
    for entries in [vec![(5u64, 1u64), (2, 1)], vec![(2, 1), (2, 3)]] {
        let mut payload = Vec::new();
        payload = postcard::to_extend(&7u8, payload).unwrap(); // WireFrame::Have
        payload = postcard::to_extend(&entries, payload).unwrap();
        let mut bytes = Vec::new();
        seal(&header(), &payload, &mut bytes);
        assert!(decode(&bytes).is_err(), "{entries:?}");
    }
    // The same entries in order decode.
    let ok = Frame::Have(vec![(ReplicaId(2), 1), (ReplicaId(5), 1)]);
    assert_eq!(
        decode(&encode(&header(), std::slice::from_ref(&ok)))
            .unwrap()
            .1,
        vec![ok]
    );
}

#[test]
fn ack_ranges_expand() {
    let ack = AckFrame {
        largest: 20,
        delay_us: 0,
        first: 2,
        ranges: vec![AckRange { gap: 3, len: 2 }, AckRange { gap: 1, len: 1 }],
    };
    // 18..=20, skip 17,16,15, then 13..=14, skip 12, then 11.
    assert_eq!(
        ack.ranges_inclusive().unwrap(),
        vec![(18, 20), (13, 14), (11, 11)]
    );
}

#[test]
fn batching_fills_a_datagram_up_to_the_mtu_edge() {
    for mtu in [MIN_MTU, 500, DEFAULT_MTU] {
        let mut b = DatagramBuilder::new(header(), mtu);
        let op = Frame::Op(insert(1, 0, "x"));
        let mut n = 0;
        while b.push(&op) {
            n += 1;
        }
        let one = encoded_len(&op, header().sender);
        assert!(b.remaining() < one, "stopped while it still fit");
        let sealed = {
            let mut b2 = DatagramBuilder::new(header(), mtu);
            for _ in 0..n {
                assert!(b2.push(&op));
            }
            b2.finish_sealed(&key(), SealId { epoch: 1, seq: 2 })
        };
        let bytes = b.finish();
        assert!(bytes.len() <= mtu, "{} > {mtu}", bytes.len());
        // Room for the longest packet number and the seal is kept.
        assert!(
            bytes.len() + one > mtu - 10 - SEAL_OVERHEAD,
            "left too much room"
        );
        let (_, frames) = decode(&bytes).unwrap();
        assert_eq!(frames.len(), n);
        assert!(sealed.len() <= mtu, "{} > {mtu}", sealed.len());
        assert!(sealed.len() + one > mtu - 30, "left too much room sealed");
        let (_, _, frames) = decode_with(&sealed, Some(&key())).unwrap();
        assert_eq!(frames.len(), n);
    }
}

fn key() -> GroupKey {
    GroupKey::from_secret(&[7; 32])
}

#[test]
fn a_bound_datagram_opens_only_at_its_replica_and_says_so() {
    let id = SealId { epoch: 5, seq: 9 };
    let frames = sample_frames();
    let bound = encode_sealed_to(&key(), &header(), id, ReplicaId(77), &frames);
    let unbound = encode_sealed(&key(), &header(), id, &frames);
    assert_eq!(bound.len(), unbound.len(), "the binding is not sent");
    let mut keys = SealKeys::new(key());
    let mut scratch = Vec::new();
    let open = |bytes: &[u8], me: u64, keys: &mut SealKeys, scratch: &mut Vec<u8>| {
        open_with_keys_as(bytes, Some(keys), &[ReplicaId(me)], scratch).map(|o| o.bound)
    };
    assert_eq!(open(&bound, 77, &mut keys, &mut scratch), Ok(true));
    assert_eq!(
        open(&bound, 78, &mut keys, &mut scratch),
        Err(DecodeError::BadTag)
    );
    assert_eq!(decode_with(&bound, Some(&key())), Err(DecodeError::BadTag));
    assert_eq!(open(&unbound, 78, &mut keys, &mut scratch), Ok(false));
}

#[test]
fn sealed_round_trip_and_every_mismatch_refused() {
    let frames = sample_frames();
    let id = SealId {
        epoch: 1_700_000_000_000,
        seq: 42,
    };
    let bytes = encode_sealed(&key(), &header(), id, &frames);
    assert_eq!(&bytes[..2], &SEALED_MAGIC);
    let (h, seal, got) = decode_with(&bytes, Some(&key())).unwrap();
    assert_eq!((h, seal, got), (header(), Some(id), frames.clone()));
    // The payload is not readable in the clear: a distinctive name does not appear.
    assert!(!bytes.windows(3).any(|w| w == b"ann"));
    // Another key, no key, or a clear datagram where a sealed one is due.
    let other = GroupKey::from_secret(&[8; 32]);
    assert_eq!(decode_with(&bytes, Some(&other)), Err(DecodeError::BadTag));
    assert_eq!(decode_with(&bytes, None), Err(DecodeError::Sealed));
    assert_eq!(decode(&bytes), Err(DecodeError::Sealed));
    let clear = encode(&header(), &frames);
    assert_eq!(
        decode_with(&clear, Some(&key())),
        Err(DecodeError::Unsealed)
    );
    assert_eq!(decode_with(&clear, None).unwrap().2, frames);
}

#[test]
fn every_single_bit_flip_of_a_sealed_datagram_is_refused() {
    let id = SealId { epoch: 9, seq: 300 };
    let bytes = encode_sealed(&key(), &header(), id, &sample_frames());
    for i in 0..bytes.len() * 8 {
        let mut b = bytes.clone();
        b[i / 8] ^= 1 << (i % 8);
        let r = decode_with(&b, Some(&key()));
        assert!(r.is_err(), "bit {i} flipped was accepted: {r:?}");
    }
    // Cut short anywhere: refused too.
    for n in 0..bytes.len() {
        assert!(
            decode_with(&bytes[..n], Some(&key())).is_err(),
            "cut at {n}"
        );
    }
}

#[test]
fn secret_files_and_passphrases() {
    let contents = auth::secret_file_contents(&[0xab; 32]);
    assert!(contents.starts_with("rumor-secret-v1 abab"));
    let a = GroupKey::from_file_contents(contents.as_bytes()).unwrap();
    assert_eq!(a, GroupKey::from_secret(&[0xab; 32]));
    let crlf = contents.replace('\n', "\r\n");
    assert_eq!(GroupKey::from_file_contents(crlf.as_bytes()).unwrap(), a);
    assert_eq!(GroupKey::from_file_contents(b""), Err(KeyError::Empty));
    assert_eq!(GroupKey::from_file_contents(b"\n"), Err(KeyError::Empty));
    assert!(matches!(
        GroupKey::from_file_contents(b"rumor-secret-v1 abcd"),
        Err(KeyError::BadSecret(_))
    ));
    assert!(matches!(
        GroupKey::from_file_contents(b"short pass"),
        Err(KeyError::TooShort(10))
    ));
    assert_eq!(
        GroupKey::from_file_contents(&[0xff, 0xfe]),
        Err(KeyError::NotText)
    );
    // A passphrase gives the same key every time, another one another key.
    let p1 = GroupKey::from_file_contents(b"correct horse battery staple\n").unwrap();
    let p2 = GroupKey::from_passphrase("correct horse battery staple").unwrap();
    let p3 = GroupKey::from_passphrase("correct horse battery stapler").unwrap();
    assert_eq!(p1, p2);
    assert_ne!(p1, p3);
    assert_ne!(p1, a);
    // Keys from the same bytes agree across processes: the fingerprint is fixed.
    assert_eq!(GroupKey::from_secret(&[0; 32]).fingerprint().len(), 8);
    assert_eq!(GroupKey::from_seed(1), GroupKey::from_seed(1));
    assert_ne!(GroupKey::from_seed(1), GroupKey::from_seed(2));
}

proptest! {
    #[test]
    fn opening_arbitrary_bytes_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        sealed_prefix in any::<bool>(),
    ) {
        let mut b = bytes;
        if sealed_prefix && b.len() >= 3 {
            b[..3].copy_from_slice(&[SEALED_MAGIC[0], SEALED_MAGIC[1], VERSION]);
        }
        let _ = decode_with(&b, Some(&key()));
        let _ = decode_with(&b, None);
    }
}

#[test]
fn a_frame_exactly_at_the_edge_fits_and_one_byte_more_does_not() {
    let mtu = 300;
    let capacity = mtu - DatagramBuilder::overhead();
    // Frame::Op of an insert with `k` ASCII chars: find k that makes the frame exactly `capacity`.
    let exact = (1..capacity)
        .map(|k| "a".repeat(k))
        .find(|t| encoded_len(&Frame::Op(insert(1, 0, t)), header().sender) == capacity)
        .unwrap();
    assert_eq!(
        encoded_len(&Frame::Op(insert(1, 0, &exact)), header().sender),
        capacity
    );
    let mut b = DatagramBuilder::new(header(), mtu);
    assert!(b.push(&Frame::Op(insert(1, 0, &exact))));
    assert_eq!(b.remaining(), 0);
    assert!(!b.push(&Frame::Ping));
    let too_big = format!("{exact}a");
    let mut b = DatagramBuilder::new(header(), mtu);
    assert!(!b.push(&Frame::Op(insert(1, 0, &too_big))));
    assert!(b.is_empty());
}

#[test]
fn a_big_paste_is_split_into_pieces_that_fit_and_rebuild_it() {
    let text: String = (0..200_000u32)
        .map(|i| char::from_u32(0x61 + (i % 26)).unwrap())
        .chain("ü€😀".chars().cycle().take(3000))
        .collect();
    let mut doc = Doc::new(ReplicaId(1));
    doc.insert(0, &text).unwrap();
    let ops = doc.ops_since(&VersionVector::new());
    assert_eq!(ops.len(), 1);
    let max_frame = 1100;
    let me = ReplicaId(1);
    let pieces = split_to_fit(&ops[0], max_frame, me);
    let mut at = 0;
    for p in &pieces {
        assert!(op_frame_len(p, me) <= max_frame);
        assert_eq!(p.id.counter, at, "pieces are contiguous");
        at += p.len();
    }
    assert_eq!(at, ops[0].len());
    // Pieces are nearly full: no more than 5% more datagrams than needed.
    let min = (op_frame_len(&ops[0], me) / max_frame) + 1;
    assert!(
        pieces.len() <= min + min / 20,
        "{} pieces, {min} needed",
        pieces.len()
    );
    // Sent one by one, in any order, they rebuild the text.
    let mut other = Doc::new(ReplicaId(2));
    for p in pieces.into_iter().rev() {
        let bytes = encode(&header(), &[Frame::Op(p)]);
        assert!(bytes.len() <= 1200);
        let (_, frames) = decode(&bytes).unwrap();
        let Frame::Op(op) = frames.into_iter().next().unwrap() else {
            panic!()
        };
        other.apply(op).unwrap();
    }
    assert_eq!(other.text(), text);
}

#[test]
fn a_big_delete_is_split_too() {
    let mut doc = Doc::new(ReplicaId(1));
    doc.insert(0, &"z".repeat(5000)).unwrap();
    // Delete every other char: a delete op with many target spans.
    let mut other = doc.clone();
    for i in 0..2500 {
        other.delete(i, 1).unwrap();
    }
    let v = doc.version();
    let deletes = other.ops_since(&v);
    for op in &deletes {
        for p in split_to_fit(op, 400, ReplicaId(1)) {
            assert!(op_frame_len(&p, ReplicaId(1)) <= 400);
            doc.apply(p).unwrap();
        }
    }
    assert_eq!(doc.text(), other.text());
}

fn arb_id() -> impl Strategy<Value = Id> {
    (0u64..5, 0u64..1000).prop_map(|(r, c)| Id::new(ReplicaId(r), c))
}

fn arb_frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        (any::<u64>(), any::<u32>(), 0u64..50).prop_map(|(largest, delay, first)| {
            Frame::Ack(AckFrame {
                largest: largest.max(first),
                delay_us: delay as u64,
                first,
                ranges: vec![],
            })
        }),
        Just(Frame::Ping),
        (any::<u64>(), "[a-z]{0,20}").prop_map(|(session, name)| Frame::Hello { session, name }),
        (
            proptest::collection::btree_map(any::<u64>(), 1u64..u64::MAX, 0..10),
            any::<bool>()
        )
            .prop_map(|(m, reply)| Frame::Digest(DigestFrame {
                members: Vec::new(),
                scope: None,
                version: m.into_iter().map(|(r, n)| (ReplicaId(r), n)).collect(),
                reply,
            })),
        proptest::collection::btree_map(any::<u64>(), any::<u64>(), 0..10)
            .prop_map(|m| Frame::Have(m.into_iter().map(|(r, n)| (ReplicaId(r), n)).collect())),
        (arb_id(), proptest::option::of(arb_id()), ".{1,30}").prop_map(|(id, left, text)| {
            Frame::Op(Op {
                id: Id::new(id.replica, id.counter + 1000),
                kind: OpKind::Insert {
                    left,
                    right: None,
                    text,
                },
            })
        }),
    ]
}

proptest! {
    #[test]
    fn frames_round_trip(frames in proptest::collection::vec(arb_frame(), 0..8), packet in any::<u64>()) {
        let h = Header { document: 0, sender: ReplicaId(packet ^ 0x55), packet };
        let bytes = encode(&h, &frames);
        prop_assert_eq!(decode(&bytes), Ok((h, frames)));
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1500)) {
        let _ = decode(&bytes);
        // Also behind a valid header, where the frame decoder has to work.
        let mut with_header = Vec::new();
        seal(&header(), &bytes, &mut with_header);
        let _ = decode(&with_header);
    }

    #[test]
    fn mutated_datagrams_never_panic(
        frames in proptest::collection::vec(arb_frame(), 1..6),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let mut bytes = encode(&header(), &frames);
        for (at, value, how) in edits {
            let at = at % (bytes.len() + 1);
            match how {
                0 if at < bytes.len() => bytes[at] = value,
                1 => bytes.insert(at, value),
                _ if at < bytes.len() => { bytes.remove(at); }
                _ => {}
            }
        }
        if let Ok((_, frames)) = decode(&bytes) {
            // Whatever decodes is well formed.
            for f in frames {
                prop_assert!(f.check().is_ok());
            }
        }
    }
}
