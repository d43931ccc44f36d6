//! The clock of one connection: which deadline applies now (the header block's, the
//! idle keep-alive's, or none while a request is being handled), and the socket
//! wrapper that tells it when a client starts sending.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for a request: `head_started` once its first byte arrived (the header
    /// deadline then runs), else idle (the idle deadline runs).
    Waiting { until: Instant, head_started: bool },
    /// This many requests are being handled or answered; no connection deadline runs
    /// (the body has its own).
    Busy(u32),
}

/// The deadline that applies to a connection, moved by its requests and bytes.
pub(super) struct ConnectionClock {
    phase: Mutex<Phase>,
    changed: Notify,
    header_timeout: Duration,
    idle_timeout: Duration,
}

impl ConnectionClock {
    /// A clock for a connection just opened: its first header block is due within
    /// the header timeout.
    pub(super) fn new(header_timeout: Duration, idle_timeout: Duration) -> Self {
        ConnectionClock {
            phase: Mutex::new(Phase::Waiting {
                until: Instant::now() + header_timeout,
                head_started: true,
            }),
            changed: Notify::new(),
            header_timeout,
            idle_timeout,
        }
    }

    fn phase(&self) -> MutexGuard<'_, Phase> {
        // A panic while holding this lock cannot leave the phase half-written.
        self.phase
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Bytes arrived: on an idle connection, the header deadline starts now.
    fn bytes_arrived(&self) {
        let mut phase = self.phase();
        if let Phase::Waiting {
            head_started: false,
            ..
        } = *phase
        {
            *phase = Phase::Waiting {
                until: Instant::now() + self.header_timeout,
                head_started: true,
            };
            drop(phase);
            self.changed.notify_one();
        }
    }

    /// A request's header block is complete and its handling begins.
    pub(super) fn request_started(&self) {
        let mut phase = self.phase();
        *phase = match *phase {
            Phase::Waiting { .. } => Phase::Busy(1),
            Phase::Busy(n) => Phase::Busy(n.saturating_add(1)),
        };
        drop(phase);
        self.changed.notify_one();
    }

    /// A request's answer has been written (or abandoned): with none other in flight
    /// the connection is idle from now.
    pub(super) fn request_finished(&self) {
        let mut phase = self.phase();
        *phase = match *phase {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Waiting {
                until: Instant::now() + self.idle_timeout,
                head_started: false,
            },
        };
        drop(phase);
        self.changed.notify_one();
    }

    /// The deadline now in force, if any.
    pub(super) fn deadline(&self) -> Option<Instant> {
        match *self.phase() {
            Phase::Waiting { until, .. } => Some(until),
            Phase::Busy(_) => None,
        }
    }

    /// Whether the deadline in force has passed.
    pub(super) fn expired(&self) -> bool {
        self.deadline()
            .is_some_and(|deadline| deadline <= Instant::now())
    }

    /// Resolves when the phase changes.
    pub(super) async fn changed(&self) {
        self.changed.notified().await;
    }
}

/// A client socket that reports arriving bytes to its connection's clock.
pub(super) struct Watched {
    stream: TcpStream,
    clock: Arc<ConnectionClock>,
}

impl Watched {
    pub(super) fn new(stream: TcpStream, clock: Arc<ConnectionClock>) -> Self {
        Watched { stream, clock }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.clock.bytes_arrived();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
