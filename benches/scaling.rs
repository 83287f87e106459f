//! One worker vs two: cops-core, tokio (current_thread and a 2-worker
//! multi_thread runtime) and async-executor (one and two threads) on the
//! same parallel workloads, in one criterion run.
//!
//! - `yield_storm`: 64 coroutines yielding; time per yield.
//! - `pipeline`: 256 connections in a closed loop, each message going
//!   client → server (15×15 matrix product) → client; time per message.
//! - `yield_storm_inline`: the storm on two cops workers with the futures
//!   inside cops' allocations, as is or in `CacheAligned`.
//! - `ping_pong_workers`: one such connection with no work: a handoff each way,
//!   which two workers can only slow down (the bound: at most 2×
//!   one worker); time per round trip.
//!
//! `cargo bench --bench scaling -- --warm-up-time 1 --measurement-time 2`;
//! `cargo xtask bench` also draws the results (`benches/plots/`).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

mod common;
use common::{Chan, YieldOnce, prio};

const YIELDERS: u64 = 64;
const CONNECTIONS: u64 = 256;

/// 15×15 matrix product (the papers' per-message work, COPS §5).
fn matmul(a: &[[f64; 15]; 15], b: &[[f64; 15]; 15]) -> [[f64; 15]; 15] {
    let mut c = [[0.0; 15]; 15];
    for i in 0..15 {
        for k in 0..15 {
            for j in 0..15 {
                c[i][j] += a[i][k] * b[k][j];
            }
        }
    }
    c
}

async fn yields(n: u64, done: Arc<AtomicU64>) {
    for _ in 0..n {
        YieldOnce::new().await;
    }
    done.fetch_add(1, Release);
}

/// One connection: `n` requests, each answered after a matrix product
/// (`work`) or at once.
fn connection(
    n: u64,
    done: Arc<AtomicU64>,
    work: bool,
) -> [std::pin::Pin<Box<dyn Future<Output = ()> + Send>>; 2] {
    let req: &'static Chan = Box::leak(Box::new(Chan::new()));
    let resp: &'static Chan = Box::leak(Box::new(Chan::new()));
    let client = async move {
        for _ in 0..n {
            req.send();
            resp.recv().await;
        }
        done.fetch_add(1, Release);
    };
    let server = async move {
        let a = [[1.5f64; 15]; 15];
        let mut b = [[0.5f64; 15]; 15];
        for _ in 0..n {
            req.recv().await;
            if work {
                b = matmul(&a, &b);
                b[0][0] = std::hint::black_box(b[0][0]) % 7.0;
            }
            resp.send();
        }
    };
    [Box::pin(client), Box::pin(server)]
}

/// The futures of one run of a workload over `iters` units, and how many
/// completions mark its end.
type Batch = (Vec<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>>, u64);

fn yield_batch(iters: u64, done: &Arc<AtomicU64>) -> Batch {
    let each = iters.div_ceil(YIELDERS);
    let futs = (0..YIELDERS)
        .map(|_| Box::pin(yields(each, done.clone())) as _)
        .collect();
    (futs, YIELDERS)
}

fn pipeline_batch(iters: u64, done: &Arc<AtomicU64>) -> Batch {
    let each = iters.div_ceil(CONNECTIONS);
    let futs = (0..CONNECTIONS)
        .flat_map(|_| connection(each, done.clone(), true))
        .collect();
    (futs, CONNECTIONS)
}

fn ping_pong_batch(iters: u64, done: &Arc<AtomicU64>) -> Batch {
    (connection(iters, done.clone(), false).into(), 1)
}

/// A cops executor with `workers` CPUs: the bench thread plus `workers - 1`
/// threads kept in `run` by one coroutine that never finishes.
fn cops(workers: usize) -> &'static cops_core::Executor<cops_core::StdPlatform> {
    let ex = cops_core::Executor::leak(4096, cops_core::StdPlatform::new());
    let forever: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
    drop(
        ex.spawn(
            std::future::poll_fn(|_| {
                if forever.load(Relaxed) {
                    std::task::Poll::Ready(())
                } else {
                    std::task::Poll::Pending
                }
            }),
            prio(63),
        )
        .unwrap(),
    );
    ex.run_until_idle();
    if workers > 1 {
        ex.alloc_cpu(workers - 1).unwrap();
    }
    ex
}

fn run_cops(
    ex: &'static cops_core::Executor<cops_core::StdPlatform>,
    batch: Batch,
    done: &AtomicU64,
) -> Duration {
    let (futs, want) = batch;
    done.store(0, Relaxed);
    let t = Instant::now();
    for f in futs {
        drop(ex.spawn(f, prio(8)).unwrap());
    }
    work_until_done(ex, done, want);
    t.elapsed()
}

