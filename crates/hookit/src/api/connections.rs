//! The API's accept loop and the life of each client connection.
//!
//! A slow client must not hold a connection (and its memory) for ever, so every
//! connection runs under a [`ConnectionClock`]: from its opening, and from the first
//! byte of each later request, the client has `HOOKIT_HEADER_TIMEOUT` to send the whole
//! header block; the body then has `HOOKIT_BODY_TIMEOUT` in all (a body still
//! incomplete is answered 408, see [`DeadlineBody`]); between requests a keep-alive
//! connection may sit idle for `HOOKIT_IDLE_TIMEOUT`. These are deadlines for the whole
//! block, not gaps between bytes, which a client sending one byte a second never trips.
//! At most `HOOKIT_MAX_CONNECTIONS` connections are open at once; further clients wait
//! in the listen backlog until one closes.

mod bodies;
mod clock;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, StatusCode, header};
pub use bodies::{BodyDeadlineExceeded, REQUEST_TIMEOUT};
use bodies::{DeadlineBody, TrackedBody};
use clock::{ConnectionClock, Watched};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

/// Most header lines hyper parses before answering 431 itself, with no body. The
/// application answers 431 with a JSON error from [`MAX_HEADERS`] lines on, so only
/// requests with more than this many lines meet hyper's bare answer.
const PARSER_MAX_HEADERS: usize = 1024;

/// Most header lines a request may carry; more are answered 431
/// `request_header_fields_too_large` by the application.
pub const MAX_HEADERS: usize = 100;

/// The deadlines and the connection cap of one listener.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// Accepts connections on `listener` and serves `router` on each until `stop` turns
/// true; then stops accepting, lets each connection finish its request in flight
/// (idle ones close at once) and returns when all are closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = stopped(&mut stop) => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, usually: give the system a moment.
                    tracing::warn!(error = %err, "cannot accept a connection; retrying shortly");
                    drop(permit);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        let router = router.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            serve_connection(stream, peer, router, limits, stop).await;
            drop(permit);
        });
    }
    drop(listener);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
}

/// Serves one connection until the client closes it, a deadline passes, or the
/// server stops.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let clock = Arc::new(ConnectionClock::new(
        limits.header_timeout,
        limits.idle_timeout,
    ));
    let io = TokioIo::new(Watched::new(stream, Arc::clone(&clock)));
    let service_clock = Arc::clone(&clock);
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        service_clock.request_started();
        let mut request = request.map(|body| DeadlineBody::new(body, limits.body_timeout));
        request.extensions_mut().insert(ConnectInfo(peer));
        let finished = Arc::clone(&service_clock);
        let answer = router.clone().oneshot(request);
        async move {
            let mut response = answer.await?;
            if response.status() == StatusCode::REQUEST_TIMEOUT {
                // The rest of a late body is not worth waiting for.
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok::<_, std::convert::Infallible>(
                response.map(|body| TrackedBody::new(body, move || finished.request_finished())),
            )
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .header_read_timeout(None)
        .max_headers(PARSER_MAX_HEADERS);
    let mut connection = std::pin::pin!(builder.serve_connection(io, service));
    let mut stopping = false;
    loop {
        let deadline = clock.deadline();
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(%peer, error = %err, "connection ended with an error");
                }
                return;
            }
            () = clock.changed() => {}
            () = sleep_until(deadline) => {
                if clock.expired() {
                    tracing::debug!(%peer, "closing a connection past its header or idle deadline");
                    return;
                }
            }
            () = stopped(&mut stop), if !stopping => {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Resolves once the server is stopping (or its stop signal is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Sleeps until `deadline`, or for ever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
