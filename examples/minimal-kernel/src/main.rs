//! The smallest RISC-V kernel that adopts cops-core, the porting guide's worked example: QEMU
//! `virt`, OpenSBI, 2 harts serving one executor, a timer interrupt that wakes a coroutine by id.
//! Prints `MINIMAL-KERNEL OK` once its checks hold (`MINIMAL-KERNEL FAIL`, a panic, if not).
#![no_std]
#![no_main]

use buddy_system_allocator::LockedHeap;
use cops_core::{CoroutineId, Platform, Priority};
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::*};
use core::task::Poll::{Pending, Ready};
use riscv::interrupt::Trap;
use riscv::interrupt::supervisor::{self as irq, Exception, Interrupt};
use riscv::register::{sepc, sip, time};

/// Harts this kernel runs on (QEMU `-smp 2`; hart ids 0 and 1).
const HARTS: usize = 2;
const STACK_SIZE: usize = 32 * 1024;
const TICKS_PER_MS: u64 = 10_000; // `rdtime` ticks (QEMU `virt`'s timebase is 10 MHz)

// ---------------------------------------------------------------- boot glue
core::arch::global_asm!(
    "   .option arch, +m, +a
        .section .text.entry
        .globl _start
    _start:                      # a0 = hart id (from OpenSBI)
        li   t0, {harts}         # harts past HARTS have no stack: park them
        bgeu a0, t0, 6f
        la   t0, {boot_state}    # the first hart here boots, any other waits
        li   t1, 1
        amoor.w.aqrl t1, t1, (t0)
        bnez t1, 3f
        la   t0, sbss            # zero .bss (the stacks are in it: not yet in use)
        la   t1, ebss
    1:  sd   zero, 0(t0)         # (never empty: the stacks are there)
        addi t0, t0, 8
        bltu t0, t1, 1b
        la   t2, {boot}
        j    5f
    3:  lw   t1, 0(t0)           # a late hart waits until let in
        andi t1, t1, 2
        beqz t1, 3b
        fence r, rw
        la   t2, {hart_main}
    5:  la   sp, {stacks}        # sp = top of this hart's stack, tp = hart id
        li   t0, {size}
        addi t1, a0, 1
        mul  t0, t0, t1
        add  sp, sp, t0
        mv   tp, a0
        la   t0, trap_vector     # traps go to the vector; take timer and
        csrw stvec, t0           # software interrupts once SIE is set
        li   t0, 0x22
        csrs sie, t0
        jr   t2
    6:  wfi
        j    6b

        .text
        .balign 4
    trap_vector:                 # interrupted kernel code: save what a call clobbers
        addi sp, sp, -128
        sd ra, 0(sp);   sd t0, 8(sp);   sd t1, 16(sp);  sd t2, 24(sp)
        sd t3, 32(sp);  sd t4, 40(sp);  sd t5, 48(sp);  sd t6, 56(sp)
        sd a0, 64(sp);  sd a1, 72(sp);  sd a2, 80(sp);  sd a3, 88(sp)
        sd a4, 96(sp);  sd a5, 104(sp); sd a6, 112(sp); sd a7, 120(sp)
        call {trap}
        ld ra, 0(sp);   ld t0, 8(sp);   ld t1, 16(sp);  ld t2, 24(sp)
        ld t3, 32(sp);  ld t4, 40(sp);  ld t5, 48(sp);  ld t6, 56(sp)
        ld a0, 64(sp);  ld a1, 72(sp);  ld a2, 80(sp);  ld a3, 88(sp)
        ld a4, 96(sp);  ld a5, 104(sp); ld a6, 112(sp); ld a7, 120(sp)
        addi sp, sp, 128
        sret",
    boot_state = sym BOOT_STATE,
    boot = sym boot,
    hart_main = sym hart_main,
    harts = const HARTS,
    stacks = sym STACKS,
    size = const STACK_SIZE,
    trap = sym trap,
);

/// Bit 0: a hart is booting; bit 1: other harts may join. In .data, not .bss: the
/// boot hart zeroes .bss while a late hart reads this.
#[unsafe(link_section = ".data")]
static BOOT_STATE: AtomicU32 = AtomicU32::new(0);
// u128: 16-byte aligned, as the ABI wants `sp`.
static mut STACKS: [[u128; STACK_SIZE / 16]; HARTS] = [[0; STACK_SIZE / 16]; HARTS];

