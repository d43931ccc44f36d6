//! Header names of a klikit webhook delivery, and [`HeaderLookup`] to read them from
//! whatever header type a web framework hands you.

/// Lowercase hex HMAC-SHA256 of the exact body bytes, keyed with the partner's
/// `webhook_secret_key`.
pub const SIGNATURE: &str = "x-klikit-signature";
/// One id per delivery, the same on every retry and replay of it: de-dupe on it.
pub const EVENT_ID: &str = "x-klikit-event-id";
/// One of the [`EventType`](crate::EventType) wire names.
pub const EVENT_TYPE: &str = "x-klikit-event-type";
/// Informational attempt counter (1, 2, ...); never needed to verify.
pub const DELIVERY_ATTEMPT: &str = "x-klikit-delivery-attempt";
/// Standard Webhooks (sent only to partners that opted in): the message id, equal to
/// [`EVENT_ID`].
pub const WEBHOOK_ID: &str = "webhook-id";
/// Standard Webhooks: when this attempt was signed, in seconds since the Unix epoch.
pub const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
/// Standard Webhooks: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, several
/// separated by spaces while a secret rotation's grace window is open.
pub const WEBHOOK_SIGNATURE: &str = "webhook-signature";

/// Read access to request headers by (case-insensitive) name.
///
/// Implemented for [`http::HeaderMap`] and for slices and arrays of `(name, value)`
/// pairs, so [`receive`](crate::receive) works with axum, hyper, reqwest, or a test's
/// literal list.
pub trait HeaderLookup {
    /// The raw bytes of the first header called `name`, if any. `name` is lowercase.
    fn header_bytes(&self, name: &str) -> Option<&[u8]>;
}

impl HeaderLookup for http::HeaderMap {
    fn header_bytes(&self, name: &str) -> Option<&[u8]> {
        self.get(name).map(http::HeaderValue::as_bytes)
    }
}

impl<K: AsRef<str>, V: AsRef<[u8]>> HeaderLookup for [(K, V)] {
    fn header_bytes(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .find(|(key, _)| key.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_ref())
    }
}

impl<K: AsRef<str>, V: AsRef<[u8]>, const N: usize> HeaderLookup for [(K, V); N] {
    fn header_bytes(&self, name: &str) -> Option<&[u8]> {
        self.as_slice().header_bytes(name)
    }
}

impl<K: AsRef<str>, V: AsRef<[u8]>> HeaderLookup for Vec<(K, V)> {
    fn header_bytes(&self, name: &str) -> Option<&[u8]> {
        self.as_slice().header_bytes(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_case_insensitive() {
        let headers = [("X-Klikit-Event-Id", "evt_1")];
        assert_eq!(headers.header_bytes(EVENT_ID), Some(&b"evt_1"[..]));
        assert_eq!(headers.header_bytes(SIGNATURE), None);
    }

    #[test]
    fn header_map_lookup() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            EVENT_TYPE,
            http::HeaderValue::from_static("klikit.order.cart.updated"),
        );
        assert_eq!(
            headers.header_bytes(EVENT_TYPE),
            Some(&b"klikit.order.cart.updated"[..])
        );
    }
}
