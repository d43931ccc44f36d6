//! Request and response bodies as a connection sees them: a request body that must
//! arrive whole by its deadline, and an answer that tells the connection's clock when
//! it has been written.

use axum::body::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Sleep;

/// The stable code of the answer to a body that missed its deadline.
pub const REQUEST_TIMEOUT: &str = "request_timeout";

/// The request body did not arrive whole within `HOOKIT_BODY_TIMEOUT`.
#[derive(Debug, thiserror::Error)]
#[error(
    "the request body did not arrive in full within {} (HOOKIT_BODY_TIMEOUT); send it faster or in smaller requests",
    crate::config::format_duration(*.0)
)]
pub struct BodyDeadlineExceeded(pub Duration);

/// A request body with a deadline for the whole of it, counted from the end of the
/// request's headers.
pub(super) struct DeadlineBody<B> {
    inner: B,
    deadline: Pin<Box<Sleep>>,
    limit: Duration,
}

impl<B> DeadlineBody<B> {
    pub(super) fn new(inner: B, limit: Duration) -> Self {
        DeadlineBody {
            inner,
            deadline: Box::pin(tokio::time::sleep(limit)),
            limit,
        }
    }
}

impl<B> Body for DeadlineBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|frame| frame.map_err(Into::into))),
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    Poll::Ready(Some(Err(Box::new(BodyDeadlineExceeded(self.limit)))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// An answer's body that calls `on_done` once it has been written or dropped.
pub(super) struct TrackedBody<B, F: FnOnce()> {
    inner: B,
    on_done: Option<F>,
}

impl<B, F: FnOnce()> TrackedBody<B, F> {
    pub(super) fn new(inner: B, on_done: F) -> Self {
        TrackedBody {
            inner,
            on_done: Some(on_done),
        }
    }
}

impl<B, F: FnOnce()> Drop for TrackedBody<B, F> {
    fn drop(&mut self) {
        if let Some(on_done) = self.on_done.take() {
            on_done();
        }
    }
}

impl<B, F> Body for TrackedBody<B, F>
where
    B: Body + Unpin,
    F: FnOnce() + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
