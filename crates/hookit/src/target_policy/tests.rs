//! Tests of the target policy: address classes, URL rules, and the HTTP client against
//! a local responder (no traffic leaves 127.0.0.1).

use super::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[test]
fn forbidden_reason_table() -> TestResult {
    let cases = [
        ("127.0.0.1", Some("a loopback address")),
        ("127.255.0.9", Some("a loopback address")),
        ("::1", Some("a loopback address")),
        ("10.1.2.3", Some("a private address")),
        ("172.16.0.1", Some("a private address")),
        ("172.31.255.255", Some("a private address")),
        ("192.168.1.1", Some("a private address")),
        ("fd12::1", Some("a private (unique local) address")),
        ("fc00::1", Some("a private (unique local) address")),
        ("169.254.1.1", Some("a link-local address")),
        ("fe80::1", Some("a link-local address")),
        ("100.64.0.1", Some("a carrier-grade NAT (shared) address")),
        (
            "100.127.255.254",
            Some("a carrier-grade NAT (shared) address"),
        ),
        ("224.0.0.1", Some("a multicast address")),
        ("ff02::1", Some("a multicast address")),
        ("0.0.0.0", Some("the unspecified address")),
        ("::", Some("the unspecified address")),
        ("255.255.255.255", Some("the broadcast address")),
        ("169.254.169.254", Some("a cloud metadata address")),
        ("100.100.100.200", Some("a cloud metadata address")),
        ("fd00:ec2::254", Some("a cloud metadata address")),
        ("0.1.2.3", Some("a reserved (\"this network\") address")),
        ("240.0.0.1", Some("a reserved address")),
        (
            "192.0.0.8",
            Some("a reserved (protocol assignment) address"),
        ),
        ("198.18.0.1", Some("a benchmarking address")),
        ("192.0.2.1", Some("a documentation address")),
        ("2001:db8::1", Some("a documentation address")),
        // IPv6 forms that reach an IPv4 address are judged by that address.
        ("::ffff:127.0.0.1", Some("a loopback address")),
        ("::ffff:169.254.169.254", Some("a cloud metadata address")),
        ("::10.0.0.1", Some("a private address")),
        ("::ffff:0:192.168.0.1", Some("a private address")),
        ("64:ff9b::a9fe:a9fe", Some("a cloud metadata address")),
        ("2002:7f00:1::1", Some("a loopback address")),
        ("2002:c0a8:101::", Some("a private address")),
        // Teredo client 127.0.0.1 is stored inverted: 80ff:fffe.
        (
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
            Some("a loopback address"),
        ),
        ("64:ff9b:1::1", Some("a private (local-use NAT64) address")),
        ("fec0::1", Some("a private (site-local) address")),
        ("4000::1", Some("a reserved address")),
        ("8.8.8.8", None),
        ("1.1.1.1", None),
        ("172.32.0.1", None),
        ("100.128.0.1", None),
        ("2606:4700::1111", None),
        ("2a00:1450:4001::200e", None),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::808:808", None),
        ("2002:808:808::1", None),
        ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", None),
    ];
    for (text, expected) in cases {
        assert_eq!(forbidden_reason(text.parse()?), expected, "{text}");
    }
    Ok(())
}

