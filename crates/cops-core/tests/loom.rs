//! Loom models of the executor's concurrent paths. The same scheduler code
//! runs here as everywhere else: `src/loom.rs` swaps in loom's atomics, and
//! `MAX_CPUS` shrinks to 2 under `cfg(loom)`.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p cops-core --release --test loom`
#![cfg(loom)]

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use cops_core::{CoroutineState, Error, Executor, Outcome, Platform, Priority};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::thread;

loom::thread_local! {
    static CPU: Cell<usize> = Cell::new(0);
}

/// Loom threads as CPUs: each model thread sets its index first. `idle`
/// waits on a loom `Notify` (a permit: the contract every platform keeps),
/// so a lost notification deadlocks the model, which loom reports.
struct LoomCpus {
    permit: loom::sync::Notify,
    /// The last level given to `publish_priority` (`NONE_PUBLISHED`: none).
    published: AtomicUsize,
}

const NONE_PUBLISHED: usize = 64;

impl Default for LoomCpus {
    fn default() -> Self {
        Self {
            permit: loom::sync::Notify::new(),
            published: AtomicUsize::new(NONE_PUBLISHED),
        }
    }
}

impl Platform for LoomCpus {
    fn cpu_id(&self) -> usize {
        CPU.with(|c| c.get())
    }
    fn idle(&self) {
        self.permit.wait();
    }
    fn notify(&self) {
        self.permit.notify();
    }
    fn publish_priority(&self, highest: Option<Priority>) {
        self.published.store(
            highest.map_or(NONE_PUBLISHED, |p| usize::from(p.level())),
            SeqCst,
        );
    }
}

fn become_cpu(n: usize) {
    CPU.with(|c| c.set(n));
}

/// A model thread that is CPU 1 (the test's thread is CPU 0).
fn on_cpu_1<T: 'static>(f: impl FnOnce() -> T + 'static) -> thread::JoinHandle<T> {
    thread::spawn(move || {
        become_cpu(1);
        f()
    })
}

fn executor(capacity: usize) -> &'static Executor<LoomCpus> {
    Executor::leak(capacity, LoomCpus::default())
}

/// `loom::model` with a preemption bound of 4 (`LOOM_MAX_PREEMPTIONS`
/// overrides it), counting the interleavings it explores (printed; run with
/// `--nocapture` to see them).
fn model(name: &str, f: impl Fn() + Sync + Send + 'static) {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    let runs = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    let mut builder = loom::model::Builder::new();
    if std::env::var_os("LOOM_MAX_PREEMPTIONS").is_none() {
        builder.preemption_bound = Some(4);
    }
    builder.check(move || {
        counted.fetch_add(1, Relaxed);
        f()
    });
    println!("loom model {name}: {} interleavings", runs.load(Relaxed));
}

fn prio(level: u8) -> Priority {
    Priority::new(level).unwrap()
}

/// Shared observations of one coroutine.
#[derive(Default)]
struct Probe {
    /// Set by the waker's side before it wakes: the coroutine's condition.
    flag: AtomicBool,
    polls: AtomicUsize,
    /// Non-zero while a poll runs: a second concurrent poll trips it.
    in_poll: AtomicUsize,
    dropped: AtomicUsize,
}

/// Completes once `flag` is set (or at once, if `ready_at_once`); counts
/// its polls and checks that no two ever overlap.
struct Gate {
    probe: Arc<Probe>,
    ready_at_once: bool,
}

impl Future for Gate {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        let p = &self.probe;
        assert_eq!(p.in_poll.fetch_add(1, SeqCst), 0, "polled twice at once");
        p.polls.fetch_add(1, SeqCst);
        let done = self.ready_at_once || p.flag.load(SeqCst);
        p.in_poll.fetch_sub(1, SeqCst);
        if done { Poll::Ready(()) } else { Poll::Pending }
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.probe.dropped.fetch_add(1, SeqCst);
    }
}

fn gate(ready_at_once: bool) -> (Gate, Arc<Probe>) {
    let probe = Arc::new(Probe::default());
    (
        Gate {
            probe: probe.clone(),
            ready_at_once,
        },
        probe,
    )
}

