//! System calls: decode, check every argument, and either answer at once
//! or hand back a future that a kernel coroutine awaits while the calling
//! thread waits (the thread-compatible, synchronous form).
//!
//! Every user pointer goes through [`crate::mm::space::UserSpace`]'s checked
//! copies: a bad pointer or argument is an error code, never a kernel fault.

mod asynchronous;
mod fs;
mod net;
mod process;

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::future::Future;

use rcore_n_abi::{Errno, nr};

use crate::task::{Process, Thread};
use crate::trap::UserContext;

pub use crate::task::call::{Done, SyscallFuture};

/// What the calling thread does next.
pub enum Next {
    /// Resume with this result.
    Return(isize),
    /// Wait for this future; resume with its output.
    Block(SyscallFuture),
    ExitThread(i32),
    ExitProcess(i32),
    /// Resume with the context as the call left it (no result written).
    Resume,
}

type Result<T> = core::result::Result<T, Errno>;

impl From<Result<isize>> for Next {
    fn from(r: Result<isize>) -> Self {
        Next::Return(r.unwrap_or_else(Errno::ret))
    }
}

/// Serve the system call in `ctx` (`a7` = number).
pub fn dispatch(proc: &Arc<Process>, thread: &Arc<Thread>, ctx: &mut UserContext) -> Next {
    let a = [ctx.a(0), ctx.a(1), ctx.a(2)];
    match ctx.x[17] {
        nr::WRITE => fs::write(proc, a[0], a[1], a[2]),
        nr::READ => fs::read(proc, a[0], a[1], a[2]),
        nr::PIPE => fs::pipe(proc, a[0]).into(),
        nr::CLOSE => fs::close(proc, a[0]).into(),
        nr::LISTEN => net::listen(proc, a[0]).into(),
        nr::ACCEPT => net::accept(proc, a[0]),
        nr::EXIT => Next::ExitProcess(a[0] as i32),
        nr::THREAD_EXIT => Next::ExitThread(a[0] as i32),
        nr::YIELD => Next::Return(0),
        nr::GETPID => Next::Return(proc.pid as isize),
        nr::GETTID => Next::Return(thread.tid as isize),
        nr::CLOCK => {
            let ns = crate::timer::ticks_to_ns(crate::timer::now());
            Next::Return(ns as isize)
        }
        nr::SLEEP => process::sleep(a[0] as u64),
        nr::SET_PRIORITY => process::set_priority(proc, a[0], a[1]).into(),
        nr::SPAWN => process::spawn(proc, a[0], a[1], a[2]).into(),
        nr::WAITPID => process::waitpid(proc, a[0], a[1]),
        nr::THREAD_CREATE => process::thread_create(proc, a[0], a[1]).into(),
        nr::THREAD_JOIN => process::thread_join(proc, thread, a[0], a[1]),
        nr::ASYNC => asynchronous::call(proc, thread, ctx),
        nr::UINTR_RETURN => asynchronous::uintr_return(proc, thread, ctx),
        nr::PREEMPT_RETURN => asynchronous::preempt_return(thread, ctx),
        nr::UINTR_WAIT => asynchronous::uintr_wait(proc),
        nr::UINTR_KICK => asynchronous::uintr_kick(proc),
        nr::UINTR_MODE => Next::Return(crate::task::uintr::set_mode(proc, a[0])),
        nr::KERNEL_MODEL => match a[0] {
            0 | 1 => {
                proc.kernel_threads
                    .store(a[0] == 1, core::sync::atomic::Ordering::Relaxed);
                Next::Return(0)
            }
            _ => Next::Return(Errno::Inval.ret()),
        },
        nr::HARTS => Next::Return(crate::hart::harts() as isize),
        nr::KSTAT => kstat(proc, a[0]).into(),
        nr::BOOTARG => bootarg(proc, a[0], a[1]).into(),
        nr::SHUTDOWN => process::shutdown(proc, a[0] as i32).into(),
        _ => Next::Return(Errno::NoSys.ret()),
    }
}

/// One of the kernel's resource counters (`rcore_n_abi::stat`).
fn kstat(proc: &Process, which: usize) -> Result<isize> {
    use rcore_n_abi::stat;
    let v = match which {
        stat::HEAP_USED => crate::mm::heap_used(),
        stat::KERNEL_COROUTINES => crate::task::kernel_executor().live(),
        stat::PROCESSES => crate::task::process::count(),
        stat::FRAMES_USED => crate::mm::frames_used(),
        stat::SLEEPERS => crate::timer::sleepers(),
        stat::CALLS => crate::task::quota::calls(),
        stat::CALL_BYTES => crate::task::quota::bytes(),
        stat::WAITERS => crate::sync::waiters(),
        stat::SPACES => crate::mm::space::spaces(),
        stat::SOCKETS => crate::net::sockets(),
        stat::KERNEL_THREADS_STARTED => crate::task::kthread::started(),
        stat::COROUTINE_CALLS => crate::task::process::calls_on_coroutines(),
        stat::THREAD_WAITS => crate::task::process::thread_waits(),
        stat::FIRST_ENTRY => proc.entered(),
        stat::KERNEL_WORK_IPIS => crate::task::kernel_view::ipis(),
        stat::PREEMPT_HANDLER_ENTRIES => crate::task::preempt_handler_entries(),
        stat::SWITCHER_LEVELS => crate::task::switcher_levels(),
        _ => return Err(Errno::Inval),
    };
    Ok(v as isize)
}

/// The number of a `key=N` word on the kernel command line.
fn bootarg(proc: &Process, key: usize, len: usize) -> Result<isize> {
    if len == 0 || len > 64 {
        return Err(Errno::Inval);
    }
    let bytes = proc.space.lock().read(key, len)?;
    let key = core::str::from_utf8(&bytes).map_err(|_| Errno::Inval)?;
    let v = crate::hart::bootarg(key).ok_or(Errno::NoEnt)?;
    isize::try_from(v).map_err(|_| Errno::Inval)
}

/// Box a future as a system call served by a kernel coroutine.
fn block(f: impl Future<Output = Done> + Send + 'static) -> Next {
    Next::Block(Box::pin(f))
}
