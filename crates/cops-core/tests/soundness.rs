//! Misuse and edge contexts through the safe API: foreign ids, waker-count
//! saturation, panicking coroutines, join ordering, nested polls and the
//! host platform. Each test names the failure it guards against.
#![cfg(all(not(loom), feature = "std"))]

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

use cops_core::{
    CoroutineId, Error, Executor, JoinError, NoPlatform, Outcome, Platform, Priority, RunExit,
    StdPlatform, yield_now,
};

fn p(level: u8) -> Priority {
    Priority::new(level).unwrap()
}

/// Pending until `flag` is set; keeps its last waker.
fn until(flag: Arc<AtomicBool>) -> impl Future<Output = ()> + Send {
    poll_fn(move |_| {
        if flag.load(SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
}

// ----- ids ------------------------------------------------------------------

/// An id from executor A, used on executor B, must not reach B's coroutine
/// in the same slot (before the salt, B's slot 0 was cancelled).
#[test]
fn a_foreign_id_is_refused() {
    let a = Executor::leak(4, NoPlatform);
    let b = Executor::leak(4, NoPlatform);
    assert_ne!(a.salt(), b.salt());
    let ha = a.spawn(until(Arc::default()), p(5)).unwrap();
    let hb = b.spawn(until(Arc::default()), p(5)).unwrap();
    assert_eq!(ha.id().index(), hb.id().index(), "same slot in both");
    a.run_until_idle();
    b.run_until_idle();
    let foreign = ha.id();
    assert_eq!(b.cancel(foreign), Err(Error::BadId));
    assert_eq!(b.wake(foreign), Err(Error::BadId));
    assert_eq!(b.set_priority(foreign, p(0)), Err(Error::BadId));
    assert_eq!(b.state(foreign), Err(Error::BadId));
    assert_eq!(b.priority(hb.id()), Ok(p(5)), "B's coroutine untouched");
    assert_eq!(a.cancel(foreign), Ok(()), "A still takes its own id");
    assert_eq!(b.wake(CoroutineId::NONE), Err(Error::BadId));
}

/// Clones beyond the waker count's range saturate it: the slot is then
/// leaked, never recycled, so none of those wakers can reach a later
/// occupant (before: the count carried into the generation).
#[test]
#[cfg_attr(miri, ignore = "a million clones")]
fn a_saturated_waker_count_leaks_the_slot_instead_of_carrying() {
    let exec = Executor::leak(1, NoPlatform);
    let wakers: Arc<Mutex<Vec<Waker>>> = Arc::default();
    let w = wakers.clone();
    let first = exec
        .spawn(
            poll_fn(move |cx| {
                let mut w = w.lock().unwrap();
                for _ in 0..(1 << 20) + 16 {
                    w.push(cx.waker().clone());
                }
                Poll::Ready(())
            }),
            p(0),
        )
        .unwrap()
        .id();
    exec.run_until_idle();
    drop(std::mem::take(&mut *wakers.lock().unwrap()));
    assert_eq!(exec.live(), 0);
    assert_eq!(
        exec.cancel(first),
        Err(Error::Finished),
        "still the same occupant"
    );
    assert_eq!(
        exec.spawn(async {}, p(0)).err(),
        Some(Error::NoSlot),
        "the saturated slot is never handed out again"
    );
}

// ----- panics -----------------------------------------------------------------

fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info.payload().downcast_ref::<&str>().copied().unwrap_or("");
            if !msg.starts_with("test panic") {
                default(info);
            }
        }));
    });
}

struct PanicOnDrop;
impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("test panic in drop");
    }
}

