//! The relay between an attested stream and its other leg (the backend, or
//! the local client), with the idle timeout, periodic re-attestation and
//! the shutdown signal interleaved.
//!
//! The relay owns (borrows mutably) both legs and does not split them:
//! [`attested_tls::net::AttestedStream::reattest`] needs `&mut` on the
//! stream, so reading, writing and re-attesting take turns in one task.
//! Reads of an attested stream may be cancelled (a timer fired): what had
//! arrived stays buffered in the stream.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::Duration;

use attested_tls::ear::Ear;
use attested_tls::net::{AttestedStream, NetError, TlsStreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a relay ended early.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Reading or writing the attested (first) leg failed.
    #[error("attested leg: {0}")]
    Peer(#[source] io::Error),
    /// Reading or writing the other leg failed.
    #[error("other leg: {0}")]
    Other(#[source] io::Error),
    /// Neither direction carried a byte for this long.
    #[error("idle timeout: no byte in either direction for {} s", .0.as_secs())]
    Idle(Duration),
    /// The shutdown signal: the drain timeout expired.
    #[error("closed at shutdown: the drain timeout expired")]
    Stopped,
    /// A re-attestation failed (the attested stream has already sent its
    /// OUTCOME or ERROR and closed).
    #[error("re-attestation failed: {0}")]
    Reattest(#[source] NetError),
}

/// Which way bytes went: `In` from the attested peer, `Out` to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the attested leg to the other.
    In,
    /// From the other leg to the attested one.
    Out,
}

impl Direction {
    /// The metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::In => "in",
            Self::Out => "out",
        }
    }
}

/// Re-attests the peer of the first leg; called every interval.
pub trait Reattester<A>: Send {
    /// Re-attests on `stream`; the new result on success.
    fn reattest<'a>(&'a mut self, stream: &'a mut A) -> BoxFuture<'a, Result<Ear, NetError>>;
}

/// Re-attestation of an [`AttestedStream`], calling `on_result` with each
/// outcome (for metrics and the headers of the HTTP mode).
pub struct StreamReattester<F>(pub F);

impl<S, F> Reattester<AttestedStream<S>> for StreamReattester<F>
where
    S: TlsStreamExt + Send,
    F: FnMut(&Result<Ear, NetError>) + Send,
{
    fn reattest<'a>(&'a mut self, stream: &'a mut AttestedStream<S>) -> BoxFuture<'a, Result<Ear, NetError>> {
        Box::pin(async move {
            let r = stream.reattest().await;
            (self.0)(&r);
            r
        })
    }
}

/// What a relay watches besides the two legs.
pub struct RelayOptions<'a, A> {
    /// End after this long without a byte in either direction.
    pub idle: Option<Duration>,
    /// Re-attest the first leg's peer this often.
    pub reattest: Option<(Duration, &'a mut dyn Reattester<A>)>,
    /// Ends the relay ([`RelayError::Stopped`]) when it turns `true`.
    pub stop: Option<tokio::sync::watch::Receiver<bool>>,
    /// Called with every chunk relayed.
    pub counted: &'a (dyn Fn(Direction, usize) + Send + Sync),
}

impl<A> Default for RelayOptions<'_, A> {
    fn default() -> Self {
        Self {
            idle: None,
            reattest: None,
            stop: None,
            counted: &|_, _| {},
        }
    }
}

/// The largest read from the other leg: one DATA frame of this payload is
/// one full TLS record (2^14 bytes of plaintext).
pub const TO_ATTESTED_CHUNK: usize =
    attested_tls::transport::frame::MAX_DATA_CHUNK - attested_tls::transport::frame::HEADER_LEN;

/// A long way off: the deadline of a timer that is off.
const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Completes when `stop` turns true; never if there is none or its sender
/// is gone.
async fn stopped(stop: &mut Option<tokio::sync::watch::Receiver<bool>>) {
    if let Some(rx) = stop {
        if rx.wait_for(|v| *v).await.is_ok() {
            return;
        }
    }
    std::future::pending::<()>().await;
}

