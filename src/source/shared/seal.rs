//! Records sealed for their lineage: encrypted and authenticated with
//! AES-256-GCM, under a key derived (HKDF-SHA256) from the lineage's
//! secrets. Whoever reads a store without those secrets (a Redis user, a
//! backup of a directory) learns no token and cannot forge or move a
//! record: it is bound to its lineage's name, from which its key is derived
//! (and which the record names again inside the seal).
//!
//! No associated data is authenticated beside the record: the name is in
//! the key already, and valgrind takes the tag of ring's GHASH over
//! associated data for uninitialised bytes (as it does OpenSSL's), which
//! would hide real reports behind a suppression.
//!
//! A sealed record is [`MAGIC`], a random 96-bit nonce, then the
//! ciphertext and its tag. Every store keeps this one format.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf::{HKDF_SHA256, Salt};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

/// Bumped when the format or the derivation changes: a record of another
/// version does not open, and is replaced by the next write.
const MAGIC: &[u8; 8] = b"criteo\x01\x01";
/// The HKDF salt: names what the key is for.
const SALT: &[u8] = b"criteo-oauth sealed record 1";

/// The key of one lineage's records. Kept as its 32 bytes, and made into
/// a cipher for each record sealed or opened: a source whose store it
/// never uses (most never fork) holds no cipher's tables.
pub(super) struct Seal {
    key: Zeroizing<[u8; 32]>,
}

/// HKDF's output, as the bytes of a key.
struct KeyBytes(usize);

impl ring::hkdf::KeyType for KeyBytes {
    fn len(&self) -> usize {
        self.0
    }
}

impl Seal {
    /// The seal of the lineage called `name` (its whole keyed hash), whose
    /// secrets are `secrets` (the client secret, and the code or refresh
    /// token it starts from).
    pub(super) fn new(secrets: &[&str], name: &str) -> Seal {
        let mut material = Zeroizing::new(Vec::new());
        for secret in secrets {
            material.extend_from_slice(secret.as_bytes());
            material.push(0);
        }
        let info = [name.as_bytes()];
        let pseudorandom = Salt::new(HKDF_SHA256, SALT).extract(&material);
        let mut key = Zeroizing::new([0; 32]);
        pseudorandom
            .expand(&info, KeyBytes(AES_256_GCM.key_len()))
            .and_then(|okm| okm.fill(&mut key[..]))
            .expect("AES-256-GCM's key length is within HKDF-SHA256's output");
        Seal { key }
    }

    fn cipher(&self) -> LessSafeKey {
        let key = UnboundKey::new(&AES_256_GCM, &self.key[..]).expect("a 256-bit key");
        LessSafeKey::new(key)
    }

    /// `record` sealed, with a fresh random nonce; `None` when the system
    /// gives no random bytes (a nonce used twice would open the key).
    pub(super) fn seal(&self, record: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let mut nonce = [0; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).ok()?;
        let mut sealed = Zeroizing::new(Vec::with_capacity(
            MAGIC.len() + NONCE_LEN + record.len() + AES_256_GCM.tag_len(),
        ));
        sealed.extend_from_slice(MAGIC);
        sealed.extend_from_slice(&nonce);
        let start = sealed.len();
        sealed.extend_from_slice(record);
        let tag = self
            .cipher()
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut sealed[start..],
            )
            .expect("a record is far shorter than AES-GCM's limit");
        sealed.extend_from_slice(tag.as_ref());
        Some(sealed)
    }

    /// The record sealed in `sealed`; `None` when it does not open (of
    /// another format, lineage or key, or altered).
    pub(super) fn open(&self, sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let rest = sealed.strip_prefix(MAGIC)?;
        if rest.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut opened = Zeroizing::new(ciphertext.to_vec());
        let length = self
            .cipher()
            .open_in_place(nonce, Aad::empty(), &mut opened)
            .ok()?
            .len();
        opened.truncate(length);
        Some(opened)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_record_opens_only_for_its_lineage_and_keys_and_shows_nothing() {
        let seal = Seal::new(&["secret", "rt-0"], "lineage-a");
        let record = br#"{"access_token":"tok"}"#;
        let sealed = seal.seal(record).unwrap();
        assert_eq!(
            seal.open(&sealed).as_deref().map(Vec::as_slice),
            Some(&record[..])
        );
        assert!(!sealed.windows(3).any(|w| w == b"tok"));
        assert_ne!(
            *sealed,
            *seal.seal(record).unwrap(),
            "each seal has its own nonce"
        );
        for other in [
            Seal::new(&["Secret", "rt-0"], "lineage-a"),
            Seal::new(&["secret", "rt-1"], "lineage-a"),
            Seal::new(&["secret", "rt-0"], "lineage-b"),
        ] {
            assert!(other.open(&sealed).is_none());
        }
        for cut in [0, 8, 20, sealed.len() - 1] {
            assert!(seal.open(&sealed[..cut]).is_none());
        }
        let mut altered = sealed.clone();
        altered[25] ^= 1;
        assert!(seal.open(&altered).is_none());
        assert!(seal.open(record).is_none(), "a plain record does not open");
    }
}
