//! ArceOS app: cooperative priority order under cops-core's scheduler (the
//! `axsched` shim inside the unmodified `axtask`), on riscv64 QEMU virt.
//!
//! Checked by the runner through both the QEMU exit status (written to the
//! sifive_test finisher: 0 on pass, 3 on failure) and the marker line
//! `PRIORITY ORDER OK`. (ArceOS's own panic and shutdown paths both end QEMU
//! with status 0, hence the finisher.)
#![no_std]
#![no_main]

extern crate alloc;

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use axstd::println;
use axtask::WaitQueue;
use tasklog::Log;

mod tasklog {
    //! A log shared by tasks: appended only between switches (cooperative,
    //! one CPU), so a spin-free `AtomicUsize` slot array is enough.
    use core::sync::atomic::{AtomicUsize, Ordering};
    pub struct Log {
        slots: [AtomicUsize; 32],
        len: AtomicUsize,
    }
    impl Log {
        pub const fn new() -> Self {
            Self { slots: [const { AtomicUsize::new(0) }; 32], len: AtomicUsize::new(0) }
        }
        pub fn push(&self, v: usize) {
            let i = self.len.fetch_add(1, Ordering::AcqRel);
            self.slots[i].store(v, Ordering::Release);
        }
        pub fn take(&self) -> alloc::vec::Vec<usize> {
            let n = self.len.swap(0, Ordering::AcqRel);
            (0..n).map(|i| self.slots[i].load(Ordering::Acquire)).collect()
        }
    }
}

/// sifive_test finisher (phys 0x100000) through the boot page table's linear
/// mapping (`paging` off).
const FINISHER: *mut u32 = 0xffff_ffc0_0010_0000 as *mut u32;

fn finish(code: u32) -> ! {
    let value = if code == 0 { 0x5555 } else { (code << 16) | 0x3333 };
    unsafe { core::ptr::write_volatile(FINISHER, value) };
    loop {
        core::hint::spin_loop();
    }
}

/// Spawn one task per level in `prios`; each raises itself and parks on a
/// wait queue; when all are parked, `notify_all` wakes them together and each
/// logs its index. Main (lowest level) joins them; returns the run order.
fn run_gated(prios: &[isize]) -> Vec<usize> {
    static LOG: Log = Log::new();
    let parked = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(WaitQueue::new());
    let handles: Vec<_> = prios
        .iter()
        .enumerate()
        .map(|(i, &prio)| {
            let (parked, gate) = (parked.clone(), gate.clone());
            axtask::spawn(move || {
                assert!(axtask::set_priority(prio));
                parked.fetch_add(1, Ordering::AcqRel);
                gate.wait();
                LOG.push(i);
            })
        })
        .collect();
    while parked.load(Ordering::Acquire) < prios.len() {
        axtask::yield_now();
    }
    gate.notify_all(false);
    for h in &handles {
        h.join();
    }
    LOG.take()
}

fn check(what: &str, got: &[usize], want: &[usize]) -> bool {
    let ok = got == want;
    println!("{what}: {got:?} (want {want:?}) {}", if ok { "ok" } else { "FAILED" });
    ok
}

#[unsafe(no_mangle)]
fn main() {
    println!("prio-order: cops-core priority scheduler under axtask");
    assert!(axtask::set_priority(63));
    let mut ok = true;
    ok &= check("priority order", &run_gated(&[6, 5, 3, 2, 1]), &[4, 3, 2, 1, 0]);
    ok &= check("mixed levels", &run_gated(&[3, 0, 62, 2, 5]), &[1, 3, 0, 4, 2]);
    ok &= check("FIFO within a level", &run_gated(&[4, 4, 4, 4]), &[0, 1, 2, 3]);
    // gc livelock regression: default-level workers exit while main (lowest
    // level) still holds their handles and yields. Hangs if the default level
    // were above main's.
    let done = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let done = done.clone();
            axtask::spawn(move || {
                done.fetch_add(1, Ordering::AcqRel);
            })
        })
        .collect();
    for _ in 0..100 {
        axtask::yield_now();
    }
    for h in handles {
        h.join();
    }
    ok &= check("gc regression workers done", &[done.load(Ordering::Acquire)], &[3]);
    ok &= check("set_priority(64), set_priority(-1) refused", &[axtask::set_priority(64) as usize, axtask::set_priority(-1) as usize], &[0, 0]);
    if ok {
        println!("PRIORITY ORDER OK");
        finish(0);
    } else {
        println!("PRIORITY ORDER FAILED");
        finish(3);
    }
}
