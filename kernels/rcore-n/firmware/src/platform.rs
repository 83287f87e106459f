//! QEMU `virt` devices the firmware drives (CLINT, ns16550a UART,
//! sifive_test finisher) and the per-hart machine-mode setup.

use core::arch::asm;
use core::fmt::{self, Write};
use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{AtomicBool, Ordering::*};

/// Harts the firmware serves (QEMU `virt` allows up to 8 on riscv64).
pub const MAX_HARTS: usize = 8;

const CLINT: usize = 0x200_0000;
const UART: usize = 0x1000_0000;
const FINISHER: usize = 0x10_0000;
pub const FINISHER_PASS: u32 = 0x5555;
pub const FINISHER_FAIL: u32 = 0x3333;
pub const FINISHER_RESET: u32 = 0x7777;

/// `mip`/`mie` bits.
pub const SSIP: usize = 1 << 1;
pub const MSIP: usize = 1 << 3;
pub const STIP: usize = 1 << 5;
pub const MTIP: usize = 1 << 7;
/// Supervisor software, timer and external interrupts.
const S_INTERRUPTS: usize = 0x222;
/// User software, timer and external interrupts (N extension).
const U_INTERRUPTS: usize = 0x111;
/// Exceptions handled by the kernel directly: misaligned/access faults,
/// illegal instruction, breakpoint, ecall from U, page faults. Not ecall
/// from S (9): that is the SBI call.
const EXCEPTIONS: usize = 0xb1ff;

/// `misa` bit of the N extension ('N' - 'A').
const MISA_N: usize = 1 << 13;

static HAS_N: AtomicBool = AtomicBool::new(false);

/// Whether the harts implement the N extension (read from `misa`).
pub fn has_n() -> bool {
    HAS_N.load(Relaxed)
}

/// The interrupts this firmware delegates to S-mode: the user ones too
/// when the hart has N (without them `sideleg` reads back 0).
pub fn mideleg() -> usize {
    let v: usize;
    // SAFETY: reads a CSR.
    unsafe { asm!("csrr {}, mideleg", out(reg) v) };
    v
}

/// Per-hart machine setup before entering S-mode.
pub fn hart_init() {
    let misa: usize;
    // SAFETY: reads a CSR.
    unsafe { asm!("csrr {}, misa", out(reg) misa) };
    let n = misa & MISA_N != 0;
    HAS_N.store(n, Relaxed);
    let ints = S_INTERRUPTS | if n { U_INTERRUPTS } else { 0 };
    // SAFETY: machine-mode setup of this hart only: trap vector,
    // delegation, counters visible to S and U (rdtime), and one PMP entry
    // giving S/U the whole address space (QEMU denies S/U any access
    // without a matching entry once PMP exists).
    unsafe {
        asm!(
            "csrw mtvec, {vec}",
            "csrw mideleg, {ints}",
            "csrw medeleg, {exc}",
            "csrw mcounteren, {all}",
            "csrw scounteren, {all}",
            "csrw pmpaddr0, {top}",
            "csrw pmpcfg0, {napot_rwx}",
            "csrw mie, {msie}",
            vec = in(reg) crate::trap::vector_addr(),
            ints = in(reg) ints,
            exc = in(reg) EXCEPTIONS,
            all = in(reg) 7usize,
            top = in(reg) usize::MAX >> 10,
            napot_rwx = in(reg) 0x1fusize,
            msie = in(reg) MSIP,
        );
    }
}

/// This hart's id.
pub fn hart_id() -> usize {
    let id: usize;
    // SAFETY: reads a CSR.
    unsafe { asm!("csrr {}, mhartid", out(reg) id) };
    id
}

/// Raise (1) or clear (0) hart `hart`'s machine software interrupt.
pub fn set_msip(hart: usize, v: u32) {
    // SAFETY: the CLINT's msip word of a hart the caller bounds-checked.
    unsafe { write_volatile((CLINT + 4 * hart) as *mut u32, v) };
}

/// Program this hart's `mtimecmp`.
pub fn set_mtimecmp(hart: usize, t: u64) {
    // SAFETY: the CLINT's mtimecmp of the calling hart.
    unsafe { write_volatile((CLINT + 0x4000 + 8 * hart) as *mut u64, t) };
}

/// Stop QEMU through the sifive_test finisher.
pub fn finisher(word: u32) -> ! {
    // SAFETY: the finisher's register; writing it ends (or resets) QEMU.
    unsafe { write_volatile(FINISHER as *mut u32, word) };
    loop {
        core::hint::spin_loop();
    }
}

/// The ns16550a UART (QEMU needs no initialisation).
pub struct Uart;

static UART_LOCK: AtomicBool = AtomicBool::new(false);

impl Uart {
    pub fn putchar(b: u8) {
        // SAFETY: the UART's registers; QEMU's transmitter is always ready
        // after LSR.THRE.
        unsafe {
            while read_volatile((UART + 5) as *const u8) & 0x20 == 0 {}
            write_volatile(UART as *mut u8, b);
        }
    }

    pub fn getchar() -> Option<u8> {
        // SAFETY: the UART's registers.
        unsafe {
            (read_volatile((UART + 5) as *const u8) & 1 != 0)
                .then(|| read_volatile(UART as *const u8))
        }
    }

    /// Print a whole message without interleaving with other harts.
    pub fn print_fmt(args: fmt::Arguments) {
        while UART_LOCK.swap(true, Acquire) {
            core::hint::spin_loop();
        }
        let _ = Uart.write_fmt(args);
        UART_LOCK.store(false, Release);
    }
}

impl Write for Uart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        s.bytes().for_each(Self::putchar);
        Ok(())
    }
}
