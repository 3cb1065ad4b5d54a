//! Telling the user, without flooding them, that datagrams are being
//! refused for a reason they can fix (another group secret, or a peer
//! with or without one when this node is the other way).

use std::net::SocketAddr;

use crate::node::{Drops, Time};

/// At most one notice per reason in this long.
const QUIET: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Reason {
    BadTag,
    Unsealed,
    Sealed,
}

impl Reason {
    const ALL: [Reason; 3] = [Reason::BadTag, Reason::Unsealed, Reason::Sealed];

    fn count(self, drops: &Drops) -> u64 {
        match self {
            Reason::BadTag => drops.bad_tag,
            Reason::Unsealed => drops.unsealed,
            Reason::Sealed => drops.sealed,
        }
    }

    fn explain(self) -> &'static str {
        match self {
            Reason::BadTag => {
                "failed authentication: the sender has another group secret (compare \
                 `status` key fingerprints), or the bytes were altered; dropped"
            }
            Reason::Unsealed => {
                "was not sealed: the sender runs without --secret-file, and this node \
                 accepts only members of its group; dropped"
            }
            Reason::Sealed => {
                "was sealed with a group secret, and this node has none (--secret-file); dropped"
            }
        }
    }
}

/// Per reason: when the last notice went out and how many refusals since.
#[derive(Debug, Default)]
pub struct Refusals {
    last: [Option<Time>; 3],
    unreported: [u64; 3],
}

impl Refusals {
    /// Compares the node's drop counters around one datagram from `from`
    /// and returns a notice when one is due.
    pub fn check(
        &mut self,
        before: &Drops,
        after: &Drops,
        from: SocketAddr,
        now: Time,
    ) -> Option<String> {
        for (i, reason) in Reason::ALL.into_iter().enumerate() {
            if reason.count(after) <= reason.count(before) {
                continue;
            }
            self.unreported[i] += 1;
            if self.last[i].is_some_and(|t| now < t + QUIET) {
                return None;
            }
            let n = std::mem::take(&mut self.unreported[i]);
            self.last[i] = Some(now);
            let more = if n > 1 {
                format!(" ({} such datagrams since the last notice)", n)
            } else {
                String::new()
            };
            return Some(format!("a datagram from {from} {}{more}", reason.explain()));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_notice_per_quiet_period_with_the_count() {
        let mut r = Refusals::default();
        let from: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let before = Drops::default();
        let after = Drops {
            bad_tag: 1,
            ..Drops::default()
        };
        let first = r.check(&before, &after, from, Time(0)).unwrap();
        assert!(first.contains("failed authentication"), "{first}");
        assert!(first.contains("127.0.0.1:9"), "{first}");
        for s in 1..5 {
            assert_eq!(
                r.check(&before, &after, from, Time::from_millis(s * 1000)),
                None
            );
        }
        let later = r
            .check(&before, &after, from, Time::from_millis(10_000))
            .unwrap();
        assert!(later.contains("5 such datagrams"), "{later}");
        assert_eq!(
            r.check(&before, &before, from, Time::from_millis(30_000)),
            None
        );
    }
}
