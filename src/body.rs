//! The response body: one enum instead of a boxed trait object, so the common answers
//! (empty, a small buffer, filler) cost no allocation beyond their bytes.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Filler bytes, sliced without copying.
static FILLER: [u8; 64 * 1024] = [b'.'; 64 * 1024];

pub enum Body {
    Empty,
    Full(Option<Bytes>),
    /// The request body, streamed back frame by frame (its length was checked against
    /// --max-body up front, from Content-Length).
    Echo(Incoming),
    /// `remaining` bytes of filler, in chunks of at most 64 KiB.
    Filler {
        remaining: u64,
    },
}

impl Body {
    pub fn full(b: impl Into<Bytes>) -> Body {
        let b = b.into();
        if b.is_empty() { Body::Empty } else { Body::Full(Some(b)) }
    }
}

impl HttpBody for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut *self {
            Body::Empty => Poll::Ready(None),
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Echo(incoming) => match Pin::new(incoming).poll_frame(cx) {
                // Trailers are the client's, not ours to echo.
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => Poll::Ready(Some(Ok(Frame::data(data)))),
                    Err(_) => Poll::Ready(None),
                },
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
            Body::Filler { remaining } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                let n = (*remaining).min(FILLER.len() as u64) as usize;
                *remaining -= n as u64;
                Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&FILLER[..n])))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Empty => true,
            Body::Full(b) => b.is_none(),
            Body::Echo(i) => i.is_end_stream(),
            Body::Filler { remaining } => *remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Empty => SizeHint::with_exact(0),
            Body::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Echo(i) => i.size_hint(),
            Body::Filler { remaining } => SizeHint::with_exact(*remaining),
        }
    }
}
