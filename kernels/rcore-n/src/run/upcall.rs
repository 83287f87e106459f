//! Soft user interrupts: on a thread's way back from a system call, enter
//! its process's handler if its page has something pending (the handler
//! leaves by `uintr_return`, a system call).

use cops_uintr::soft;

use crate::task::{Process, Thread};
use crate::trap::UserContext;

/// Redirect `thread` into its process's handler if an upcall is due (only
/// on a return from a system call: a safe point, where the user executor
/// holds none of its own locks).
pub fn deliver(proc: &Process, thread: &Thread, ctx: &mut UserContext) {
    let mut saved = thread.upcall_saved.lock();
    if saved.is_some() || !soft::upcall_due(proc.uintr()) {
        return;
    }
    if let Some(up) = soft::take_upcall(proc.uintr(), ctx.sepc as u64) {
        *saved = Some(ctx.clone());
        ctx.sepc = up.entry as usize;
        ctx.x[10] = up.arg as usize;
        ctx.x[11] = up.cause as usize;
        // Below the interrupted frame, 16-byte aligned.
        ctx.x[2] = (ctx.x[2] - 128) & !15;
        crate::task::summary::record_upcall(proc.pid);
    }
}
