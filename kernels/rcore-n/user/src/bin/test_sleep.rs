//! Sleep accuracy and deadline order. Asserted: no sleeper ever wakes
//! early; each wakes less than 500 ms late; and three sleeping threads
//! whose deadlines are 250 ms apart wake in deadline order, on any number
//! of harts. Not asserted: order for deadlines closer than that. A woken
//! thread runs when a hart enters it, and QEMU's vCPUs share a loaded
//! 2-core host, so the time from deadline to running is the host's
//! scheduling delay (measured tens of ms under load): it is printed, and
//! the 250 ms gap is the margin it must stay under.
#![no_std]
#![no_main]
use core::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use rcore_n_user::*;

entry!(main);

static ORDER: [AtomicUsize; 3] = [const { AtomicUsize::new(0) }; 3];
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// How late each sleeper woke, in wake order (microseconds).
static LATE_US: [AtomicUsize; 3] = [const { AtomicUsize::new(0) }; 3];

fn sleeper(ms: usize) -> i32 {
    let t0 = syscall::clock();
    syscall::sleep(ms as u64 * 1_000_000);
    let slept = syscall::clock() - t0;
    assert!(slept >= ms as u64 * 1_000_000, "a sleeper woke early");
    let late_us = (slept - ms as u64 * 1_000_000) / 1000;
    assert!(late_us < 500_000, "a sleeper woke more than 500 ms late");
    let place = NEXT.fetch_add(1, SeqCst);
    ORDER[place].store(ms, SeqCst);
    LATE_US[place].store(late_us as usize, SeqCst);
    0
}

async fn main() -> i32 {
    for ms in [1u64, 20, 50] {
        let t0 = syscall::clock();
        syscall::sleep(ms * 1_000_000);
        let slept = (syscall::clock() - t0) / 1000;
        println!("sleep({ms} ms) took {slept} us");
        assert!(slept >= ms * 1000, "woke early");
        assert!(slept < ms * 1000 + 500_000, "woke more than 500 ms late");
    }
    let tids = [750, 250, 500].map(|ms| spawn_thread(sleeper, ms).unwrap());
    for t in tids {
        assert_eq!(syscall::thread_join(t), Ok(0));
    }
    let order = ORDER.each_ref().map(|a| a.load(SeqCst));
    let late = LATE_US.each_ref().map(|a| a.load(SeqCst));
    println!(
        "sleepers woke in order {order:?} ({} harts; late by {late:?} us)",
        syscall::harts()
    );
    assert_eq!(
        order,
        [250, 500, 750],
        "sleepers woke out of deadline order"
    );
    guest_test::pass("test_sleep");
    0
}
