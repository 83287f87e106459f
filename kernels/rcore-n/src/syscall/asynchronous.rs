//! Asynchronous system calls and the soft user-interrupt backend.
//!
//! `async(nr, …, slot, cid)` runs any waiting system call on a kernel
//! coroutine and returns at once (`-EINPROGRESS`): only the calling
//! *coroutine* waits, its thread goes on running others. On completion the
//! kernel stores the result in the caller's [`AsyncSlot`] and posts
//! `Record::wake(cid)` to the process's [`PageSized`] user-interrupt page;
//! the process's handler, entered as an upcall on the thread's next return
//! from a system call, wakes the coroutine through the same `wake(id)` its
//! wakers use (COPS §4.2, Figure 4).

use alloc::sync::Arc;

use cops_core::{CoroutineKind, ExecutorOps};
use cops_uintr::soft;
use rcore_n_abi::{AsyncSlot, Completion, Errno, nr};

use super::{Done, Next, dispatch};
use crate::task::{Process, Thread, kernel_executor};
use crate::trap::UserContext;

/// System calls that cannot be made asynchronous.
const NOT_ASYNC: [usize; 7] = [
    nr::EXIT,
    nr::THREAD_EXIT,
    nr::ASYNC,
    nr::UINTR_RETURN,
    nr::PREEMPT_RETURN,
    nr::UINTR_WAIT,
    nr::SHUTDOWN,
];

pub fn call(proc: &Arc<Process>, thread: &Arc<Thread>, ctx: &mut UserContext) -> Next {
    let (inner_nr, slot_va, cid) = (ctx.a(0), ctx.a(4), ctx.a(5) as u64);
    if NOT_ASYNC.contains(&inner_nr) {
        return Next::Return(Errno::Inval.ret());
    }
    let slot_pa = match proc
        .space
        .lock()
        .user_pa(slot_va, size_of::<AsyncSlot>(), 8)
    {
        Ok(pa) => pa,
        Err(e) => return Next::Return(e.ret()),
    };
    let mut inner = ctx.clone();
    inner.x[17] = inner_nr;
    inner.x[10..13].copy_from_slice(&[ctx.a(1), ctx.a(2), ctx.a(3)]);
    let fut = match dispatch(proc, thread, &mut inner) {
        Next::Block(fut) => fut,
        Next::Return(v) => return Next::Return(v), // done at once
        _ => return Next::Return(Errno::Inval.ret()),
    };
    let served = match proc.serve(fut) {
        Ok(s) => s,
        Err(e) => return Next::Return(e.ret()),
    };
    let p = proc.clone();
    let waiter = async move {
        // `None`: the process died; nobody is left to tell.
        if let Some(done) = served.await {
            complete(&p, slot_pa, cid, done);
        }
    };
    let prio = proc.priority_with(core::iter::once(thread.tid));
    match kernel_executor().spawn_kind(waiter, prio, CoroutineKind::Syscall) {
        Ok(_) => Next::Return(Errno::InProgress.ret()),
        Err(_) => Next::Return(Errno::Again.ret()),
    }
}

/// Store the result for the caller (unless it gave up) and wake it.
fn complete(proc: &Process, slot_pa: usize, cid: u64, done: Done) {
    if proc.is_dead() {
        return;
    }
    // SAFETY: `slot_pa` is 8-aligned, inside one user page of this live
    // process; the process writes it concurrently, hence atomics only.
    let slot = unsafe { &*(slot_pa as *const AsyncSlot) };
    // Abandoned (the caller dropped its future) or garbage: write nothing.
    if slot.begin_completion() == Completion::Deliver {
        let ret = done.commit(proc);
        slot.finish(ret as i64, crate::timer::now());
        proc.post_wake(cid);
    }
}

pub fn uintr_return(proc: &Process, thread: &Thread, ctx: &mut UserContext) -> Next {
    let Some(saved) = thread.upcall_saved.lock().take() else {
        return Next::Return(Errno::Inval.ret());
    };
    // The kernel's copy of the interrupted context, not the page's
    // user-writable `saved_pc`.
    soft::finish_upcall(proc.uintr());
    ctx.x = saved.x;
    ctx.sepc = saved.sepc;
    Next::Resume
}

/// Leave the preemption handler: the poll it interrupted resumes (the
/// kernel's copy of that context, never a user-written one).
pub fn preempt_return(thread: &Thread, ctx: &mut UserContext) -> Next {
    let Some(saved) = thread.preempt_saved.lock().take() else {
        return Next::Return(Errno::Inval.ret());
    };
    ctx.x = saved.x;
    ctx.sepc = saved.sepc;
    Next::Resume
}

pub fn uintr_wait(proc: &Arc<Process>) -> Next {
    let p = proc.clone();
    super::block(async move {
        let page = p.uintr();
        p.upcall_waiters
            .until(|| (soft::upcall_due(page) || p.take_kick()).then_some(()))
            .await;
        Done::ret(0)
    })
}

pub fn uintr_kick(proc: &Process) -> Next {
    proc.kick();
    proc.upcall_waiters.notify_all();
    Next::Return(0)
}
