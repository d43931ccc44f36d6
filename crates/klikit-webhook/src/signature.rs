//! Signing and verifying delivery bodies: lowercase hex of HMAC-SHA256, keyed with the
//! partner's `webhook_secret_key` (its UTF-8 bytes), over the exact body bytes sent.
//!
//! Always verify the raw body *before* parsing it: re-serialised JSON has different
//! bytes and will not verify.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Length in characters of a hex-encoded HMAC-SHA256.
pub const SIGNATURE_HEX_LEN: usize = 64;

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The `x-klikit-signature` header is absent or empty.
    #[error(
        "the x-klikit-signature header is missing: a proxy may have dropped x- headers, \
         or the request did not come from klikit"
    )]
    Missing,
    /// The signature contains a character other than `0-9a-f`.
    #[error(
        "the x-klikit-signature header is not lowercase hex: klikit sends 64 characters \
         of 0-9a-f"
    )]
    NotHex,
    /// The signature has the wrong number of characters.
    #[error(
        "the x-klikit-signature header has {found} characters, expected 64 \
         (check for stray whitespace or a truncated value)"
    )]
    WrongLength {
        /// How many characters the header had.
        found: usize,
    },
    /// The signature is well-formed but does not match the body.
    #[error(
        "the x-klikit-signature does not match the body: check the webhook_secret_key \
         (no stray trailing newline) and that you hash the raw body bytes, not re-serialised JSON"
    )]
    Mismatch,
}

impl SignatureError {
    /// A stable snake_case code for logs and JSON error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            SignatureError::Missing => "signature_missing",
            SignatureError::NotHex => "signature_not_hex",
            SignatureError::WrongLength { .. } => "signature_wrong_length",
            SignatureError::Mismatch => "signature_mismatch",
        }
    }
}

fn mac_over(secret: &[u8], body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length (longer ones are hashed first), so this
    // constructor cannot fail; the fallback exists only to avoid a panic path.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| <HmacSha256 as Mac>::new(&Default::default()));
    mac.update(body);
    mac
}

/// Signs `body` with `secret`: lowercase hex HMAC-SHA256, the `x-klikit-signature` value.
///
/// ```
/// let signature = klikit_webhook::sign(b"s3cr3t", br#"{"brand_id":1,"branch_id":2,"orders":[]}"#);
/// assert_eq!(signature, "395f3546a8adc086ac1931119043b76fd3e3eeeba9695d49e222540fb986db1e");
/// ```
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    hex::encode(mac_over(secret, body).finalize().into_bytes())
}

/// Verifies `signature` (the `x-klikit-signature` value, `None` if absent) over `body`.
///
/// The comparison of the decoded bytes is constant time. Only lowercase hex is
/// accepted, as klikit sends it; an empty header counts as missing. Nothing is trimmed.
pub fn verify(secret: &[u8], body: &[u8], signature: Option<&str>) -> Result<(), SignatureError> {
    verify_any(&[secret], body, signature).map(|_| ())
}

/// Verifies `signature` against several secrets and answers the index of the first
/// that matches: for the days around a webhook-secret rotation, when klikit signs with
/// the previous secret until the rotation's grace window ends and with the new one
/// after, so a receiver holding both accepts either. No secrets at all is a mismatch.
///
/// Each comparison is constant time; the header's format is checked once, as by
/// [`verify`].
///
/// ```
/// use klikit_webhook::{sign, verify_any, SignatureError};
///
/// let body = br#"{"brand_id":1,"branch_id":2,"orders":[]}"#;
/// let (old, new) = (b"whsk_old".as_slice(), b"whsk_new".as_slice());
/// // Before the switch klikit signs with the old secret, after it with the new one.
/// assert_eq!(verify_any(&[new, old], body, Some(&sign(old, body))), Ok(1));
/// assert_eq!(verify_any(&[new, old], body, Some(&sign(new, body))), Ok(0));
/// assert_eq!(
///     verify_any(&[new], body, Some(&sign(old, body))),
///     Err(SignatureError::Mismatch)
/// );
/// ```
pub fn verify_any<S: AsRef<[u8]>>(
    secrets: &[S],
    body: &[u8],
    signature: Option<&str>,
) -> Result<usize, SignatureError> {
    let expected = decode_signature(signature)?;
    secrets
        .iter()
        .position(|secret| {
            mac_over(secret.as_ref(), body)
                .verify_slice(&expected)
                .is_ok()
        })
        .ok_or(SignatureError::Mismatch)
}

/// Checks the header's format and decodes it.
fn decode_signature(signature: Option<&str>) -> Result<Vec<u8>, SignatureError> {
    let signature = match signature {
        None | Some("") => return Err(SignatureError::Missing),
        Some(signature) => signature,
    };
    let found = signature.chars().count();
    if found != SIGNATURE_HEX_LEN {
        return Err(SignatureError::WrongLength { found });
    }
    if !signature
        .bytes()
        .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(SignatureError::NotHex);
    }
    hex::decode(signature).map_err(|_| SignatureError::NotHex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        assert_eq!(SignatureError::Missing.code(), "signature_missing");
        assert_eq!(SignatureError::NotHex.code(), "signature_not_hex");
        assert_eq!(
            SignatureError::WrongLength { found: 3 }.code(),
            "signature_wrong_length"
        );
        assert_eq!(SignatureError::Mismatch.code(), "signature_mismatch");
    }

    #[test]
    fn empty_header_is_missing() {
        assert_eq!(
            verify(b"k", b"body", Some("")),
            Err(SignatureError::Missing)
        );
        assert_eq!(verify(b"k", b"body", None), Err(SignatureError::Missing));
    }

    #[test]
    fn any_of_several_secrets_verifies_and_is_named_by_index() {
        let body = b"{}";
        let secrets = [b"one".as_slice(), b"two".as_slice(), b"three".as_slice()];
        for (index, secret) in secrets.iter().enumerate() {
            assert_eq!(
                verify_any(&secrets, body, Some(&sign(secret, body))),
                Ok(index)
            );
        }
        assert_eq!(
            verify_any(&secrets, body, Some(&sign(b"four", body))),
            Err(SignatureError::Mismatch)
        );
        let none: [&[u8]; 0] = [];
        assert_eq!(
            verify_any(&none, body, Some(&sign(b"one", body))),
            Err(SignatureError::Mismatch)
        );
        // The header's format is judged before any secret is tried.
        assert_eq!(
            verify_any(&secrets, body, Some("00")),
            Err(SignatureError::WrongLength { found: 2 })
        );
        assert_eq!(
            verify_any(&secrets, body, None),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn multibyte_characters_count_as_characters() {
        let signature = "é".repeat(SIGNATURE_HEX_LEN);
        assert_eq!(
            verify(b"k", b"", Some(&signature)),
            Err(SignatureError::NotHex)
        );
    }
}
