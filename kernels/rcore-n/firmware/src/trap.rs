//! The machine-mode trap vector: SBI calls from S-mode, the CLINT timer
//! (handed on to S as STIP) and software interrupts (IPIs and remote
//! fences between harts).

use core::arch::{asm, global_asm};

use crate::platform::{self, MTIP, STIP, Uart};

/// The registers of the interrupted S-mode code (`x[2]` = its sp).
#[repr(C)]
pub struct Context {
    pub x: [usize; 32],
}

global_asm!(
    r#"
    .altmacro
    .macro SAVE n
        sd x\n, \n*8(sp)
    .endm
    .macro LOAD n
        ld x\n, \n*8(sp)
    .endm
    .section .text
    .globl __m_trap
    .align 2
__m_trap:
    # mscratch holds this hart's M stack top while S/U code runs.
    csrrw   sp, mscratch, sp
    addi    sp, sp, -32*8
    sd      x1, 1*8(sp)
    .set n, 3
    .rept 29
        SAVE %n
        .set n, n+1
    .endr
    csrr    t0, mscratch
    sd      t0, 2*8(sp)
    mv      a0, sp
    call    {handler}
    ld      x1, 1*8(sp)
    .set n, 3
    .rept 29
        LOAD %n
        .set n, n+1
    .endr
    addi    sp, sp, 32*8
    csrrw   sp, mscratch, sp
    mret
    "#,
    handler = sym m_trap,
);

unsafe extern "C" {
    fn __m_trap();
}

pub fn vector_addr() -> usize {
    __m_trap as *const () as usize
}

const INTERRUPT: usize = 1 << 63;

extern "C" fn m_trap(ctx: &mut Context) {
    let (cause, epc, tval): (usize, usize, usize);
    // SAFETY: reads trap CSRs.
    unsafe {
        asm!("csrr {}, mcause", "csrr {}, mepc", "csrr {}, mtval", out(reg) cause, out(reg) epc, out(reg) tval)
    };
    let hart = platform::hart_id();
    match cause {
        c if c == INTERRUPT | 7 => {
            // The kernel's deadline passed: pend STIP for S-mode and mask
            // the machine timer until the next set_timer re-arms it.
            // SAFETY: this hart's interrupt bits.
            unsafe { asm!("csrs mip, {}", "csrc mie, {}", in(reg) STIP, in(reg) MTIP) };
        }
        c if c == INTERRUPT | 3 => crate::sbi::on_software_interrupt(hart),
        9 => {
            let ret = crate::sbi::handle_ecall(ctx);
            ctx.x[10] = ret.0;
            ctx.x[11] = ret.1;
            // SAFETY: skip the ecall instruction on return.
            unsafe { asm!("csrw mepc, {}", in(reg) epc + 4) };
        }
        _ => {
            Uart::print_fmt(format_args!(
                "[firmware] hart {hart}: unexpected trap mcause {cause:#x} mepc {epc:#x} mtval {tval:#x}\n"
            ));
            platform::finisher(platform::FINISHER_FAIL | (2 << 16));
        }
    }
}
