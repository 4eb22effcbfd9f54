//! Binding the webhook and ops listeners. The default address `[::]` is dual-stack: one
//! socket with `IPV6_V6ONLY` off accepts IPv6 and (as IPv4-mapped addresses) IPv4, whatever
//! the node's `net.ipv6.bindv6only`, so the same flags work on IPv4-only, IPv6-only and
//! dual-stack clusters. On a node where IPv6 is disabled altogether (`ipv6.disable=1`, no
//! IPv6 sockets), `[::]:port` falls back to `0.0.0.0:port` with a warning, instead of
//! failing to start.

use std::{
    io,
    net::{Ipv4Addr, Ipv6Addr, SocketAddr},
};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;
use tracing::warn;

/// Pending connections the kernel queues per listener (tokio's own default).
const BACKLOG: i32 = 1024;

/// A listener on `addr`; see the module documentation for `[::]`. Must run inside a tokio
/// runtime.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    if addr.ip() != Ipv6Addr::UNSPECIFIED {
        return listen(addr, None);
    }
    match listen(addr, Some(false)) {
        Err(e) if ipv6_unavailable(&e) => {
            let v4 = SocketAddr::from((Ipv4Addr::UNSPECIFIED, addr.port()));
            warn!(address = %addr, fallback = %v4, error = %e, "IPv6 is not available on this node; listening on IPv4 only");
            listen(v4, None)
        }
        other => other,
    }
}

fn listen(addr: SocketAddr, only_v6: Option<bool>) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if let Some(only_v6) = only_v6 {
        socket.set_only_v6(only_v6)?;
    }
    // As tokio's TcpListener::bind: a restarted server rebinds while old connections linger.
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    TcpListener::from_std(socket.into())
}

/// Whether an error of creating or binding an IPv6 socket means the node has no IPv6:
/// the address family is not supported (EAFNOSUPPORT), or no IPv6 address can be bound.
fn ipv6_unavailable(e: &io::Error) -> bool {
    const EAFNOSUPPORT: i32 = 97;
    e.kind() == io::ErrorKind::AddrNotAvailable
        || e.kind() == io::ErrorKind::Unsupported
        || (cfg!(target_os = "linux") && e.raw_os_error() == Some(EAFNOSUPPORT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_missing_ipv6_stack_falls_back() {
        assert!(ipv6_unavailable(&io::Error::from(
            io::ErrorKind::AddrNotAvailable
        )));
        assert!(ipv6_unavailable(&io::Error::from_raw_os_error(97)));
        assert!(!ipv6_unavailable(&io::Error::from(io::ErrorKind::AddrInUse)));
        assert!(!ipv6_unavailable(&io::Error::from(
            io::ErrorKind::PermissionDenied
        )));
    }

    #[tokio::test]
    async fn a_loopback_address_is_bound_as_given() {
        let listener = bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        assert!(listener.local_addr().expect("addr").ip().is_loopback());
    }
}
