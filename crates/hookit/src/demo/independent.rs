//! A second verifier, independent of this project's `klikit-webhook` crate: the seed
//! page's recipe (HMAC-SHA256 of the raw body with the webhook secret, lowercase
//! hex) written out in a few lines with `hmac` and `sha2`, as a partner would.
//!
//! If `klikit-webhook` both signed and verified wrongly in the same way, the demo's
//! receiver would not notice; this one would.

use crate::credentials::Secret;
use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Whether the request's `x-klikit-signature` is the HMAC-SHA256 of `body` under one
/// of `secrets`.
pub fn verify_any(secrets: &[Secret], headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(received) = headers
        .get("x-klikit-signature")
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    secrets.iter().any(|secret| {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) else {
            return false;
        };
        mac.update(body);
        let expected = hex::encode(mac.finalize().into_bytes());
        // Not constant-time: the demo checks its own deliveries, it guards nothing.
        expected == received
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_seed_signature_vector() {
        let vectors: serde_json::Value = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../klikit-webhook/tests/data/signature-vectors.json"
        )))
        .expect("vectors are JSON");
        use base64::Engine;
        for case in vectors["cases"].as_array().expect("cases") {
            let (Some(secret), Some(body), Some(signature)) = (
                case["secret"].as_str(),
                case["body_b64"].as_str(),
                case["signature"].as_str(),
            ) else {
                continue;
            };
            let body = base64::engine::general_purpose::STANDARD
                .decode(body)
                .expect("base64");
            let mut headers = HeaderMap::new();
            headers.insert("x-klikit-signature", signature.parse().expect("header"));
            let secrets = [Secret::new(secret)];
            assert!(verify_any(&secrets, &headers, &body), "{}", case["name"]);
            assert!(!verify_any(&[Secret::new("other")], &headers, &body));
        }
    }
}
