//! Which webhook secret signs an attempt, and the signature headers it carries.
//!
//! `x-klikit-signature` holds one signature: during a rotation's grace window it is
//! made with the previous secret, from the switch time on with the current one. A
//! partner on `klikit+standard` also gets the Standard Webhooks headers, whose
//! `webhook-signature` lists a signature per live secret (both during a grace window),
//! so a Standard Webhooks library verifies with either secret. The decision compares
//! the stored switch time with the clock the caller passes in.

use crate::credentials::{MasterKey, Secret};
use crate::store::{ClaimedDelivery, Millis, SignatureScheme};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use klikit_webhook::header;
use sha2::Sha256;

/// A partner's live webhook secrets, decrypted for one attempt.
pub struct LiveSecrets {
    /// The newest secret.
    pub current: Secret,
    /// The secret that signs until the given time, while a grace window is open.
    pub previous: Option<(Secret, Millis)>,
}

impl LiveSecrets {
    /// Decrypts the secrets of a claimed delivery (each bound to its partner id); an
    /// error says why, for the attempt record.
    pub fn decrypt(master_key: &MasterKey, delivery: &ClaimedDelivery) -> Result<Self, String> {
        let decrypt = |encrypted: &[u8]| {
            master_key
                .decrypt(encrypted, delivery.partner_id.as_bytes())
                .map_err(|err| err.to_string())
        };
        let previous = match (
            &delivery.previous_webhook_secret_encrypted,
            delivery.webhook_secret_switch_at,
        ) {
            (Some(encrypted), Some(switch_at)) => Some((decrypt(encrypted)?, switch_at)),
            _ => None,
        };
        Ok(LiveSecrets {
            current: decrypt(&delivery.webhook_secret_encrypted)?,
            previous,
        })
    }

    /// The secrets live at `now`, the one that signs `x-klikit-signature` first: the
    /// previous secret before its switch time, then the current one alone.
    pub fn live_at(&self, now: Millis) -> Vec<&Secret> {
        match &self.previous {
            Some((previous, switch_at)) if now < *switch_at => vec![previous, &self.current],
            _ => vec![&self.current],
        }
    }
}

/// Header (name, value) pairs to send with an attempt.
pub type Headers = Vec<(&'static str, String)>;

/// The signature headers of one attempt made at `now`.
pub fn signature_headers(
    secrets: &LiveSecrets,
    scheme: SignatureScheme,
    event_id: &str,
    body: &[u8],
    now: Millis,
) -> Headers {
    let live = secrets.live_at(now);
    let signing = live[0];
    let mut headers = vec![(
        header::SIGNATURE,
        klikit_webhook::sign(signing.expose().as_bytes(), body),
    )];
    if scheme.includes_standard() {
        let timestamp = now.div_euclid(1000).to_string();
        let signatures: Vec<String> = live
            .iter()
            .map(|secret| standard_signature(secret, event_id, &timestamp, body))
            .collect();
        headers.push((header::WEBHOOK_ID, event_id.to_owned()));
        headers.push((header::WEBHOOK_TIMESTAMP, timestamp));
        headers.push((header::WEBHOOK_SIGNATURE, signatures.join(" ")));
    }
    headers
}

/// `v1,` + base64 of HMAC-SHA256 over `{id}.{timestamp}.{body}`, keyed with the UTF-8
/// bytes of the `whsk_…` secret (the key a Standard Webhooks library decodes from the
/// `whsec_…` form of the same secret).
fn standard_signature(secret: &Secret, event_id: &str, timestamp: &str, body: &[u8]) -> String {
    // HMAC takes keys of any length, so this cannot fail; the fallback only avoids a
    // panic path.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose().as_bytes())
        .unwrap_or_else(|_| <Hmac<Sha256> as Mac>::new(&Default::default()));
    mac.update(event_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(switch_at: Millis) -> LiveSecrets {
        LiveSecrets {
            current: Secret::new("whsk_new".to_owned()),
            previous: Some((Secret::new("whsk_old".to_owned()), switch_at)),
        }
    }

    fn header_value<'a>(headers: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }

    #[test]
    fn the_previous_secret_signs_until_the_switch_then_the_current_one() {
        let body = b"{}";
        let before =
            signature_headers(&secrets(1_000), SignatureScheme::Klikit, "evt_1", body, 999);
        let at = signature_headers(
            &secrets(1_000),
            SignatureScheme::Klikit,
            "evt_1",
            body,
            1_000,
        );
        let old = klikit_webhook::sign(b"whsk_old", body);
        let new = klikit_webhook::sign(b"whsk_new", body);
        assert_eq!(header_value(&before, header::SIGNATURE), Some(old.as_str()));
        assert_eq!(header_value(&at, header::SIGNATURE), Some(new.as_str()));
        assert_eq!(before.len(), 1, "no Standard Webhooks headers for `klikit`");
    }

    #[test]
    fn standard_headers_carry_one_signature_per_live_secret() {
        let scheme = SignatureScheme::KlikitStandard;
        let during = signature_headers(&secrets(10_000), scheme, "evt_1", b"{}", 9_999);
        assert_eq!(header_value(&during, header::WEBHOOK_ID), Some("evt_1"));
        assert_eq!(header_value(&during, header::WEBHOOK_TIMESTAMP), Some("9"));
        let signatures = header_value(&during, header::WEBHOOK_SIGNATURE).unwrap_or_default();
        assert_eq!(signatures.split(' ').count(), 2, "{signatures}");
        assert!(signatures.split(' ').all(|s| s.starts_with("v1,")));
        let after = signature_headers(&secrets(10_000), scheme, "evt_1", b"{}", 10_000);
        let signatures = header_value(&after, header::WEBHOOK_SIGNATURE).unwrap_or_default();
        assert_eq!(signatures.split(' ').count(), 1, "{signatures}");
    }
}
