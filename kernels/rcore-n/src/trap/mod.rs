//! Traps. The kernel runs with `sstatus.SIE = 0` at all times, so S-mode
//! code is never interrupted (kernel coroutines are cooperative and need no
//! locks against interrupts); timer, software and external interrupts stay
//! enabled in `sie`, so they preempt U-mode and still wake `wfi`.
//!
//! Entering user mode is a call: [`run_user`] saves the kernel's
//! callee-saved registers in the [`UserContext`], `sret`s, and returns when
//! the thread next traps (the zCore style). `sscratch` holds the context
//! pointer while in U-mode and 0 in S-mode, which is how the shared vector
//! tells a user trap from a kernel one.

mod context;
pub mod uintr;

pub use context::{UserContext, run_user};

/// What brought a thread back from user mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trap {
    Syscall,
    Timer,
    /// Software interrupt: another hart asks this one to reschedule.
    Ipi,
    /// Supervisor external interrupt (PLIC), already served: a device
    /// raised it and the network coroutine has been woken.
    External,
    /// A fault: the process is killed.
    Fault {
        cause: usize,
        addr: usize,
        pc: usize,
    },
}

/// Point `stvec` at the vector and enable the interrupts that preempt
/// user mode (calling hart): timer, software, and external once a driver
/// serves them ([`enable_external`]).
pub fn init_hart() {
    // SAFETY: SIE is clear (it never gets set), so no interrupt can arrive
    // between these writes; `sscratch = 0` marks "in the kernel".
    unsafe {
        core::arch::asm!(
            "csrci sstatus, 2",
            "csrw sscratch, zero",
            "csrw stvec, {vec}",
            "csrs sie, {ints}",
            vec = in(reg) context::trap_vector_addr(),
            ints = in(reg) (1usize << 5) | (1 << 1),
        );
    }
    if EXTERNAL_DRIVER.get().is_some() {
        enable_external();
    }
    uintr::init_hart();
}

/// The driver that serves external interrupts (the network's), once one
/// claims them.
static EXTERNAL_DRIVER: spin::Once<fn()> = spin::Once::new();

/// `serve` claims the external interrupts: they are enabled on the calling
/// hart now and on every hart that starts after (`init_hart`), and each one
/// taken is handed to `serve`.
pub fn claim_external(serve: fn()) {
    EXTERNAL_DRIVER.call_once(|| serve);
    enable_external();
}

/// Serve this hart's pending external interrupts (from a trap taken in
/// user mode, or after `wfi` in the idle loop), if a driver claimed them.
pub fn serve_external() {
    if let Some(serve) = EXTERNAL_DRIVER.get() {
        serve();
    }
}

/// Let external interrupts (PLIC) end `wfi` and preempt user mode on the
/// calling hart. Only with a driver that claims them: one left pending
/// would trap straight back from every entry into user mode.
fn enable_external() {
    // SAFETY: sets SEIE only; SIE stays clear, so S-mode is not interrupted.
    unsafe { core::arch::asm!("csrs sie, {}", in(reg) 1usize << 9) };
}

/// Decode the trap that just returned from `run_user`.
pub fn decode(ctx: &UserContext) -> Trap {
    let (cause, addr): (usize, usize);
    // SAFETY: reads trap CSRs.
    unsafe { core::arch::asm!("csrr {}, scause", "csrr {}, stval", out(reg) cause, out(reg) addr) };
    let interrupt = cause >> 63 != 0;
    match (interrupt, cause & 0xff) {
        (true, 5) => Trap::Timer,
        (true, 1) => {
            clear_ipi();
            Trap::Ipi
        }
        (true, 9) => {
            serve_external();
            Trap::External
        }
        (false, 8) => Trap::Syscall,
        _ => Trap::Fault {
            cause,
            addr,
            pc: ctx.sepc,
        },
    }
}

/// Clear this hart's pending software interrupt.
pub fn clear_ipi() {
    // SAFETY: clears SSIP only.
    unsafe { core::arch::asm!("csrci sip, 2") };
}

/// A trap taken in S-mode is a kernel bug: report and stop.
extern "C" fn kernel_trap() -> ! {
    let (cause, addr, pc): (usize, usize, usize);
    // SAFETY: reads trap CSRs.
    unsafe {
        core::arch::asm!("csrr {}, scause", "csrr {}, stval", "csrr {}, sepc", out(reg) cause, out(reg) addr, out(reg) pc)
    };
    panic!("kernel trap: scause {cause:#x} stval {addr:#x} sepc {pc:#x}");
}
