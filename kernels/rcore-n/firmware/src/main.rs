//! # rcore-n firmware: M-mode SBI for QEMU `virt`
//!
//! Stock OpenSBI delegates only the supervisor interrupts (`mideleg` =
//! 0x222), so on a hart with the RISC-V **N extension** `sideleg` reads back
//! 0 and no user interrupt ever reaches U-mode. This firmware boots rcore-n
//! (on stock QEMU and on the N fork) and, when `misa` has N, also delegates
//! the user interrupts (`mideleg` |= 0x111) so the kernel can hand them on
//! to user mode with `sideleg`.
//!
//! What it implements (what rcore-n calls): TIME (`set_timer`, CLINT
//! `mtimecmp`), sPI (`send_ipi`, CLINT `msip`), HSM (`hart_start`, `stop`,
//! `status`), RFNC (`remote_fence_i`, `remote_sfence_vma[_asid]`), SRST
//! (sifive_test finisher), DBCN and the legacy console (ns16550a UART),
//! through the `rustsbi` crate's dispatcher; BASE comes with it.
//!
//! Boot: every hart enters `_start` at 0x8000_0000 with `a0` = hart id,
//! `a1` = device tree, `a2` = QEMU's `fw_dynamic_info` (which names the
//! kernel's entry). The first hart to arrive boots the kernel; the others
//! wait, stopped, until the kernel starts them with HSM `hart_start`.
#![no_std]
#![no_main]

mod platform;
mod sbi;
mod trap;

use core::arch::{asm, global_asm};
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering::*};

use platform::{MAX_HARTS, Uart};

const STACK_SIZE: usize = 16 * 1024;

/// Where the kernel starts when QEMU passes no `fw_dynamic_info`.
const DEFAULT_KERNEL: usize = 0x8020_0000;

global_asm!(
    "
    .option arch, +m, +a
    .section .text.entry
    .globl _start
_start:
    # a0 = hart id, a1 = DTB, a2 = fw_dynamic_info. Harts beyond the
    # firmware's table park for good.
    li      t0, {max}
    bgeu    a0, t0, 3f
    la      sp, {stacks}
    li      t0, {size}
    addi    t1, a0, 1
    mul     t0, t0, t1
    add     sp, sp, t0
    # mscratch = this hart's M-mode stack top, used by the trap vector.
    csrw    mscratch, sp
    la      t0, {lottery}
    li      t1, 1
    amoswap.w.aqrl t1, t1, (t0)
    bnez    t1, 1f
    call    {boot_main}
1:  call    {secondary_main}
3:  wfi
    j       3b
    ",
    max = const MAX_HARTS,
    stacks = sym STACKS,
    size = const STACK_SIZE,
    lottery = sym LOTTERY,
    boot_main = sym boot_main,
    secondary_main = sym secondary_main,
);

/// Taken by the first hart to arrive. In `.data`: `.bss` is zeroed by the
/// winner while the others may already be reading.
#[unsafe(link_section = ".data")]
static LOTTERY: AtomicU32 = AtomicU32::new(0);
/// Set once `.bss` is zeroed and the boot hart's state is ready.
#[unsafe(link_section = ".data")]
static READY: AtomicU32 = AtomicU32::new(0);

/// Per-hart M-mode stacks, outside `.bss` so zeroing it never hits a stack
/// in use by a hart that arrived early.
#[unsafe(link_section = ".stack")]
static mut STACKS: [[u8; STACK_SIZE]; MAX_HARTS] = [[0; STACK_SIZE]; MAX_HARTS];

unsafe extern "C" {
    static mut sbss: u8;
    static mut ebss: u8;
}

/// QEMU's `struct fw_dynamic_info` (hw/riscv/boot.c), passed in `a2`.
#[repr(C)]
struct FwDynamicInfo {
    magic: usize,
    version: usize,
    next_addr: usize,
    next_mode: usize,
    options: usize,
    boot_hart: usize,
}

/// "OSBI" in ASCII: QEMU writes it in `FwDynamicInfo::magic`.
const FW_DYNAMIC_MAGIC: usize = 0x4942_534f;

/// The device tree every hart hands on to the kernel.
static DTB: AtomicUsize = AtomicUsize::new(0);

extern "C" fn boot_main(hart: usize, dtb: usize, info: usize) -> ! {
    // SAFETY: no other hart touches .bss before READY is set (they wait on
    // it, in .data), and this hart's stack lies outside .bss.
    unsafe {
        let start = &raw mut sbss;
        let len = (&raw mut ebss as usize) - start as usize;
        core::ptr::write_bytes(start, 0, len);
    }
    // QEMU's info block sits in its reset ROM: read-only to us, always
    // mapped in M-mode (no translation).
    let kernel = if info != 0 {
        // SAFETY: a2 points at QEMU's fw_dynamic_info (checked by magic).
        let fw = unsafe { &*(info as *const FwDynamicInfo) };
        if fw.magic == FW_DYNAMIC_MAGIC {
            fw.next_addr
        } else {
            DEFAULT_KERNEL
        }
    } else {
        DEFAULT_KERNEL
    };
    DTB.store(dtb, Relaxed);
    platform::hart_init();
    let deleg = platform::mideleg();
    Uart::print_fmt(format_args!(
        "[firmware] rcore-n firmware (RustSBI {}): hart {hart} boots the kernel at {kernel:#x}; N extension {}, mideleg {deleg:#x}\n",
        sbi::RUSTSBI_VERSION,
        if platform::has_n() {
            "present"
        } else {
            "absent"
        },
    ));
    sbi::hsm_mark_started(hart);
    READY.store(1, Release);
    enter_supervisor(hart, kernel, dtb)
}

extern "C" fn secondary_main(hart: usize) -> ! {
    while READY.load(Acquire) == 0 {
        core::hint::spin_loop();
    }
    platform::hart_init();
    // Stopped until the kernel's hart_start: wait for the software
    // interrupt with MIE off (wfi still wakes on a pending enabled one).
    let (addr, opaque) = sbi::hsm_wait_for_start(hart);
    enter_supervisor(hart, addr, opaque)
}

/// `mret` into S-mode at `entry` with `a0` = hart id, `a1` = `arg`.
fn enter_supervisor(hart: usize, entry: usize, arg: usize) -> ! {
    // SAFETY: the trap vector and delegation are set up (hart_init); the
    // kernel expects paging off and a0/a1 as the SBI boot protocol says.
    unsafe {
        asm!(
            "csrw satp, zero",
            "csrw mepc, {entry}",
            // MPP = S (01), MPIE = 0: M-mode traps never nest into S state.
            "li t0, 3 << 11",
            "csrc mstatus, t0",
            "li t0, 1 << 11",
            "csrs mstatus, t0",
            "mret",
            entry = in(reg) entry,
            in("a0") hart,
            in("a1") arg,
            options(noreturn),
        )
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    Uart::print_fmt(format_args!("[firmware] panic: {info}\n"));
    platform::finisher(platform::FINISHER_FAIL | (1 << 16))
}
