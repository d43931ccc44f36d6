//! The master-key check value every process of an installation compares with.

use hookit::store::{KeyCheck, Store};

pub async fn the_first_master_key_check_is_kept_and_others_mismatch(store: &dyn Store) {
    let first = store.check_master_key("check-a").await.expect("first");
    assert_eq!(first, KeyCheck::Stored);
    let again = store.check_master_key("check-a").await.expect("again");
    assert_eq!(again, KeyCheck::Matches);
    let other = store.check_master_key("check-b").await.expect("other");
    assert_eq!(other, KeyCheck::Mismatch);
    assert_eq!(
        store.check_master_key("check-a").await.expect("still"),
        KeyCheck::Matches,
        "a mismatch never replaces the stored value"
    );
}
