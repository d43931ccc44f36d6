//! Every order a partner can read is in its list: one without `placed_at` is listed by
//! when hookit first stored it.

mod harness;

use harness::partner_client::{call, onboard};
use harness::{Serve, fast_env, order};
use reqwest::Method;
use serde_json::Value;

const CREATED: &str = "klikit.order.created.v2";

#[tokio::test(flavor = "multi_thread")]
async fn an_order_without_placed_at_is_in_the_list() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let creds = onboard(&serve, "Acme").await;
    serve
        .map(&creds.id, 1, None, CREATED, "http://127.0.0.1:9/c")
        .await;
    let mut unplaced = order(9001, 1, 2, 1);
    unplaced
        .as_object_mut()
        .expect("object")
        .remove("placed_at");
    assert_eq!(serve.ingest(CREATED, unplaced).await.0, 202);
    let (status, one) = call(&serve, &creds, Method::GET, "/orders/9001", None, None).await;
    assert_eq!(status, 200, "getOrder reads it: {one}");

    // The default range is the last 30 days before now: hookit stored it just now.
    let (status, list) = call(&serve, &creds, Method::GET, "/orders", None, None).await;
    assert_eq!(status, 200, "{list}");
    let ids: Vec<i64> = list["data"]["orders"]
        .as_array()
        .expect("orders")
        .iter()
        .map(|o: &Value| o["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids, [9001], "{list}");
    assert_eq!(list["data"]["total"], 1);
}
