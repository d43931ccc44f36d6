//! Secrets and credentials: the [`Secret`] type, partner credentials and operator/ingest
//! tokens, hashing of secrets that are only ever verified, encryption at rest of the
//! webhook secrets hookit must be able to sign with, and the bootstrap secrets
//! (`root` operator token, ingest token, master key) that `hookit serve` keeps in its
//! data directory when they are not configured.
//!
//! Invariant: no secret value is ever written to `Debug` output, `Display` output or a log.

mod bootstrap;

pub use bootstrap::{BootstrapSecret, SecretSource, load_or_create};

use std::fmt;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::distributions::Alphanumeric;
use rand::rngs::OsRng;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Prefix of a partner's public key.
pub const PARTNER_KEY_PREFIX: &str = "pk_";
/// Prefix of a partner's API secret (stored only as a hash).
pub const SECRET_KEY_PREFIX: &str = "sk_";
/// Prefix of a partner's webhook signing secret (stored encrypted).
pub const WEBHOOK_SECRET_PREFIX: &str = "whsk_";
/// Prefix of operator bearer tokens.
pub const OPERATOR_TOKEN_PREFIX: &str = "hkop_";
/// Prefix of ingest bearer tokens.
pub const INGEST_TOKEN_PREFIX: &str = "hkin_";

/// 43 base62 characters carry 43 × log2(62) ≈ 256.03 bits, the strength of the master key.
const SECRET_RANDOM_CHARS: usize = 43;
/// The partner key is an identifier, not a secret; 24 base62 characters (≈ 143 bits)
/// make collisions impossible in practice while keeping it short enough to read.
const PARTNER_KEY_RANDOM_CHARS: usize = 24;

const HASH_PREFIX: &str = "sha256:";
const CIPHERTEXT_VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// A secret string: zeroized when dropped, printed as `[redacted]`, compared in
/// constant time.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl PartialEq for Secret {
    /// Compares the SHA-256 digests in constant time, so neither the content nor the
    /// length of a secret leaks through timing.
    fn eq(&self, other: &Self) -> bool {
        use sha2::Digest as _;
        use subtle::ConstantTimeEq as _;
        sha2::Sha256::digest(self.0.as_bytes())
            .ct_eq(&sha2::Sha256::digest(other.0.as_bytes()))
            .into()
    }
}

impl Eq for Secret {}

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The secret value. Call only where the value is really needed (signing, comparing,
    /// writing it to its file, showing it once to the operator who asked for it).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    // Lets clap parse flags and environment variables straight into a `Secret`.
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A new partner's credentials, shown to the operator once.
#[derive(Debug, Clone)]
pub struct PartnerCredentials {
    /// Public identifier, the user name of the partner API's Basic auth.
    pub partner_key: String,
    /// Password of the partner API's Basic auth; stored only as [`hash_secret`].
    pub secret_key: Secret,
    /// Key of the `x-klikit-signature` HMAC; stored encrypted under the [`MasterKey`].
    pub webhook_secret_key: Secret,
}

/// Errors about secrets, their files and their encryption.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error(
        "the master key must be 64 hex characters or the base64 encoding of 32 bytes; \
         the value given is neither ({length} characters){hint}"
    )]
    InvalidMasterKey { length: usize, hint: &'static str },
    #[error(
        "cannot decrypt the webhook secret: the master key differs from the one it was \
         encrypted with (or the stored value was altered, or belongs to another partner)"
    )]
    Decrypt,
    #[error(
        "the stored webhook secret is not in a format this hookit understands \
         ({detail}); was it written by a newer version of hookit?"
    )]
    CiphertextFormat { detail: String },
    #[error(
        "the decrypted webhook secret is not UTF-8 text; the stored value is corrupt — \
         rotate the partner's webhook secret"
    )]
    NotText,
    #[error("{kind} file {path}: {action} failed: {source}")]
    File {
        kind: BootstrapSecret,
        path: std::path::PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
    #[error(
        "{kind} file {path} can be read by other users (mode {mode:04o}); \
         run `chmod 600 {path}` and start again"
    )]
    FileTooOpen {
        kind: BootstrapSecret,
        path: std::path::PathBuf,
        mode: u32,
    },
    #[error(
        "{kind} file {path} is empty; delete it to have a new one generated, or write the value into it"
    )]
    FileEmpty {
        kind: BootstrapSecret,
        path: std::path::PathBuf,
    },
}

/// Fresh credentials for a new partner.
pub fn generate_partner_credentials() -> PartnerCredentials {
    PartnerCredentials {
        partner_key: format!(
            "{PARTNER_KEY_PREFIX}{}",
            random_base62(PARTNER_KEY_RANDOM_CHARS).as_str()
        ),
        secret_key: generate_secret_key(),
        webhook_secret_key: generate_webhook_secret(),
    }
}

/// A fresh partner API secret (`sk_…`, 256 bits of randomness).
pub fn generate_secret_key() -> Secret {
    generate_token(SECRET_KEY_PREFIX)
}

/// A fresh webhook signing secret (`whsk_…`, 256 bits of randomness).
pub fn generate_webhook_secret() -> Secret {
    generate_token(WEBHOOK_SECRET_PREFIX)
}

/// Prefix of the Standard Webhooks form of a webhook secret.
pub const STANDARD_WEBHOOK_SECRET_PREFIX: &str = "whsec_";

