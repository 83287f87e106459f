//! cops-only priority workloads (no peer has O(1) priority scheduling:
//! tokio has none, embassy's opt-in `scheduler-priority` re-sorts every batch
//! and is a crate-wide feature that would change every other workload).
//!
//! cargo bench --bench priority -- --warm-up-time 1 --measurement-time 3

mod common;

use std::hint::black_box;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use common::*;
use cops_core::ready::{Links, ReadyQueues};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

const SIZES: [usize; 3] = [1, 1_000, 100_000];

/// Pure data structure: `N` items resident over levels 1..=63.
fn queues(n: usize) -> (ReadyQueues, Vec<Links>) {
    let mut q = ReadyQueues::new();
    let mut links = vec![Links::UNLINKED; n + 1];
    for i in 0..n {
        q.push_back(&mut links[..], i as u32, prio(1 + (i % 63) as u8));
    }
    (q, links)
}

fn pick_next(c: &mut Criterion) {
    let mut g = c.benchmark_group("pick_next");
    for n in SIZES {
        // Pop the head of the highest level and re-queue it: pick among N.
        let (mut q, mut links) = queues(n);
        g.bench_with_input(BenchmarkId::new("ready_queues_pop_push", n), &n, |b, _| {
            b.iter(|| {
                let (i, l) = q.pop(&mut links[..]).unwrap();
                q.push_back(&mut links[..], black_box(i), l);
            })
        });
        // A level-0 item arrives and is picked at once, N resident below it.
        let (mut q, mut links) = queues(n);
        let hi = n as u32;
        g.bench_with_input(
            BenchmarkId::new("ready_queues_arrive_pick", n),
            &n,
            |b, _| {
                b.iter(|| {
                    q.push_back(&mut links[..], black_box(hi), prio(0));
                    let (i, _) = q.pop(&mut links[..]).unwrap();
                    assert_eq!(i, hi);
                })
            },
        );
    }
    for n in SIZES {
        // Executor: a level-0 coroutine that yields forever over N ready
        // level-63 coroutines. One iteration = pick + poll + re-queue.
        let ex = cops(n + 1);
        let stop: &'static AtomicBool = leak(AtomicBool::new(false));
        let hot = ex.spawn(spinner(stop), prio(0)).unwrap().id();
        for _ in 0..n {
            drop(ex.spawn(spinner(stop), prio(63)).unwrap());
        }
        g.bench_with_input(BenchmarkId::new("executor_yield", n), &n, |b, _| {
            b.iter(|| assert_eq!(ex.poll_next().unwrap().id, hot))
        });
        // Executor: wake a blocked level-0 coroutine by id, then one step
        // picks and polls it (back to blocked).
        let ex = cops(n + 1);
        let blk = Blocked::leak();
        let id = ex.spawn(block_forever(blk), prio(0)).unwrap().id();
        ex.poll_next();
        for _ in 0..n {
            drop(ex.spawn(spinner(stop), prio(63)).unwrap());
        }
        g.bench_with_input(BenchmarkId::new("executor_wake_poll", n), &n, |b, _| {
            b.iter(|| {
                ex.wake(id).unwrap();
                assert_eq!(ex.poll_next().unwrap().id, id);
            })
        });
    }
    g.finish();
}

fn latency(c: &mut Criterion) {
    let mut g = c.benchmark_group("prio0_latency_cops");
    for backlog in [0, 1_000, 10_000, 100_000] {
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
        g.bench_with_input(BenchmarkId::from_parameter(backlog), &backlog, |b, _| {
            b.iter_custom(|iters| {
                probe_samples(p, iters, || {
                    ex.poll_next();
                })
            })
        });
    }
    // The clock itself: two `Instant::now` as the probe takes them.
    g.bench_function("clock_overhead", |b| {
        b.iter_custom(|iters| {
            let mut total = std::time::Duration::ZERO;
            for _ in 0..iters {
                let t0 = Instant::now();
                total += black_box(t0).elapsed();
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, pick_next, latency);
criterion_main!(benches);
