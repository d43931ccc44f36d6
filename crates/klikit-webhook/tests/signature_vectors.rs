//! Every case of `data/signature-vectors.json` (a copy of the shared vectors): signs to
//! its signature and verifies, and every tampering with body or signature fails.

use base64::Engine;
use klikit_webhook::{SignatureError, sign, verify};

struct Case {
    name: String,
    secret: String,
    body: Vec<u8>,
    signature: String,
}

fn cases() -> Vec<Case> {
    let text = include_str!("data/signature-vectors.json");
    let json: serde_json::Value = serde_json::from_str(text).expect("vectors file is JSON");
    let cases = json["cases"].as_array().expect("cases is an array");
    assert!(cases.len() >= 8, "expected the full vector set");
    cases
        .iter()
        .map(|case| Case {
            name: case["name"].as_str().expect("name").to_owned(),
            secret: case["secret"].as_str().expect("secret").to_owned(),
            body: base64::engine::general_purpose::STANDARD
                .decode(case["body_b64"].as_str().expect("body_b64"))
                .expect("body is base64"),
            signature: case["signature"].as_str().expect("signature").to_owned(),
        })
        .collect()
}

/// Positions to tamper with: all of them for small bodies, a sample for large ones.
fn positions(len: usize) -> Vec<usize> {
    if len <= 4096 {
        return (0..len).collect();
    }
    let mut sampled: Vec<usize> = (0..len).step_by(97).collect();
    sampled.push(len - 1);
    sampled
}

#[test]
fn every_case_signs_and_verifies() {
    for case in cases() {
        let secret = case.secret.as_bytes();
        assert_eq!(sign(secret, &case.body), case.signature, "{}", case.name);
        assert_eq!(
            verify(secret, &case.body, Some(&case.signature)),
            Ok(()),
            "{}",
            case.name
        );
    }
}

#[test]
fn every_body_byte_change_fails() {
    for case in cases() {
        let secret = case.secret.as_bytes();
        for at in positions(case.body.len()) {
            let mut body = case.body.clone();
            body[at] ^= 0x01;
            assert_eq!(
                verify(secret, &body, Some(&case.signature)),
                Err(SignatureError::Mismatch),
                "{} byte {at}",
                case.name
            );
        }
        let mut longer = case.body.clone();
        longer.push(b'\n');
        assert_eq!(
            verify(secret, &longer, Some(&case.signature)),
            Err(SignatureError::Mismatch),
            "{} with a trailing newline",
            case.name
        );
    }
}

#[test]
fn every_signature_character_change_fails() {
    for case in cases() {
        let secret = case.secret.as_bytes();
        for at in 0..case.signature.len() {
            let mut signature = case.signature.clone().into_bytes();
            signature[at] = if signature[at] == b'0' { b'1' } else { b'0' };
            let signature = String::from_utf8(signature).expect("ASCII");
            assert_eq!(
                verify(secret, &case.body, Some(&signature)),
                Err(SignatureError::Mismatch),
                "{} char {at}",
                case.name
            );
        }
    }
}

#[test]
fn malformed_signatures_say_why() {
    for case in cases() {
        let secret = case.secret.as_bytes();
        let body = &case.body;
        let upper = case.signature.to_uppercase();
        assert_eq!(
            verify(secret, body, Some(&upper)),
            Err(SignatureError::NotHex)
        );
        let short = &case.signature[..63];
        assert_eq!(
            verify(secret, body, Some(short)),
            Err(SignatureError::WrongLength { found: 63 })
        );
        let padded = format!("{}\n", case.signature);
        assert_eq!(
            verify(secret, body, Some(&padded)),
            Err(SignatureError::WrongLength { found: 65 })
        );
        let not_hex = format!("{}g", &case.signature[..63]);
        assert_eq!(
            verify(secret, body, Some(&not_hex)),
            Err(SignatureError::NotHex)
        );
        assert_eq!(verify(secret, body, None), Err(SignatureError::Missing));
        let wrong_secret = format!("{}\n", case.secret);
        assert_eq!(
            verify(wrong_secret.as_bytes(), body, Some(&case.signature)),
            Err(SignatureError::Mismatch),
            "a stray trailing newline in the secret must not verify"
        );
    }
}

#[test]
fn error_messages_name_the_cause() {
    assert!(SignatureError::Missing.to_string().contains("missing"));
    assert!(SignatureError::NotHex.to_string().contains("hex"));
    assert!(
        SignatureError::WrongLength { found: 63 }
            .to_string()
            .contains("63")
    );
    assert!(SignatureError::Mismatch.to_string().contains("raw body"));
}
