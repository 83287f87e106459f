//! cops-core against its peers on the same workloads, in the same run:
//! tokio current_thread and embassy-executor 0.10 (`raw::Executor`, no-op
//! pender, leaked static task storage). See benches/RESULTS.md.
//!
//! cargo bench --bench peers -- --warm-up-time 1 --measurement-time 3

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::time::{Duration, Instant};

use common::*;
use cops_core::CoroutineStorage;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use embassy_executor::raw;

/// embassy's pender: nothing to signal, the driver polls in a loop.
#[unsafe(export_name = "__pender")]
fn __pender(_context: *mut ()) {}

/// Priority used for the non-priority workloads.
const P: u8 = 8;

fn embassy() -> &'static raw::Executor {
    Box::leak(Box::new(raw::Executor::new(core::ptr::null_mut())))
}

fn emb_spawn<F: Future + 'static>(
    ex: &'static raw::Executor,
    st: &'static raw::TaskStorage<F>,
    f: impl FnOnce() -> F,
) {
    ex.spawner().spawn(st.spawn(f).expect("task storage free"));
}

fn emb_poll(ex: &'static raw::Executor) {
    // SAFETY: single-threaded driver, never re-entrant (the pender is a no-op).
    unsafe { ex.poll() }
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

// ----- spawn + run ---------------------------------------------------------

fn cops_spawn_static<Pl: cops_core::Platform>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    ex: &'static cops_core::Executor<Pl>,
) {
    let st = leak(CoroutineStorage::new());
    g.bench_function(name, |b| {
        b.iter(|| {
            ex.spawn_in(st, empty(), prio(P)).unwrap();
            ex.run_until_idle()
        })
    });
}

fn spawn_run_single(c: &mut Criterion) {
    let mut g = c.benchmark_group("spawn_run_single");
    cops_spawn_static(&mut g, "cops_static", cops(4));
    cops_spawn_static(&mut g, "cops_static_publishing", cops_publishing(4));
    {
        let ex = cops(4);
        g.bench_function("cops_boxed", |b| {
            b.iter(|| {
                drop(ex.spawn(empty(), prio(P)).unwrap());
                ex.run_until_idle()
            })
        });
    }
    {
        let ex = embassy();
        let st = leak(raw::TaskStorage::new());
        g.bench_function("embassy", |b| {
            b.iter(|| {
                emb_spawn(ex, st, empty);
                emb_poll(ex);
            })
        });
    }
    {
        let rt = tokio_rt();
        g.bench_function("tokio_ct", |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let t = Instant::now();
                    for _ in 0..iters {
                        tokio::spawn(empty()).await.unwrap();
                    }
                    t.elapsed()
                })
            })
        });
    }
    g.finish();
}

const BATCH: usize = 1000;

fn spawn_run_batch(c: &mut Criterion) {
    let mut g = c.benchmark_group("spawn_run_batch1000");
    g.throughput(Throughput::Elements(BATCH as u64));
    {
        let ex = cops(BATCH);
        let sts = leak_n(BATCH, |_| CoroutineStorage::new());
        g.bench_function("cops_static", |b| {
            b.iter(|| {
                for st in sts {
                    ex.spawn_in(st, empty(), prio(P)).unwrap();
                }
                ex.run_until_idle()
            })
        });
    }
    {
        let ex = cops(BATCH);
        g.bench_function("cops_boxed", |b| {
            b.iter(|| {
                for _ in 0..BATCH {
                    drop(ex.spawn(empty(), prio(P)).unwrap());
                }
                ex.run_until_idle()
            })
        });
    }
    {
        let ex = embassy();
        let sts = leak_n(BATCH, |_| raw::TaskStorage::new());
        g.bench_function("embassy", |b| {
            b.iter(|| {
                for st in sts {
                    emb_spawn(ex, st, empty);
                }
                emb_poll(ex);
            })
        });
    }
    {
        let rt = tokio_rt();
        let done = leak(AtomicUsize::new(0));
        g.bench_function("tokio_ct", |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let t = Instant::now();
                    for _ in 0..iters {
                        done.store(0, Relaxed);
                        for _ in 0..BATCH {
                            drop(tokio::spawn(counted(done)));
                        }
                        while done.load(Relaxed) < BATCH {
                            YieldOnce::new().await;
                        }
                    }
                    t.elapsed()
                })
            })
        });
    }
    g.finish();
}

// ----- yield and ping-pong -------------------------------------------------

