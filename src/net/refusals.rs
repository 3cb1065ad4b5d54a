//! Telling the user, without flooding them, that datagrams are being
//! refused for a reason they can fix (another group secret, or a peer
//! with or without one when this node is the other way): the node says so
//! with `Event::Refused`, and this turns those events into notices.

use std::net::SocketAddr;

use crate::node::{Refusal, Time};

/// At most one notice per reason in this long.
const QUIET: std::time::Duration = std::time::Duration::from_secs(10);

fn index(reason: Refusal) -> usize {
    match reason {
        Refusal::BadTag => 0,
        Refusal::Unsealed => 1,
        Refusal::Sealed => 2,
        Refusal::OtherDocument => 3,
    }
}

fn explain(reason: Refusal) -> &'static str {
    match reason {
        Refusal::BadTag => {
            "failed authentication: the sender has another group secret (compare \
             `status` key fingerprints), or the bytes were altered; dropped"
        }
        Refusal::Unsealed => {
            "was not sealed: the sender runs without --secret-file, and this node \
             accepts only members of its group; dropped"
        }
        Refusal::Sealed => {
            "was sealed with a group secret, and this node has none (--secret-file); dropped"
        }
        Refusal::OtherDocument => {
            "belongs to another document (a peer that edits another text; compare \
             `status` document lines): never merged; dropped"
        }
    }
}

/// Per reason: when the last notice went out and whether refusals came
/// since (the node reports one refusal of a reason at a time, so these are
/// not datagram counts: `status` has those).
#[derive(Debug, Default)]
pub struct Refusals {
    last: [Option<Time>; 4],
    unreported: [u64; 4],
}

impl Refusals {
    /// One refusal of a datagram from `from`; a notice when one is due.
    pub fn note(&mut self, reason: Refusal, from: SocketAddr, now: Time) -> Option<String> {
        let i = index(reason);
        self.unreported[i] += 1;
        if self.last[i].is_some_and(|t| now < t + QUIET) {
            return None;
        }
        let n = std::mem::take(&mut self.unreported[i]);
        self.last[i] = Some(now);
        let more = if n > 1 {
            " (and more since the last notice: `status` counts them)".to_string()
        } else {
            String::new()
        };
        Some(format!("a datagram from {from} {}{more}", explain(reason)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_notice_per_quiet_period_with_the_count() {
        let mut r = Refusals::default();
        let from: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let first = r.note(Refusal::BadTag, from, Time(0)).unwrap();
        assert!(first.contains("failed authentication"), "{first}");
        assert!(first.contains("127.0.0.1:9"), "{first}");
        for s in 1..5 {
            let at = Time::from_millis(s * 1000);
            assert_eq!(r.note(Refusal::BadTag, from, at), None);
        }
        // Another reason has its own quiet period.
        let other = r.note(Refusal::Sealed, from, Time::from_millis(5_000));
        assert!(other.unwrap().contains("has none"));
        let later = r
            .note(Refusal::BadTag, from, Time::from_millis(10_000))
            .unwrap();
        assert!(later.contains("and more since the last notice"), "{later}");
    }
}
