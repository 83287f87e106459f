//! In-guest benchmarks, timed with `rdtime` (10 MHz on QEMU `virt`):
//! coroutine switch vs thread switch inside a process, the user↔kernel
//! round trip, asynchronous vs blocking system calls, and the pipe ring of
//! seed 003 §4. Run with one hart:
//! `cargo xtask qemu bench --smp 1`.
#![no_std]
#![no_main]
extern crate alloc;
use alloc::sync::Arc;
use cops_core::ExecutorOps;
use core::sync::atomic::{AtomicBool, Ordering::SeqCst};
use rcore_n_user::*;

entry!(main);

const N: u64 = 20_000;

fn ns(ticks: u64, per: u64) -> u64 {
    ticks * 100 / per // 10 MHz: one tick is 100 ns
}

fn row(what: &str, per_op_ns: u64, note: &str) {
    println!("| {what:<44} | {per_op_ns:>9} | {note} |");
}

/// Two coroutines yielding `N` times each on `exec`, run by `run_until_idle`.
fn time_yielders<E: ExecutorOps>(exec: &'static E, run_until_idle: impl Fn() -> usize) -> u64 {
    for _ in 0..2 {
        exec.spawn(yield_loop(N), cops_core::Priority::new(3).unwrap())
            .unwrap();
    }
    let t0 = syscall::ticks();
    run_until_idle();
    ns(syscall::ticks() - t0, 2 * N)
}

fn yielders_static() -> u64 {
    let exec = cops_core::Executor::leak(8, cops_core::NoPlatform);
    time_yielders(exec, || exec.run_until_idle())
}

fn yielders_vdso() -> u64 {
    static QUIET: cops_vdso::abi::VdsoPlatform = cops_vdso::abi::VdsoPlatform::SINGLE_CPU;
    let exec = cops_vdso::binding::VdsoExecutor::leak(vdso(), 64, &QUIET).unwrap();
    time_yielders(exec, || exec.run_until_idle())
}

async fn yield_loop(n: u64) {
    for _ in 0..n {
        yield_now().await;
    }
}

async fn coroutine_switch() -> u64 {
    // Two coroutines yielding to each other: 2N switches.
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let other = spawn(
        async move {
            while !s.load(SeqCst) {
                yield_now().await;
            }
        },
        MAIN_PRIORITY,
    )
    .unwrap();
    yield_now().await; // let it start
    let t0 = syscall::ticks();
    for _ in 0..N {
        yield_now().await;
    }
    let t = syscall::ticks() - t0;
    stop.store(true, SeqCst);
    other.await.unwrap();
    ns(t, 2 * N)
}

fn yielder(n: usize) -> i32 {
    for _ in 0..n {
        syscall::sched_yield();
    }
    0
}

fn thread_switch() -> u64 {
    // Two threads of this process yielding to each other through the
    // kernel: every yield is a trap, a pick and an entry into the other.
    let n = (N / 4) as usize;
    let t0 = syscall::ticks();
    let a = spawn_thread(yielder, n).unwrap();
    let b = spawn_thread(yielder, n).unwrap();
    syscall::thread_join(a).unwrap();
    syscall::thread_join(b).unwrap();
    ns(syscall::ticks() - t0, 2 * n as u64)
}

fn syscall_round_trip() -> u64 {
    let t0 = syscall::ticks();
    for _ in 0..N {
        core::hint::black_box(syscall::getpid());
    }
    ns(syscall::ticks() - t0, N)
}

async fn spawn_and_run() -> u64 {
    let t0 = syscall::ticks();
    for i in 0..N / 4 {
        spawn(async move { core::hint::black_box(i) }, 3)
            .unwrap()
            .await
            .unwrap();
    }
    ns(syscall::ticks() - t0, N / 4)
}

/// (async round trip, kernel post -> coroutine poll) in ns, over `n` calls.
async fn async_sleep0(n: u64) -> (u64, u64) {
    let (t0, mut lat) = (syscall::ticks(), 0);
    for _ in 0..n {
        call::sleep(0).await.unwrap();
        lat += call::LAST_LATENCY.load(core::sync::atomic::Ordering::Relaxed);
    }
    (ns(syscall::ticks() - t0, n), ns(lat, n))
}

fn blocking_sleep0(n: u64) -> u64 {
    let t0 = syscall::ticks();
    for _ in 0..n {
        call::sleep(0).wait().unwrap();
    }
    ns(syscall::ticks() - t0, n)
}

