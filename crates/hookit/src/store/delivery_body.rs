//! A delivery's body: `{"brand_id":…,"branch_id":…,"orders":[…]}` around its changes'
//! records, in queue order.
//!
//! A record is stored once, in its change. The body is formed from the changes whenever
//! a delivery is sent or shown, and it is the same bytes every time: the records never
//! change after they are stored, a delivery's changes are fixed when it is formed, and
//! they are listed in the order of their queue ids, the order the batch was cut in.
//! A delivery stored before bodies were formed this way, and a test delivery (which has
//! no changes), keep the bytes stored with them.

/// Bytes of the envelope around the orders.
pub const ENVELOPE_OVERHEAD: usize = 64;

/// The exact body bytes of a delivery whose orders are `records`, in order.
pub fn envelope<'a>(
    brand_id: i64,
    branch_id: i64,
    records: impl IntoIterator<Item = &'a [u8]>,
) -> Vec<u8> {
    let records = records.into_iter();
    let mut body = Vec::with_capacity(ENVELOPE_OVERHEAD + records.size_hint().0 * 512);
    body.extend_from_slice(
        format!("{{\"brand_id\":{brand_id},\"branch_id\":{branch_id},\"orders\":[").as_bytes(),
    );
    for (i, record) in records.enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(record);
    }
    body.extend_from_slice(b"]}");
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_joins_records_in_order() {
        let body = envelope(7, 9, [&b"{\"id\":1}"[..], &b"{\"id\":2}"[..]]);
        assert_eq!(
            body,
            br#"{"brand_id":7,"branch_id":9,"orders":[{"id":1},{"id":2}]}"#.to_vec()
        );
        assert_eq!(
            envelope(1, 2, std::iter::empty()),
            br#"{"brand_id":1,"branch_id":2,"orders":[]}"#.to_vec()
        );
    }
}