/// Spawn a gate and poll it once, leaving it BLOCKED.
fn blocked(exec: &'static Executor<LoomCpus>, level: u8) -> (cops_core::CoroutineId, Arc<Probe>) {
    let (fut, probe) = gate(false);
    let id = exec.spawn(fut, prio(level)).unwrap().id();
    let step = exec.poll_next().unwrap();
    assert_eq!((step.id, step.outcome), (id, Outcome::Pending));
    assert_eq!(exec.state(id), Ok(CoroutineState::Blocked));
    (id, probe)
}

/// A wake racing with the poll that returns `Pending` is never lost: once
/// the waker's side is done and the executor idles, the coroutine finished.
#[test]
fn wake_vs_poll_returning_pending() {
    model("wake_vs_poll_returning_pending", || {
        let exec = executor(1);
        let (fut, probe) = gate(false);
        let id = exec.spawn(fut, prio(3)).unwrap().id();

        let waker_side = {
            let probe = probe.clone();
            on_cpu_1(move || {
                probe.flag.store(true, SeqCst);
                exec.wake(id)
            })
        };
        exec.poll_next();
        let woke = waker_side.join().unwrap();
        exec.run_until_idle();

        assert!(
            matches!(woke, Ok(()) | Err(Error::Finished) | Err(Error::Stale)),
            "{woke:?}"
        );
        assert_eq!(
            exec.live(),
            0,
            "wake lost: {:?} {:?} polls={}",
            exec.state(id),
            woke,
            probe.polls.load(SeqCst)
        );
        assert!(probe.polls.load(SeqCst) <= 2);
        assert_eq!(probe.dropped.load(SeqCst), 1);
    });
}

/// Two workers popping the same level: each coroutine is polled exactly
/// once, by exactly one worker.
#[test]
fn two_workers_pop_one_level() {
    model("two_workers_pop_one_level", || {
        let exec = executor(2);
        let (a, pa) = gate(true);
        let (b, pb) = gate(true);
        exec.spawn(a, prio(7)).unwrap();
        exec.spawn(b, prio(7)).unwrap();

        let other = on_cpu_1(move || exec.poll_next().map(|p| p.id));
        let mine = exec.poll_next().map(|p| p.id);
        let theirs = other.join().unwrap();
        exec.run_until_idle();

        assert!(
            mine.is_some(),
            "a worker found the level empty while two were queued"
        );
        assert_ne!(mine, theirs, "one coroutine picked by both workers");
        assert_eq!(pa.polls.load(SeqCst), 1);
        assert_eq!(pb.polls.load(SeqCst), 1);
        assert_eq!(exec.live(), 0);
    });
}

/// A wake racing with `set_priority` on a blocked coroutine: whatever the
/// order, it is queued once, at the new level, and the bitmap says so.
#[test]
fn wake_vs_set_priority() {
    model("wake_vs_set_priority", || {
        let exec = executor(1);
        let (id, probe) = blocked(exec, 20);

        let waker_side = {
            let probe = probe.clone();
            on_cpu_1(move || {
                probe.flag.store(true, SeqCst);
                exec.wake(id).unwrap();
            })
        };
        exec.set_priority(id, prio(2)).unwrap();
        waker_side.join().unwrap();

        assert_eq!(exec.highest_ready(), Some(prio(2)));
        assert_eq!(exec.ready_bitmap(), 1 << 2);
        let step = exec.poll_next().unwrap();
        assert_eq!(
            (step.id, step.priority, step.outcome),
            (id, prio(2), Outcome::Completed)
        );
        assert!(exec.poll_next().is_none(), "queued twice");
    });
}

