//! The kernel's side of the switching coroutine: enter the chosen process
//! in user mode, and deal with whatever brought it back.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use cops_core::switching::SpaceSwitcher;
use cops_core::view::SpaceId;
use cops_core::{CoroutineKind, ExecutorOps, Priority};

use crate::syscall::{self, Next};
use crate::task::process::{self, Process, Thread};
use crate::task::{kernel_executor, tracing};
use crate::timer;
use crate::trap::{self, Trap};

/// The time slice of a thread inside its process's preemption handler.
const PREEMPT_HANDLER_SLICE_NS: u64 = 1_000_000;

pub struct Switcher;
pub static SWITCHER: Switcher = Switcher;

/// The serial of the space whose table each hart has loaded.
static LOADED_SPACE: [AtomicUsize; crate::board::MAX_HARTS] =
    [const { AtomicUsize::new(0) }; crate::board::MAX_HARTS];

/// What each hart entered last, as `pid << 8 | tid`.
static LAST_ENTERED: [AtomicUsize; crate::board::MAX_HARTS] =
    [const { AtomicUsize::new(0) }; crate::board::MAX_HARTS];

impl SpaceSwitcher for Switcher {
    fn enter(&self, space: SpaceId, priority: Priority) {
        let Some(proc) = process::get(space as usize) else {
            return;
        };
        let Some(thread) = proc.take_ready() else {
            return;
        };
        // Trace only decisions that change what a hart runs.
        let hart = crate::hart::hart_id();
        let now_running = (proc.pid << 8) | thread.tid;
        let last = LAST_ENTERED.get(hart).map(|l| l.swap(now_running, Relaxed));
        if tracing() && last != Some(now_running) {
            println!(
                "[sched] hart {}: enter pid {} ({}) thread {} at priority {}",
                hart,
                proc.pid,
                proc.name,
                thread.tid,
                priority.level()
            );
        }
        run_once(&proc, thread, priority);
    }
}

