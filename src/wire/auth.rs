//! The group key: where it comes from, and sealing/opening datagram
//! payloads with it.
//!
//! Every member of a group holds the same secret. From it comes one
//! XChaCha20-Poly1305 key (HKDF-SHA256, or Argon2id first when the secret
//! is a passphrase). A sealed datagram's payload is encrypted and its clear
//! header is authenticated as associated data, so nothing of a datagram can
//! be read or altered without the key.
//!
//! The 24-byte nonce is `sender replica ‖ epoch ‖ sequence` (each 8 bytes,
//! little endian), all three carried in the clear header. A replica's epoch
//! is distinct for each of its runs and grows from run to run (the driver
//! persists it), and the sequence counts every datagram a run seals, so a
//! nonce is never used twice under one key. The receiver keeps a replay
//! window per sender on (epoch, sequence) (see `node::replay`).
//!
//! A datagram a node sends to a peer it knows is *bound* to that peer's
//! replica: the replica id is authenticated with the clear header (as
//! associated data, not sent), so the datagram opens only at that replica
//! and cannot be replayed to another member. Datagrams to an address whose
//! replica is not known yet (the handshake, `node::handshake`) are
//! unbound: only the clear header is associated data.
//!
//! XChaCha20 first derives a ChaCha20 key from the key and the nonce's
//! first 16 bytes (HChaCha20), which are `sender ‖ epoch`: the same for
//! every datagram of one sender's run. [`EpochKey`] is that derived key and
//! [`SealKeys`] keeps one per sender and epoch, so sealing and opening a
//! datagram costs one ChaCha20 block less (a third of a short datagram's
//! crypto); the bytes are XChaCha20-Poly1305's exactly.
//!
//! Secret file formats:
//!
//! - `rumor-secret-v1 <64 hex digits>` on one line, as `rumor keygen`
//!   writes it: 32 random bytes, the HKDF input.
//! - `rumor-passphrase-v1 GROUP NAME` on the first line, a passphrase (at
//!   least [`MIN_PASSPHRASE`] chars) on the next. It goes through Argon2id
//!   with fixed parameters ([`PASSPHRASE_PARAMS`]) salted with the group
//!   name, so every member derives the same key and a dictionary
//!   precomputed for one group name serves no other; a weak passphrase
//!   stays weak, so prefer keygen.
//! - anything else: a passphrase alone (UTF-8, the trailing newline
//!   ignored), as before group names: salted with one fixed salt that every
//!   such group shares. Still read, so that such groups keep working;
//!   `cli::secret` warns about it.

use std::collections::BTreeMap;

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};
use hkdf::Hkdf;
use sha2::Sha256;

/// Bytes of secret in a keygen file, and of the derived key.
pub const SECRET_LEN: usize = 32;
/// The authentication tag at the end of every sealed datagram.
pub const TAG_LEN: usize = 16;
/// First word of a keygen secret file.
pub const SECRET_FILE_PREFIX: &str = "rumor-secret-v1";
/// Shortest passphrase accepted, in chars.
pub const MIN_PASSPHRASE: usize = 12;
/// Argon2id parameters for a passphrase: memory in KiB, passes, lanes
/// (the OWASP recommendation). Changing them changes every derived key.
pub const PASSPHRASE_PARAMS: (u32, u32, u32) = (19 * 1024, 2, 1);
/// First word of a passphrase file with a group name.
pub const PASSPHRASE_FILE_PREFIX: &str = "rumor-passphrase-v1";
/// Argon2 salt of a passphrase alone: fixed, so every member derives the
/// same key from the same passphrase (the group is the unit, not the user).
const PASSPHRASE_SALT: &[u8] = b"rumor passphrase salt v1";
/// Argon2 salt of a named group's passphrase: this, then the group name.
const GROUP_SALT_PREFIX: &[u8] = b"rumor group passphrase salt v1\0";
/// HKDF salt and labels: a key for one purpose is useless for another.
const HKDF_SALT: &[u8] = b"rumor group key v1";
const INFO_DATAGRAM: &[u8] = b"rumor datagram seal";
const INFO_FINGERPRINT: &[u8] = b"rumor key fingerprint";

/// Why a secret file does not give a key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the secret file is empty")]
    Empty,
    #[error("the secret file starts with {SECRET_FILE_PREFIX} but is damaged: {0}")]
    BadSecret(&'static str),
    #[error("the passphrase is not UTF-8 text")]
    NotText,
    #[error(
        "the passphrase is too short ({0} chars; at least {MIN_PASSPHRASE}, or use rumor keygen)"
    )]
    TooShort(usize),
    #[error("the secret file starts with {PASSPHRASE_FILE_PREFIX} but {0}")]
    BadPassphraseFile(&'static str),
    #[error("passphrase key derivation failed: {0}")]
    Kdf(String),
}

