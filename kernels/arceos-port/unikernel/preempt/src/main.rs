//! ArceOS app: timer-driven preemption under cops-core's preemptive
//! scheduler (`sched-cfs` selects the shim's `CFScheduler` =
//! `PreemptScheduler`: `task_tick` asks for a switch when a strictly higher
//! level than the running task's is ready), on riscv64 QEMU virt.
//!
//! Main lowers itself to level 6 and spins **without yielding** after
//! a level-1 task went to sleep for 50 ms. The only way the level-1 task can
//! run before the spin ends is a tick preempting main. A ready task at a
//! lower level (63) must *not* run during the spin.
//!
//! Checked through the QEMU exit status (sifive_test finisher: 0 pass, 3
//! fail) and the marker line `PREEMPTION OK`.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use core::time::Duration;

use axstd::println;
use axstd::time::Instant;

const FINISHER: *mut u32 = 0xffff_ffc0_0010_0000 as *mut u32;

fn finish(code: u32) -> ! {
    let value = if code == 0 { 0x5555 } else { (code << 16) | 0x3333 };
    unsafe { core::ptr::write_volatile(FINISHER, value) };
    loop {
        core::hint::spin_loop();
    }
}

static HIGH_RAN: AtomicBool = AtomicBool::new(false);
static PEER_RAN: AtomicBool = AtomicBool::new(false);
static SPINS: AtomicUsize = AtomicUsize::new(0);

#[unsafe(no_mangle)]
fn main() {
    println!("preempt: cops-core preemptive priority scheduler under axtask (sched-cfs + irq)");
    // Main stays at the lowest level while the tasks raise themselves: the
    // sleeper to 1 (then blocks for 50 ms), the peer to 6 (then exits).
    let high = axtask::spawn(|| {
        assert!(axtask::set_priority(1));
        axtask::sleep(Duration::from_millis(50));
        HIGH_RAN.store(true, Ordering::Release);
    });
    let peer = axtask::spawn(|| {
        assert!(axtask::set_priority(6));
    });
    peer.join();
    assert!(!HIGH_RAN.load(Ordering::Acquire), "the sleeper is still asleep");
    assert!(axtask::set_priority(6));
    let peer2 = axtask::spawn(|| {
        PEER_RAN.store(true, Ordering::Release);
    });
    // peer2 starts at level 63: it cannot preempt main (6). Spin, never yield.
    let start = Instant::now();
    let mut spins = 0usize;
    while !HIGH_RAN.load(Ordering::Acquire) && start.elapsed() < Duration::from_secs(3) {
        spins += 1;
        core::hint::spin_loop();
    }
    SPINS.store(spins, Ordering::Relaxed);
    let preempted = HIGH_RAN.load(Ordering::Acquire);
    let lower_ran = PEER_RAN.load(Ordering::Acquire);
    println!(
        "level-1 sleeper ran during main's spin: {preempted} (after {:?}, {spins} spins); lower-level task ran: {lower_ran}",
        start.elapsed()
    );
    high.join();
    peer2.join();
    if preempted && !lower_ran {
        println!("PREEMPTION OK");
        finish(0);
    } else {
        println!("PREEMPTION FAILED");
        finish(3);
    }
}