fn run_once(proc: &Arc<Process>, thread: Arc<Thread>, priority: Priority) {
    let hart = crate::hart::hart_id();
    let mut ctx = thread.ctx.lock();
    // With hardware user interrupts the entry path raises USIP instead.
    if thread.at_safe_point.load(Relaxed) && !crate::task::uintr::hardware(proc) {
        super::upcall::deliver(proc, &thread, &mut ctx);
    }
    let next_sleeper = timer::wake_expired();
    // The preemption handler needs microseconds (mark, yield, unmark): a
    // handler that spins instead is preempted after 1 ms, not a slice.
    let slice = if thread.preempt_saved.lock().is_some() {
        timer::ns_to_ticks(PREEMPT_HANDLER_SLICE_NS).min(timer::slice_ticks())
    } else {
        timer::slice_ticks()
    };
    let slice_end = timer::now().saturating_add(slice);
    timer::fire_by(next_sleeper.map_or(slice_end, |d| d.min(slice_end)));
    // Switch tables only when entering another space: a system call and
    // its return stay in one space with a warm TLB. The serial (not the
    // satp value) identifies the space, because roots are recycled.
    if let Some(loaded) = LOADED_SPACE.get(hart)
        && loaded.swap(proc.serial, Relaxed) != proc.serial
    {
        // SAFETY: this process's table maps the kernel identically.
        unsafe { core::arch::asm!("csrw satp, {}", "sfence.vma", in(reg) proc.satp()) };
    }
    let t0 = timer::now();
    crate::task::kernel_view::entering_user(priority.level(), crate::task::idle_harts());
    // SAFETY: the space is active and we hold the thread's context.
    unsafe { crate::task::uintr::run_user(proc, &mut ctx) };
    crate::task::kernel_view::left_user();
    let ran = timer::now() - t0;
    let trap = trap::decode(&ctx);
    crate::task::summary::record_entry(proc, ran, trap == Trap::Syscall);
    // Inside the preemption handler the interrupted poll may hold the
    // executor's locks: no upcall until `preempt_return`.
    let in_preempt_handler = thread.preempt_saved.lock().is_some();
    thread
        .at_safe_point
        .store(trap == Trap::Syscall && !in_preempt_handler, Relaxed);
    if proc.is_dead() {
        // Another thread ended the process while this one ran: whatever
        // brought it back (even a system call) is dropped with it.
        return;
    }
    match trap {
        Trap::Timer | Trap::Ipi if !in_preempt_handler => {
            if let Some(entry) = proc.preempt_entry(thread.tid) {
                // Taken mid-poll: the thread's own handler marks its
                // coroutine running-suspended before it gives the hart up
                // (its `yield`), so the process's executor agrees with the
                // view on what runs at which level, and on the way back
                // resumes the poll. Entered at once, at the same priority.
                *thread.preempt_saved.lock() = Some(ctx.clone());
                ctx.sepc = entry;
                // Below the interrupted frame, 16-byte aligned.
                ctx.x[2] = (ctx.x[2] - 128) & !15;
                drop(ctx);
                crate::task::summary::count_preempt_handler_entry();
                return run_once(proc, thread, priority);
            }
            drop(ctx);
            timer::wake_expired();
            proc.make_ready(thread);
        }
        Trap::Timer | Trap::Ipi | Trap::External => {
            drop(ctx);
            timer::wake_expired();
            proc.make_ready(thread);
        }
        Trap::Fault { cause, addr, pc } => {
            drop(ctx);
            println!(
                "[kernel] pid {} ({}) killed: fault scause {cause:#x} at pc {pc:#x}, address {addr:#x}",
                proc.pid, proc.name
            );
            exit_process(proc, -11);
        }
        Trap::Syscall => {
            ctx.sepc += 4;
            let nr = ctx.x[17];
            match syscall::dispatch(proc, &thread, &mut ctx) {
                Next::Return(v) => {
                    ctx.set_ret(v);
                    drop(ctx);
                    proc.make_ready(thread);
                }
                Next::Resume => {
                    drop(ctx);
                    proc.make_ready(thread);
                }
                Next::Block(fut) => {
                    drop(ctx);
                    let priority = if nr == rcore_n_abi::nr::UINTR_WAIT {
                        // An idle executor thread: it ran nothing, so its
                        // level now would be the lowest, and at -smp 1 the
                        // kick that ends its wait (a coroutine became ready)
                        // would never be served while a busy sibling thread
                        // is ready. Serve it at the cap: it only makes the
                        // thread ready, and the view ranks the thread.
                        proc.cap()
                    } else {
                        // Not the executor's idle: a thread with work blocked.
                        process::count_thread_wait();
                        proc.priority_with(core::iter::once(thread.tid))
                    };
                    block_on_kernel(proc, thread, fut, priority);
                }
                Next::ExitThread(code) => {
                    drop(ctx);
                    proc.exit_thread(thread.tid, code);
                    record_exit(proc);
                }
                Next::ExitProcess(code) => {
                    drop(ctx);
                    exit_process(proc, code);
                }
            }
        }
    }
}

fn exit_process(proc: &Arc<Process>, code: i32) {
    crate::task::summary::record_exit(proc.pid, code);
    proc.exit(code);
}

fn record_exit(proc: &Process) {
    if let Some(code) = *proc.exit_code.lock() {
        crate::task::summary::record_exit(proc.pid, code);
    }
}

/// A blocking system call: a kernel coroutine, at `priority`, waits for
/// it; the thread runs again when it completes. Refused (quota, memory, no
/// free kernel coroutine): the thread gets the error at once.
fn block_on_kernel(
    proc: &Arc<Process>,
    thread: Arc<Thread>,
    fut: syscall::SyscallFuture,
    priority: Priority,
) {
    let served = match proc.serve(fut) {
        Ok(s) => s,
        Err(e) => {
            thread.ctx.lock().set_ret(e.ret());
            proc.make_ready(thread);
            return;
        }
    };
    let (p, t) = (proc.clone(), thread.clone());
    let waiter = async move {
        // `None`: the process died; the thread goes with it.
        if let Some(done) = served.await {
            let r = done.commit(&p);
            t.ctx.lock().set_ret(r);
            p.make_ready(t);
        }
    };
    if kernel_executor()
        .spawn_kind(waiter, priority, CoroutineKind::Syscall)
        .is_err()
    {
        thread.ctx.lock().set_ret(rcore_n_abi::Errno::Again.ret());
        proc.make_ready(thread);
    }
}
