//! listen, accept (reads, writes and close of sockets go through `fs`).

use alloc::sync::Arc;

use rcore_n_abi::Errno;

use super::{Done, Next, Result, block};
use crate::fs::File;
use crate::task::Process;

/// `listen(port) -> fd`.
pub fn listen(proc: &Process, port: usize) -> Result<isize> {
    let sock = crate::net::listen(proc.serial, port)?;
    // Dropped (the listener closed) if the table is full.
    let fd = proc.fds.lock().insert(File::Socket(Arc::new(sock)))?;
    Ok(fd as isize)
}

/// `accept(fd) -> fd`: waits for a connection; its descriptor is installed
/// when the call completes (see [`Done::install`]).
pub fn accept(proc: &Arc<Process>, fd: usize) -> Next {
    let sock = match proc.fds.lock().get(fd) {
        Ok(File::Socket(s)) => s,
        Ok(_) => return Next::Return(Errno::BadF.ret()),
        Err(e) => return Next::Return(e.ret()),
    };
    let next = match sock.accept() {
        Ok(f) => f,
        Err(e) => return Next::Return(e.ret()),
    };
    // The future keeps the listener's shared state, not its descriptor:
    // closing the descriptor ends this call.
    drop(sock);
    block(async move {
        match next.await {
            Ok(conn) => Done {
                ret: 0,
                out: None,
                install: Some(File::Socket(Arc::new(conn))),
            },
            Err(e) => Done::ret(e.ret()),
        }
    })
}
