//! Invite tickets: everything a newcomer needs to join a private document,
//! on one line (`invite` prints one, `rumor --join TICKET` reads it).
//!
//! ```text
//! "rumor1"  base32(bytes)          RFC 4648 alphabet, lowercase, no padding
//! bytes = version(1)  postcard(Body)  crc32(version ‖ body) (4, little endian)
//! Body  = { document: u32, secret: [u8; 32], addrs: Vec<SocketAddr> }
//! ```
//!
//! The CRC catches a ticket damaged by copying (a dropped or changed
//! character); it is no defence against forgery, and needs none: a ticket
//! with another secret joins nothing. The ticket carries the group secret,
//! so it is as secret as the secret itself. Decoding never panics and
//! reads at most [`MAX_TICKET_CHARS`] characters and [`MAX_ADDRS`]
//! addresses.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::wire::auth::SECRET_LEN;

/// What every ticket starts with (the `1` is the text form's version).
pub const TICKET_PREFIX: &str = "rumor1";
/// The version byte of the encoded bytes this code writes and reads.
pub const TICKET_VERSION: u8 = 1;
/// Most addresses a ticket carries (more are left off when writing one).
pub const MAX_ADDRS: usize = 16;
/// Longest ticket text read.
pub const MAX_TICKET_CHARS: usize = 1024;

const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
const CHECKSUM_LEN: usize = 4;

/// A decoded invite.
#[derive(Clone, PartialEq, Eq)]
pub struct Ticket {
    /// The document to join (never 0).
    pub document: u32,
    /// The group secret (see `GroupKey::secret`).
    pub secret: [u8; SECRET_LEN],
    /// Where the inviting peer may be reached.
    pub addrs: Vec<SocketAddr>,
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret stays out of logs and test failure messages.
        f.debug_struct("Ticket")
            .field("document", &format_args!("{:08x}", self.document))
            .field("addrs", &self.addrs)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
struct Body {
    document: u32,
    secret: [u8; SECRET_LEN],
    addrs: Vec<SocketAddr>,
}

/// Why a ticket could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    #[error("the ticket is empty")]
    Empty,
    #[error("not a rumor ticket (it should start with {TICKET_PREFIX})")]
    NoPrefix,
    #[error("the ticket is too long (more than {MAX_TICKET_CHARS} characters)")]
    TooLong,
    #[error("the ticket holds {0:?}, which is not in a ticket's alphabet (a-z, 2-7)")]
    BadChar(char),
    #[error("the ticket is truncated or damaged (copy the whole line)")]
    Damaged,
    #[error("the ticket was made by a newer rumor (ticket version {0}; this one reads {TICKET_VERSION})")]
    NewerVersion(u8),
    #[error("the ticket names no document")]
    NoDocument,
    #[error("the ticket names no address to reach the group")]
    NoAddress,
}

impl Ticket {
    /// The one-line text form (addresses past [`MAX_ADDRS`] left off).
    pub fn encode(&self) -> String {
        let body = Body {
            document: self.document,
            secret: self.secret,
            addrs: self.addrs.iter().take(MAX_ADDRS).copied().collect(),
        };
        let mut bytes = vec![TICKET_VERSION];
        // Serializing plain integers, arrays and addresses into a Vec
        // cannot fail; an empty body would only make an unreadable ticket.
        bytes.extend(postcard::to_allocvec(&body).unwrap_or_default());
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        let mut text = String::from(TICKET_PREFIX);
        text.push_str(&base32_encode(&bytes));
        text
    }

