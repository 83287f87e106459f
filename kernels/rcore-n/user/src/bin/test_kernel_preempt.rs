//! More urgent kernel work preempts less urgent user code within a bounded
//! delay, without the timer (the slice is a minute long). `spin_child`
//! (cap 40) fills every hart but one with coroutines that never give a
//! hart back; this process (cap 8) spins on the last one; `wake_child`
//! (cap 20) is blocked reading a pipe. This process writes the pipe: the
//! kernel coroutine serving the read becomes ready at level 20, more
//! urgent than the user code on every other hart, and this hart goes back
//! to this process (8). The kernel publishes its level and sends an IPI
//! to a hart running level-40 code; that hart runs the read's completion
//! and enters `wake_child`, which reports when it ran. Checked: the delay
//! from the write to `wake_child` running is under `BOUND_TICKS` (without
//! the IPI it is the 2 s this process waits before giving its own hart up)
//! and at least one IPI was sent for kernel work.
//!
//! On one hart the case cannot arise (kernel work becomes ready only while
//! the hart is in the kernel, which runs it before entering less urgent
//! user code): there the test checks that `wake_child` runs before
//! `spin_child` gets the hart back, within the same bound.
//!
//! bootargs: slice_ms=60000
#![no_std]
#![no_main]
use core::sync::atomic::{AtomicBool, Ordering::SeqCst};
use rcore_n_abi::stat;
use rcore_n_user::*;

entry!(main);

/// 300 ms of `rdtime`: the IPI's delay, plus a loaded host's vCPU
/// scheduling, stays far under it; the timer-free alternative is 2 s.
const BOUND_TICKS: u64 = 3_000_000;
/// How long this process holds its hart waiting for the report.
const HOLD_TICKS: u64 = 20_000_000;

async fn main() -> i32 {
    assert_eq!(
        syscall::bootarg("slice_ms"),
        Ok(60_000),
        "boot with slice_ms=60000: the timer must not be what preempts"
    );
    assert_eq!(syscall::pipe(), Ok((3, 4))); // wake_child's go
    assert_eq!(syscall::pipe(), Ok((5, 6))); // reports
    let harts = syscall::harts();
    let waker = syscall::spawn("wake_child", 20).unwrap();
    let mut up = [0u8; 1];
    assert_eq!(syscall::read_full(5, &mut up), Ok(up.len()));
    assert_eq!(up, [2], "wake_child is up");
    let spinner = syscall::spawn("spin_child", 40).unwrap();
    assert_eq!(syscall::read_full(5, &mut up), Ok(up.len()));
    assert_eq!(up, [1], "spin_child's threads all spin");

    let mut report = [0u8; 8];
    let ipis0 = syscall::kstat(stat::KERNEL_WORK_IPIS).unwrap();
    let written_at = if harts == 1 {
        let t0 = syscall::ticks();
        assert_eq!(syscall::write(4, &[0]), Ok(1));
        assert_eq!(syscall::read_full(5, &mut report), Ok(report.len()));
        t0
    } else {
        // No process waiting for a hart any more: from now on nothing
        // traps on its own.
        let since = syscall::ticks();
        let mut quiet_at = since;
        while syscall::ticks() - quiet_at < 100_000 {
            if global_highest().is_some() {
                quiet_at = syscall::ticks();
            }
            assert!(
                syscall::ticks() - since < HOLD_TICKS,
                "spin_child never got every hart"
            );
        }
        let t0 = syscall::ticks();
        assert_eq!(syscall::write(4, &[0]), Ok(1));
        // Hold this hart (a spinner at level 1: this process stays at 8)
        // while main waits for the report asynchronously.
        static DONE: AtomicBool = AtomicBool::new(false);
        let give_up = t0 + HOLD_TICKS;
        let hold = spawn(
            async move {
                while !DONE.load(SeqCst) && syscall::ticks() < give_up {
                    yield_now().await;
                }
            },
            1,
        )
        .unwrap();
        assert_eq!(call::read(5, &mut report).await, Ok(8));
        DONE.store(true, SeqCst);
        hold.await.unwrap();
        t0
    };
    let ran_at = u64::from_le_bytes(report);
    let delay = ran_at.saturating_sub(written_at);
    let ipis = syscall::kstat(stat::KERNEL_WORK_IPIS).unwrap() - ipis0;
    println!(
        "{harts} harts: wake_child ran {delay} ticks ({} us) after the write; {ipis} IPIs for kernel work",
        delay / 10
    );
    assert!(
        delay < BOUND_TICKS,
        "the level-20 kernel work waited {delay} ticks for a hart running level-40 code"
    );
    if harts > 1 {
        assert!(ipis >= 1, "no IPI was sent for the kernel work");
    }
    assert_eq!(syscall::waitpid(Some(waker)), Ok((waker, 0)));
    assert_eq!(syscall::waitpid(Some(spinner)), Ok((spinner, 0)));
    guest_test::pass("test_kernel_preempt");
    0
}
