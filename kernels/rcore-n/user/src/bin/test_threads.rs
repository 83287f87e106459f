//! Threads and coroutines in one process: `alloc_cpu` adds threads running
//! the same executor; many coroutines spread over them (at least two
//! threads must run some) and all finish. And
//! the plain thread model (KTUT): threads with blocking calls, joined.
#![no_std]
#![no_main]
extern crate alloc;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use rcore_n_user::*;

entry!(main);

const COROUTINES: usize = 200;
const YIELDS: usize = 5;

fn tid() -> usize {
    let tp: usize;
    // SAFETY: reads a register (the kernel sets tp = tid).
    unsafe { core::arch::asm!("mv {}, tp", out(reg) tp) };
    tp
}

fn blocking_worker(arg: usize) -> i32 {
    syscall::sleep(1_000_000 * arg as u64);
    (arg * 10) as i32
}

async fn main() -> i32 {
    assert_eq!(alloc_cpu(3), Ok(3));
    let count = Arc::new(AtomicUsize::new(0));
    let tids_seen = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    // Each coroutine yields at least YIELDS times, and keeps yielding until
    // two threads have run coroutines (bounded: 5 s), so the other threads
    // get to run even on one hart, where they wait for a timer slice.
    let deadline = syscall::ticks() + 50_000_000;
    for i in 0..COROUTINES {
        let (count, seen) = (count.clone(), tids_seen.clone());
        handles.push(
            spawn(
                async move {
                    let mut n = 0;
                    while n < YIELDS
                        || (seen.load(SeqCst).count_ones() < 2 && syscall::ticks() < deadline)
                    {
                        seen.fetch_or(1 << tid(), SeqCst);
                        yield_now().await;
                        n += 1;
                    }
                    count.fetch_add(1, SeqCst);
                    i
                },
                (20 + i % 8) as u8,
            )
            .unwrap(),
        );
    }
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.await, Ok(i));
    }
    assert_eq!(count.load(SeqCst), COROUTINES);
    let seen = tids_seen.load(SeqCst);
    println!("{COROUTINES} coroutines ran on threads {seen:#b}");
    assert!(
        seen != 0 && seen < 1 << 4,
        "only threads 0..4 run this executor"
    );
    assert!(
        seen.count_ones() >= 2,
        "only one thread ran coroutines: alloc_cpu's threads did no work"
    );

    // The thread model: blocking calls block only their own thread.
    let tids: Vec<usize> = (1..=3)
        .map(|a| spawn_thread(blocking_worker, a).unwrap())
        .collect();
    for (a, t) in tids.iter().enumerate() {
        assert_eq!(syscall::thread_join(*t), Ok(((a + 1) * 10) as i32));
    }
    assert_eq!(
        syscall::thread_join(tids[0]),
        Err(Errno::Srch),
        "joined twice"
    );
    // A negative exit code is a code, not an error (thread_join stores it);
    // and the asynchronous join waits in this coroutine only.
    let t = spawn_thread(|_| -3, 0).unwrap();
    assert_eq!(syscall::thread_join(t), Ok(-3));
    let t = spawn_thread(blocking_worker, 2).unwrap();
    let mut code = 0;
    assert_eq!(call::thread_join(t, &mut code).await, Ok(t));
    assert_eq!(code, 20);
    // The three threads `alloc_cpu` started stay parked in the kernel (a
    // waiting call, served by a kernel coroutine, each) until the process
    // exits.
    use rcore_n_abi::stat;
    guest_test::pass_holding(
        "test_threads",
        &[
            (stat::KERNEL_COROUTINES, 3),
            (stat::CALLS, 3),
            (stat::WAITERS, 6),
        ],
    );
    0
}
