//! read, write, pipe, close (of pipes and sockets alike).

use alloc::sync::Arc;

use rcore_n_abi::Errno;

use super::{Done, Next, Result, block};
use crate::fs::{File, PIPE_CAPACITY, Pipe};
use crate::task::Process;

/// Largest single transfer (longer requests are shortened, as POSIX allows).
const MAX_IO: usize = 64 * 1024;

pub fn write(proc: &Arc<Process>, fd: usize, buf: usize, len: usize) -> Next {
    let file = match proc.fds.lock().get(fd) {
        Ok(f) => f,
        Err(e) => return Next::Return(e.ret()),
    };
    let len = len.min(MAX_IO);
    match file {
        File::Stdout => match proc.space.lock().read(buf, len) {
            Ok(data) => {
                crate::console::write_bytes(&data);
                Next::Return(data.len() as isize)
            }
            Err(e) => Next::Return(e.ret()),
        },
        File::Pipe(end) if end.is_write_end() => {
            let (charge, data) = match charged_copy(proc, buf, len) {
                Ok(c) => c,
                Err(e) => return Next::Return(e.ret()),
            };
            block(async move {
                let _charge = charge;
                Done::ret(
                    end.write(&data)
                        .await
                        .map_or_else(Errno::ret, |n| n as isize),
                )
            })
        }
        File::Socket(sock) => {
            let (charge, data) = match charged_copy(proc, buf, len) {
                Ok(c) => c,
                Err(e) => return Next::Return(e.ret()),
            };
            let sending = match sock.write(data) {
                Ok(f) => f,
                Err(e) => return Next::Return(e.ret()),
            };
            block(async move {
                let _charge = charge;
                Done::ret(sending.await.map_or_else(Errno::ret, |n| n as isize))
            })
        }
        File::Stdin | File::Pipe(_) => Next::Return(Errno::BadF.ret()),
    }
}

/// Charge `len` bytes to `proc`, then copy them from its `buf`: the copy
/// lives as long as the write waits, so it is charged first.
fn charged_copy(
    proc: &Arc<Process>,
    buf: usize,
    len: usize,
) -> Result<(crate::task::quota::Charge, alloc::vec::Vec<u8>)> {
    let charge = proc.quota.charge(0, len)?;
    let data = proc.space.lock().read(buf, len)?;
    Ok((charge, data))
}

pub fn read(proc: &Arc<Process>, fd: usize, buf: usize, len: usize) -> Next {
    let file = match proc.fds.lock().get(fd) {
        Ok(f) => f,
        Err(e) => return Next::Return(e.ret()),
    };
    let len = len.min(MAX_IO);
    if let Err(e) = proc.space.lock().check_writable(buf, len) {
        return Next::Return(e.ret());
    }
    match file {
        File::Stdin => Next::Return(0),
        File::Pipe(end) if !end.is_write_end() => {
            let charge = match proc.quota.charge(0, len.min(PIPE_CAPACITY)) {
                Ok(c) => c,
                Err(e) => return Next::Return(e.ret()),
            };
            block(async move {
                let _charge = charge;
                Done::read(buf, end.read(len).await)
            })
        }
        File::Socket(sock) => {
            let charge = match proc.quota.charge(0, len.min(crate::net::RX_BUFFER)) {
                Ok(c) => c,
                Err(e) => return Next::Return(e.ret()),
            };
            let receiving = match sock.read(len) {
                Ok(f) => f,
                Err(e) => return Next::Return(e.ret()),
            };
            block(async move {
                let _charge = charge;
                Done::read(buf, receiving.await)
            })
        }
        File::Stdout | File::Pipe(_) => Next::Return(Errno::BadF.ret()),
    }
}

pub fn pipe(proc: &Process, fds_ptr: usize) -> Result<isize> {
    proc.space.lock().check_writable(fds_ptr, 16)?;
    let (r, w) = Pipe::open()?;
    let mut fds = proc.fds.lock();
    let rfd = fds.insert(File::Pipe(r))?;
    let wfd = match fds.insert(File::Pipe(w)) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = fds.close(rfd);
            return Err(e);
        }
    };
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&rfd.to_le_bytes());
    bytes[8..].copy_from_slice(&wfd.to_le_bytes());
    proc.space.lock().write(fds_ptr, &bytes)?;
    Ok(0)
}

pub fn close(proc: &Process, fd: usize) -> Result<isize> {
    proc.fds.lock().close(fd).map(|_| 0)
}