/// The nonce's two changing parts (the third is the sender).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SealId {
    /// Distinct and growing from run to run of one replica.
    pub epoch: u64,
    /// Counts the datagrams sealed in this run, from 0.
    pub seq: u64,
}

/// The authentication tag did not verify: another key, or altered bytes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("authentication failed (another group secret, or altered bytes)")]
pub struct BadTag;

/// The group's datagram key. `Debug` shows only its fingerprint.
#[derive(Clone)]
pub struct GroupKey {
    /// The HKDF input the key came from: whoever holds it holds the key.
    secret: [u8; SECRET_LEN],
    key: Key,
    fingerprint: [u8; 4],
}

impl std::fmt::Debug for GroupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GroupKey({})", self.fingerprint())
    }
}

impl PartialEq for GroupKey {
    /// Same fingerprint, same key (for tests and diagnostics: 32 bits).
    fn eq(&self, other: &Self) -> bool {
        self.fingerprint == other.fingerprint
    }
}

impl GroupKey {
    /// The key for a 32-byte group secret (HKDF-SHA256).
    pub fn from_secret(secret: &[u8; SECRET_LEN]) -> GroupKey {
        let hk = Hkdf::<Sha256>::new(Some(HKDF_SALT), secret);
        let mut key = [0u8; SECRET_LEN];
        let mut fingerprint = [0u8; 4];
        // Both lengths are far below HKDF-SHA256's limit (8160 bytes).
        hk.expand(INFO_DATAGRAM, &mut key)
            .expect("32 bytes is a valid HKDF length");
        hk.expand(INFO_FINGERPRINT, &mut fingerprint)
            .expect("4 bytes is a valid HKDF length");
        GroupKey {
            secret: *secret,
            key: Key::from(key),
            fingerprint,
        }
    }

    /// The 32-byte secret the key comes from (for a passphrase, what
    /// Argon2id made of it): [`GroupKey::from_secret`] of it is this key
    /// again. An invite ticket carries it, so it is as secret as the key.
    pub fn secret(&self) -> &[u8; SECRET_LEN] {
        &self.secret
    }

    /// The key for a passphrase alone (Argon2id with the fixed parameters
    /// and the salt all such groups share, then HKDF).
    pub fn from_passphrase(passphrase: &str) -> Result<GroupKey, KeyError> {
        GroupKey::from_salted_passphrase(passphrase, PASSPHRASE_SALT)
    }

    /// The key for the passphrase of the group named `group` (Argon2id
    /// salted with the name, then HKDF).
    pub fn from_group_passphrase(group: &str, passphrase: &str) -> Result<GroupKey, KeyError> {
        let mut salt = GROUP_SALT_PREFIX.to_vec();
        salt.extend_from_slice(group.as_bytes());
        GroupKey::from_salted_passphrase(passphrase, &salt)
    }

    fn from_salted_passphrase(passphrase: &str, salt: &[u8]) -> Result<GroupKey, KeyError> {
        let chars = passphrase.chars().count();
        if chars < MIN_PASSPHRASE {
            return Err(KeyError::TooShort(chars));
        }
        let (m, t, p) = PASSPHRASE_PARAMS;
        let params = argon2::Params::new(m, t, p, Some(SECRET_LEN))
            .map_err(|e| KeyError::Kdf(e.to_string()))?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut secret = [0u8; SECRET_LEN];
        argon
            .hash_password_into(passphrase.as_bytes(), salt, &mut secret)
            .map_err(|e| KeyError::Kdf(e.to_string()))?;
        Ok(GroupKey::from_secret(&secret))
    }

    /// The key for the contents of a secret file (see the module docs).
    pub fn from_file_contents(bytes: &[u8]) -> Result<GroupKey, KeyError> {
        let text = std::str::from_utf8(bytes).map_err(|_| KeyError::NotText)?;
        // One trailing line ending is part of the file, not of the secret.
        let text = text
            .strip_suffix('\n')
            .map(|t| t.strip_suffix('\r').unwrap_or(t))
            .unwrap_or(text);
        if text.is_empty() {
            return Err(KeyError::Empty);
        }
        if let Some(rest) = text.strip_prefix(SECRET_FILE_PREFIX) {
            return Ok(GroupKey::from_secret(&parse_secret(rest)?));
        }
        if let Some(rest) = text.strip_prefix(PASSPHRASE_FILE_PREFIX) {
            let (group, passphrase) = rest
                .split_once('\n')
                .ok_or(KeyError::BadPassphraseFile("has no passphrase line"))?;
            let group = group.trim();
            if group.is_empty() {
                return Err(KeyError::BadPassphraseFile("names no group name"));
            }
            return GroupKey::from_group_passphrase(group, passphrase);
        }
        GroupKey::from_passphrase(text)
    }

