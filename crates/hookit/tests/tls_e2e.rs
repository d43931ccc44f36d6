//! End to end over TLS: a real `hookit serve` delivering to small HTTPS receivers on
//! 127.0.0.1, whose certificates come from certificate authorities generated here. The
//! one trusted through `HOOKIT_EXTRA_CA_FILE` receives signed deliveries; an expired
//! certificate, a certificate for another name (served at `https://127.0.0.1`, so no
//! name is ever resolved) and one from an untrusted authority each fail with an attempt
//! error kind that names the problem.

mod harness;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use harness::{Serve, fast_env, order};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, date_time_ymd};
use reqwest::Method;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::server::TlsStream;

const CREATED: &str = "klikit.order.created.v2";
const BRAND: i64 = 663;
const WAIT: Duration = Duration::from_secs(15);

/// A certificate authority made for the test.
struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl TestCa {
    fn new(name: &str) -> TestCa {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let pem = params.self_signed(&key).expect("CA certificate").pem();
        TestCa {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    /// A server certificate for `names`, valid from `from` to `until` (years).
    fn leaf(&self, names: &[&str], from: i32, until: i32) -> ServerIdentity {
        let key = KeyPair::generate().expect("leaf key");
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("leaf params");
        params.not_before = date_time_ymd(from, 1, 1);
        params.not_after = date_time_ymd(until, 1, 1);
        let certificate = params
            .signed_by(&key, &self.issuer)
            .expect("leaf certificate");
        ServerIdentity {
            chain: vec![certificate.der().clone()],
            key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        }
    }
}

struct ServerIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

/// Accepts TCP connections and completes the TLS handshake; connections whose
/// handshake fails (the client refused the certificate) are dropped.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, peer)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(stream).await {
                return (tls, peer);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

type Requests = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// An HTTPS receiver on 127.0.0.1 that answers 200 and keeps what it received.
struct TlsReceiver {
    url: String,
    requests: Requests,
    task: tokio::task::JoinHandle<()>,
}

impl TlsReceiver {
    async fn start(identity: ServerIdentity) -> TlsReceiver {
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(identity.chain, identity.key)
            .expect("server certificate");
        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("https://{}/hooks", tcp.local_addr().expect("address"));
        let listener = TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        };
        let requests = Requests::default();
        let app = Router::new()
            .fallback(record)
            .with_state(Arc::clone(&requests));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TlsReceiver {
            url,
            requests,
            task,
        }
    }

    fn received(&self) -> Vec<(HeaderMap, Bytes)> {
        self.requests.lock().expect("lock").clone()
    }
}

impl Drop for TlsReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(State(requests): State<Requests>, headers: HeaderMap, body: Bytes) -> StatusCode {
    requests.lock().expect("lock").push((headers, body));
    StatusCode::OK
}

/// The first recorded attempt of the delivery of `order_id`, once there is one.
async fn first_attempt(serve: &Serve, order_id: i64) -> Value {
    harness::eventually_async(WAIT, || async {
        let (_, list) = serve
            .operator(
                Method::GET,
                &format!("/deliveries?order_id={order_id}"),
                None,
            )
            .await;
        let delivery = &list["data"]["deliveries"][0];
        let event_id = delivery["event_id"].as_str()?.to_owned();
        // The count includes an attempt in flight; its record lands when it ends.
        let delivery = serve.delivery(&event_id).await;
        let first = &delivery["attempts"][0];
        first.is_object().then(|| first.clone())
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trusted_ca_receives_signed_deliveries_and_each_certificate_problem_is_named() {
    let trusted = TestCa::new("hookit test CA");
    let untrusted = TestCa::new("a CA nobody trusts");
    let good = TlsReceiver::start(trusted.leaf(&["127.0.0.1"], 2020, 2100)).await;
    let expired = TlsReceiver::start(trusted.leaf(&["127.0.0.1"], 2020, 2021)).await;
    let other_name = TlsReceiver::start(trusted.leaf(&["partner.example"], 2020, 2100)).await;
    let unknown_issuer = TlsReceiver::start(untrusted.leaf(&["127.0.0.1"], 2020, 2100)).await;

    let dir = tempfile::tempdir().expect("dir");
    let ca_file = dir.path().join("partner-ca.pem");
    std::fs::write(&ca_file, &trusted.pem).expect("write CA file");
    let mut env = fast_env();
    env.push(("HOOKIT_EXTRA_CA_FILE", ca_file.display().to_string()));
    let serve = Serve::start(&dir.path().join("data"), &env);
    let (partner, secret, _) = serve.create_partner("TLS partner").await;
    let cases = [
        (1, &good, None),
        (2, &expired, Some("tls_expired")),
        (3, &other_name, Some("tls_hostname")),
        (4, &unknown_issuer, Some("tls_unknown_issuer")),
    ];
    for (branch, receiver, _) in &cases {
        serve
            .map(&partner, BRAND, Some(*branch), CREATED, &receiver.url)
            .await;
    }
    for (branch, _, _) in &cases {
        let (status, answer) = serve
            .ingest(CREATED, order(100 + branch, BRAND, *branch, 1))
            .await;
        assert_eq!(status, 202, "{answer}");
    }

    let delivered = harness::eventually(WAIT, "a delivery over TLS", || {
        good.received().into_iter().next()
    })
    .await;
    let (headers, body) = delivered;
    let signature = headers
        .get("x-klikit-signature")
        .and_then(|value| value.to_str().ok());
    klikit_webhook::verify(secret.as_bytes(), &body, signature)
        .expect("the delivery over TLS is signed with the partner's webhook secret");
    let attempt = first_attempt(&serve, 101).await;
    assert_eq!(attempt["status_code"], 200, "{attempt}");

    for (branch, receiver, kind) in &cases[1..] {
        let kind = kind.expect("a failing case names its kind");
        let attempt = first_attempt(&serve, 100 + branch).await;
        assert_eq!(attempt["error_kind"], kind, "{attempt}");
        assert!(
            attempt["error"]
                .as_str()
                .is_some_and(|text| !text.is_empty()),
            "{attempt}"
        );
        assert!(
            receiver.received().is_empty(),
            "no request reaches a receiver whose certificate was refused ({kind})"
        );
    }
}
