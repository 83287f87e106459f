//! For test_reclaim and test_exhaust: leaves work in flight and exits (or
//! tries to exhaust a kernel resource). The mode is one byte on fd 7; fd 3
//! is a pipe nobody writes, fd 6 a pipe nobody reads (the parent holds the
//! other ends).
#![no_std]
#![no_main]
extern crate alloc;
use alloc::vec::Vec;
use rcore_n_abi::{Errno, nr, stat};
use rcore_n_user::*;

entry!(main);

/// Asynchronous sleeps that never end.
async fn forever_sleeps(n: usize) {
    for _ in 0..n {
        spawn(async { call::sleep(u64::MAX).await }, 20).unwrap();
    }
    let_them_run().await;
    in_flight(n);
}

/// Step below the coroutines just spawned (at 20) so each runs until its
/// call is in flight, then come back.
async fn let_them_run() {
    let me = current_id().unwrap();
    set_priority(me, 30).unwrap();
    yield_now().await;
    set_priority(me, MAIN_PRIORITY).unwrap();
}

/// At least `n` of our calls are in flight (else the test tests nothing).
fn in_flight(n: usize) {
    let calls = syscall::kstat(stat::CALLS).unwrap();
    assert!(calls >= n, "only {calls} calls in flight, expected {n}");
}

fn blocking_sleeper(_: usize) -> i32 {
    syscall::sleep(u64::MAX);
    0
}

fn busy_caller(_: usize) -> i32 {
    loop {
        syscall::sleep(1_000);
        let _ = syscall::raw(nr::YIELD, 0, 0, 0);
    }
}

/// Asynchronous 64 KiB writes into the pipe nobody reads, until refused.
/// Returns (accepted, error).
fn flood_writes() -> (usize, Errno) {
    static BUF: [u8; 65536] = [7; 65536];
    let mut slots = Vec::new();
    loop {
        let slot = alloc::boxed::Box::leak(alloc::boxed::Box::new(rcore_n_abi::AsyncSlot::new()));
        assert!(slot.claim());
        let r = syscall::raw6(
            nr::ASYNC,
            [
                nr::WRITE,
                6,
                BUF.as_ptr() as usize,
                BUF.len(),
                slot as *const _ as usize,
                0,
            ],
        );
        match Errno::from_ret(r) {
            Some(Errno::InProgress) => slots.push(slot),
            Some(e) => return (slots.len(), e),
            None => panic!("a write into a full pipe returned {r}"),
        }
    }
}

async fn main() -> i32 {
    let mut mode = [0u8; 1];
    assert_eq!(syscall::read(7, &mut mode), Ok(1));
    match mode[0] {
        // Asynchronous sleeps of u64::MAX, then exit.
        0 => forever_sleeps(100).await,
        // Asynchronous reads of a pipe nobody writes (the pipe outlives us).
        1 => {
            for _ in 0..50 {
                spawn(
                    async {
                        let mut b = [0u8; 8];
                        let _ = call::read(3, &mut b).await;
                    },
                    20,
                )
                .unwrap();
            }
            let_them_run().await;
            in_flight(50);
        }
        // Threads blocked in sleeps that never end.
        2 => {
            for _ in 0..8 {
                spawn_thread(blocking_sleeper, 0).unwrap();
            }
            for _ in 0..500 {
                if syscall::kstat(stat::CALLS).unwrap() >= 8 {
                    break;
                }
                syscall::sleep(1_000_000);
            }
            in_flight(8);
        }
        // The same asynchronous sleeps, served by kernel threads (16 KiB stacks).
        3 => {
            syscall::kernel_threads(true).unwrap();
            forever_sleeps(20).await;
        }
        // Exit racing calls that start and end all the time on other threads.
        4 => {
            for _ in 0..4 {
                spawn_thread(busy_caller, 0).unwrap();
            }
            let spin = syscall::ticks() % 3000;
            let t0 = syscall::ticks();
            while syscall::ticks() - t0 < spin {
                core::hint::spin_loop();
            }
        }
        // Asynchronous 64 KiB writes into a full pipe until refused: print
        // how many were taken and what the refusal was, hold them for a
        // second (a sleep needs no buffer: our byte quota is spent), exit.
        5 => {
            let (n, e) = flood_writes();
            let bytes = syscall::kstat(stat::CALL_BYTES).unwrap();
            println!(
                "[leaky_child {}] {n} async 64 KiB writes taken, then {e:?} ({bytes} bytes charged)",
                syscall::getpid()
            );
            assert!(
                matches!(e, Errno::Again | Errno::NoMem),
                "refused with {e:?}"
            );
            syscall::sleep(1_000_000_000);
            return (e == Errno::NoMem) as i32;
        }
        // Asynchronous sleeps on kernel threads until refused.
        6 => {
            syscall::kernel_threads(true).unwrap();
            let mut n = 0;
            let e = loop {
                let slot =
                    alloc::boxed::Box::leak(alloc::boxed::Box::new(rcore_n_abi::AsyncSlot::new()));
                assert!(slot.claim());
                let r = syscall::raw6(
                    nr::ASYNC,
                    [nr::SLEEP, usize::MAX, 0, 0, slot as *const _ as usize, 0],
                );
                match Errno::from_ret(r) {
                    Some(Errno::InProgress) => n += 1,
                    Some(e) => break e,
                    None => panic!("an async sleep returned {r}"),
                }
            };
            println!(
                "[leaky_child {}] {n} async sleeps on kernel threads taken, then {e:?}",
                syscall::getpid()
            );
            assert!(
                matches!(e, Errno::Again | Errno::NoMem),
                "refused with {e:?}"
            );
        }
        m => panic!("unknown mode {m}"),
    }
    0
}
