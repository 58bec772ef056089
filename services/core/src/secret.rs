//! Secrets: generating them, hashing the ones Coupler only needs to check, and encrypting the ones it
//! must read back (OEM tokens).
//!
//! Every secret Coupler generates has 256 bits of entropy, so a single SHA-256 is enough to store it:
//! a slow password hash protects guessable human passwords, which these are not.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A freshly generated secret: 32 random bytes as URL-safe base64 (43 characters).
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A charger password: 20 random bytes as 40 lowercase hex digits. That is the form OCPP 1.6's
/// security profile gives an AuthorizationKey (a charger may send the text or the raw bytes), and it
/// fits OCPP 2.0.1's 16 to 40 character passwords.
pub fn generate_charger_password() -> String {
    let mut bytes = [0u8; 20];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The SHA-256 of a secret, as lowercase hex: what is stored instead of the secret.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SecretHash(String);

impl SecretHash {
    /// Wraps a hash read from storage.
    pub fn from_stored(hex: impl Into<String>) -> Self {
        Self(hex.into())
    }

    /// The hash as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `secret` hashes to this value, compared in constant time.
    pub fn matches(&self, secret: &str) -> bool {
        hash_secret(secret).0.as_bytes().ct_eq(self.0.as_bytes()).into()
    }
}

impl std::fmt::Debug for SecretHash {
    // Even a hash is kept out of logs: it identifies a credential.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

/// Hashes a secret for storage.
pub fn hash_secret(secret: &str) -> SecretHash {
    SecretHash(hex::encode(Sha256::digest(secret.as_bytes())))
}

/// The key that encrypts secrets at rest (`COUPLER_SECRET_KEY`): 32 bytes, written as base64 or hex.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

/// Why a configured secret key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the secret key must be 32 bytes written as base64 (44 characters) or hex (64 characters)")]
pub struct SecretKeyError;

impl SecretKey {
    /// A new random key.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// Reads a key written by [`SecretKey::encode`] (base64) or as 64 hex digits.
    pub fn parse(text: &str) -> Result<Self, SecretKeyError> {
        let text = text.trim();
        let bytes = if text.len() == 64 {
            hex::decode(text).map_err(|_| SecretKeyError)?
        } else {
            STANDARD.decode(text).map_err(|_| SecretKeyError)?
        };
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| SecretKeyError)?;
        Ok(Self(bytes))
    }

    /// The key as base64, the form Coupler writes to a key file.
    pub fn encode(&self) -> String {
        STANDARD.encode(self.0)
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// Why an encrypted value cannot be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    /// The stored text is not in the format [`Cipher::encrypt`] writes.
    #[error("the encrypted value is malformed")]
    Malformed,
    /// The value was encrypted with another key, or was altered.
    #[error("the encrypted value does not authenticate with this key")]
    WrongKeyOrTampered,
}

/// Authenticated encryption (AES-256-GCM) for secrets Coupler must read back, such as OEM tokens.
#[derive(Clone)]
pub struct Cipher {
    aead: Aes256Gcm,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(..)")
    }
}

/// Marks the format of stored ciphertexts, so the scheme can change without guessing.
const CIPHERTEXT_PREFIX: &str = "v1:";

impl Cipher {
    /// A cipher using `key`.
    pub fn new(key: &SecretKey) -> Self {
        Self {
            aead: Aes256Gcm::new(&key.0.into()),
        }
    }

    /// Encrypts `plaintext` with a fresh random nonce; the result is text, safe to store anywhere.
    pub fn encrypt(&self, plaintext: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        // Encryption with a valid key and a 12-byte nonce fails only past 64 GiB of input.
        let sealed = self
            .aead
            .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
            .unwrap_or_default();
        let mut out = Vec::with_capacity(nonce.len() + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        format!("{CIPHERTEXT_PREFIX}{}", URL_SAFE_NO_PAD.encode(out))
    }

    /// Decrypts a value written by [`Cipher::encrypt`].
    pub fn decrypt(&self, stored: &str) -> Result<String, DecryptError> {
        let body = stored.strip_prefix(CIPHERTEXT_PREFIX).ok_or(DecryptError::Malformed)?;
        let raw = URL_SAFE_NO_PAD.decode(body).map_err(|_| DecryptError::Malformed)?;
        if raw.len() < 12 {
            return Err(DecryptError::Malformed);
        }
        let (nonce, sealed) = raw.split_at(12);
        let plain = self
            .aead
            .decrypt(Nonce::from_slice(nonce), sealed)
            .map_err(|_| DecryptError::WrongKeyOrTampered)?;
        String::from_utf8(plain).map_err(|_| DecryptError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_secret_matches_its_hash_and_nothing_else() {
        let secret = generate_secret();
        assert_eq!(secret.len(), 43);
        let hash = hash_secret(&secret);
        assert!(hash.matches(&secret));
        assert!(!hash.matches(&generate_secret()));
        assert_ne!(hash.as_str(), secret);
    }

    #[test]
    fn a_secret_key_reads_back_from_base64_and_hex() {
        let key = SecretKey::generate();
        assert_eq!(SecretKey::parse(&key.encode()).unwrap().0, key.0);
        assert_eq!(SecretKey::parse(&hex::encode(key.0)).unwrap().0, key.0);
        assert_eq!(SecretKey::parse("short").unwrap_err(), SecretKeyError);
    }

    #[test]
    fn encrypted_values_decrypt_only_with_the_same_key_and_unaltered() {
        let cipher = Cipher::new(&SecretKey::generate());
        let sealed = cipher.encrypt("refresh-token-123");
        assert!(!sealed.contains("refresh-token-123"));
        assert_eq!(cipher.decrypt(&sealed).unwrap(), "refresh-token-123");
        assert_ne!(
            cipher.encrypt("x"),
            cipher.encrypt("x"),
            "each encryption uses a fresh nonce"
        );

        let other = Cipher::new(&SecretKey::generate());
        assert_eq!(other.decrypt(&sealed), Err(DecryptError::WrongKeyOrTampered));
        let mut tampered = sealed.clone();
        tampered.push('A');
        assert!(cipher.decrypt(&tampered).is_err());
        assert_eq!(cipher.decrypt("plain"), Err(DecryptError::Malformed));
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        assert_eq!(format!("{:?}", hash_secret("s")), "SecretHash(..)");
        assert_eq!(format!("{:?}", SecretKey::generate()), "SecretKey(..)");
    }
}
