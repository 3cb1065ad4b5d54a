//! The datagram decoder, in the clear and sealed: never panics, and a
//! payload sealed then opened comes back as it was.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rumor::doc::ReplicaId;
use rumor::wire::{self, GroupKey, Header, SealId};

fuzz_target!(|data: &[u8]| {
    let key = GroupKey::from_seed(1);
    let _ = wire::decode_with(data, None);
    let _ = wire::decode_with(data, Some(&key));
    // The bytes as a member's payload: sealing round-trips, and frames
    // decode (or are refused) after authentication too.
    let header = Header {
        sender: ReplicaId(7),
        packet: data.len() as u64,
    };
    let id = SealId { epoch: 3, seq: 9 };
    let mut sealed = Vec::new();
    wire::seal_with(&key, &header, id, data, &mut sealed);
    let mut scratch = Vec::new();
    let opened = wire::open_with(&sealed, Some(&key), &mut scratch).expect("own seal opens");
    assert_eq!(opened.header, header);
    assert_eq!(opened.seal, Some(id));
    assert_eq!(opened.payload, data);
    let _ = wire::decode_with(&sealed, Some(&key));
});
