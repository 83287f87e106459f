//! The demo `cargo xtask qemu` boots: COPS in three acts, each ending in a
//! line a reader can check against the priorities (0 is the most urgent
//! of 64 levels).
//!
//! 1. **Coroutines by priority**: one process spawns coroutines at levels
//!    40, 2, 25, 12; its executor (the scheduler in the vDSO) runs them
//!    most urgent first.
//! 2. **Wake by id**: a coroutine waits with no waker stored anywhere;
//!    another wakes it by its `CoroutineId`. A sleep is served by a kernel
//!    coroutine, which wakes the sleeping user coroutine by id through a
//!    user interrupt while the thread runs other coroutines.
//! 3. **Processes by priority**: three workers with priority caps 30, 10
//!    and 20, each with coroutines at levels 2, 12 and 40, report when
//!    each coroutine finished. The kernel ranks a process by its most
//!    urgent ready coroutine, never above its cap (`max(cap, level)`), and
//!    gives the harts to the most urgent processes; the closing table lists
//!    the coroutines in finishing order with that rank.
#![no_std]
#![no_main]
extern crate alloc;
use alloc::vec::Vec;
use core::future::poll_fn;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use core::task::Poll;
use rcore_n_user::*;

entry!(main);

/// The workers' caps, in the order they are spawned (least urgent first,
/// so that urgency, not spawn order, decides who runs).
const CAPS: [u8; 3] = [30, 10, 20];

async fn main() -> i32 {
    // First, so the workers (which inherit it) find it at fds 3 and 4.
    let (rd, wr) = syscall::pipe().unwrap();
    assert_eq!((rd, wr), (3, 4), "the results pipe must be fds 3 and 4");
    println!(
        "[demo] COPS on {} harts; priority 0 is the most urgent of 64 levels",
        syscall::harts()
    );
    act1_coroutines().await;
    act2_wake_by_id().await;
    act3_processes(rd).await;
    syscall::close(rd).unwrap();
    syscall::close(wr).unwrap();
    0
}

async fn act1_coroutines() {
    static ORDER: spin::Mutex<Vec<u8>> = spin::Mutex::new(Vec::new());
    let spawned = [40u8, 2, 25, 12];
    let handles: Vec<_> = spawned
        .iter()
        .map(|&level| spawn(async move { ORDER.lock().push(level) }, level).unwrap())
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    let order = ORDER.lock().clone();
    let mut sorted = spawned;
    sorted.sort();
    println!(
        "[demo] act 1, coroutines by priority: spawned at levels {spawned:?}, ran {order:?} ({})",
        verdict(order == sorted)
    );
}

async fn act2_wake_by_id() {
    static EVENT: AtomicBool = AtomicBool::new(false);
    static WAITER: AtomicU64 = AtomicU64::new(0);
    // Waits for EVENT keeping no waker: only its id is published.
    let waiter = spawn(
        poll_fn(|_| {
            if EVENT.load(Acquire) {
                return Poll::Ready(());
            }
            WAITER.store(current_id().unwrap().to_raw(), Release);
            Poll::Pending
        }),
        5,
    )
    .unwrap();
    let waker = spawn(
        async {
            let id = CoroutineId::from_raw(WAITER.load(Acquire));
            EVENT.store(true, Release);
            wake(id).unwrap();
            id
        },
        20,
    )
    .unwrap();
    let id = waker.await.unwrap();
    waiter.await.unwrap();
    println!(
        "[demo] act 2, wake by id: coroutine {id} waited with no waker; a level-20 coroutine woke it by id (ok)"
    );

    static SLEPT: AtomicBool = AtomicBool::new(false);
    // Long enough that the busy coroutine below gets its first poll in
    // however late QEMU runs it (2 ms gave it none in about 5 % of boots).
    const SLEEP_NS: u64 = 50_000_000;
    let t0 = syscall::clock();
    let sleeper = spawn(
        async {
            call::sleep(SLEEP_NS).await.unwrap();
            current_id().unwrap()
        },
        3,
    )
    .unwrap();
    // The thread is free meanwhile: a less urgent coroutine counts its
    // polls. Each makes a system call, because without the N extension
    // (stock QEMU) the kernel delivers a user interrupt on a return from
    // a system call.
    let busy = spawn(
        async {
            let mut polls = 0u32;
            while !SLEPT.load(Acquire) {
                polls += 1;
                syscall::clock();
                yield_now().await;
            }
            polls
        },
        30,
    )
    .unwrap();
    let id = sleeper.await.unwrap();
    let slept = syscall::clock() - t0;
    SLEPT.store(true, Release);
    let rounds = busy.await.unwrap();
    println!(
        "[demo] act 2, wake by id: coroutine {id} slept {} us in a kernel coroutine while its thread ran {rounds} other polls; the kernel woke it by id through a user interrupt ({})",
        slept / 1000,
        verdict(slept >= SLEEP_NS && rounds > 0)
    );
}

