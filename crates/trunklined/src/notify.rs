//! systemd's readiness protocol (sd_notify(3)), for `Type=notify` units:
//! a datagram to `$NOTIFY_SOCKET`. The node says READY=1 once its storage
//! is open and every listener is bound, not once it has a quorum: the
//! nodes of a cluster start one after another, and none would ever be
//! "started" if each waited for the others.

use std::os::unix::net::UnixDatagram;

/// Sends `state` (lines such as `READY=1`) to the service manager, if one
/// asked for it; a failure is logged, never fatal.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    if let Err(e) = send(&path, state) {
        tracing::warn!(socket = ?path, "cannot tell the service manager {state:?}: {e}");
    }
}

fn send(path: &std::ffi::OsStr, state: &str) -> std::io::Result<usize> {
    use std::os::unix::ffi::OsStrExt;
    let sock = UnixDatagram::unbound()?;
    match path.as_bytes().strip_prefix(b"@") {
        // An abstract socket (Linux): the name without its '@'.
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.send_to_addr(state.as_bytes(), &addr)
        }
        None => sock.send_to(state.as_bytes(), path),
    }
}
