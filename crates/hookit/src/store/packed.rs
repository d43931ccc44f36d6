//! How records and remembered answers are kept on disk: LZ4-compressed when that makes
//! them smaller, as they are otherwise.
//!
//! A stored value is one of:
//! - the JSON itself — it starts with `{`: every value stored before compression, and
//!   values compression would not shrink;
//! - the tag byte [`LZ4`], the unpacked length (4 bytes, little-endian) and one LZ4
//!   block (values stored by version 0.11 of the schema, before the dictionary);
//! - the tag byte [`LZ4_DICTIONARY`], the unpacked length and one LZ4 block that may
//!   refer back into [`DICTIONARY`]: what is written now.
//!
//! A single order record is short (a few hundred bytes) and most of it is field names
//! that LZ4 sees for the first time; the dictionary gives them to it in advance. It
//! holds the field names and punctuation of the order record as klikit documents it
//! (the partner API's order shape, its cart lines, modifier groups and payment) and of
//! hookit's ingest answer — no values. A 610-byte record packs to about 440 bytes with
//! LZ4 alone and to about 295 with the dictionary.
//!
//! **The dictionary never changes**: values written with it must read back for as long
//! as they are kept. A different dictionary would take a new tag byte.

/// The first byte of a value packed with LZ4 alone. JSON never starts with it.
const LZ4: u8 = 0x01;
/// The first byte of a value packed with LZ4 and [`DICTIONARY`].
const LZ4_DICTIONARY: u8 = 0x02;
/// Bytes before the LZ4 block: the tag and the unpacked length.
const HEADER: usize = 5;
/// The largest unpacked length a stored value may claim: far above any record or answer
/// hookit accepts, so a damaged row cannot make a read allocate without bound.
const MAX_UNPACKED: usize = 256 << 20;

/// What LZ4 may refer back to before the first byte of a value: field names and
/// punctuation of klikit's order record and of the ingest answer, the most common last
/// (LZ4 prefers the nearest match). Frozen: see the module's documentation.
const DICTIONARY: &[u8] = br#"{"results":[{"order_id":"result":"stored","routed_to":"duplicate","stale","version":"cancel_reason":"order_type":"fulfillment_status":"comment":"","brand_id":"modifiers":[{"id":"quantity":1,"price":"","modifier_groups":[{"id":"name":"","unit_price":"},{"id":"cart":[{"id":"payment":{"status":1,"method":"channel":},"payment_status":"payment_channel":"payment_method":"placed_at":"","updated_at":"","status":"branch_id":"brands":[{"id":"title":"","business_id":"external_id":"{"id":"#;

/// The bytes to store for `value`.
pub fn pack(value: &[u8]) -> Vec<u8> {
    if value.len() > MAX_UNPACKED {
        return value.to_vec();
    }
    let block = lz4_flex::block::compress_with_dict(value, DICTIONARY);
    if block.len() + HEADER >= value.len() {
        return value.to_vec();
    }
    let mut packed = Vec::with_capacity(HEADER + block.len());
    packed.push(LZ4_DICTIONARY);
    packed.extend_from_slice(&(value.len() as u32).to_le_bytes());
    packed.extend_from_slice(&block);
    packed
}

/// The value `stored` holds, or why it cannot be read.
pub fn unpack(stored: Vec<u8>) -> Result<Vec<u8>, String> {
    let dictionary: &[u8] = match stored.first() {
        Some(&LZ4) => &[],
        Some(&LZ4_DICTIONARY) => DICTIONARY,
        _ => return Ok(stored),
    };
    let length = unpacked_length(&stored, stored.len());
    if length > MAX_UNPACKED || stored.len() < HEADER {
        return Err(format!(
            "a stored value is damaged: it claims {length} bytes unpacked"
        ));
    }
    let mut value = vec![0; length];
    let written =
        lz4_flex::block::decompress_into_with_dict(&stored[HEADER..], &mut value, dictionary)
            .map_err(|err| format!("a stored value is damaged: {err}"))?;
    if written != length {
        return Err(format!(
            "a stored value is damaged: {written} bytes unpacked where {length} were stored"
        ));
    }
    Ok(value)
}