/// A wake and a re-prioritisation racing with cancel and a worker: the
/// coroutine is dropped exactly once, polled at most once more (only if
/// the wake won), and every call answers without panicking.
#[test]
fn wake_vs_cancel() {
    model("wake_vs_cancel", || {
        let exec = executor(1);
        let (id, probe) = blocked(exec, 5);

        let waker_side = on_cpu_1(move || (exec.wake(id), exec.set_priority(id, prio(1))));
        exec.cancel(id).unwrap();
        exec.run_until_idle();
        let (woke, moved) = waker_side.join().unwrap();
        exec.run_until_idle();

        for r in [woke, moved] {
            assert!(
                matches!(r, Ok(()) | Err(Error::Finished) | Err(Error::Stale)),
                "{r:?}"
            );
        }
        assert!(probe.polls.load(SeqCst) <= 2);
        assert_eq!(probe.dropped.load(SeqCst), 1);
        assert_eq!(exec.live(), 0);
        assert_eq!(exec.ready_bitmap(), 0);
        assert_eq!(exec.wake(id), Err(Error::Stale));
    });
}

/// A wake racing with the poll that completes the coroutine.
#[test]
fn wake_vs_complete() {
    model("wake_vs_complete", || {
        let exec = executor(1);
        let (fut, probe) = gate(true);
        let id = exec.spawn(fut, prio(1)).unwrap().id();

        let waker_side = on_cpu_1(move || {
            let woke = exec.wake(id);
            let _ = exec.cancel(id);
            woke
        });
        let step = exec.poll_next().unwrap();
        let woke = waker_side.join().unwrap();
        exec.run_until_idle();

        assert!(matches!(
            step.outcome,
            Outcome::Completed | Outcome::Cancelled
        ));
        assert!(
            matches!(woke, Ok(()) | Err(Error::Finished) | Err(Error::Stale)),
            "{woke:?}"
        );
        assert!(exec.poll_next().is_none(), "completed coroutine re-queued");
        assert!(probe.polls.load(SeqCst) <= 1);
        assert_eq!(probe.dropped.load(SeqCst), 1);
        assert_eq!(exec.live(), 0);
    });
}

/// Completes once `flag` is set; each poll first leaves a clone of its
/// waker in `waker` for the other side (a channel's receive).
struct WakerGate {
    probe: Arc<Probe>,
    waker: Arc<loom::sync::Mutex<Option<std::task::Waker>>>,
}