/// The bench thread is a worker until the batch is done: it steps
/// through `run_until_idle` (the worker loop, which hands a coroutine
/// re-queued by its own poll to the next pick) and looks at `done`
/// whenever nothing is ready here, a few spin hints apart, as the worker
/// loop's idle spin does (looking after every hint pulled the other
/// worker's lines: pipeline 380-460 ns per message instead of 379-383,
/// storm 23.5-26 ns per yield instead of 22).
fn work_until_done(
    ex: &'static cops_core::Executor<cops_core::StdPlatform>,
    done: &AtomicU64,
    want: u64,
) {
    while done.load(Acquire) < want {
        if ex.run_until_idle() == 0 {
            for _ in 0..32 {
                std::hint::spin_loop();
            }
        }
    }
}

fn run_tokio(rt: &tokio::runtime::Runtime, batch: Batch, done: &AtomicU64) -> Duration {
    let (futs, want) = batch;
    done.store(0, Relaxed);
    rt.block_on(async {
        let t = Instant::now();
        let hs: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
        for h in hs {
            h.await.unwrap();
        }
        assert_eq!(done.load(Acquire), want);
        t.elapsed()
    })
}

fn run_async_executor(
    ex: &Arc<async_executor::Executor<'static>>,
    threads: usize,
    batch: Batch,
    done: &AtomicU64,
) -> Duration {
    let (futs, want) = batch;
    done.store(0, Relaxed);
    let t = Instant::now();
    let tasks: Vec<_> = futs.into_iter().map(|f| ex.spawn(f)).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let helpers: Vec<_> = (1..threads)
        .map(|_| {
            let (ex, stop) = (ex.clone(), stop.clone());
            std::thread::spawn(move || {
                futures_lite::future::block_on(ex.run(async {
                    while !stop.load(Relaxed) {
                        futures_lite::future::yield_now().await;
                    }
                }))
            })
        })
        .collect();
    futures_lite::future::block_on(ex.run(async {
        for task in tasks {
            task.await;
        }
    }));
    let e = t.elapsed();
    stop.store(true, Relaxed);
    for h in helpers {
        h.join().unwrap();
    }
    assert_eq!(done.load(Acquire), want);
    e
}

fn workload(c: &mut Criterion, name: &str, make: fn(u64, &Arc<AtomicU64>) -> Batch) {
    let mut g = c.benchmark_group(name);
    let done = Arc::new(AtomicU64::new(0));
    for workers in [1, 2] {
        let ex = cops(workers);
        g.bench_function(format!("cops_{workers}w"), |b| {
            b.iter_custom(|iters| run_cops(ex, make(iters, &done), &done))
        });
    }
    let ct = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    g.bench_function("tokio_ct", |b| {
        b.iter_custom(|iters| run_tokio(&ct, make(iters, &done), &done))
    });
    let mt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    g.bench_function("tokio_mt_2w", |b| {
        b.iter_custom(|iters| run_tokio(&mt, make(iters, &done), &done))
    });
    for threads in [1, 2] {
        let ex = Arc::new(async_executor::Executor::new());
        g.bench_function(format!("async_executor_{threads}t"), |b| {
            b.iter_custom(|iters| run_async_executor(&ex, threads, make(iters, &done), &done))
        });
    }
    g.finish();
}

fn yield_storm(c: &mut Criterion) {
    workload(c, "yield_storm", yield_batch);
}

/// The yield storm on two cops workers with each future inside its cops
/// allocation (as an application spawns an `async` block), as is or in
/// `CacheAligned`: once allocations are recycled, neighbours in memory
/// run on different workers and share lines (cops only: the peers'
/// futures are the boxes of `yield_batch`).
fn yield_storm_inline(c: &mut Criterion) {
    let mut g = c.benchmark_group("yield_storm_inline");
    let done = Arc::new(AtomicU64::new(0));
    let ex = cops(2);
    for aligned in [false, true] {
        let name = if aligned {
            "cops_2w_cache_aligned"
        } else {
            "cops_2w"
        };
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let each = iters.div_ceil(YIELDERS);
                done.store(0, Relaxed);
                let t = Instant::now();
                for _ in 0..YIELDERS {
                    let f = yields(each, done.clone());
                    let spawned = if aligned {
                        ex.spawn(cops_core::CacheAligned(f), prio(8)).map(drop)
                    } else {
                        ex.spawn(f, prio(8)).map(drop)
                    };
                    spawned.unwrap();
                }
                work_until_done(ex, &done, YIELDERS);
                t.elapsed()
            })
        });
    }
    g.finish();
}

fn pipeline(c: &mut Criterion) {
    workload(c, "pipeline", pipeline_batch);
}

fn ping_pong(c: &mut Criterion) {
    workload(c, "ping_pong_workers", ping_pong_batch);
}

criterion_group!(
    benches,
    yield_storm,
    yield_storm_inline,
    pipeline,
    ping_pong
);
criterion_main!(benches);