    /// A deterministic key from a number (the simulator's, from its seed).
    pub fn from_seed(seed: u64) -> GroupKey {
        let mut secret = [0u8; SECRET_LEN];
        for (i, chunk) in secret.chunks_mut(8).enumerate() {
            let word =
                seed.rotate_left(i as u32 * 16) ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        GroupKey::from_secret(&secret)
    }

    /// Eight hex digits that name the key (derived, not part of it): two
    /// members can compare theirs to see whether they hold the same secret.
    pub fn fingerprint(&self) -> String {
        hex(&self.fingerprint)
    }

    /// The key for the datagrams `sender` seals in its run `epoch`.
    pub fn epoch_key(&self, sender: u64, epoch: u64) -> EpochKey {
        let mut prefix = [0u8; 16];
        prefix[..8].copy_from_slice(&sender.to_le_bytes());
        prefix[8..].copy_from_slice(&epoch.to_le_bytes());
        let subkey = chacha20::hchacha::<chacha20::R20>(&self.key, &prefix.into());
        EpochKey {
            cipher: ChaCha20Poly1305::new(&subkey),
        }
    }

    /// Encrypts `buf[from..]` in place and appends the tag; `buf[..from]`
    /// (the clear header) is the associated data.
    pub fn seal_in_place(&self, sender: u64, id: SealId, buf: &mut Vec<u8>, from: usize) {
        self.epoch_key(sender, id.epoch)
            .seal_in_place(id.seq, buf, from);
    }

    /// Checks and decrypts `sealed` (ciphertext then tag) into `out`
    /// (cleared first) with `header` as associated data.
    pub fn open_into(
        &self,
        sender: u64,
        id: SealId,
        header: &[u8],
        sealed: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), BadTag> {
        self.epoch_key(sender, id.epoch)
            .open_into(id.seq, header, sealed, out)
    }
}

/// The XChaCha20-Poly1305 key of one sender's run (see the module docs):
/// XChaCha20's subkey for the nonce prefix `sender ‖ epoch`, so that only
/// the sequence is left to give per datagram.
#[derive(Clone)]
pub struct EpochKey {
    cipher: ChaCha20Poly1305,
}

impl EpochKey {
    /// [`GroupKey::seal_in_place`] for this key's sender and epoch.
    pub fn seal_in_place(&self, seq: u64, buf: &mut Vec<u8>, from: usize) {
        self.seal_in_place_to(seq, None, buf, from);
    }

    /// [`EpochKey::seal_in_place`], bound to replica `to` if given (see
    /// the module docs).
    pub fn seal_in_place_to(&self, seq: u64, to: Option<u64>, buf: &mut Vec<u8>, from: usize) {
        let (header, payload) = buf.split_at_mut(from);
        let aad = Aad::new(header, to).expect("our own header is short");
        let tag = self
            .cipher
            .encrypt_inout_detached(&seq_nonce(seq), aad.bytes(), payload.into())
            .expect("a datagram is far below the AEAD's length limit");
        buf.extend_from_slice(&tag);
    }

    /// [`GroupKey::open_into`] for this key's sender and epoch.
    pub fn open_into(
        &self,
        seq: u64,
        header: &[u8],
        sealed: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), BadTag> {
        self.open_into_to(seq, None, header, sealed, out)
    }

