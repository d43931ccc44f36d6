//! `GET /openapi.json`: a valid OpenAPI 3.1 document that describes the three webhooks,
//! every route the server serves and no route it does not, and that changes only
//! together with its snapshot (`tests/snapshots/openapi.json`).
//!
//! Validation uses the `oas3` crate's OpenAPI 3.1 model, strictly: the document must
//! parse into it, declare a 3.1.x version, and contain no key the model does not know
//! (checked by a parse → serialise round trip, since `oas3` drops unknown keys).

mod harness;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Starts a server and fetches its document (raw text and parsed).
async fn served_document() -> (harness::Serve, tempfile::TempDir, String, Value) {
    let dir = tempfile::tempdir().expect("dir");
    let serve = harness::Serve::start(dir.path(), &harness::fast_env());
    let response = reqwest::get(format!("{}/openapi.json", serve.base))
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let text = response.text().await.expect("body");
    let document: Value = serde_json::from_str(&text).expect("the document is JSON");
    (serve, dir, text, document)
}

/// Why `document` is not a valid OpenAPI 3.1 document, if it is not.
fn openapi_31_problems(document: &Value) -> Result<(), String> {
    let text = document.to_string();
    let spec = oas3::from_json(&text).map_err(|err| format!("not OpenAPI 3.1: {err}"))?;
    let version = spec
        .validate_version()
        .map_err(|err| format!("bad version: {err}"))?;
    if (version.major, version.minor) != (3, 1) {
        return Err(format!("version {version} is not 3.1.x"));
    }
    let reparsed = serde_json::to_value(&spec).map_err(|err| err.to_string())?;
    let mut unknown = Vec::new();
    unknown_keys(document, &reparsed, "", &mut unknown);
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "keys the OpenAPI 3.1 model does not know: {unknown:?}"
        ))
    }
}

/// Collects the JSON pointers of object keys in `original` that `reparsed` lost.
fn unknown_keys(original: &Value, reparsed: &Value, at: &str, found: &mut Vec<String>) {
    match (original, reparsed) {
        (Value::Object(original), Value::Object(reparsed)) => {
            for (key, value) in original {
                let pointer = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                match reparsed.get(key) {
                    Some(kept) => unknown_keys(value, kept, &pointer, found),
                    None => found.push(pointer),
                }
            }
        }
        (Value::Array(original), Value::Array(reparsed)) => {
            for (index, (value, kept)) in original.iter().zip(reparsed).enumerate() {
                unknown_keys(value, kept, &format!("{at}/{index}"), found);
            }
        }
        _ => {}
    }
}

/// A change that breaks a document.
type Edit<'a> = &'a dyn Fn(&mut Value);