/// A coroutine that panics in `poll` or in its destructor gives its slot
/// back, clears `current_id`, resolves its JoinHandle with `Panicked`, and
/// the others go on (before: the slot stayed RUNNING, `live()` never reached
/// 0 and the handle never resolved).
#[test]
fn a_panicking_coroutine_releases_its_slot() {
    quiet_panics();
    let exec = Executor::leak(2, NoPlatform);
    let in_poll = exec
        .spawn(async { panic!("test panic in poll") }, p(1))
        .unwrap();
    let in_drop = exec
        .spawn(
            async {
                let _guard = PanicOnDrop;
                7
            },
            p(2),
        )
        .unwrap();
    let step = exec.poll_next().unwrap();
    assert_eq!((step.id, step.outcome), (in_poll.id(), Outcome::Panicked));
    assert_eq!(exec.current_id(), None);
    let step = exec.poll_next().unwrap();
    assert_eq!((step.id, step.outcome), (in_drop.id(), Outcome::Panicked));
    assert_eq!(exec.live(), 0);
    let results: Vec<_> = [in_poll, in_drop]
        .into_iter()
        .map(|mut h| h.try_take())
        .collect();
    assert_eq!(
        results,
        [
            Some(Err(JoinError::Panicked)),
            Some(Err(JoinError::Panicked))
        ]
    );
    // Both slots are free again and the executor works.
    let a = exec.spawn(async { 1 }, p(0)).unwrap();
    let b = exec.spawn(async { 2 }, p(0)).unwrap();
    exec.run_until_idle();
    assert!(a.is_finished() && b.is_finished());
}

/// Two workers, a third of the coroutines panic: every worker returns
/// `AllDone`, none dies, every other coroutine completes.
#[test]
fn workers_survive_panicking_coroutines() {
    quiet_panics();
    const N: usize = 60;
    let exec = Executor::leak(N, StdPlatform::new());
    let done = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..N)
        .map(|i| {
            let done = done.clone();
            exec.spawn(
                async move {
                    yield_now().await;
                    if i % 3 == 0 {
                        panic!("test panic {i}");
                    }
                    done.fetch_add(1, SeqCst);
                },
                p((i % 8) as u8),
            )
            .unwrap()
        })
        .collect();
    assert_eq!(exec.alloc_cpu(1), Ok(1));
    assert_eq!(exec.run(), RunExit::AllDone);
    assert_eq!(exec.platform().join_workers(), 0, "no worker died");
    assert_eq!(done.load(SeqCst), N - N / 3);
    assert_eq!(exec.live(), 0);
    for (i, mut h) in handles.into_iter().enumerate() {
        let want = if i % 3 == 0 {
            Err(JoinError::Panicked)
        } else {
            Ok(())
        };
        assert_eq!(h.try_take(), Some(want), "coroutine {i}");
    }
}

// ----- joins ------------------------------------------------------------------

/// The joiner hears of the end only after the future was dropped and its
/// slot freed: it can re-spawn into the full executor at once (before: the
/// handle resolved inside the last poll, the slot was still held).
#[test]
fn a_join_resolves_after_the_drop_and_the_free_slot() {
    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, SeqCst);
        }
    }
    let exec = Executor::leak(2, NoPlatform);
    let dropped = Arc::new(AtomicBool::new(false));
    let d = dropped.clone();
    let child = exec
        .spawn(
            async move {
                let _guard = SetOnDrop(d);
                yield_now().await;
                5
            },
            p(1),
        )
        .unwrap();
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    exec.spawn(
        async move {
            let out = child.await;
            let dropped_before = dropped.load(SeqCst);
            let respawned = exec.spawn(async {}, p(0)).is_ok();
            *s.lock().unwrap() = Some((out, dropped_before, respawned));
        },
        p(0),
    )
    .unwrap();
    exec.run_until_idle();
    assert_eq!(*seen.lock().unwrap(), Some((Ok(5), true, true)));
    assert_eq!(exec.live(), 0);
}