#[test]
fn url_validation_table() {
    let ok = |url: &str, allow: bool| validate_target_url(url, allow).map(|t| t.to_string());
    assert_eq!(
        ok("https://hooks.example.com/k?x=1", false).as_deref(),
        Ok("https://hooks.example.com/k?x=1")
    );
    assert_eq!(
        ok("https://8.8.8.8/", false).as_deref(),
        Ok("https://8.8.8.8/")
    );
    assert!(ok("http://127.0.0.1:9000/hook", true).is_ok());
    assert!(ok("http://localhost:9000/hook", true).is_ok());
    let cases: [(&str, bool, &str); 11] = [
        ("not a url", false, "is not a valid absolute URL"),
        ("/relative/path", false, "is not a valid absolute URL"),
        (
            "http://hooks.example.com/",
            false,
            "must use https (got http://hooks.example.com/); set HOOKIT_ALLOW_PRIVATE_TARGETS=true on `hookit serve`",
        ),
        (
            "ftp://hooks.example.com/",
            true,
            "must use https (got ftp://hooks.example.com/); expected",
        ),
        (
            "https://user:pw@hooks.example.com/",
            false,
            "must not contain a user name or password",
        ),
        (
            "https://hooks.example.com/#part",
            false,
            "must not contain a #fragment",
        ),
        (
            "https://127.0.0.1/",
            false,
            "points to 127.0.0.1, which is a loopback address",
        ),
        (
            "https://[::ffff:10.0.0.1]/",
            false,
            "points to [::ffff:a00:1], which is a private address",
        ),
        (
            "https://169.254.169.254/latest/meta-data",
            false,
            "a cloud metadata address",
        ),
        ("https://LocalHost./", false, "a loopback address"),
        ("https://2130706433/", false, "a loopback address"),
    ];
    for (url, allow, expected) in cases {
        let message = validate_target_url(url, allow)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(message.contains(expected), "{url}: {message}");
        assert!(!message.contains("pw@"), "{message}");
    }
    let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
    assert!(matches!(
        validate_target_url(&long, false),
        Err(TargetUrlError::TooLong { .. })
    ));
    // Under the limit as sent, three times over it once percent-encoded: the stored
    // form is what is bounded.
    let encoded = format!("https://example.com/{}", "é".repeat(MAX_URL_LEN / 3));
    assert!(encoded.len() <= MAX_URL_LEN);
    assert!(matches!(
        validate_target_url(&encoded, false),
        Err(TargetUrlError::TooLong { len }) if len > MAX_URL_LEN
    ));
}

/// A one-response-per-connection HTTP server on 127.0.0.1; `{port}` in `response` is
/// replaced by its port. Each request head received is sent to the returned channel.
async fn responder(response: &str) -> std::io::Result<(u16, mpsc::UnboundedReceiver<String>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let response = response.replace("{port}", &port.to_string());
    let (requests, received) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (response, requests) = (response.clone(), requests.clone());
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = requests.send(String::from_utf8_lossy(&head).into_owned());
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    Ok((port, received))
}

const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";

#[tokio::test]
async fn private_targets_are_refused_unless_allowed() -> TestResult {
    let (port, mut requests) = responder(OK).await?;
    let strict = build_client(false, Duration::from_secs(5), &ExtraRoots::default());

    let err = strict
        .get(format!("http://localhost:{port}/"))
        .send()
        .await
        .err()
        .ok_or("localhost was reached")?;
    let refused = refusal_in(&err).ok_or_else(|| format!("not a refusal: {err:?}"))?;
    assert_eq!(
        (refused.host.as_str(), refused.reason),
        ("localhost", "a loopback address")
    );
    assert!(
        refused
            .to_string()
            .starts_with("target refused: localhost resolves to ")
    );

    let literal = Url::parse(&format!("http://127.0.0.1:{port}/"))?;
    let refused = check_literal_host(&literal, false)
        .err()
        .ok_or("literal allowed")?;
    assert_eq!(
        refused.to_string(),
        "target refused: 127.0.0.1 is a loopback address \
         (set HOOKIT_ALLOW_PRIVATE_TARGETS=true on `hookit serve` to allow private targets)"
    );
    assert!(
        requests.try_recv().is_err(),
        "nothing may reach the receiver"
    );

    check_literal_host(&literal, true)?;
    let response = build_client(true, Duration::from_secs(5), &ExtraRoots::default())
        .get(literal)
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    let head = requests
        .recv()
        .await
        .ok_or("no request")?
        .to_ascii_lowercase();
    assert!(
        head.contains(concat!("user-agent: hookit/", env!("CARGO_PKG_VERSION"))),
        "{head}"
    );
    Ok(())
}

#[tokio::test]
async fn redirects_are_not_followed() -> TestResult {
    let redirect = "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{port}/elsewhere\r\n\
                    content-length: 0\r\nconnection: close\r\n\r\n";
    let (port, mut requests) = responder(redirect).await?;
    let client = build_client(true, Duration::from_secs(5), &ExtraRoots::default());
    let response = client
        .post(format!("http://127.0.0.1:{port}/hook"))
        .body("{}")
        .send()
        .await?;
    assert_eq!(response.status(), 302);
    assert!(
        requests
            .recv()
            .await
            .ok_or("no request")?
            .starts_with("POST /hook ")
    );
    assert!(requests.try_recv().is_err(), "the redirect was followed");
    Ok(())
}
