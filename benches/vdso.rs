//! The price of sharing: the same scheduling operations on a statically
//! linked cops-core executor and on one reached through the vDSO table
//! (the host build of the image, mapped like a kernel maps it).
//!
//! cargo xtask vdso-image && cargo bench --bench vdso -- --warm-up-time 1 --measurement-time 2

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use cops_core::{CoroutineId, Executor, ExecutorOps, NoPlatform, Priority};
use cops_vdso::abi::VdsoPlatform;
use cops_vdso::binding::VdsoExecutor;
use criterion::{Criterion, criterion_group, criterion_main};

const BLOCKED: usize = 256;

static PLATFORM: VdsoPlatform = VdsoPlatform::SINGLE_CPU;

fn vdso_executor() -> &'static VdsoExecutor {
    let path = std::env::var("COPS_VDSO_HOST_IMAGE").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/target/vdso/x86_64-unknown-linux-gnu/release/cops-vdso-image"
        )
        .into()
    });
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}; run `cargo xtask vdso-image` first"));
    let (_, vdso) = cops_vdso::host::load(&bytes).unwrap();
    VdsoExecutor::leak(vdso, 1 << 14, &PLATFORM).unwrap()
}

/// Pending until `stop`: each wake is one more poll.
struct Park(&'static AtomicBool);

impl Future for Park {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0.load(Relaxed) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// What both executors offer here.
trait Exec: ExecutorOps + 'static {
    fn step(&'static self) -> bool;
}
impl Exec for Executor<NoPlatform> {
    fn step(&'static self) -> bool {
        self.poll_next().is_some()
    }
}
impl Exec for VdsoExecutor {
    fn step(&'static self) -> bool {
        self.poll_next().is_some()
    }
}

fn drain(e: &'static impl Exec) {
    while e.step() {}
}

fn parked(e: &'static impl Exec) -> Vec<CoroutineId> {
    let stop: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
    let ids = (0..BLOCKED)
        .map(|_| {
            cops_core::spawn_boxed(
                e,
                Park(stop),
                Priority::new(8).unwrap(),
                cops_core::CoroutineKind::Normal,
            )
            .unwrap()
            .id()
        })
        .collect();
    drain(e);
    ids
}

fn timed(iters: u64, mut batch: impl FnMut(usize)) -> Duration {
    let (mut left, mut total) = (iters as usize, Duration::ZERO);
    while left > 0 {
        let k = left.min(BLOCKED);
        let t = Instant::now();
        batch(k);
        total += t.elapsed();
        left -= k;
    }
    total
}

fn bench<E: Exec>(c: &mut Criterion, label: &str, e: &'static E) {
    let ids = parked(e);
    let mut g = c.benchmark_group("vdso");
    g.bench_function(format!("wake_and_poll/{label}"), |b| {
        b.iter_custom(|iters| {
            timed(iters, |k| {
                for id in &ids[..k] {
                    e.wake(*id).unwrap();
                }
                drain(e);
            })
        })
    });
    g.bench_function(format!("set_priority_queued/{label}"), |b| {
        for id in &ids {
            e.wake(*id).unwrap();
        }
        let mut level = 1u8;
        b.iter_custom(|iters| {
            timed(iters, |k| {
                level = level % 60 + 1;
                for id in &ids[..k] {
                    e.set_priority(*id, Priority::new(level).unwrap()).unwrap();
                }
            })
        });
        drain(e);
    });
    g.finish();
}

fn vdso_vs_static(c: &mut Criterion) {
    bench(c, "static", Executor::leak(BLOCKED + 8, NoPlatform));
    bench(c, "vdso", vdso_executor());
}

criterion_group!(benches, vdso_vs_static);
criterion_main!(benches);