#[tokio::test(flavor = "multi_thread")]
async fn the_document_is_valid_openapi_3_1_and_a_broken_one_is_not() {
    let (_serve, _dir, _, document) = served_document().await;
    assert_eq!(document["openapi"], "3.1.0");
    if let Err(problem) = openapi_31_problems(&document) {
        panic!("{problem}");
    }

    let broken = |edit: &dyn Fn(&mut Value)| {
        let mut copy = document.clone();
        edit(&mut copy);
        assert_ne!(copy, document, "the edit must change the document");
        openapi_31_problems(&copy)
    };
    let cases: [(&str, Edit); 5] = [
        ("an OpenAPI 3.0 version", &|d| d["openapi"] = "3.0.3".into()),
        ("info without a title", &|d| {
            d["info"].as_object_mut().map(|info| info.remove("title"));
        }),
        ("a parameter in the body", &|d| {
            d["paths"]["/v1/operator/partners/{id}"]["get"]["parameters"][0]["in"] = "body".into()
        }),
        ("a misspelt operation field", &|d| {
            d["paths"]["/healthz"]["get"]["requestBod"] = serde_json::json!({});
        }),
        ("responses that are not an object", &|d| {
            d["webhooks"]["klikit.order.created.v2"]["post"]["responses"] = "ok".into()
        }),
    ];
    for (what, edit) in cases {
        match broken(edit) {
            Ok(()) => panic!("{what} must be rejected"),
            Err(problem) => eprintln!("{what}: rejected: {problem}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_three_webhooks_carry_the_envelope_and_the_four_headers() {
    let (_serve, _dir, _, document) = served_document().await;
    let webhooks = document["webhooks"].as_object().expect("webhooks");
    let names: BTreeSet<&str> = webhooks.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "klikit.order.cart.updated",
            "klikit.order.created.v2",
            "klikit.order.status.updated",
        ])
    );
    let envelope = &document["components"]["schemas"]["WebhookEnvelope"];
    for field in ["brand_id", "branch_id", "orders"] {
        assert!(
            envelope["required"]
                .as_array()
                .is_some_and(|r| r.contains(&field.into()))
        );
    }
    assert_eq!(
        envelope["properties"]["orders"]["items"]["$ref"],
        "#/components/schemas/OrderRecord"
    );
    let order = &document["components"]["schemas"]["OrderRecord"];
    assert_eq!(order["additionalProperties"], true);
    for field in [
        "id",
        "external_id",
        "business_id",
        "brands",
        "branch_id",
        "status",
        "cart",
        "payment_status",
        "payment_channel",
        "payment_method",
        "placed_at",
        "updated_at",
        "version",
    ] {
        assert!(
            order["properties"].get(field).is_some(),
            "order field {field}"
        );
    }
    for (name, item) in webhooks {
        let post = &item["post"];
        assert_eq!(
            post["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/WebhookEnvelope",
            "{name}"
        );
        let headers: BTreeMap<&str, &Value> = post["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .filter(|p| p["in"] == "header")
            .map(|p| (p["name"].as_str().unwrap_or_default(), p))
            .collect();
        for header in [
            "x-klikit-signature",
            "x-klikit-event-id",
            "x-klikit-event-type",
            "x-klikit-delivery-attempt",
        ] {
            assert!(headers.contains_key(header), "{name}: {header}");
        }
        let signature = &headers["x-klikit-signature"];
        assert_eq!(signature["required"], true);
        let how = signature["description"].as_str().unwrap_or_default();
        assert!(how.contains("raw body") && how.contains("webhook_secret_key"));
        assert_eq!(
            headers["x-klikit-event-type"]["schema"]["enum"],
            serde_json::json!([name])
        );
        assert!(
            headers["x-klikit-event-id"]["description"]
                .as_str()
                .is_some_and(|d| d.contains("retry") && d.contains("replay"))
        );
        assert!(
            post["responses"]["2XX"]["description"]
                .as_str()
                .is_some_and(|d| d.contains("10 s"))
        );
    }
}

/// `(METHOD, path)` of every operation in the document's `paths`.
fn documented_routes(document: &Value) -> BTreeSet<(String, String)> {
    let paths = document["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|method| item.get(**method).is_some())
                .map(|method| (method.to_uppercase(), path.clone()))
        })
        .collect()
}

/// `(METHOD, path)` of every route in an axum router, read from its `Debug` output
/// (axum has no other way to list routes). A route that is not a method router (a
/// nested service) shows as `ANY`.
fn routes_in_router(debug: &str) -> BTreeSet<(String, String)> {
    let path_router = debug
        .split("fallback_router:")
        .next()
        .expect("router debug output");
    let (endpoints, node) = path_router
        .split_once("node: Node")
        .expect("axum's router Debug output changed: no `node: Node`");
    let mut methods: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for chunk in endpoints.split("RouteId(").skip(1) {
        let (id, rest) = chunk.split_once(')').expect("route id");
        let fields = rest.split("fallback:").next().unwrap_or_default();
        let served: Vec<String> = if rest.trim_start().starts_with(": MethodRouter(") {
            METHODS
                .iter()
                .chain(["connect"].iter())
                .filter(|m| {
                    fields.contains(&format!(" {m}: ")) && !fields.contains(&format!(" {m}: None"))
                })
                .map(|m| m.to_uppercase())
                .collect()
        } else {
            vec!["ANY".to_owned()]
        };
        methods.insert(id.to_owned(), served);
    }
    let mut routes = BTreeSet::new();
    let mut paths = 0;
    for chunk in node.split("RouteId(").skip(1) {
        let (id, rest) = chunk.split_once(')').expect("route id");
        let path = rest.split('"').nth(1).expect("quoted path");
        paths += 1;
        for method in methods.get(id).expect("every path has an endpoint") {
            routes.insert((method.clone(), path.to_owned()));
        }
    }
    assert_eq!(paths, methods.len(), "axum's router Debug output changed");
    routes
}

#[tokio::test(flavor = "multi_thread")]
async fn every_served_route_is_documented_and_every_documented_one_is_served() {
    let (serve, _dir, _, document) = served_document().await;
    let (router, described) = hookit::api::describe();
    assert_eq!(
        document, described,
        "the served document is the one the route table describes"
    );

    let served = routes_in_router(&format!("{router:?}"));
    let documented = documented_routes(&document);
    assert!(served.len() >= 25, "too few routes read: {served:?}");
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "served but not documented: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "documented but not served: {unserved:?}"
    );

    // And the real server routes each documented operation to a handler.
    let client = reqwest::Client::new();
    for (method, path) in &documented {
        let concrete: String = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "1"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let response = client
            .request(method.clone(), format!("{}{concrete}", serve.base))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let code = body["error"]["code"].as_str().unwrap_or_default();
        assert!(
            status != 405 && code != "route_not_found" && code != "method_not_allowed",
            "{method} {concrete} is documented but answered {status} {body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_document_matches_its_snapshot() {
    let (_serve, _dir, text, document) = served_document().await;
    let again = reqwest::get(format!("{}/openapi.json", _serve.base))
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    assert_eq!(text, again, "the document is the same on every request");
    let pretty = serde_json::to_string_pretty(&document).expect("pretty") + "\n";
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/openapi.json");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().expect("snapshot dir")).expect("mkdir");
        std::fs::write(&path, &pretty).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected != pretty {
        let line = expected
            .lines()
            .zip(pretty.lines())
            .position(|(a, b)| a != b)
            .map_or(expected.lines().count().min(pretty.lines().count()), |i| i)
            + 1;
        panic!(
            "the OpenAPI document differs from {} (first at line {line}).\n\
             If the API change is intended, review the diff and update the snapshot:\n\
             UPDATE_SNAPSHOTS=1 cargo test -p hookit --test openapi_e2e",
            path.display()
        );
    }
}