/// A pipe to ourselves: write 8 bytes (blocking), read them back with the
/// async or the blocking form; the read's cost is the difference.
async fn pipe_read(rd: usize, wr: usize, n: u64, async_form: bool) -> u64 {
    let mut buf = [0u8; 8];
    let t0 = syscall::ticks();
    for i in 0..n {
        call::write(wr, &i.to_le_bytes()).wait().unwrap();
        let got = if async_form {
            call::read(rd, &mut buf).await
        } else {
            call::read(rd, &mut buf).wait()
        };
        assert_eq!(got, Ok(8));
    }
    ns(syscall::ticks() - t0, n)
}

fn pipe_ring(nodes: usize, rounds: u64) -> u64 {
    let ring = ring::Ring::start(nodes, 10);
    let t0 = syscall::ticks();
    for r in 0..rounds {
        ring.round(r);
    }
    let t = syscall::ticks() - t0;
    ring.stop();
    ns(t, rounds * (nodes as u64 + 1))
}

async fn main() -> i32 {
    let harts = syscall::harts();
    println!(
        "rcore-n in-guest benchmarks ({harts} hart(s), QEMU TCG: compare ratios, not absolutes)"
    );
    println!("| {:<44} | {:>9} | note |", "operation", "ns/op");
    println!("|{:-<46}|{:->11}|------|", "", "");
    // Once each to warm up (QEMU translates code on first use), then measure.
    let _ = (yielders_static(), yielders_vdso());
    let (st, vd) = (yielders_static(), yielders_vdso());
    row(
        "yield, statically linked cops-core executor",
        st,
        "same code, linked in",
    );
    row(
        "yield, executor reached through the vDSO",
        vd,
        "table call per operation",
    );
    let co = coroutine_switch().await;
    row(
        "coroutine switch (yield_now, same thread)",
        co,
        "cops-core executor in user space",
    );
    let th = thread_switch();
    row(
        "thread switch (sched_yield, same process)",
        th,
        "trap + kernel pick + entry",
    );
    row(
        "user -> kernel -> user round trip (getpid)",
        syscall_round_trip(),
        "ecall + trap + sret",
    );
    row(
        "spawn + run + join a coroutine",
        spawn_and_run().await,
        "boxed, JoinHandle awaited",
    );
    let (rd, wr) = syscall::pipe().unwrap();
    let (a, lat) = async_sleep0(N / 10).await;
    row("async sleep(0) round trip", a, "only the coroutine waits");
    if uintr::hardware() {
        // The N path first, then the same calls through soft upcalls.
        row(
            "  of which: kernel post -> coroutine poll",
            lat,
            "N extension: USIP on entry, utvec handler + wake(id)",
        );
        uintr::use_soft();
        let (a, lat) = async_sleep0(N / 10).await;
        row(
            "async sleep(0) round trip, soft upcall",
            a,
            "same, soft backend",
        );
        row(
            "  of which: kernel post -> coroutine poll",
            lat,
            "uintr upcall + wake(id)",
        );
    } else {
        row(
            "  of which: kernel post -> coroutine poll",
            lat,
            "uintr upcall + wake(id)",
        );
    }
    row(
        "blocking sleep(0) (the thread waits)",
        blocking_sleep0(N / 10),
        "kernel coroutine, thread blocked",
    );
    syscall::kernel_threads(true).unwrap();
    let _ = blocking_sleep0(N / 100); // warm up the kernel-thread path
    let kt = blocking_sleep0(N / 10);
    row(
        "blocking sleep(0) served by a kernel thread",
        kt,
        "KT model: own kernel stack",
    );
    let (kta, _) = async_sleep0(N / 10).await;
    row(
        "async sleep(0) served by a kernel thread",
        kta,
        "KTUC model",
    );
    syscall::kernel_threads(false).unwrap();
    row(
        "pipe write + async read (8 bytes)",
        pipe_read(rd, wr, N / 10, true).await,
        "read awaited",
    );
    row(
        "pipe write + blocking read (8 bytes)",
        pipe_read(rd, wr, N / 10, false).await,
        "read waited",
    );
    syscall::close(rd).unwrap();
    syscall::close(wr).unwrap();
    row(
        "pipe ring hop (4 processes + init)",
        pipe_ring(4, 200),
        "seed 003 §4: write, wake, read",
    );
    println!("thread switch / coroutine switch = {}x", th / co.max(1));
    0
}