fn yield_round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group("yield");
    let done = leak(AtomicBool::new(false));
    {
        let ex = cops(4);
        g.bench_function("cops", |b| {
            b.iter_custom(|iters| {
                drop(ex.spawn(yielder(iters, done), prio(P)).unwrap());
                let t = Instant::now();
                ex.run_until_idle();
                t.elapsed()
            })
        });
    }
    {
        let ex = embassy();
        let st = leak(raw::TaskStorage::new());
        g.bench_function("embassy", |b| {
            b.iter_custom(|iters| {
                done.store(false, Relaxed);
                emb_spawn(ex, st, || yielder(iters, done));
                let t = Instant::now();
                while !done.load(Relaxed) {
                    emb_poll(ex);
                }
                let e = t.elapsed();
                emb_poll(ex); // let the task finish its last poll bookkeeping
                e
            })
        });
    }
    {
        let rt = tokio_rt();
        g.bench_function("tokio_ct", |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let h = tokio::spawn(yielder(iters, done));
                    let t = Instant::now();
                    h.await.unwrap();
                    t.elapsed()
                })
            })
        });
    }
    g.finish();
}

fn cops_ping_pong<Pl: cops_core::Platform>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    ex: &'static cops_core::Executor<Pl>,
) {
    let pp = PingPong::leak();
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            pp.reset();
            drop(ex.spawn(ping(pp, iters), prio(P)).unwrap());
            drop(ex.spawn(pong(pp, iters), prio(P)).unwrap());
            let t = Instant::now();
            ex.run_until_idle();
            let e = t.elapsed();
            assert!(pp.done.load(Relaxed));
            e
        })
    });
}

fn ping_pong(c: &mut Criterion) {
    let mut g = c.benchmark_group("ping_pong");
    cops_ping_pong(&mut g, "cops", cops(4));
    cops_ping_pong(&mut g, "cops_publishing", cops_publishing(4));
    {
        let ex = embassy();
        let pp = PingPong::leak();
        let sa = leak(raw::TaskStorage::new());
        let sb = leak(raw::TaskStorage::new());
        g.bench_function("embassy", |b| {
            b.iter_custom(|iters| {
                pp.reset();
                emb_spawn(ex, sa, || ping(pp, iters));
                emb_spawn(ex, sb, || pong(pp, iters));
                let t = Instant::now();
                while !pp.done.load(Relaxed) {
                    emb_poll(ex);
                }
                let e = t.elapsed();
                emb_poll(ex);
                e
            })
        });
    }
    {
        let rt = tokio_rt();
        let pp = PingPong::leak();
        g.bench_function("tokio_ct", |b| {
            b.iter_custom(|iters| {
                pp.reset();
                rt.block_on(async {
                    let a = tokio::spawn(ping(pp, iters));
                    let bb = tokio::spawn(pong(pp, iters));
                    let t = Instant::now();
                    a.await.unwrap();
                    bb.await.unwrap();
                    t.elapsed()
                })
            })
        });
    }
    g.finish();
}

// ----- wake ----------------------------------------------------------------

const WAKE_SET: usize = 1000;

/// Time `wake(i)` for batches of blocked coroutines; `rearm` (untimed) polls
/// the woken batch back to blocked.
fn wake_batches(iters: u64, mut wake: impl FnMut(usize), mut rearm: impl FnMut(usize)) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters as usize;
    while left > 0 {
        let k = left.min(WAKE_SET);
        let t = Instant::now();
        for i in 0..k {
            wake(i);
        }
        total += t.elapsed();
        rearm(k);
        left -= k;
    }
    total
}