/// The Standard Webhooks form of a `whsk_…` webhook secret: `whsec_` + base64 of the
/// secret string's UTF-8 bytes. Standard Webhooks libraries decode the part after the
/// prefix and key their HMAC with it, so they verify `webhook-signature` with the very
/// key that signs `x-klikit-signature`.
pub fn standard_webhook_secret(webhook_secret: &Secret) -> Secret {
    let encoded = Zeroizing::new(
        base64::engine::general_purpose::STANDARD.encode(webhook_secret.expose().as_bytes()),
    );
    Secret::new(format!(
        "{STANDARD_WEBHOOK_SECRET_PREFIX}{}",
        encoded.as_str()
    ))
}

/// A fresh secret with a readable prefix (e.g. [`OPERATOR_TOKEN_PREFIX`]) followed by
/// 43 base62 characters (256 bits) from the operating system's CSPRNG.
pub fn generate_token(prefix: &str) -> Secret {
    let mut value = String::with_capacity(prefix.len() + SECRET_RANDOM_CHARS);
    value.push_str(prefix);
    value.push_str(&random_base62(SECRET_RANDOM_CHARS));
    Secret::new(value)
}

fn random_base62(len: usize) -> Zeroizing<String> {
    // `Alphanumeric` samples [A-Za-z0-9] uniformly (by rejection), so every character
    // carries the full log2(62) bits.
    Zeroizing::new(
        OsRng
            .sample_iter(&Alphanumeric)
            .take(len)
            .map(char::from)
            .collect(),
    )
}

/// The stored form of a secret that hookit only verifies (partner `secret_key`s, operator
/// and ingest tokens): `sha256:<hex>`.
///
/// A plain SHA-256 is right here, not a password hash (argon2, bcrypt): these secrets are
/// 256 bits drawn from a CSPRNG, so there is no dictionary to try and brute force is
/// hopeless however fast the hash is, while a slow KDF would cost CPU on every API call.
pub fn hash_secret(secret: &str) -> String {
    format!(
        "{HASH_PREFIX}{}",
        hex::encode(Sha256::digest(secret.as_bytes()))
    )
}

/// Whether `secret` hashes to `stored_hash` (from [`hash_secret`]), compared in constant
/// time so that response timing reveals nothing about the stored hash.
pub fn secret_matches(secret: &str, stored_hash: &str) -> bool {
    let Some(stored) = stored_hash.strip_prefix(HASH_PREFIX) else {
        return false;
    };
    let mut expected = [0u8; 32];
    if hex::decode_to_slice(stored, &mut expected).is_err() {
        return false;
    }
    let actual = Sha256::digest(secret.as_bytes());
    actual.as_slice().ct_eq(&expected).into()
}

/// The key that encrypts webhook secrets at rest. It lives outside the database (in the
/// environment or the data directory), so a copy of the database alone reveals no secret.
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl MasterKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(key.as_mut());
        Self(key)
    }

    /// Parses a key written as 64 hex characters or as base64 (standard or URL-safe,
    /// padded or not) of 32 bytes. Surrounding whitespace is ignored.
    pub fn from_text(text: &str) -> Result<Self, CredentialError> {
        let text = text.trim();
        let mut key = Zeroizing::new([0u8; 32]);
        if text.len() == 64 && hex::decode_to_slice(text, key.as_mut()).is_ok() {
            return Ok(Self(key));
        }
        let engines = [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            &base64::engine::general_purpose::URL_SAFE,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        for engine in engines {
            match engine.decode(text).map(Zeroizing::new) {
                Ok(bytes) if bytes.len() == 32 => {
                    key.copy_from_slice(&bytes);
                    return Ok(Self(key));
                }
                _ => {}
            }
        }
        let hint = if text.is_empty() {
            ""
        } else {
            "; generate one with `openssl rand -hex 32`"
        };
        Err(CredentialError::InvalidMasterKey {
            length: text.chars().count(),
            hint,
        })
    }

    /// The key as 64 lowercase hex characters, the form hookit writes to its key file.
    pub fn to_text(&self) -> Secret {
        Secret::new(hex::encode(self.0.as_ref()))
    }

    /// Encrypts `plaintext` with XChaCha20-Poly1305 under a fresh random 24-byte nonce,
    /// bound to `associated_data` (the partner id), so that a ciphertext copied to another
    /// partner's row does not decrypt. Output: version byte ‖ nonce ‖ ciphertext ‖ tag.
    pub fn encrypt(&self, plaintext: &[u8], associated_data: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        // A random 192-bit nonce never repeats in practice, so no counter needs storing.
        OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher()
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: associated_data,
                },
            )
            // XChaCha20-Poly1305 fails only for plaintexts over 256 GiB, which a value held
            // in memory and stored in one database row cannot reach.
            .expect("XChaCha20-Poly1305 encryption of an in-memory value cannot fail");
        let mut blob = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        blob.push(CIPHERTEXT_VERSION);
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&sealed);
        blob
    }

    /// Decrypts a blob from [`MasterKey::encrypt`] made with the same associated data.
    pub fn decrypt(&self, blob: &[u8], associated_data: &[u8]) -> Result<Secret, CredentialError> {
        let Some((&version, rest)) = blob.split_first() else {
            return Err(CredentialError::CiphertextFormat {
                detail: "it is empty".into(),
            });
        };
        if version != CIPHERTEXT_VERSION {
            return Err(CredentialError::CiphertextFormat {
                detail: format!("format version {version}, expected {CIPHERTEXT_VERSION}"),
            });
        }
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(CredentialError::CiphertextFormat {
                detail: format!(
                    "{} bytes, at least {} expected",
                    blob.len(),
                    1 + NONCE_LEN + TAG_LEN
                ),
            });
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let plaintext = self
            .cipher()
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: associated_data,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CredentialError::Decrypt)?;
        let text = std::str::from_utf8(&plaintext).map_err(|_| CredentialError::NotText)?;
        Ok(Secret::new(text))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.0.as_ref().into())
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

#[cfg(test)]
mod tests;
