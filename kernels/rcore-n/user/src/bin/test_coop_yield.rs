//! Cross-process cooperative yield, without the timer (the slice is made a
//! minute long on the command line below). A process capped at 30 whose
//! coroutines sit at local level 5 (`coop_low`) fills every hart but one;
//! this process (cap 8) spins on the last one; then a cap-10 process
//! (`exit_child`) becomes ready. No hart traps into the kernel from here
//! on, so the cap-10 process can only run if `coop_low` gives a hart back
//! on its own: its runtime compares its *capped* level (30) with the view
//! (10), not its coroutines' local level (5). Checked: the cap-10 process
//! ran within 5 s, `coop_low` yielded, and each of its threads yielded
//! within a bounded number of polls after the view showed the more urgent
//! process; and this process, the most urgent one, never yielded (a
//! runtime that forgot the coroutine it had just re-queued saw nothing
//! ready here and gave its hart to `coop_low` after every poll).
//!
//! On one hart the cooperative case cannot arise (every event that makes
//! a process ready happens in the kernel of the only hart, which then
//! enters the most urgent process itself): there the test checks only
//! that `coop_low` never yielded for nothing.
//!
//! bootargs: slice_ms=60000
#![no_std]
#![no_main]
extern crate alloc;
use core::sync::atomic::{AtomicBool, Ordering::SeqCst};
use rcore_n_user::*;

entry!(main);

/// Polls in a row, without a yield between them, in which a thread of
/// `coop_low` may see a more urgent process (the runtime yields after the
/// first; slack for a view that changes between the spinner's look and
/// the runtime's).
const MAX_OUTRANKED_RUN: u64 = 3;
/// How long the cap-10 process may wait for a hart (rdtime ticks, 10 MHz).
const DEADLINE_TICKS: u64 = 50_000_000;

async fn main() -> i32 {
    assert_eq!(
        syscall::bootarg("slice_ms"),
        Ok(60_000),
        "boot with slice_ms=60000: the timer must not be what switches"
    );
    assert_eq!(
        cap().level(),
        8,
        "the kernel wrote init's cap into the COPS page"
    );
    assert_eq!(syscall::pipe(), Ok((3, 4))); // stop
    assert_eq!(syscall::pipe(), Ok((5, 6))); // report
    let harts = syscall::harts();
    let low = syscall::spawn("coop_low", 30).unwrap();
    let mut ready = [0u8; 1];
    assert_eq!(syscall::read_full(5, &mut ready), Ok(ready.len())); // every thread of coop_low runs a spinner

    let high_ran = if harts == 1 {
        // The kernel enters the cap-10 process before coop_low by itself.
        let high = syscall::spawn("exit_child", 10).unwrap();
        assert_eq!(syscall::waitpid(Some(high)), Ok((high, 7)));
        true
    } else {
        // Wait until no process is waiting for a hart (coop_low's threads
        // all run, this one runs), so that from now on nothing traps.
        let quiet_since = syscall::ticks();
        let mut quiet_at = quiet_since;
        while syscall::ticks() - quiet_at < 100_000 {
            if global_highest().is_some() {
                quiet_at = syscall::ticks();
            }
            assert!(
                syscall::ticks() - quiet_since < DEADLINE_TICKS,
                "coop_low's threads never all got a hart"
            );
        }
        let high = syscall::spawn("exit_child", 10).unwrap();
        // Keep this hart busy (a spinner at level 1: this process stays at
        // its cap, 8, above the other two) while main waits for the child
        // asynchronously.
        static DONE: AtomicBool = AtomicBool::new(false);
        let deadline = syscall::ticks() + DEADLINE_TICKS;
        let spin = spawn(
            async move {
                while !DONE.load(SeqCst) && syscall::ticks() < deadline {
                    yield_now().await;
                }
            },
            1,
        )
        .unwrap();
        let mut code = 0;
        let reaped = call::waitpid(Some(high), &mut code).await;
        DONE.store(true, SeqCst);
        spin.await.unwrap();
        // Reaped before the deadline: the spinner was still spinning, so
        // this hart never went back to the kernel for the child.
        reaped == Ok(high) && code == 7 && syscall::ticks() < deadline
    };

    assert_eq!(syscall::write(4, &[0]), Ok(1));
    assert_eq!(syscall::waitpid(Some(low)), Ok((low, 0)));
    let mut report = [0u8; 16];
    assert_eq!(syscall::read_full(5, &mut report), Ok(report.len()));
    let yields = u64::from_le_bytes(report[..8].try_into().unwrap());
    let longest = u64::from_le_bytes(report[8..].try_into().unwrap());
    let own_yields = cooperative_yields();
    println!(
        "{harts} harts: cap-10 process ran: {high_ran}; coop_low yielded {yields} times; longest run of outranked polls on one of its threads: {longest}; this process yielded {own_yields} times"
    );
    assert!(
        high_ran,
        "the cap-10 process never got a hart: coop_low did not yield"
    );
    assert!(
        longest <= MAX_OUTRANKED_RUN,
        "coop_low polled {longest} times in a row, without yielding, while a more urgent process was ready"
    );
    if harts == 1 {
        assert_eq!(yields, 0, "coop_low yielded with nothing more urgent ready");
    } else {
        assert!(yields >= 1, "coop_low never yielded");
    }
    // Nothing was more urgent than this process (the kernel's only more
    // urgent coroutine, the network's, waits for device interrupts, and
    // this test has no traffic).
    assert_eq!(
        own_yields, 0,
        "test_coop_yield (cap 8, the most urgent process) gave its hart away"
    );
    guest_test::pass("test_coop_yield");
    0
}