fn wake(c: &mut Criterion) {
    let mut g = c.benchmark_group("wake");
    {
        let ex = cops(WAKE_SET);
        let blocked = leak_n(WAKE_SET, |_| Blocked::leak());
        let ids: Vec<_> = blocked
            .iter()
            .map(|b| ex.spawn(block_forever(b), prio(P)).unwrap().id())
            .collect();
        ex.run_until_idle();
        let wakers: Vec<_> = blocked.iter().map(|b| b.waker()).collect();
        g.bench_function("cops_wake_id", |b| {
            b.iter_custom(|iters| {
                wake_batches(
                    iters,
                    |i| ex.wake(ids[i]).unwrap(),
                    |k| assert_eq!(ex.run_until_idle(), k),
                )
            })
        });
        g.bench_function("cops_waker", |b| {
            b.iter_custom(|iters| {
                wake_batches(
                    iters,
                    |i| wakers[i].wake_by_ref(),
                    |k| assert_eq!(ex.run_until_idle(), k),
                )
            })
        });
    }
    {
        let ex = embassy();
        let blocked = leak_n(WAKE_SET, |_| Blocked::leak());
        let sts = leak_n(WAKE_SET, |_| raw::TaskStorage::new());
        for (st, b) in sts.iter().zip(blocked) {
            emb_spawn(ex, st, || block_forever(b));
        }
        emb_poll(ex);
        let wakers: Vec<_> = blocked.iter().map(|b| b.waker()).collect();
        let refs: Vec<_> = wakers.iter().map(raw::task_from_waker).collect();
        g.bench_function("embassy_wake_task", |b| {
            b.iter_custom(|iters| {
                wake_batches(iters, |i| raw::wake_task(refs[i]), |_| emb_poll(ex))
            })
        });
        g.bench_function("embassy_waker", |b| {
            b.iter_custom(|iters| {
                wake_batches(iters, |i| wakers[i].wake_by_ref(), |_| emb_poll(ex))
            })
        });
    }
    {
        let rt = tokio_rt();
        let blocked = leak_n(WAKE_SET, |_| Blocked::leak());
        rt.block_on(async {
            for b in blocked {
                drop(tokio::spawn(block_forever(b)));
            }
            while blocked.iter().any(|b| b.polls.load(Relaxed) == 0) {
                YieldOnce::new().await;
            }
        });
        let wakers: Vec<_> = blocked.iter().map(|b| b.waker()).collect();
        g.bench_function("tokio_ct_waker", |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    let mut left = iters as usize;
                    while left > 0 {
                        let k = left.min(WAKE_SET);
                        let before = TOTAL_POLLS.load(Relaxed);
                        let t = Instant::now();
                        for w in &wakers[..k] {
                            w.wake_by_ref();
                        }
                        total += t.elapsed();
                        while TOTAL_POLLS.load(Relaxed) < before + k {
                            YieldOnce::new().await;
                        }
                        left -= k;
                    }
                    total
                })
            })
        });
    }
    g.finish();
}

// ----- priority-0 latency with a ready backlog -------------------------------

const BACKLOGS: [usize; 2] = [0, 10_000];

fn latency(c: &mut Criterion) {
    let mut g = c.benchmark_group("prio0_latency");
    for backlog in BACKLOGS {
        // cops: urgent at 0, trigger at 62, backlog ready at 63.
        let ex = cops(backlog + 2);
        let p = Probe::leak();
        drop(ex.spawn(urgent(p), prio(0)).unwrap());
        drop(ex.spawn(trigger(p), prio(62)).unwrap());
        for _ in 0..backlog {
            drop(ex.spawn(spinner(&p.stop), prio(63)).unwrap());
        }
        while !p.ready() {
            ex.poll_next();
        }
        g.bench_with_input(BenchmarkId::new("cops", backlog), &backlog, |b, _| {
            b.iter_custom(|iters| {
                probe_samples(p, iters, || {
                    ex.poll_next();
                })
            })
        });
    }
    for backlog in BACKLOGS {
        // embassy: FIFO batches (no priorities without `scheduler-priority`).
        let ex = embassy();
        let p = Probe::leak();
        let su = leak(raw::TaskStorage::new());
        let st = leak(raw::TaskStorage::new());
        let sts = leak_n(backlog, |_| raw::TaskStorage::new());
        emb_spawn(ex, su, || urgent(p));
        emb_spawn(ex, st, || trigger(p));
        for s in sts {
            emb_spawn(ex, s, || spinner(&p.stop));
        }
        while !p.ready() {
            emb_poll(ex);
        }
        g.bench_with_input(
            BenchmarkId::new("embassy_fifo", backlog),
            &backlog,
            |b, _| b.iter_custom(|iters| probe_samples(p, iters, || emb_poll(ex))),
        );
    }
    for backlog in BACKLOGS {
        // tokio current_thread: FIFO run queue.
        let rt = tokio_rt();
        let p = Probe::leak();
        rt.block_on(async {
            drop(tokio::spawn(urgent(p)));
            drop(tokio::spawn(trigger(p)));
            for _ in 0..backlog {
                drop(tokio::spawn(spinner(&p.stop)));
            }
            while !p.ready() {
                YieldOnce::new().await;
            }
        });
        g.bench_with_input(
            BenchmarkId::new("tokio_ct_fifo", backlog),
            &backlog,
            |b, _| {
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        p.reset();
                        for _ in 0..iters {
                            let s = p.samples.load(Acquire);
                            p.fire();
                            while p.samples.load(Acquire) == s {
                                YieldOnce::new().await;
                            }
                        }
                        p.mean_times(iters)
                    })
                })
            },
        );
        // Let the backlog finish so dropping the runtime is quick.
        p.stop.store(true, Release);
    }
    g.finish();
}

criterion_group!(
    benches,
    spawn_run_single,
    spawn_run_batch,
    yield_round_trip,
    ping_pong,
    wake,
    latency
);
criterion_main!(benches);
