//! Boot: the entry points of the boot hart and the secondary harts, the
//! device tree, and bringing every hart into the shared executor.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU32, Ordering::*};

use crate::board::MAX_HARTS;

const STACK_SIZE: usize = 64 * 1024;

global_asm!(
    "
    .option arch, +m, +a
    .section .text.entry
    .globl _start
_start:
    # a0 = hartid, a1 = DTB (from OpenSBI); the boot hart may be any hart.
    # Only the first hart here boots (zeroes .bss, sets everything up); a
    # hart that arrives later waits for that, then joins as a secondary.
    la      t0, {lottery}
    li      t1, 1
    amoswap.w.aqrl t1, t1, (t0)
    bnez    t1, 2f
    la      t2, {rust_main}
    j       1f
2:  la      t0, {boot_done}
3:  lw      t1, 0(t0)
    fence   r, rw
    beqz    t1, 3b
    la      t2, {secondary_main}
    j       1f

    .globl _secondary_start
_secondary_start:
    la      t2, {secondary_main}
1:  # Every hart: its own boot stack, tp = hartid.
    la      sp, {stacks}
    li      t0, {size}
    addi    t1, a0, 1
    mul     t0, t0, t1
    add     sp, sp, t0
    mv      tp, a0
    jr      t2
    ",
    stacks = sym BOOT_STACKS,
    lottery = sym BOOT_LOTTERY,
    boot_done = sym BOOT_DONE,
    size = const STACK_SIZE,
    rust_main = sym rust_main,
    secondary_main = sym secondary_main,
);

/// Taken by the first hart to reach `_start`. In `.data`, not `.bss`: the
/// winner zeroes `.bss`, and a late hart must still see that it lost.
#[unsafe(link_section = ".data")]
static BOOT_LOTTERY: AtomicU32 = AtomicU32::new(0);
/// Set once the boot hart has initialised the kernel (`.data`, as above).
#[unsafe(link_section = ".data")]
static BOOT_DONE: AtomicU32 = AtomicU32::new(0);

#[unsafe(link_section = ".bss.stack")]
static mut BOOT_STACKS: [[u8; STACK_SIZE]; MAX_HARTS] = [[0; STACK_SIZE]; MAX_HARTS];

unsafe extern "C" {
    fn _secondary_start();
    static mut sbss: u8;
    static mut ebss: u8;
    static ekernel: u8;
}

/// First free physical address after the kernel image.
pub fn kernel_end() -> usize {
    &raw const ekernel as usize
}

extern "C" fn rust_main(hart: usize, dtb: usize) -> ! {
    // SAFETY: nothing in .bss is in use yet (the boot stack lies before it).
    unsafe {
        let start = &raw mut sbss;
        let len = (&raw mut ebss as usize) - start as usize;
        core::ptr::write_bytes(start, 0, len);
    }
    // SAFETY: OpenSBI passes a valid DTB, which stays mapped (identity RAM).
    let fdt: fdt::Fdt<'static> =
        unsafe { fdt::Fdt::from_ptr(dtb as *const u8) }.expect("bad device tree");
    let region = fdt
        .memory()
        .regions()
        .next()
        .expect("no memory in the device tree");
    let mem_end = region.starting_address as usize + region.size.unwrap_or(0);
    let timebase = fdt
        .cpus()
        .next()
        .map_or(10_000_000, |c| c.timebase_frequency());
    crate::hart::set_timebase(timebase);
    // The DTB stays mapped (identity RAM) for the kernel's lifetime.
    let bootargs: &'static str = fdt.chosen().bootargs().unwrap_or("");
    crate::hart::set_bootargs(bootargs);
    let hart_ids: heapless::Vec<usize, 8> = fdt.cpus().map(|c| c.ids().first()).take(8).collect();

    // The firmware leaves the DTB near the top of RAM: frames stop below
    // it, so it (and `bootargs`, which points into it) is never reused.
    let frames_end = if (kernel_end()..mem_end).contains(&dtb) {
        dtb & !0xfff
    } else {
        mem_end
    };
    crate::mm::init(kernel_end(), frames_end);
    crate::trap::init_hart();
    println!(
        "[kernel] rcore-n on hart {hart}: {} MiB RAM, timebase {timebase} Hz, {} harts, bootargs {bootargs:?}",
        (mem_end - 0x8000_0000) >> 20,
        hart_ids.len(),
    );
    let harts = hart_ids.iter().filter(|&&id| id < MAX_HARTS).count().max(1);
    crate::run::init(harts);
    // After the executor exists (the network coroutine runs on it), before
    // any hart runs init.
    crate::net::init(&fdt, |network| {
        use cops_core::{CoroutineKind, ExecutorOps, Priority};
        crate::task::kernel_executor()
            .spawn_kind(network, Priority::HIGHEST, CoroutineKind::Normal)
            .is_ok()
    });
    BOOT_DONE.store(1, Release);

    let mut started = 1;
    for &id in hart_ids.iter() {
        if id != hart && started < MAX_HARTS && id < MAX_HARTS {
            let r = sbi_rt::hart_start(id, _secondary_start as *const () as usize, 0);
            if r.is_ok() {
                started += 1;
            } else {
                println!("[kernel] hart {id} did not start: {r:?}");
            }
        }
    }
    crate::hart::set_harts(started);
    crate::task::hart_loop()
}

extern "C" fn secondary_main(_hart: usize) -> ! {
    crate::mm::activate_kernel_space();
    crate::trap::init_hart();
    crate::task::hart_loop()
}