/// A JoinHandle polled once and dropped (a lost `select`) forgets the
/// joiner's waker, so the joiner's slot is recycled as soon as it ends
/// (before: the waker pinned it until the producer finished).
#[test]
fn a_dropped_join_handle_releases_the_joiners_waker() {
    let exec = Executor::leak(2, NoPlatform);
    let release = Arc::new(AtomicBool::new(false));
    let producer = exec.spawn(until(release.clone()), p(1)).unwrap();
    let joiner = exec
        .spawn(
            async move {
                let mut producer = producer;
                // Poll the handle once (registers our waker), then give up.
                poll_fn(|cx| {
                    assert!(Pin::new(&mut producer).poll(cx).is_pending());
                    Poll::Ready(())
                })
                .await;
                drop(producer);
            },
            p(0),
        )
        .unwrap()
        .id();
    exec.run_until_idle();
    assert_eq!(exec.live(), 1, "only the producer is left");
    assert_eq!(
        exec.state(joiner),
        Err(Error::Stale),
        "the joiner's slot was recycled: no waker holds it"
    );
    release.store(true, SeqCst);
}

// ----- nesting ----------------------------------------------------------------

/// A coroutine that drives the executor itself keeps its own `current_id`
/// (before: the nested step cleared it).
#[test]
fn a_nested_poll_restores_the_outer_current_id() {
    let exec = Executor::leak(4, NoPlatform);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let outer = exec
        .spawn(
            async move {
                let me = exec.current_id();
                exec.spawn(async {}, p(9)).unwrap();
                let inner = exec.poll_next().expect("the inner coroutine runs");
                s.lock()
                    .unwrap()
                    .push((me, inner.outcome, exec.current_id()));
            },
            p(1),
        )
        .unwrap()
        .id();
    exec.run_until_idle();
    assert_eq!(
        *seen.lock().unwrap(),
        [(Some(outer), Outcome::Completed, Some(outer))]
    );
    assert_eq!(exec.current_id(), None);
}

// ----- the host platform ------------------------------------------------------

/// `Default` is `new()`: the caller is CPU 0 and workers start at 1, so a
/// worker never shares the caller's current entry.
#[test]
fn std_platform_default_numbers_workers_from_one() {
    let exec = Executor::leak(4, StdPlatform::default());
    assert_eq!(exec.platform().published(), (None, 0));
    let cpu = Arc::new(AtomicUsize::new(usize::MAX));
    let c = cpu.clone();
    exec.spawn(
        async move { c.store(exec.platform().cpu_id(), SeqCst) },
        p(0),
    )
    .unwrap();
    exec.alloc_cpu(1).unwrap();
    exec.platform().join_workers();
    assert_eq!(cpu.load(SeqCst), 1);
}

/// `alloc_cpu` past the CPU limit starts nothing (before: it started some
/// threads, then failed).
#[test]
fn alloc_cpu_past_the_limit_starts_no_thread() {
    let exec = Executor::leak(4, StdPlatform::new());
    let limit = cops_core::raw::MAX_CPUS;
    assert_eq!(exec.alloc_cpu(limit), Err(Error::Unsupported));
    // Every CPU number is still free: all but the caller's can start.
    assert_eq!(exec.alloc_cpu(limit - 1), Ok(limit - 1));
    assert_eq!(exec.platform().join_workers(), 0);
}

/// Two executors, each with its own platform, parked workers on both:
/// wake-ups never cross (before: clones of one platform shared permits and
/// one executor's worker slept through its wake).
#[test]
fn two_executors_keep_their_wakeups_apart() {
    let flags: Vec<Arc<AtomicBool>> = (0..2).map(|_| Arc::default()).collect();
    let execs: Vec<_> = (0..2)
        .map(|_| Executor::leak(2, StdPlatform::new()))
        .collect();
    let ids: Vec<_> = execs
        .iter()
        .zip(&flags)
        .map(|(e, f)| e.spawn(until(f.clone()), p(0)).unwrap().id())
        .collect();
    for e in &execs {
        e.alloc_cpu(2).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(20)); // workers park
    for ((e, f), id) in execs.iter().zip(&flags).zip(&ids) {
        f.store(true, SeqCst);
        e.wake(*id).unwrap();
    }
    for e in &execs {
        assert_eq!(e.platform().join_workers(), 0);
        assert_eq!(e.live(), 0);
    }
}