#[global_allocator]
static HEAP: LockedHeap<32> = LockedHeap::empty();
static mut HEAP_SPACE: [u8; 256 * 1024] = [0; 256 * 1024];

unsafe extern "C" {
    fn _start();
}

extern "C" fn boot() -> ! {
    // SAFETY: runs once, before any allocation; the arena serves the heap only.
    unsafe { HEAP.lock().init(&raw mut HEAP_SPACE as usize, 256 * 1024) };
    say!("minimal-kernel: cops-core, one executor for {HARTS} harts");
    kernel_main();
    hart_main()
}

/// Bring the other harts in (any time: `serve` joins a running executor). A hart
/// already waiting in `_start` is let in by bit 1 (and refuses `hart_start`).
fn start_other_harts() {
    BOOT_STATE.fetch_or(2, Release);
    for other in (0..HARTS).filter(|&h| h != hart_id()) {
        let _ = sbi_rt::hart_start(other, _start as *const () as usize, 0);
    }
}

/// Every hart ends here: take interrupts, then serve the executor for good.
extern "C" fn hart_main() -> ! {
    // SAFETY: the vector saves what it clobbers and the handler touches only
    // interrupt-safe state (atomics, `Executor::wake`).
    unsafe { irq::enable() };
    EXEC.serve();
    unreachable!("Harts::should_yield is never true")
}

// ---------------------------------------------------------- platform glue
/// The harts as the executor's CPUs: `tp` = hart id, idle = `wfi`, notify = an IPI.
struct Harts {
    /// Set by `notify`, taken by `idle`: the permit `Platform::idle` needs.
    permits: [AtomicBool; HARTS],
}

impl Platform for Harts {
    fn cpu_id(&self) -> usize {
        hart_id()
    }
    fn idle(&self) {
        // SIE clear: an interrupt after the permit check still ends `wfi`
        // (pending, enabled in `sie`), and is taken below: no lost wake-up.
        irq::disable();
        if !self.permits[hart_id()].swap(false, AcqRel) {
            riscv::asm::wfi();
        }
        // SAFETY: interrupts were on when the worker called `idle`.
        unsafe { irq::enable() };
    }
    fn notify(&self) {
        // Flag stores and an SBI call: nothing that waits, as `notify` must
        // not (the timer handler calls it through `wake`).
        self.permits.iter().for_each(|p| p.store(true, Release));
        let others = ((1 << HARTS) - 1) & !(1 << hart_id());
        let _ = sbi_rt::send_ipi(sbi_rt::HartMask::from_mask_base(others, 0));
    }
    fn publishes_priority(&self) -> bool {
        false // one executor, which nothing outside ranks
    }
}

cops_core::static_executor! {
    static EXEC: Executor<Harts> = (64, Harts { permits: [const { AtomicBool::new(false) }; HARTS] });
}

fn hart_id() -> usize {
    let id;
    // SAFETY: reads `tp`, which `_start` set to the hart id and nothing changes.
    unsafe { core::arch::asm!("mv {}, tp", out(reg) id) };
    id
}

/// The coroutine the timer interrupt wakes, by id (`CoroutineId::to_raw`).
static TIMER_WAITER: AtomicU64 = AtomicU64::new(u64::MAX);
static TIMER_FIRED: AtomicUsize = AtomicUsize::new(0);

extern "C" fn trap() {
    match irq::cause::<Interrupt, Exception>() {
        Trap::Interrupt(Interrupt::SupervisorTimer) => {
            let _ = sbi_rt::set_timer(u64::MAX); // one-shot: clears the pending bit
            TIMER_FIRED.fetch_add(1, Release);
            // `wake` never waits for the ready lock, which the interrupted code may hold.
            EXEC.wake(CoroutineId::from_raw(TIMER_WAITER.load(Acquire)))
                .expect("wake by id");
        }
        // SAFETY: clears this hart's IPI, whose only message is "look again".
        Trap::Interrupt(Interrupt::SupervisorSoft) => unsafe { sip::clear_ssoft() },
        cause => panic!("unexpected trap {cause:?} at {:#x}", sepc::read()),
    }
}

// --------------------------------------------------------------------- demo
fn prio(level: u8) -> Priority {
    Priority::new(level).unwrap()
}

