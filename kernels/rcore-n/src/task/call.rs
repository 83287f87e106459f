//! A waiting system call as the task layer serves it: a future a kernel
//! coroutine (or a kernel thread) awaits, and what it completes with.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;

use rcore_n_abi::Errno;

use super::Process;

/// A system call served by a kernel coroutine.
pub type SyscallFuture = Pin<Box<dyn Future<Output = Done> + Send>>;

/// A completed system call: its result, and bytes to copy to the caller's
/// memory first (a read's data, a waitpid's exit code), or a descriptor to
/// install (an accepted connection). The copy or installation happens at
/// completion, after the caller's slot says it still wants it: an
/// abandoned call's connection is closed with the `Done`, not left in the
/// table.
pub struct Done {
    pub ret: isize,
    pub out: Option<(usize, Vec<u8>)>,
    /// Install this file; the result is then its descriptor.
    pub install: Option<crate::fs::File>,
}

impl Done {
    pub fn ret(ret: isize) -> Self {
        Self {
            ret,
            out: None,
            install: None,
        }
    }

    /// A read's result: its bytes, copied to the caller's `buf` at
    /// completion, or the error.
    pub fn read(buf: usize, r: Result<Vec<u8>, Errno>) -> Self {
        match r {
            Ok(data) => Self {
                ret: data.len() as isize,
                out: Some((buf, data)),
                install: None,
            },
            Err(e) => Self::ret(e.ret()),
        }
    }

    /// Copy the output (if any) into `proc`, or install the file; the
    /// result, or `-EFAULT` / `-EMFILE`.
    pub fn commit(self, proc: &Process) -> isize {
        if let Some(file) = self.install {
            if proc.is_dead() {
                return Errno::BadF.ret();
            }
            return match proc.fds.lock().insert(file) {
                Ok(fd) => fd as isize,
                Err(e) => e.ret(),
            };
        }
        match self.out {
            Some((va, bytes)) => match proc.space.lock().write(va, &bytes) {
                Ok(()) => self.ret,
                Err(e) => e.ret(),
            },
            None => self.ret,
        }
    }
}