    /// Reads a ticket's text form (either case; whitespace anywhere
    /// ignored, so a ticket wrapped over lines still reads).
    pub fn decode(text: &str) -> Result<Ticket, TicketError> {
        if text.len() > 4 * MAX_TICKET_CHARS {
            return Err(TicketError::TooLong);
        }
        let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let text = text.as_str();
        if text.is_empty() {
            return Err(TicketError::Empty);
        }
        if text.len() > MAX_TICKET_CHARS {
            return Err(TicketError::TooLong);
        }
        let rest = match text.get(..TICKET_PREFIX.len()) {
            Some(head) if head.eq_ignore_ascii_case(TICKET_PREFIX) => &text[TICKET_PREFIX.len()..],
            _ => return Err(TicketError::NoPrefix),
        };
        let bytes = base32_decode(rest)?;
        if bytes.len() < 1 + CHECKSUM_LEN {
            return Err(TicketError::Damaged);
        }
        let (signed, crc) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
        let mut crc_bytes = [0u8; CHECKSUM_LEN];
        crc_bytes.copy_from_slice(crc);
        if crc32fast::hash(signed) != u32::from_le_bytes(crc_bytes) {
            return Err(TicketError::Damaged);
        }
        let (&version, body) = signed.split_first().ok_or(TicketError::Damaged)?;
        if version != TICKET_VERSION {
            return Err(if version > TICKET_VERSION {
                TicketError::NewerVersion(version)
            } else {
                TicketError::Damaged
            });
        }
        let (body, left): (Body, &[u8]) =
            postcard::take_from_bytes(body).map_err(|_| TicketError::Damaged)?;
        if !left.is_empty() || body.addrs.len() > MAX_ADDRS {
            return Err(TicketError::Damaged);
        }
        if body.document == 0 {
            return Err(TicketError::NoDocument);
        }
        if body.addrs.is_empty() {
            return Err(TicketError::NoAddress);
        }
        Ok(Ticket {
            document: body.document,
            secret: body.secret,
            addrs: body.addrs,
        })
    }
}

fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((acc >> bits) & 31) as usize]));
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((acc << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Unpadded base32 of either case. A length no encoder makes, or unused
/// low bits that are not zero, is damage (a truncated or altered ticket).
fn base32_decode(text: &str) -> Result<Vec<u8>, TicketError> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for c in text.chars() {
        let value = match c.to_ascii_lowercase() {
            l @ 'a'..='z' => l as u32 - 'a' as u32,
            d @ '2'..='7' => d as u32 - '2' as u32 + 26,
            _ => return Err(TicketError::BadChar(c)),
        };
        acc = (acc << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
        acc &= (1 << bits) - 1;
    }
    if matches!(text.len() % 8, 1 | 3 | 6) || acc != 0 {
        return Err(TicketError::Damaged);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Ticket {
        Ticket {
            document: 0xdead_beef,
            secret: std::array::from_fn(|i| i as u8 * 7),
            addrs: vec![
                "192.168.1.20:7001".parse().unwrap(),
                "[fe80::1]:7001".parse().unwrap(),
                "127.0.0.1:7001".parse().unwrap(),
            ],
        }
    }

    #[test]
    fn a_ticket_reads_back_as_written() {
        let ticket = sample();
        let text = ticket.encode();
        assert!(text.starts_with(TICKET_PREFIX), "{text}");
        assert!(
            text.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
            "{text}"
        );
        assert_eq!(Ticket::decode(&text), Ok(ticket.clone()));
        // Pasted with spaces around it, or shouted: the same ticket.
        assert_eq!(Ticket::decode(&format!("  {text}\n")), Ok(ticket.clone()));
        let (head, tail) = text.split_at(30);
        assert_eq!(
            Ticket::decode(&format!("{head}\n  {tail}")),
            Ok(ticket.clone())
        );
        assert_eq!(Ticket::decode(&text.to_uppercase()), Ok(ticket));
    }

    #[test]
    fn base32_matches_rfc_4648() {
        for (bytes, text) in [
            (&b""[..], ""),
            (b"f", "my"),
            (b"fo", "mzxq"),
            (b"foo", "mzxw6"),
            (b"foob", "mzxw6yq"),
            (b"fooba", "mzxw6ytb"),
            (b"foobar", "mzxw6ytboi"),
        ] {
            assert_eq!(base32_encode(bytes), text);
            assert_eq!(base32_decode(text).unwrap(), bytes);
        }
    }

    #[test]
    fn every_truncation_and_every_changed_char_is_refused() {
        let text = sample().encode();
        for end in 0..text.len() {
            assert!(Ticket::decode(&text[..end]).is_err(), "cut at {end}");
        }
        for (i, c) in text.char_indices().skip(TICKET_PREFIX.len()) {
            for &other in ALPHABET {
                let other = char::from(other);
                if other == c {
                    continue;
                }
                let mut damaged = text.clone();
                damaged.replace_range(i..i + 1, &other.to_string());
                assert!(
                    Ticket::decode(&damaged).is_err(),
                    "{c} -> {other} at {i} read as a ticket"
                );
            }
        }
        // Two neighbours swapped.
        let bytes = text.as_bytes();
        for i in TICKET_PREFIX.len()..text.len() - 1 {
            if bytes[i] != bytes[i + 1] {
                let mut swapped = bytes.to_vec();
                swapped.swap(i, i + 1);
                let swapped = String::from_utf8(swapped).unwrap();
                assert!(Ticket::decode(&swapped).is_err(), "swap at {i}");
            }
        }
    }

    #[test]
    fn garbage_gets_a_reason_not_a_panic() {
        assert_eq!(Ticket::decode(""), Err(TicketError::Empty));
        assert_eq!(Ticket::decode("hello"), Err(TicketError::NoPrefix));
        assert_eq!(Ticket::decode("rumor"), Err(TicketError::NoPrefix));
        assert_eq!(Ticket::decode("rumor1"), Err(TicketError::Damaged));
        assert_eq!(Ticket::decode("rumor1abc!"), Err(TicketError::BadChar('!')));
        assert_eq!(Ticket::decode("rumor1aé"), Err(TicketError::BadChar('é')));
        assert_eq!(Ticket::decode("ééééééé"), Err(TicketError::NoPrefix));
        assert_eq!(
            Ticket::decode(&format!("rumor1{}", "a".repeat(MAX_TICKET_CHARS))),
            Err(TicketError::TooLong)
        );
        // Well-formed bytes with a good checksum but a bad body.
        let forge = |bytes: &[u8]| {
            let mut bytes = bytes.to_vec();
            let crc = crc32fast::hash(&bytes);
            bytes.extend_from_slice(&crc.to_le_bytes());
            format!("{TICKET_PREFIX}{}", base32_encode(&bytes))
        };
        assert_eq!(Ticket::decode(&forge(&[1])), Err(TicketError::Damaged));
        assert_eq!(
            Ticket::decode(&forge(&[9, 1, 2])),
            Err(TicketError::NewerVersion(9))
        );
        assert_eq!(Ticket::decode(&forge(&[0])), Err(TicketError::Damaged));
        // A huge address count claimed by a short body.
        let mut claim = vec![1, 5];
        claim.extend([0u8; SECRET_LEN]);
        claim.extend([0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(Ticket::decode(&forge(&claim)), Err(TicketError::Damaged));
        let mut no_doc = sample();
        no_doc.document = 0;
        assert_eq!(
            Ticket::decode(&no_doc.encode()),
            Err(TicketError::NoDocument)
        );
        let mut nowhere = sample();
        nowhere.addrs.clear();
        assert_eq!(
            Ticket::decode(&nowhere.encode()),
            Err(TicketError::NoAddress)
        );
    }

    proptest::proptest! {
        #[test]
        fn any_text_decodes_or_gives_a_reason(text in ".{0,300}") {
            let _ = Ticket::decode(&text);
            let _ = Ticket::decode(&format!("rumor1{text}"));
        }

        #[test]
        fn any_ticket_reads_back(
            document in 1u32..,
            secret in proptest::array::uniform32(0u8..),
            ports in proptest::collection::vec(0u16.., 1..MAX_ADDRS),
            cut in 0usize..200,
        ) {
            let ticket = Ticket {
                document,
                secret,
                addrs: ports.iter().map(|&p| SocketAddr::from(([127, 0, 0, 1], p))).collect(),
            };
            let text = ticket.encode();
            proptest::prop_assert_eq!(Ticket::decode(&text), Ok(ticket));
            let cut = cut.min(text.len() - 1);
            proptest::prop_assert!(Ticket::decode(&text[..cut]).is_err());
        }
    }

    #[test]
    fn the_debug_form_keeps_the_secret_out() {
        let shown = format!("{:?}", sample());
        assert!(shown.contains("deadbeef"), "{shown}");
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn addresses_past_the_limit_are_left_off() {
        let mut many = sample();
        many.addrs = (0..40)
            .map(|i| SocketAddr::from(([10, 0, 0, i], 7001)))
            .collect();
        let back = Ticket::decode(&many.encode()).unwrap();
        assert_eq!(back.addrs, many.addrs[..MAX_ADDRS]);
    }
}
