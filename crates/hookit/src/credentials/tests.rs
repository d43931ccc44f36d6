//! Tests of secret generation, hashing and encryption at rest.

use super::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[test]
fn generated_credentials_have_prefixes_and_full_strength() {
    let creds = generate_partner_credentials();
    assert!(creds.partner_key.starts_with("pk_"));
    assert_eq!(creds.partner_key.len(), 3 + 24);
    assert!(creds.secret_key.expose().starts_with("sk_"));
    assert_eq!(creds.secret_key.expose().len(), 3 + 43);
    assert!(creds.webhook_secret_key.expose().starts_with("whsk_"));
    assert_eq!(creds.webhook_secret_key.expose().len(), 5 + 43);
    assert_ne!(generate_secret_key(), generate_secret_key());
    assert!(
        generate_token(OPERATOR_TOKEN_PREFIX)
            .expose()
            .starts_with("hkop_")
    );
}

#[test]
fn debug_output_never_shows_secrets() {
    let creds = generate_partner_credentials();
    let printed = format!("{creds:?} {:?}", MasterKey::generate());
    assert!(!printed.contains(creds.secret_key.expose()), "{printed}");
    assert!(
        !printed.contains(creds.webhook_secret_key.expose()),
        "{printed}"
    );
    assert!(printed.contains("[redacted]"), "{printed}");
}

#[test]
fn hash_and_match() {
    let secret = generate_secret_key();
    let stored = hash_secret(secret.expose());
    assert!(stored.starts_with("sha256:"));
    assert_eq!(stored.len(), 7 + 64);
    assert!(secret_matches(secret.expose(), &stored));
    assert!(!secret_matches("sk_wrong", &stored));
    assert!(!secret_matches(secret.expose(), "sha256:zz"));
    assert!(!secret_matches(secret.expose(), &stored[7..]));
    assert!(!secret_matches("", ""));
}

#[test]
fn master_key_accepts_hex_and_base64_only() -> TestResult {
    let hex_text = "00".repeat(31) + "ff";
    let from_hex = MasterKey::from_text(&format!(" {hex_text}\n"))?;
    assert_eq!(from_hex.to_text().expose(), hex_text);
    let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    assert_eq!(
        MasterKey::from_text(&b64)?.to_text().expose(),
        "07".repeat(32)
    );
    for bad in ["", "abc", &"0".repeat(63), &"g".repeat(64), "AAAA"] {
        let err = MasterKey::from_text(bad)
            .err()
            .ok_or(format!("accepted {bad:?}"))?;
        assert!(err.to_string().contains("64 hex characters"), "{err}");
    }
    Ok(())
}

#[test]
fn encrypt_round_trip_with_fresh_nonces() -> TestResult {
    let key = MasterKey::generate();
    let secret = generate_webhook_secret();
    let blob = key.encrypt(secret.expose().as_bytes(), b"partner-1");
    assert_eq!(blob[0], 1);
    assert_eq!(blob.len(), 1 + 24 + secret.expose().len() + 16);
    assert_eq!(key.decrypt(&blob, b"partner-1")?, secret);
    assert_ne!(blob, key.encrypt(secret.expose().as_bytes(), b"partner-1"));
    Ok(())
}

#[test]
fn wrong_key_wrong_partner_and_tampering_fail() {
    let key = MasterKey::generate();
    let blob = key.encrypt(b"whsk_x", b"partner-1");
    let wrong_key = MasterKey::generate().decrypt(&blob, b"partner-1").err();
    assert!(matches!(wrong_key, Some(CredentialError::Decrypt)));
    let message = wrong_key.map(|e| e.to_string()).unwrap_or_default();
    assert!(message.starts_with(
        "cannot decrypt the webhook secret: the master key differs from the one it was encrypted with"
    ));
    assert!(matches!(
        key.decrypt(&blob, b"partner-2"),
        Err(CredentialError::Decrypt)
    ));
    for index in 1..blob.len() {
        let mut tampered = blob.clone();
        tampered[index] ^= 0x01;
        assert!(
            key.decrypt(&tampered, b"partner-1").is_err(),
            "byte {index}"
        );
    }
    let mut other_version = blob.clone();
    other_version[0] = 2;
    assert!(matches!(
        key.decrypt(&other_version, b"partner-1"),
        Err(CredentialError::CiphertextFormat { .. })
    ));
    assert!(matches!(
        key.decrypt(&blob[..30], b"partner-1"),
        Err(CredentialError::CiphertextFormat { .. })
    ));
}

#[test]
fn the_standard_form_of_a_webhook_secret_is_whsec_and_base64_of_its_bytes() {
    let secret = Secret::new("whsk_abc".to_owned());
    // base64 of the bytes of "whsk_abc", as Python's base64.b64encode gives it.
    assert_eq!(
        standard_webhook_secret(&secret).expose(),
        "whsec_d2hza19hYmM="
    );
}
