//! Kernel threads, for the KT models of COPS §5.1: a blocking system call
//! served on a thread with its own kernel stack instead of a stackless
//! kernel coroutine. The thread is still scheduled by the one executor: a
//! small coroutine switches onto the thread's stack when polled, the thread
//! polls its system call there, and switches back when it must wait. What
//! changes is what the model costs: a 16 KiB stack per waiting call and a
//! stack switch per poll, against a few hundred bytes of coroutine state.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::arch::global_asm;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use core::task::{Context, Poll, Waker};

use rcore_n_abi::Errno;

use super::call::{Done, SyscallFuture};

/// Bytes of each kernel thread's stack (charged to the process's quota).
pub const STACK_SIZE: usize = 16 * 1024;
/// Bytes at the bottom of each stack that must stay untouched: checked after
/// every run of the thread, so an overflow is reported, not silent.
const CANARY: usize = 512;
const CANARY_BYTE: u8 = 0xa5;

/// Callee-saved registers of a suspended side (`tp` is not switched: it is
/// the hart id, and a thread may resume on another hart).
#[repr(C)]
#[derive(Default)]
struct Registers {
    ra: usize,
    sp: usize,
    s: [usize; 12],
}

global_asm!(
    r#"
    .section .text
    .globl __kthread_switch
    .align 2
__kthread_switch:
    # a0 = where to save the running side, a1 = the side to resume
    sd ra, 0(a0)
    sd sp, 8(a0)
    sd s0, 16(a0)
    sd s1, 24(a0)
    sd s2, 32(a0)
    sd s3, 40(a0)
    sd s4, 48(a0)
    sd s5, 56(a0)
    sd s6, 64(a0)
    sd s7, 72(a0)
    sd s8, 80(a0)
    sd s9, 88(a0)
    sd s10, 96(a0)
    sd s11, 104(a0)
    ld ra, 0(a1)
    ld sp, 8(a1)
    ld s0, 16(a1)
    ld s1, 24(a1)
    ld s2, 32(a1)
    ld s3, 40(a1)
    ld s4, 48(a1)
    ld s5, 56(a1)
    ld s6, 64(a1)
    ld s7, 72(a1)
    ld s8, 80(a1)
    ld s9, 88(a1)
    ld s10, 96(a1)
    ld s11, 104(a1)
    ret

    .globl __kthread_entry
    .align 2
__kthread_entry:
    mv a0, s0
    call {main}
    "#,
    main = sym thread_main,
);

unsafe extern "C" {
    fn __kthread_switch(save: *mut Registers, resume: *const Registers);
    fn __kthread_entry();
}

struct KernelThread {
    /// The thread's side while it is suspended.
    thread: Registers,
    /// The executor's side while the thread runs.
    executor: Registers,
    call: Option<SyscallFuture>,
    waker: Option<Waker>,
    done: Option<Done>,
    _stack: Box<[u8]>,
}

/// Kernel threads that have run (each counted on its own stack, at its
/// first run): `kstat(KERNEL_THREADS_STARTED)`, for the models test.
static STARTED: AtomicUsize = AtomicUsize::new(0);

/// Kernel threads started since boot.
pub fn started() -> usize {
    STARTED.load(Relaxed)
}

extern "C" fn thread_main(t: *mut KernelThread) -> ! {
    STARTED.fetch_add(1, Relaxed);
    loop {
        // SAFETY: `t` is the boxed thread; only one side runs at a time
        // (the switch hands over), so these accesses never overlap.
        unsafe {
            // Borrow the waker, never clone it here: a clone on this stack
            // would never be dropped once the thread finishes (its stack
            // is abandoned), and would pin the coroutine's slot forever.
            if let (Some(call), Some(waker)) = ((*t).call.as_mut(), (*t).waker.as_ref())
                && let Poll::Ready(done) = call.as_mut().poll(&mut Context::from_waker(waker))
            {
                (*t).done = Some(done);
                (*t).call = None;
            }
            __kthread_switch(&raw mut (*t).thread, &raw const (*t).executor);
        }
    }
}

/// A system call running on its own kernel thread, driven as a future.
struct OnKernelThread(Box<KernelThread>);

// SAFETY: the thread's state moves between harts only at switches, with the
// executor's slot ownership ordering them; `SyscallFuture` is `Send`.
unsafe impl Send for OnKernelThread {}

impl Future for OnKernelThread {
    type Output = Done;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Done> {
        let t: *mut KernelThread = &mut *self.0;
        // SAFETY: as in `thread_main`; the box does not move while the
        // thread runs (it is pinned inside this future).
        unsafe {
            (*t).waker = Some(cx.waker().clone());
            __kthread_switch(&raw mut (*t).executor, &raw const (*t).thread);
            let stack: &[u8] = &(*t)._stack;
            assert!(
                stack[..CANARY].iter().all(|&b| b == CANARY_BYTE),
                "kernel thread stack overflow"
            );
            match (*t).done.take() {
                Some(done) => Poll::Ready(done),
                None => Poll::Pending,
            }
        }
    }
}

/// Serve `call` on a new kernel thread; `-ENOMEM` if there is no memory
/// for its stack.
pub fn spawn(call: SyscallFuture) -> Result<SyscallFuture, Errno> {
    let mut stack = Vec::new();
    stack
        .try_reserve_exact(STACK_SIZE)
        .map_err(|_| Errno::NoMem)?;
    stack.resize(STACK_SIZE, CANARY_BYTE);
    let stack = stack.into_boxed_slice();
    let top = (stack.as_ptr() as usize + STACK_SIZE) & !15;
    let mut t = Box::new(KernelThread {
        thread: Registers::default(),
        executor: Registers::default(),
        call: Some(call),
        waker: None,
        done: None,
        _stack: stack,
    });
    t.thread.ra = __kthread_entry as *const () as usize;
    t.thread.sp = top;
    t.thread.s[0] = &mut *t as *mut KernelThread as usize;
    Ok(Box::pin(OnKernelThread(t)))
}
