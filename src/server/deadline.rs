//! Read and write deadlines of one connection (contract §12 time): the first request, and
//! the headers and body of every request, must arrive within the read timeout; a connection
//! idle between requests is closed after the idle timeout; a client that does not take its
//! response within the read timeout is dropped.
//!
//! Hyper's own header timeout also runs while a keep-alive connection is idle, so it cannot
//! keep idle connections longer than it waits for headers; this wrapper tells the two apart.

use std::{
    io,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::{Instant, Sleep},
};

/// Where a connection is between requests, shared by its IO and its service.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for (the rest of) a request head that began at `since`.
    Head { since: Instant },
    /// A request is being handled; its body deadline is the handler's.
    Handling,
    /// Idle since a response.
    Idle { since: Instant },
}

/// The phase of one connection.
#[derive(Debug)]
pub struct ConnClock {
    phase: Mutex<Phase>,
    read_timeout: Duration,
    idle_timeout: Duration,
}

/// When the body of a request must have arrived: its head's first byte plus the read timeout.
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadline(pub Instant);

impl ConnClock {
    /// A clock for a connection just opened: its first request must arrive in time.
    pub fn new(read_timeout: Duration, idle_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            phase: Mutex::new(Phase::Head {
                since: Instant::now(),
            }),
            read_timeout,
            idle_timeout,
        })
    }

    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        // A poisoned lock only means a panic elsewhere; the phase itself is always whole.
        self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A request head arrived: the service handles it, and its body is due by the deadline.
    pub fn request_started(&self) -> BodyDeadline {
        let mut phase = self.phase();
        let since = match *phase {
            Phase::Head { since } => since,
            _ => Instant::now(),
        };
        *phase = Phase::Handling;
        BodyDeadline(since + self.read_timeout)
    }

    /// The response is out: the connection idles until the next request.
    pub fn request_finished(&self) {
        *self.phase() = Phase::Idle {
            since: Instant::now(),
        };
    }

    /// Whether a request is being handled (its head has arrived, its response is not out).
    pub fn is_handling(&self) -> bool {
        matches!(*self.phase(), Phase::Handling)
    }

    fn bytes_read(&self) {
        let mut phase = self.phase();
        if let Phase::Idle { .. } = *phase {
            *phase = Phase::Head {
                since: Instant::now(),
            };
        }
    }

    fn read_deadline(&self) -> Option<Instant> {
        match *self.phase() {
            Phase::Head { since } => Some(since + self.read_timeout),
            Phase::Idle { since } => Some(since + self.idle_timeout),
            Phase::Handling => None,
        }
    }
}

/// An IO stream that fails reads and writes past the connection's deadlines.
pub struct TimedIo<T> {
    io: T,
    clock: Arc<ConnClock>,
    read_timer: Pin<Box<Sleep>>,
    write_timer: Pin<Box<Sleep>>,
    write_stalled: bool,
}

impl<T> TimedIo<T> {
    /// Wraps `io`, reading deadlines from `clock`.
    pub fn new(io: T, clock: Arc<ConnClock>) -> Self {
        let far = Instant::now() + Duration::from_secs(86_400);
        Self {
            io,
            clock,
            read_timer: Box::pin(tokio::time::sleep_until(far)),
            write_timer: Box::pin(tokio::time::sleep_until(far)),
            write_stalled: false,
        }
    }
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("{what} timed out"))
}

impl<T: AsyncRead + Unpin> AsyncRead for TimedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.clock.bytes_read();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let Some(deadline) = this.clock.read_deadline() else {
                    return Poll::Pending;
                };
                if this.read_timer.deadline() != deadline {
                    this.read_timer.as_mut().reset(deadline);
                }
                match this.read_timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(timed_out("read"))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> TimedIo<T> {
    fn on_write<R>(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        match polled {
            Poll::Pending => {
                if !self.write_stalled {
                    self.write_stalled = true;
                    let deadline = Instant::now() + self.clock.read_timeout;
                    self.write_timer.as_mut().reset(deadline);
                }
                match self.write_timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(timed_out("write"))),
                    Poll::Pending => Poll::Pending,
                }
            }
            ready => {
                self.write_stalled = false;
                ready
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TimedIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        self.on_write(cx, polled)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_flush(cx);
        self.on_write(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_shutdown(cx);
        self.on_write(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.on_write(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