/// Runs on the boot hart before it serves: spawn the demo.
fn kernel_main() {
    // Spawned out of order; one hart serves them: they must start 1 3 5 7.
    let jobs = [5, 1, 7, 3].map(|level| EXEC.spawn(job(level), prio(level)).unwrap());
    let main = async move {
        for handle in jobs {
            handle.await.expect("a job");
        }
        start_other_harts();
        two_harts().await;
        timer_wakes().await;
        say!("MINIMAL-KERNEL OK: priority order, timer wake by id, 2 harts");
        sbi_rt::system_reset(sbi_rt::Shutdown, sbi_rt::NoReason);
    };
    EXEC.spawn(main, prio(30)).unwrap();
}

async fn job(level: u8) {
    static STARTED: AtomicUsize = AtomicUsize::new(0);
    let nth = STARTED.fetch_add(1, Relaxed);
    say!("level {level} starts: pick {} of 4", nth + 1);
    assert_eq!(level, [1, 3, 5, 7][nth], "priority order");
}

/// Two coroutines that each wait for the other to start: one hart alone
/// would spin out the first one's 5 s, so this passes only if both serve.
async fn two_harts() {
    static ARRIVED: AtomicUsize = AtomicUsize::new(0);
    static HARTS_SEEN: AtomicUsize = AtomicUsize::new(0);
    let meet = || async {
        ARRIVED.fetch_add(1, AcqRel);
        let give_up = time::read64() + 5000 * TICKS_PER_MS;
        while ARRIVED.load(Acquire) < 2 && time::read64() < give_up {}
        HARTS_SEEN.fetch_or(1 << hart_id(), Relaxed);
    };
    let a = EXEC.spawn(meet(), prio(4)).unwrap();
    EXEC.spawn(meet(), prio(4)).unwrap().await.unwrap();
    a.await.unwrap();
    let seen = HARTS_SEEN.load(Relaxed);
    say!("two coroutines met, on harts {seen:#b}");
    assert_eq!(seen, (1 << HARTS) - 1, "both harts ran a coroutine at once");
}

/// Pending with no waker registered: only a wake by id brings it back.
async fn until(c: impl Fn() -> bool) {
    core::future::poll_fn(|_| if c() { Ready(()) } else { Pending }).await
}

/// Three timer interrupts, each waking this coroutine (level 30) by id,
/// while a level-40 coroutine keeps the harts busy.
async fn timer_wakes() {
    static DONE: AtomicBool = AtomicBool::new(false);
    static POLLS: AtomicUsize = AtomicUsize::new(0);
    let background = async {
        while !DONE.load(Acquire) {
            POLLS.fetch_add(1, Relaxed);
            cops_core::yield_now().await;
        }
    };
    EXEC.spawn(background, prio(40)).unwrap();
    TIMER_WAITER.store(EXEC.current_id().unwrap().to_raw(), Release);
    for tick in 1..=3 {
        let deadline = time::read64() + 10 * TICKS_PER_MS;
        let _ = sbi_rt::set_timer(deadline); // this hart's timer
        until(|| TIMER_FIRED.load(Acquire) >= tick).await;
        let late_us = (time::read64() - deadline) / (TICKS_PER_MS / 1000);
        say!("timer interrupt {tick} woke level 30 by id, {late_us} us after its deadline");
    }
    DONE.store(true, Release);
    let polls = POLLS.load(Relaxed);
    say!("the level-40 coroutine was polled {polls} times meanwhile");
    assert!(polls > 0, "background work ran between timer wakes");
}

// ------------------------------------------------------------------ console
static CONSOLE: spin::Mutex<()> = spin::Mutex::new(());

struct Sbi;
impl Write for Sbi {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            #[allow(deprecated)] // the legacy console: every OpenSBI has it
            sbi_rt::legacy::console_putchar(b as usize);
        }
        Ok(())
    }
}

/// One line, prefixed with the hart, under the console lock (so never in the trap handler).
#[macro_export]
macro_rules! say {
    ($($t:tt)*) => {{
        let _line = $crate::CONSOLE.lock();
        let _ = write!($crate::Sbi, "[hart {}] ", $crate::hart_id());
        let _ = writeln!($crate::Sbi, $($t)*);
    }};
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    // Not `say!`: the panic may have come with the console lock held.
    let _ = writeln!(Sbi, "MINIMAL-KERNEL FAIL: hart {}: {info}", hart_id());
    sbi_rt::system_reset(sbi_rt::Shutdown, sbi_rt::SystemFailure);
    loop {}
}