/// Copies both ways between `a` (the attested leg) and `b` until both
/// directions have ended (each end of stream is passed on as a write
/// shutdown: TLS close_notify on an attested stream), or until something in
/// `opts` ends it.
pub async fn relay<A, B>(a: &mut A, b: &mut B, mut opts: RelayOptions<'_, A>) -> Result<(), RelayError>
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    // Chunks towards the attested leg are one DATA frame that fills one
    // TLS record exactly (16384 bytes of plaintext with the frame header):
    // a full 16 KiB chunk would take a second, 5-byte record.
    let (mut abuf, mut bbuf) = (vec![0u8; 16 * 1024], vec![0u8; TO_ATTESTED_CHUNK]);
    let (mut a_open, mut b_open) = (true, true);
    let idle = opts.idle;
    let deadline = tokio::time::sleep(idle.unwrap_or(FAR));
    tokio::pin!(deadline);
    let every = opts.reattest.as_ref().map(|(d, _)| *d);
    let tick = tokio::time::sleep(every.unwrap_or(FAR));
    tokio::pin!(tick);
    let counted = opts.counted;
    while a_open || b_open {
        tokio::select! {
            r = a.read(&mut abuf), if a_open => {
                let n = r.map_err(RelayError::Peer)?;
                counted(Direction::In, n);
                a_open = pass_on(n, &abuf, b).await.map_err(RelayError::Other)?;
            }
            r = b.read(&mut bbuf), if b_open => {
                let n = r.map_err(RelayError::Other)?;
                counted(Direction::Out, n);
                b_open = pass_on(n, &bbuf, a).await.map_err(RelayError::Peer)?;
            }
            () = &mut deadline => return Err(RelayError::Idle(idle.unwrap_or(FAR))),
            () = &mut tick, if every.is_some() => {
                if let Some((d, r)) = opts.reattest.as_mut() {
                    r.reattest(a).await.map_err(RelayError::Reattest)?;
                    tick.as_mut().reset(tokio::time::Instant::now() + *d);
                }
                // Re-attestation is not application traffic: the idle
                // deadline stays.
                continue;
            }
            () = stopped(&mut opts.stop) => return Err(RelayError::Stopped),
        }
        if let Some(d) = idle {
            deadline.as_mut().reset(tokio::time::Instant::now() + d);
        }
    }
    Ok(())
}

/// Writes what one direction read (`n` bytes of `buf`) to the other side,
/// or passes its end of stream on as a write shutdown; whether the
/// direction is still open.
async fn pass_on<W: AsyncWrite + Unpin>(n: usize, buf: &[u8], w: &mut W) -> io::Result<bool> {
    if n == 0 {
        w.shutdown().await?;
        return Ok(false);
    }
    w.write_all(&buf[..n]).await?;
    w.flush().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn relays_both_ways_and_passes_on_the_end_of_stream() {
        let (mut a, mut a_far) = tokio::io::duplex(1024);
        let (mut b, mut b_far) = tokio::io::duplex(1024);
        let task = tokio::spawn(async move { relay(&mut a, &mut b, RelayOptions::default()).await });
        a_far.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        b_far.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        b_far.write_all(b"pong").await.unwrap();
        a_far.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
        a_far.shutdown().await.unwrap();
        assert_eq!(b_far.read(&mut buf).await.unwrap(), 0);
        b_far.shutdown().await.unwrap();
        assert_eq!(a_far.read(&mut buf).await.unwrap(), 0);
        task.await.unwrap().unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn ends_when_idle_or_stopped() {
        let (mut a, _a_far) = tokio::io::duplex(1024);
        let (mut b, _b_far) = tokio::io::duplex(1024);
        let opts = RelayOptions {
            idle: Some(Duration::from_secs(5)),
            ..RelayOptions::default()
        };
        let r = relay(&mut a, &mut b, opts).await;
        assert!(
            matches!(r, Err(RelayError::Idle(d)) if d == Duration::from_secs(5)),
            "{r:?}"
        );

        let (tx, rx) = tokio::sync::watch::channel(false);
        let opts = RelayOptions {
            stop: Some(rx),
            ..RelayOptions::default()
        };
        let task = tokio::spawn(async move { relay(&mut a, &mut b, opts).await });
        tx.send(true).unwrap();
        assert!(matches!(task.await.unwrap(), Err(RelayError::Stopped)));
    }
}
