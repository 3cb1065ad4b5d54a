//! Fixed, portable hashes: 64-bit FNV-1a for `final_text_hash`, and a
//! word-at-a-time hash for `trace_hash`.
//!
//! std's `DefaultHasher` is not promised to be stable across Rust releases and
//! `RandomState` is seeded per process; these give the same value on every
//! machine, forever.

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Fnv64(OFFSET)
    }
}

impl Fnv64 {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(PRIME);
        }
    }

    /// Hashes a number as 8 little-endian bytes.
    pub fn u64(&mut self, n: u64) {
        self.bytes(&n.to_le_bytes());
    }

    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// The running hash behind `trace_hash`, which takes in every byte of
/// every datagram of a run: FNV-1a's one multiply per byte is a long
/// dependency chain there (several percent of a run), so this one mixes
/// eight little-endian bytes per multiply (and a rotate, so high bits reach
/// low ones); the tail of a string goes byte by byte. Each step is a
/// bijection of the state for a given word, so two runs that differ
/// anywhere end with different values but for a chance collision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceHash(u64);

impl Default for TraceHash {
    fn default() -> Self {
        TraceHash(OFFSET)
    }
}

impl TraceHash {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;

    pub fn new() -> Self {
        Self::default()
    }

    fn word(&mut self, w: u64) {
        self.0 = (self.0 ^ w).wrapping_mul(Self::K).rotate_left(29);
    }

    pub fn bytes(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            self.word(u64::from_le_bytes(b));
        }
        for &b in words.remainder() {
            self.word(b as u64);
        }
    }

    pub fn u64(&mut self, n: u64) {
        self.word(n);
    }

    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// The hash of one byte string.
pub fn fnv64(bytes: &[u8]) -> u64 {
    let mut h = Fnv64::new();
    h.bytes(bytes);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PINNED: u64 = 0x11c33b0dcc062dbd;

    #[test]
    fn known_fnv1a_values() {
        // Reference values of 64-bit FNV-1a.
        assert_eq!(fnv64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn trace_hash_is_fixed_and_sees_every_byte() {
        let hash = |parts: &[&[u8]]| {
            let mut h = TraceHash::new();
            for p in parts {
                h.bytes(p);
            }
            h.finish()
        };
        // Pinned: a change here changes every run's trace_hash.
        let mut h = TraceHash::new();
        h.u64(42);
        h.bytes(b"rumor datagram");
        assert_eq!(h.finish(), PINNED);
        let base = hash(&[b"0123456789abcdefXYZ"]);
        // Any one byte changed, in a word or in the tail, changes the value.
        for i in 0..19 {
            let mut b = *b"0123456789abcdefXYZ";
            b[i] ^= 1;
            assert_ne!(hash(&[&b]), base, "byte {i}");
        }
        // A u64 is one word of its little-endian bytes.
        let mut a = TraceHash::new();
        a.u64(0x0102_0304_0506_0708);
        let mut b = TraceHash::new();
        b.bytes(&0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(a, b);
    }
}
