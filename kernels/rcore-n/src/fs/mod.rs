//! File descriptors: the console, pipe ends and TCP sockets.

mod pipe;

use alloc::sync::Arc;
use alloc::vec::Vec;

use rcore_n_abi::Errno;

pub use pipe::{CAPACITY as PIPE_CAPACITY, Pipe, PipeEnd};

/// Most descriptors per process: enough for a server's hundreds of
/// connections (the table grows as used; sockets have their own limits,
/// `net::MAX_SOCKETS_PER_PROCESS`).
pub const MAX_FDS: usize = 1024;

/// What a descriptor refers to.
#[derive(Clone)]
pub enum File {
    /// Reads see end-of-file (no console input).
    Stdin,
    Stdout,
    Pipe(Arc<PipeEnd>),
    /// A listening socket or a connection (`crate::net`).
    Socket(Arc<crate::net::Socket>),
}

/// A process's descriptor table. Cloned into a spawned child (the child
/// inherits every descriptor, as after fork + exec).
#[derive(Clone)]
pub struct FdTable(Vec<Option<File>>);

impl FdTable {
    /// stdin, stdout, stderr.
    pub fn new() -> Self {
        Self(alloc::vec![
            Some(File::Stdin),
            Some(File::Stdout),
            Some(File::Stdout)
        ])
    }

    pub fn get(&self, fd: usize) -> Result<File, Errno> {
        self.0.get(fd).cloned().flatten().ok_or(Errno::BadF)
    }

    pub fn insert(&mut self, f: File) -> Result<usize, Errno> {
        if let Some(i) = self.0.iter().position(Option::is_none) {
            self.0[i] = Some(f);
            return Ok(i);
        }
        if self.0.len() >= MAX_FDS {
            return Err(Errno::MFile);
        }
        self.0.push(Some(f));
        Ok(self.0.len() - 1)
    }

    pub fn close(&mut self, fd: usize) -> Result<(), Errno> {
        let file = self
            .0
            .get_mut(fd)
            .and_then(Option::take)
            .ok_or(Errno::BadF)?;
        // A server that had hundreds of connections gives their slots back
        // (the kernel heap returns to where it was).
        while self.0.len() > 3 && self.0.last().is_some_and(Option::is_none) {
            self.0.pop();
        }
        if self.0.len() * 4 <= self.0.capacity() {
            self.0.shrink_to_fit();
        }
        drop(file);
        Ok(())
    }

    /// Close everything (the process exited): a connection that no other
    /// process holds is reset rather than closed gracefully.
    pub fn close_all(&mut self) {
        for f in self.0.iter().flatten() {
            if let File::Socket(s) = f
                && Arc::strong_count(s) == 1
            {
                s.abort_on_drop();
            }
        }
        self.0.clear();
    }
}
