//! Pick/put cost: cops-axsched's schedulers against axsched 0.3.1's own
//! `FifoScheduler`, `RRScheduler` and `CFScheduler`, with 1, 1k and 10k
//! ready tasks.
//!
//! One iteration is one yield as axtask performs it on its run queue:
//! `pick_next_task()` followed by `put_prev_task(task, false)`. This is what
//! axsched's own `bench_yield` test measures, but here under criterion.
//!
//! Run: `cd kernels/arceos-port && cargo bench -p sched-bench`.
//! The medians are in `target/criterion/pick_put/*/*/new/estimates.json`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use axsched::{BaseScheduler, CFSTask, CFScheduler, FifoScheduler, FifoTask, RRScheduler, RRTask};
use cops_axsched::{CoopScheduler, NiceScheduler, PreemptScheduler, PrioTask};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

const SIZES: [usize; 3] = [1, 1_000, 10_000];

fn bench_one<S: BaseScheduler>(c: &mut Criterion, name: &str, mut sched: S, task: impl Fn(usize) -> S::SchedItem) {
    let mut group = c.benchmark_group("pick_put");
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    for n in SIZES {
        while sched.pick_next_task().is_some() {}
        for i in 0..n {
            sched.add_task(task(i));
        }
        group.bench_function(BenchmarkId::new(name, n), |b| {
            b.iter(|| {
                let t = sched.pick_next_task().unwrap();
                sched.put_prev_task(black_box(t), false);
            })
        });
    }
    group.finish();
}

fn pick_put(c: &mut Criterion) {
    // cops-axsched: every task at the default level (63), like axtask's tasks
    // before they call set_priority.
    bench_one(c, "cops-coop", CoopScheduler::new(), |i| Arc::new(PrioTask::new(i)));
    bench_one(c, "cops-preempt", PreemptScheduler::new(), |i| Arc::new(PrioTask::new(i)));
    bench_one(c, "cops-nice", NiceScheduler::new(), |i| Arc::new(PrioTask::new(i)));
    // Tasks spread over all 64 levels (i % 64): pick takes the most urgent
    // non-empty level from the bitmap.
    bench_one(c, "cops-coop-64-levels", CoopScheduler::new(), |i| {
        Arc::new(PrioTask::with_level(i, (i % 64) as u8))
    });
    // axsched 0.3.1's own schedulers (RR with axtask's time slice, 5).
    bench_one(c, "axsched-fifo", FifoScheduler::new(), |i| Arc::new(FifoTask::new(i)));
    bench_one(c, "axsched-rr", RRScheduler::<usize, 5>::new(), |i| Arc::new(RRTask::new(i)));
    bench_one(c, "axsched-cfs", CFScheduler::new(), |i| Arc::new(CFSTask::new(i)));
}

criterion_group!(benches, pick_put);
criterion_main!(benches);
