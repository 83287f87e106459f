//! The user context and the assembly that enters and leaves user mode.

use core::arch::global_asm;

/// A user thread's registers plus the kernel registers `run_user` saved.
#[repr(C)]
#[derive(Clone, Debug, Default)]
pub struct UserContext {
    /// `x0..x31` (`x[0]` unused, `x[2]` = sp, `x[4]` = tp, `x[10]` = a0).
    pub x: [usize; 32],
    pub sepc: usize,
    pub sstatus: usize,
    /// ra, sp, s0..s11, tp of the kernel while the thread runs.
    kernel: [usize; 15],
    /// The thread's N-extension trap CSRs while it is out of user mode
    /// (after `kernel`: the assembly's offsets stop there).
    pub uintr: super::uintr::UserTrapState,
}

impl UserContext {
    /// A fresh context entering `entry` with stack `sp` and `tp = tid`.
    pub fn new(entry: usize, sp: usize, tid: usize, arg: usize) -> Self {
        let mut c = Self::default();
        c.x[2] = sp;
        c.x[4] = tid;
        c.x[10] = arg;
        c.sepc = entry;
        // SPP = U (0), SPIE = 1 (interrupts on in U-mode), FS = Off: the
        // kernel does not switch floating-point registers, so a user
        // floating-point instruction traps (illegal instruction) and kills
        // only its own process instead of corrupting another's registers.
        c.sstatus = 1 << 5;
        c
    }
    pub fn a(&self, i: usize) -> usize {
        self.x[10 + i]
    }
    pub fn set_ret(&mut self, v: isize) {
        self.x[10] = v as usize;
    }
}

global_asm!(
    r#"
    .altmacro
    .macro SAVE_X n
        sd x\n, \n*8(sp)
    .endm
    .macro LOAD_X n
        ld x\n, \n*8(a0)
    .endm
    .section .text
    .globl __run_user
    .align 2
__run_user:
    # a0 = &mut UserContext. Save the kernel's callee-saved registers.
    sd ra, 34*8(a0)
    sd sp, 35*8(a0)
    sd s0, 36*8(a0)
    sd s1, 37*8(a0)
    sd s2, 38*8(a0)
    sd s3, 39*8(a0)
    sd s4, 40*8(a0)
    sd s5, 41*8(a0)
    sd s6, 42*8(a0)
    sd s7, 43*8(a0)
    sd s8, 44*8(a0)
    sd s9, 45*8(a0)
    sd s10, 46*8(a0)
    sd s11, 47*8(a0)
    sd tp, 48*8(a0)
    ld t0, 32*8(a0)
    ld t1, 33*8(a0)
    csrw sepc, t0
    csrw sstatus, t1
    csrw sscratch, a0
    ld x1, 1*8(a0)
    ld x2, 2*8(a0)
    ld x3, 3*8(a0)
    ld x4, 4*8(a0)
    .set n, 5
    .rept 5
        LOAD_X %n
        .set n, n+1
    .endr
    .set n, 11
    .rept 21
        LOAD_X %n
        .set n, n+1
    .endr
    ld a0, 10*8(a0)
    sret

    .globl __trap_vector
    .align 2
__trap_vector:
    csrrw sp, sscratch, sp
    beqz sp, 1f
    # From U-mode: sp = &mut UserContext, sscratch = user sp.
    sd x1, 1*8(sp)
    sd x3, 3*8(sp)
    .set n, 4
    .rept 28
        SAVE_X %n
        .set n, n+1
    .endr
    csrr t0, sscratch
    sd t0, 2*8(sp)
    csrr t0, sepc
    sd t0, 32*8(sp)
    csrr t1, sstatus
    sd t1, 33*8(sp)
    csrw sscratch, zero
    mv a0, sp
    ld ra, 34*8(a0)
    ld sp, 35*8(a0)
    ld s0, 36*8(a0)
    ld s1, 37*8(a0)
    ld s2, 38*8(a0)
    ld s3, 39*8(a0)
    ld s4, 40*8(a0)
    ld s5, 41*8(a0)
    ld s6, 42*8(a0)
    ld s7, 43*8(a0)
    ld s8, 44*8(a0)
    ld s9, 45*8(a0)
    ld s10, 46*8(a0)
    ld s11, 47*8(a0)
    ld tp, 48*8(a0)
    ret
1:
    # From S-mode: restore sp (sscratch back to 0) and report.
    csrrw sp, sscratch, sp
    call {kernel_trap}
    "#,
    kernel_trap = sym super::kernel_trap,
);

unsafe extern "C" {
    fn __run_user(ctx: *mut UserContext);
    fn __trap_vector();
}

pub(super) fn trap_vector_addr() -> usize {
    __trap_vector as *const () as usize
}

/// Run the thread of `ctx` in user mode until its next trap.
///
/// # Safety
/// The thread's address space must be active on this hart, and `ctx` must
/// not be used by anyone else until this returns.
pub unsafe fn run_user(ctx: &mut UserContext) {
    // SAFETY: per the contract; `__run_user` returns like a call.
    unsafe { __run_user(ctx) }
}
