//! How records and remembered answers are kept on disk: LZ4-compressed when that makes
//! them smaller, as they are otherwise.
//!
//! A stored value is either the JSON itself — it starts with `{`: every value stored
//! before compression, and values compression would not shrink — or the tag byte
//! [`LZ4`], the unpacked length (4 bytes, little-endian) and one LZ4 block. Order
//! records are JSON objects with many repeated keys and compress to about 70 % of their
//! size; an ingest answer (the same few fields per item) to about 5 %.

/// The first byte of a packed value. JSON never starts with it.
const LZ4: u8 = 0x01;
/// Bytes before the LZ4 block: the tag and the unpacked length.
const HEADER: usize = 5;
/// The largest unpacked length a stored value may claim: far above any record or answer
/// hookit accepts, so a damaged row cannot make a read allocate without bound.
const MAX_UNPACKED: usize = 256 << 20;

/// The bytes to store for `value`.
pub fn pack(value: &[u8]) -> Vec<u8> {
    if value.len() > MAX_UNPACKED {
        return value.to_vec();
    }
    let block = lz4_flex::block::compress(value);
    if block.len() + HEADER >= value.len() {
        return value.to_vec();
    }
    let mut packed = Vec::with_capacity(HEADER + block.len());
    packed.push(LZ4);
    packed.extend_from_slice(&(value.len() as u32).to_le_bytes());
    packed.extend_from_slice(&block);
    packed
}

/// The value `stored` holds, or why it cannot be read.
pub fn unpack(stored: Vec<u8>) -> Result<Vec<u8>, String> {
    if stored.first() != Some(&LZ4) {
        return Ok(stored);
    }
    let length = unpacked_length(&stored, stored.len());
    if length > MAX_UNPACKED || stored.len() < HEADER {
        return Err(format!(
            "a stored value is damaged: it claims {length} bytes unpacked"
        ));
    }
    let mut value = vec![0; length];
    let written = lz4_flex::block::decompress_into(&stored[HEADER..], &mut value)
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
        [LZ4, a, b, c, d, ..] => u32::from_le_bytes([*a, *b, *c, *d]) as usize,
        _ => stored_length,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &[u8] = br#"{"id":1,"brands":[{"id":7,"title":"Bali Bites"}],"cart":[{"id":1,"name":"Nasi Goreng","price":"45000.00"},{"id":2,"name":"Nasi Goreng","price":"45000.00"}]}"#;

    #[test]
    fn a_packed_value_unpacks_to_the_same_bytes() {
        let packed = pack(RECORD);
        assert_eq!(packed[0], LZ4);
        assert!(packed.len() < RECORD.len(), "{} bytes", packed.len());
        assert_eq!(
            unpacked_length(&packed[..HEADER], packed.len()),
            RECORD.len()
        );
        assert_eq!(unpack(packed).expect("unpacks"), RECORD);
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
    }
}
