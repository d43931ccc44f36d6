//! Slow clients over raw TCP against a real `hookit serve`: a header block trickled a
//! line at a time, a body trickled a byte at a time, an idle keep-alive connection and
//! a full connection table. Each test waits for the connection's close (or for an
//! answer) and checks it against the deadline the server guarantees; a generous guard
//! fails the test if the close never comes.

mod harness;

use harness::{INGEST_TOKEN, Serve};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Longest any test waits for a close the server owes; far above every deadline set.
const GUARD: Duration = Duration::from_secs(15);

fn serve(dir: &std::path::Path, header: &str, body: &str, idle: &str) -> Serve {
    Serve::start(
        dir,
        &[
            ("HOOKIT_HEADER_TIMEOUT", header.to_owned()),
            ("HOOKIT_BODY_TIMEOUT", body.to_owned()),
            ("HOOKIT_IDLE_TIMEOUT", idle.to_owned()),
        ],
    )
}

fn connect(serve: &Serve) -> TcpStream {
    let address = serve.base.trim_start_matches("http://");
    let stream = TcpStream::connect(address).expect("connect");
    stream.set_read_timeout(Some(GUARD)).expect("timeout");
    stream
}

/// Reads until the server closes the connection; returns what arrived. A read that
/// waits out the guard fails the test: the server kept the connection open.
fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return received,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(err) if err.kind() == ErrorKind::ConnectionReset => return received,
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!(
                    "the connection was still open after {GUARD:?}; received so far: {:?}",
                    String::from_utf8_lossy(&received)
                )
            }
            Err(err) => panic!("read failed: {err}"),
        }
    }
}

/// Writes `pieces` one at a time, `gap` apart, until the server stops taking them.
fn trickle(mut stream: TcpStream, pieces: Vec<Vec<u8>>, gap: Duration) {
    std::thread::spawn(move || {
        for piece in pieces {
            if stream.write_all(&piece).is_err() {
                return;
            }
            std::thread::sleep(gap);
        }
    });
}

#[test]
fn a_header_block_sent_a_line_at_a_time_is_cut_at_the_header_deadline() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = serve(dir.path(), "800ms", "30s", "60s");
    let mut stream = connect(&serve);
    let started = Instant::now();
    let mut lines = vec![b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n".to_vec()];
    lines.extend((0..200).map(|n| format!("X-Slow-{n}: still coming\r\n").into_bytes()));
    trickle(
        stream.try_clone().expect("clone"),
        lines,
        Duration::from_millis(200),
    );
    let received = read_until_closed(&mut stream);
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "closed before the header deadline: {:?}",
        started.elapsed()
    );
    assert!(
        !String::from_utf8_lossy(&received).contains("200 OK"),
        "an unfinished header block was answered: {}",
        String::from_utf8_lossy(&received)
    );
}

#[test]
fn a_body_sent_a_byte_at_a_time_is_answered_408_and_closed_at_the_body_deadline() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = serve(dir.path(), "10s", "800ms", "60s");
    let mut stream = connect(&serve);
    let head = format!(
        "POST /v1/ingest/orders HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {INGEST_TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: 500\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).expect("head");
    let started = Instant::now();
    trickle(
        stream.try_clone().expect("clone"),
        (0..500).map(|_| b" ".to_vec()).collect(),
        Duration::from_millis(200),
    );
    let received = String::from_utf8_lossy(&read_until_closed(&mut stream)).into_owned();
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "cut before the body deadline: {:?}",
        started.elapsed()
    );
    assert!(
        received.starts_with("HTTP/1.1 408"),
        "expected a 408: {received}"
    );
    assert!(received.contains("\"request_timeout\""), "{received}");
    assert!(received.contains("HOOKIT_BODY_TIMEOUT"), "{received}");
}

#[test]
fn an_idle_keep_alive_connection_is_closed_at_the_idle_deadline_not_the_header_one() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = serve(dir.path(), "300ms", "30s", "1500ms");
    let mut stream = connect(&serve);
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("request");
    // Read the whole answer (its body is `{"status":"ok"}`), then send nothing more.
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    while !String::from_utf8_lossy(&answer).contains("\"ok\"}") {
        let n = stream.read(&mut buffer).expect("answer");
        assert!(n > 0, "closed before answering");
        answer.extend_from_slice(&buffer[..n]);
    }
    let answered = Instant::now();
    let rest = read_until_closed(&mut stream);
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    assert!(
        answered.elapsed() >= Duration::from_millis(1500),
        "an idle connection was closed before the idle deadline: {:?}",
        answered.elapsed()
    );
}

#[test]
fn past_the_connection_cap_a_client_waits_until_a_connection_closes() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(
        dir.path(),
        &[
            ("HOOKIT_MAX_CONNECTIONS", "1".to_owned()),
            ("HOOKIT_HEADER_TIMEOUT", "800ms".to_owned()),
        ],
    );
    // The only slot, held by a client that sends nothing.
    let mut holder = connect(&serve);
    let mut waiting = connect(&serve);
    waiting
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .expect("request");
    let answer = String::from_utf8_lossy(&read_until_closed(&mut waiting)).into_owned();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // It was answered only once the holder's slot was freed by the header deadline:
    // the holder is closed already, so this read returns at once.
    holder
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut byte = [0u8; 1];
    match holder.read(&mut byte) {
        Ok(0) => {}
        Err(err) if err.kind() == ErrorKind::ConnectionReset => {}
        other => {
            panic!("the second client was served while the first held the only slot: {other:?}")
        }
    }
}