/// One worker coroutine's report: `[pid, level, finish time in µs (u32 le)...]`.
const RECORD: usize = 8;

async fn act3_processes(rd: usize) {
    let pids: Vec<(usize, u8)> = CAPS
        .iter()
        .map(|&cap| (syscall::spawn("demo_worker", cap).unwrap(), cap))
        .collect();
    let cap_of = |pid: usize| pids.iter().find(|p| p.0 == pid).map(|p| p.1).unwrap();
    println!(
        "[demo] act 3, processes by priority: spawned demo_worker pids {:?} with caps {CAPS:?}; each runs coroutines at levels 2, 12, 40",
        pids.iter().map(|p| p.0).collect::<Vec<_>>()
    );
    // (pid, level, finished at µs).
    let mut done = Vec::new();
    let mut buf = [0u8; RECORD];
    for _ in 0..pids.len() * 3 {
        let mut got = 0;
        while got < RECORD {
            let n = call::read(rd, &mut buf[got..]).await.unwrap();
            assert!(n > 0, "a worker closed the results pipe early");
            got += n;
        }
        let us = u32::from_le_bytes(buf[4..8].try_into().unwrap());
        done.push((buf[0] as usize, buf[1], us));
    }
    for _ in &pids {
        let (pid, code) = syscall::waitpid(None).unwrap();
        assert_eq!(code, 0, "worker {pid} failed");
    }
    // Reports from two harts may arrive a little out of time order.
    done.sort_by_key(|d| d.2);
    let t0 = done.iter().map(|d| d.2).min().unwrap_or(0);
    println!("[demo]    #  pid  cap  level  ranked at  finished (ms after the first)");
    for (i, &(pid, level, us)) in done.iter().enumerate() {
        let cap = cap_of(pid);
        // No floating point in user mode (the kernel keeps the FPU off).
        let us = us - t0;
        println!(
            "[demo]   {:>2}  {pid:>3}  {cap:>3}  {level:>5}  {:>9}  {:>6}.{}",
            i + 1,
            cap.max(level),
            us / 1000,
            us % 1000 / 100
        );
    }
    // A pair finished out of rank order: a less urgent coroutine before a
    // more urgent one.
    let ranks: Vec<u8> = done.iter().map(|d| cap_of(d.0).max(d.1)).collect();
    let inversions = (0..ranks.len())
        .flat_map(|i| (i + 1..ranks.len()).map(move |j| (i, j)))
        .filter(|&(i, j)| ranks[i] > ranks[j])
        .count();
    let harts = syscall::harts();
    println!(
        "[demo] act 3: {inversions} pairs finished out of rank order on {harts} hart(s) ({})",
        if harts == 1 {
            verdict(inversions == 0)
        } else {
            "with several harts, the most urgent processes run side by side, so a coroutine may finish before a more urgent one on another hart; `cargo xtask qemu --smp 1` gives the exact order"
        }
    );
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "NOT in priority order" }
}