/// The unpacked length of a stored value from its first [`HEADER`] bytes (`head`, or
/// fewer) and its stored length: what batching counts without reading the value.
pub fn unpacked_length(head: &[u8], stored_length: usize) -> usize {
    match head {
        [LZ4 | LZ4_DICTIONARY, a, b, c, d, ..] => u32::from_le_bytes([*a, *b, *c, *d]) as usize,
        _ => stored_length,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pack(RECORD)` as written by the first version with [`DICTIONARY`].
    #[rustfmt::skip]
    const STORED_RECORD: &[u8] = &[0x02, 0x9c, 0x00, 0x00, 0x00, 0x02, 0x34, 0x00, 0x13, 0x31, 0x56, 0x01, 0x06, 0x17, 0x01, 0x25, 0x37, 0x2c, 0x48, 0x00, 0xea, 0x42, 0x61, 0x6c, 0x69, 0x20, 0x42, 0x69, 0x74, 0x65, 0x73, 0x22, 0x7d, 0x5d, 0x2c, 0x10, 0x01, 0x24, 0x31, 0x2c, 0x40, 0x01, 0xc6, 0x4e, 0x61, 0x73, 0x69, 0x20, 0x47, 0x6f, 0x72, 0x65, 0x6e, 0x67, 0x22, 0x79, 0x01, 0x85, 0x34, 0x35, 0x30, 0x30, 0x30, 0x2e, 0x30, 0x30, 0x4f, 0x01, 0x1f, 0x32, 0x31, 0x00, 0x12, 0x60, 0x30, 0x30, 0x22, 0x7d, 0x5d, 0x7d];

    const RECORD: &[u8] = br#"{"id":1,"brands":[{"id":7,"title":"Bali Bites"}],"cart":[{"id":1,"name":"Nasi Goreng","price":"45000.00"},{"id":2,"name":"Nasi Goreng","price":"45000.00"}]}"#;

    #[test]
    fn a_packed_value_unpacks_to_the_same_bytes() {
        let packed = pack(RECORD);
        assert_eq!(packed[0], LZ4_DICTIONARY);
        assert!(packed.len() < RECORD.len(), "{} bytes", packed.len());
        assert_eq!(
            unpacked_length(&packed[..HEADER], packed.len()),
            RECORD.len()
        );
        assert_eq!(unpack(packed).expect("unpacks"), RECORD);
    }

    #[test]
    fn values_packed_without_the_dictionary_still_read() {
        let block = lz4_flex::block::compress(RECORD);
        let mut stored = vec![LZ4];
        stored.extend_from_slice(&(RECORD.len() as u32).to_le_bytes());
        stored.extend_from_slice(&block);
        assert_eq!(
            unpacked_length(&stored[..HEADER], stored.len()),
            RECORD.len()
        );
        assert_eq!(unpack(stored).expect("unpacks"), RECORD);
    }

    #[test]
    fn the_dictionary_makes_a_record_smaller_than_lz4_alone() {
        let alone = lz4_flex::block::compress(RECORD).len() + HEADER;
        let with_dictionary = pack(RECORD).len();
        assert!(
            with_dictionary * 10 <= alone * 9,
            "{with_dictionary} bytes with the dictionary, {alone} without"
        );
    }

    /// A value as this version stores it must read back in every later version: this
    /// fails if the dictionary (or the format) changes under the same tag byte.
    #[test]
    fn a_value_stored_with_this_dictionary_reads_back_forever() {
        assert_eq!(unpack(STORED_RECORD.to_vec()).expect("unpacks"), RECORD);
    }

    #[test]
    fn values_that_do_not_shrink_and_old_values_are_kept_as_they_are() {
        let short = br#"{"id":1}"#;
        assert_eq!(pack(short), short);
        assert_eq!(unpack(short.to_vec()).expect("as is"), short);
        assert_eq!(unpacked_length(b"{\"id", 8), 8);
        assert_eq!(unpack(Vec::new()).expect("empty"), b"");
    }

    #[test]
    fn a_damaged_value_is_an_error_not_a_panic_or_a_huge_allocation() {
        let mut packed = pack(RECORD);
        packed[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(unpack(packed).is_err());
        let mut packed = pack(RECORD);
        packed.truncate(HEADER + 3);
        assert!(unpack(packed).is_err());
        assert!(unpack(vec![LZ4, 1]).is_err());
        assert!(unpack(vec![LZ4_DICTIONARY, 1]).is_err());
    }
}