impl Future for WakerGate {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        *self.waker.lock().unwrap() = Some(cx.waker().clone());
        self.probe.polls.fetch_add(1, SeqCst);
        if self.probe.flag.load(SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// An owned `Waker`'s `wake` (the wake and the drop of its ref in one
/// step) racing with the poll that blocks or completes the coroutine: the
/// wake is not lost, and the slot is recycled once the coroutine is done
/// and the waker gone (capacity 1: the next spawn needs it).
#[test]
fn an_owned_wakers_wake_vs_poll_and_complete() {
    model("an_owned_wakers_wake_vs_poll_and_complete", || {
        let exec = executor(1);
        let probe = Arc::new(Probe::default());
        let waker = Arc::new(loom::sync::Mutex::new(None));
        let fut = WakerGate {
            probe: probe.clone(),
            waker: waker.clone(),
        };
        exec.spawn(fut, prio(2)).unwrap();
        assert_eq!(exec.poll_next().map(|p| p.outcome), Some(Outcome::Pending));

        let sender = {
            let probe = probe.clone();
            on_cpu_1(move || {
                probe.flag.store(true, SeqCst);
                let taken = waker.lock().unwrap().take();
                if let Some(w) = taken {
                    w.wake();
                }
            })
        };
        assert_eq!(exec.run(), cops_core::RunExit::AllDone);
        sender.join().unwrap();
        assert_eq!(probe.polls.load(SeqCst), 2);
        // The slot is free again: the last waker left with the wake.
        exec.spawn(async {}, prio(2)).unwrap();
        assert_eq!(exec.run_until_idle(), 1);
    });
}

/// A wake by an old id while its slot is recycled for a new coroutine:
/// the new occupant is never woken by it.
#[test]
fn stale_wake_after_slot_reuse() {
    model("stale_wake_after_slot_reuse", || {
        let exec = executor(1);
        let (old, _) = blocked(exec, 4);

        let recycler = on_cpu_1(move || {
            exec.cancel(old).unwrap();
            // A racing wake may hold the enqueue for a moment: wait for it.
            while exec.live() != 0 {
                exec.run_until_idle();
                thread::yield_now();
            }
            let (fut, probe) = gate(false);
            let new = exec.spawn(fut, prio(4)).unwrap().id();
            assert_eq!(exec.poll_next().map(|p| p.outcome), Some(Outcome::Pending));
            (new, probe)
        });
        let woke = exec.wake(old);
        let (new, probe) = recycler.join().unwrap();

        assert_eq!(new.index(), old.index(), "capacity 1: the slot is reused");
        assert_ne!(new, old);
        assert!(
            matches!(woke, Ok(()) | Err(Error::Finished) | Err(Error::Stale)),
            "{woke:?}"
        );
        assert_eq!(exec.wake(old), Err(Error::Stale));
        assert_eq!(
            exec.state(new),
            Ok(CoroutineState::Blocked),
            "stale wake reached the new occupant"
        );
        assert!(exec.poll_next().is_none());
        assert_eq!(probe.polls.load(SeqCst), 1);
        // Let loom check that nothing leaked: drop the new occupant.
        exec.cancel(new).unwrap();
        exec.run_until_idle();
        assert_eq!(probe.dropped.load(SeqCst), 1);
    });
}

/// A worker that finds nothing ready parks in `idle`; a wake from another
/// CPU racing with the parking must reach it (the Dekker pairing of the
/// ready bitmap and the parked count): `run` returns once the coroutine
/// completes, instead of sleeping forever.
#[test]
fn wake_vs_worker_parking() {
    model("wake_vs_worker_parking", || {
        let exec = executor(1);
        let (id, probe) = blocked(exec, 6);
        let waker_side = {
            let probe = probe.clone();
            on_cpu_1(move || {
                probe.flag.store(true, SeqCst);
                exec.wake(id).unwrap();
            })
        };
        assert_eq!(exec.run(), cops_core::RunExit::AllDone);
        waker_side.join().unwrap();
        assert_eq!(probe.polls.load(SeqCst), 2);
    });
}

/// Wakes that go through the inbox (the lock was busy) keep their order:
/// two coroutines of one level woken in turn are polled in turn.
#[test]
fn wakes_through_the_inbox_keep_their_order() {
    model("wakes_through_the_inbox_keep_their_order", || {
        let exec = executor(2);
        let (a, pa) = blocked(exec, 3);
        let (b, pb) = blocked(exec, 3);
        let waker_side = {
            let (pa, pb) = (pa.clone(), pb.clone());
            on_cpu_1(move || {
                pa.flag.store(true, SeqCst);
                exec.wake(a).unwrap();
                pb.flag.store(true, SeqCst);
                exec.wake(b).unwrap();
            })
        };
        // The wakes link on CPU 1's shard; a pick with nothing published
        // takes no lock, so wait for `a`, then steal it from that shard,
        // holding its lock while the wake of `b` may find it busy.
        while exec.ready_bitmap() == 0 {
            thread::yield_now();
        }
        let first = exec.poll_next().map(|s| s.id);
        waker_side.join().unwrap();
        let mut order: Vec<_> = first.into_iter().collect();
        order.extend(std::iter::from_fn(|| exec.poll_next().map(|s| s.id)));
        assert_eq!(order, [a, b]);
        assert_eq!(exec.live(), 0);
    });
}

/// A spawn and a re-prioritisation from another CPU (an interrupt handler,
/// as far as the executor can tell) while a worker picks: the new coroutine
/// runs, the moved one ends up at its new level, nothing is queued twice.
#[test]
fn spawn_and_set_priority_vs_pick() {
    model("spawn_and_set_priority_vs_pick", || {
        let exec = executor(3);
        let (fut, moved_probe) = gate(true);
        let moved = exec.spawn(fut, prio(9)).unwrap().id();
        let other = on_cpu_1(move || {
            let (fut, probe) = gate(true);
            let id = exec.spawn(fut, prio(5)).unwrap().id();
            // May already have run: then it answers Finished or Stale.
            let r = exec.set_priority(moved, prio(1));
            assert!(matches!(
                r,
                Ok(()) | Err(Error::Finished) | Err(Error::Stale)
            ));
            (id, probe)
        });
        let first = exec.poll_next().map(|s| (s.id, s.priority));
        let (spawned, probe) = other.join().unwrap();
        let rest: Vec<_> =
            std::iter::from_fn(|| exec.poll_next().map(|s| (s.id, s.priority))).collect();
        assert_eq!(exec.live(), 0);
        assert_eq!(probe.polls.load(SeqCst), 1);
        assert_eq!(moved_probe.polls.load(SeqCst), 1);
        assert_eq!(exec.ready_bitmap(), 0);
        // Whatever the first pick took, the rest ran in priority order.
        let levels: Vec<u8> = rest.iter().map(|(_, p)| p.level()).collect();
        assert!(levels.is_sorted(), "{first:?} then {rest:?}");
        assert!(first.iter().chain(&rest).any(|(id, _)| *id == spawned));
    });
}

/// A wake linking on shard 0 (CPU 0's) while a worker of shard 1, whose
/// own shard is empty, steals from shard 0: both coroutines run once, the
/// stealer finds work (something was queued before it looked), and nothing
/// stays queued.
#[test]
fn wake_on_a_shard_vs_steal_from_it() {
    model("wake_on_a_shard_vs_steal_from_it", || {
        let exec = executor(2);
        let (woken, pw) = blocked(exec, 2);
        let (queued, pq) = gate(true);
        let queued = exec.spawn(queued, prio(5)).unwrap().id();

        let stealer = on_cpu_1(move || exec.poll_next().map(|s| (s.id, s.priority)));
        pw.flag.store(true, SeqCst);
        exec.wake(woken).unwrap();
        let stolen = stealer.join().unwrap();
        let rest: Vec<_> = std::iter::from_fn(|| exec.poll_next().map(|s| s.id)).collect();

        let stolen = stolen.expect("the stealer found nothing while a coroutine was queued");
        assert!(stolen.0 == woken || stolen.0 == queued);
        assert_eq!(rest.len(), 1, "{stolen:?} then {rest:?}");
        assert_ne!(rest[0], stolen.0);
        assert_eq!(pw.polls.load(SeqCst), 2);
        assert_eq!(pq.polls.load(SeqCst), 1);
        assert_eq!(exec.live(), 0);
        assert_eq!(exec.ready_bitmap(), 0);
    });
}

/// `set_priority` on CPU 0 while a worker of shard 1 steals the coroutine
/// from shard 0, polls it (it yields) and re-links it on shard 1: the move
/// is never lost: the coroutine ends up queued at the new level, wherever
/// it is linked.
#[test]
fn set_priority_vs_pop_and_relink_on_another_shard() {
    model("set_priority_vs_pop_and_relink_on_another_shard", || {
        let exec = executor(1);
        let id = exec.spawn(cops_core::yield_now(), prio(9)).unwrap().id();

        let worker = on_cpu_1(move || exec.poll_next().map(|s| s.outcome));
        exec.set_priority(id, prio(1)).unwrap();
        assert_eq!(worker.join().unwrap(), Some(Outcome::Pending));

        assert_eq!(exec.ready_bitmap(), 1 << 1, "the move was lost");
        let step = exec.poll_next().unwrap();
        assert_eq!((step.id, step.priority), (id, prio(1)));
        assert_eq!(step.outcome, Outcome::Completed);
        assert_eq!(exec.live(), 0);
    });
}

/// Two shards change their best level at once (shard 0 empties as its
/// coroutine is popped, shard 1 gets one): the last publication equals the
/// OR of the shards, never a stale level.
#[test]
fn publication_follows_two_shards_changing_at_once() {
    model("publication_follows_two_shards_changing_at_once", || {
        let exec = executor(2);
        let (fut, _) = gate(true);
        exec.spawn(fut, prio(3)).unwrap();
        assert_eq!(exec.platform().published.load(SeqCst), 3);

        let spawner = on_cpu_1(move || {
            let (fut, _) = gate(false);
            exec.spawn(fut, prio(6)).unwrap().id()
        });
        let step = exec.poll_next().unwrap();
        assert_eq!(step.priority, prio(3));
        let blocked = spawner.join().unwrap();

        assert_eq!(exec.highest_ready(), Some(prio(6)));
        assert_eq!(
            exec.platform().published.load(SeqCst),
            6,
            "stale publication"
        );
        exec.cancel(blocked).unwrap();
        exec.run_until_idle();
        assert_eq!(exec.platform().published.load(SeqCst), NONE_PUBLISHED);
    });
}

/// A worker of shard 1 steals from shard 0, which holds three coroutines
/// of one level, while CPU 0 picks too: the steal also moves half of the
/// rest (one) to shard 1, through shard 1's inbox if its lock is taken.
/// Every coroutine runs exactly once and nothing stays queued.
#[test]
fn steal_moves_a_share_while_the_victim_picks() {
    model("steal_moves_a_share_while_the_victim_picks", || {
        let exec = executor(3);
        let probes: Vec<_> = (0..3)
            .map(|_| {
                let (fut, probe) = gate(true);
                exec.spawn(fut, prio(4)).unwrap();
                probe
            })
            .collect();

        let stealer = on_cpu_1(move || exec.poll_next().map(|s| s.id));
        let mine = exec.poll_next().map(|s| s.id);
        let stolen = stealer.join().unwrap();
        let rest: Vec<_> = std::iter::from_fn(|| exec.poll_next().map(|s| s.id)).collect();

        assert!(mine.is_some() && stolen.is_some());
        assert_ne!(mine, stolen);
        assert_eq!(rest.len(), 1, "{mine:?} {stolen:?} {rest:?}");
        for p in &probes {
            assert_eq!(p.polls.load(SeqCst), 1);
        }
        assert_eq!(exec.live(), 0);
        assert_eq!(exec.ready_bitmap(), 0);
    });
}

/// A coroutine that woke itself during its poll on a worker loop is handed
/// to that worker's next pick without being linked, while another CPU
/// changes its level and wakes it. It runs exactly once more, in either
/// order with the other coroutine (at its old level it goes first, at its
/// new one last), and nothing is lost or left queued.
#[test]
fn a_yield_handed_to_the_next_pick_vs_set_priority_and_wake() {
    model(
        "a_yield_handed_to_the_next_pick_vs_set_priority_and_wake",
        || {
            let exec = executor(2);
            let yielder = exec.spawn(cops_core::yield_now(), prio(2)).unwrap().id();
            exec.spawn(async {}, prio(4)).unwrap();

            let other = on_cpu_1(move || {
                let moved = exec.set_priority(yielder, prio(6));
                let woken = exec.wake(yielder);
                for r in [moved, woken] {
                    // Finished, or Stale once its slot is recycled.
                    assert!(
                        matches!(r, Ok(()) | Err(Error::Finished | Error::Stale)),
                        "{r:?}"
                    );
                }
            });
            become_cpu(0);
            // Two polls of the yielder and one of the other, whatever the order.
            assert_eq!(exec.run_until_idle(), 3);
            other.join().unwrap();
            assert_eq!(exec.live(), 0);
            assert_eq!(exec.highest_ready(), None);
            assert_eq!(exec.poll_next().map(|s| s.id), None);
        },
    );
}

/// A coroutine polled by a lone `poll_next` on CPU 0 wakes a blocked one:
/// a handoff (made ready by a poll on CPU 0 into its empty shard), which
/// releases no parked worker by itself. CPU 0 steps no more; the worker
/// of CPU 1, parked or about to be, must still run everything (a lost
/// release deadlocks the model, which loom reports).
#[test]
fn a_handoff_by_a_lone_step_vs_a_parking_worker() {
    model("a_handoff_by_a_lone_step_vs_a_parking_worker", || {
        let exec = executor(2);
        let (woken, probe) = blocked(exec, 3);
        let p = probe.clone();
        exec.spawn(
            async move {
                p.flag.store(true, SeqCst);
                exec.wake(woken).unwrap();
            },
            prio(1),
        )
        .unwrap();

        let worker = on_cpu_1(move || exec.run());
        become_cpu(0);
        exec.poll_next(); // the waker, unless the worker took it first
        assert_eq!(worker.join().unwrap(), cops_core::RunExit::AllDone);
        assert_eq!(exec.live(), 0);
        assert_eq!(probe.polls.load(SeqCst), 2);
    });
}
