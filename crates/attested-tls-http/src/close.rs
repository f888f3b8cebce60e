//! Orderly close of an attested stream that hyper drops.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

/// How long a dropped stream tries to deliver its TLS close_notify to a
/// peer that does not read (what `attested_tls::net` allows a failing
/// connection).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// A stream that is closed in order even when dropped without a shutdown.
///
/// hyper shuts a connection down when it ends it in order, but a server
/// connection that fails (a header read timeout, say) is dropped without a
/// shutdown. An attested connection is
/// closed with the TLS close_notify (`docs/transport.md`, *Closing*): a
/// TCP end without it is a truncation, which the peer reports as an error.
/// So when dropped before a shutdown completed, the stream is handed to a
/// task that shuts it down (flushing what is queued, then close_notify),
/// giving up after [`CLOSE_TIMEOUT`].
#[derive(Debug)]
pub(crate) struct CloseOnDrop<S: AsyncWrite + Unpin + Send + 'static> {
    inner: Option<S>,
    shut_down: bool,
}

impl<S: AsyncWrite + Unpin + Send + 'static> CloseOnDrop<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self {
            inner: Some(inner),
            shut_down: false,
        }
    }

    fn get(&mut self) -> &mut S {
        self.inner.as_mut().expect("only taken by drop")
    }
}

impl<S: AsyncWrite + Unpin + Send + 'static> Drop for CloseOnDrop<S> {
    fn drop(&mut self) {
        let Some(mut stream) = self.inner.take() else {
            return;
        };
        if self.shut_down {
            return;
        }
        // Outside a runtime (a runtime shutting down) the socket is just
        // closed: there is nothing to drive the close with.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, stream.shutdown()).await;
            });
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> AsyncRead for CloseOnDrop<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.get()).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin + Send + 'static> AsyncWrite for CloseOnDrop<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(self.get()).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.get()).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(self.get()).poll_shutdown(cx);
        if r.is_ready() {
            // Done, or failed: either way there is nothing more to send.
            self.shut_down = true;
        }
        r
    }
}