    /// [`EpochKey::open_into`] for a datagram bound to replica `to`, if given.
    pub fn open_into_to(
        &self,
        seq: u64,
        to: Option<u64>,
        header: &[u8],
        sealed: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), BadTag> {
        let aad = Aad::new(header, to).ok_or(BadTag)?;
        let Some(split) = sealed.len().checked_sub(TAG_LEN) else {
            return Err(BadTag);
        };
        let (ciphertext, tag) = sealed.split_at(split);
        let tag = Tag::try_from(tag).map_err(|_| BadTag)?;
        out.clear();
        out.extend_from_slice(ciphertext);
        self.cipher
            .decrypt_inout_detached(
                &seq_nonce(seq),
                aad.bytes(),
                out.as_mut_slice().into(),
                &tag,
            )
            .map_err(|_| {
                out.clear();
                BadTag
            })
    }
}

/// The longest clear header of a sealed datagram: magic, version, sender,
/// document, and epoch and sequence as varints.
const MAX_CLEAR_HEADER: usize = 2 + 1 + 8 + 4 + 10 + 10;

/// Associated data: a clear header, then the replica it is bound to (if
/// any), on the stack.
struct Aad {
    buf: [u8; MAX_CLEAR_HEADER + 8],
    len: usize,
}

impl Aad {
    /// `None` if `header` is longer than any clear header.
    fn new(header: &[u8], to: Option<u64>) -> Option<Aad> {
        let mut aad = Aad {
            buf: [0; MAX_CLEAR_HEADER + 8],
            len: header.len(),
        };
        aad.buf.get_mut(..header.len())?.copy_from_slice(header);
        if let Some(to) = to {
            aad.buf[aad.len..aad.len + 8].copy_from_slice(&to.to_le_bytes());
            aad.len += 8;
        }
        Some(aad)
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Most epoch keys a [`SealKeys`] keeps: past it, it starts over (they
/// are derived again as datagrams come).
const MAX_EPOCH_KEYS: usize = 1024;

/// A group key and the epoch keys derived from it so far, by sender and
/// epoch: what a node seals and opens with. A key is kept only once a
/// datagram under it authenticated, so forged headers cannot fill it.
#[derive(Clone)]
pub struct SealKeys {
    group: GroupKey,
    epochs: BTreeMap<(u64, u64), EpochKey>,
}

impl SealKeys {
    pub fn new(group: GroupKey) -> SealKeys {
        SealKeys {
            group,
            epochs: BTreeMap::new(),
        }
    }

    pub fn group(&self) -> &GroupKey {
        &self.group
    }

    /// [`GroupKey::seal_in_place`], with the epoch key kept.
    pub fn seal_in_place(&mut self, sender: u64, id: SealId, buf: &mut Vec<u8>, from: usize) {
        self.seal_in_place_to(sender, id, None, buf, from);
    }

    /// [`SealKeys::seal_in_place`], bound to replica `to` if given.
    pub fn seal_in_place_to(
        &mut self,
        sender: u64,
        id: SealId,
        to: Option<u64>,
        buf: &mut Vec<u8>,
        from: usize,
    ) {
        if let Some(key) = self.epochs.get(&(sender, id.epoch)) {
            return key.seal_in_place_to(id.seq, to, buf, from);
        }
        let key = self.group.epoch_key(sender, id.epoch);
        key.seal_in_place_to(id.seq, to, buf, from);
        self.keep(sender, id.epoch, key);
    }

    /// [`GroupKey::open_into`], with the epoch key kept if the tag verifies.
    pub fn open_into(
        &mut self,
        sender: u64,
        id: SealId,
        header: &[u8],
        sealed: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), BadTag> {
        self.open_into_to(sender, id, None, header, sealed, out)
    }

    /// [`SealKeys::open_into`] for a datagram bound to replica `to`, if given.
    pub fn open_into_to(
        &mut self,
        sender: u64,
        id: SealId,
        to: Option<u64>,
        header: &[u8],
        sealed: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), BadTag> {
        if let Some(key) = self.epochs.get(&(sender, id.epoch)) {
            return key.open_into_to(id.seq, to, header, sealed, out);
        }
        let key = self.group.epoch_key(sender, id.epoch);
        key.open_into_to(id.seq, to, header, sealed, out)?;
        self.keep(sender, id.epoch, key);
        Ok(())
    }

    fn keep(&mut self, sender: u64, epoch: u64, key: EpochKey) {
        if self.epochs.len() >= MAX_EPOCH_KEYS {
            self.epochs.clear();
        }
        self.epochs.insert((sender, epoch), key);
    }

    /// How many epoch keys are kept (tests).
    pub fn kept(&self) -> usize {
        self.epochs.len()
    }
}

/// What `rumor keygen` writes: the prefix and 32 bytes in hex, one line.
pub fn secret_file_contents(secret: &[u8; SECRET_LEN]) -> String {
    format!("{SECRET_FILE_PREFIX} {}\n", hex(secret))
}

fn parse_secret(rest: &str) -> Result<[u8; SECRET_LEN], KeyError> {
    let digits = rest.trim();
    if rest.len() == digits.len() {
        return Err(KeyError::BadSecret("no space after the prefix"));
    }
    if digits.len() != 2 * SECRET_LEN {
        return Err(KeyError::BadSecret("not 64 hex digits"));
    }
    let mut secret = [0u8; SECRET_LEN];
    for (i, byte) in secret.iter_mut().enumerate() {
        let pair = digits
            .get(2 * i..2 * i + 2)
            .ok_or(KeyError::BadSecret("not 64 hex digits"))?;
        *byte =
            u8::from_str_radix(pair, 16).map_err(|_| KeyError::BadSecret("not 64 hex digits"))?;
    }
    Ok(secret)
}

/// XChaCha20's ChaCha20 nonce: four zero bytes, then the last 8 of the
/// 24-byte nonce (the sequence).
fn seq_nonce(seq: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&seq.to_le_bytes());
    Nonce::from(n)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};

    /// What XChaCha20-Poly1305 itself makes of `payload` (the reference).
    fn reference(
        key: &GroupKey,
        sender: u64,
        id: SealId,
        header: &[u8],
        payload: &[u8],
    ) -> Vec<u8> {
        let mut nonce = [0u8; 24];
        nonce[..8].copy_from_slice(&sender.to_le_bytes());
        nonce[8..16].copy_from_slice(&id.epoch.to_le_bytes());
        nonce[16..].copy_from_slice(&id.seq.to_le_bytes());
        let cipher = XChaCha20Poly1305::new(&key.key);
        let mut buf = header.to_vec();
        buf.extend_from_slice(payload);
        let (h, p) = buf.split_at_mut(header.len());
        let tag = cipher
            .encrypt_inout_detached(&XNonce::from(nonce), h, p.into())
            .unwrap();
        buf.extend_from_slice(&tag);
        buf
    }

    #[test]
    fn epoch_keys_give_exactly_xchacha20_poly1305() {
        let key = GroupKey::from_seed(9);
        let mut keys = SealKeys::new(key.clone());
        let header = b"clear header";
        for (sender, epoch, seq, len) in [
            (1u64, 0u64, 0u64, 0usize),
            (1, 0, 1, 5),
            (u64::MAX, 7, 1 << 40, 64),
            (42, u64::MAX, u64::MAX, 1300),
            (1, 1, 0, 100),
        ] {
            let id = SealId { epoch, seq };
            let payload: Vec<u8> = (0..len)
                .map(|i| (i as u64 * 7).wrapping_add(seq) as u8)
                .collect();
            let want = reference(&key, sender, id, header, &payload);
            for kept in [false, true] {
                let mut buf = header.to_vec();
                buf.extend_from_slice(&payload);
                keys.seal_in_place(sender, id, &mut buf, header.len());
                assert_eq!(buf, want, "{sender} {id:?} kept: {kept}");
                let mut plain = Vec::new();
                keys.open_into(sender, id, header, &buf[header.len()..], &mut plain)
                    .unwrap();
                assert_eq!(plain, payload);
            }
            let mut buf = header.to_vec();
            buf.extend_from_slice(&payload);
            key.seal_in_place(sender, id, &mut buf, header.len());
            assert_eq!(buf, want);
        }
    }

    #[test]
    fn only_authentic_datagrams_leave_a_key_behind() {
        let key = GroupKey::from_seed(1);
        let mut keys = SealKeys::new(key.clone());
        let id = SealId { epoch: 3, seq: 9 };
        let mut buf = b"hdrpayload".to_vec();
        key.seal_in_place(5, id, &mut buf, 3);
        let mut out = Vec::new();
        // Forged: another sender, another epoch, a flipped bit.
        assert_eq!(
            keys.open_into(6, id, b"hdr", &buf[3..], &mut out),
            Err(BadTag)
        );
        let other_epoch = SealId { epoch: 4, seq: 9 };
        assert_eq!(
            keys.open_into(5, other_epoch, b"hdr", &buf[3..], &mut out),
            Err(BadTag)
        );
        let mut bad = buf.clone();
        bad[4] ^= 1;
        assert_eq!(
            keys.open_into(5, id, b"hdr", &bad[3..], &mut out),
            Err(BadTag)
        );
        assert_eq!(keys.kept(), 0);
        keys.open_into(5, id, b"hdr", &buf[3..], &mut out).unwrap();
        assert_eq!(out, b"payload");
        assert_eq!(keys.kept(), 1);
        // A kept key still refuses altered bytes.
        assert_eq!(
            keys.open_into(5, id, b"hdr", &bad[3..], &mut out),
            Err(BadTag)
        );
        assert!(out.is_empty());
    }

    #[test]
    fn kept_keys_stay_bounded() {
        let key = GroupKey::from_seed(2);
        let mut keys = SealKeys::new(key);
        let mut buf = Vec::new();
        for epoch in 0..(MAX_EPOCH_KEYS as u64 + 10) {
            buf.clear();
            buf.extend_from_slice(b"x");
            keys.seal_in_place(1, SealId { epoch, seq: 0 }, &mut buf, 1);
            assert!(keys.kept() <= MAX_EPOCH_KEYS);
        }
    }
}
