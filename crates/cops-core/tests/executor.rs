//! Trace tests of the executor's public behaviour: each test records what
//! ran, in which order, and compares it with what the COPS interface
//! promises.
#![cfg(all(not(loom), feature = "std"))]

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use cops_core::switching::{SpaceSwitcher, Switching};
use cops_core::view::{GlobalPriorityView, SpaceId};
use cops_core::{
    CacheAligned, CoroutineKind, CoroutineStorage, Error, Executor, JoinError, NoPlatform,
    Priority, RunExit, StdPlatform, Storage, current_id, yield_now,
};

type Trace = Arc<Mutex<Vec<String>>>;

fn p(level: u8) -> Priority {
    Priority::new(level).unwrap()
}

fn log(trace: &Trace, what: impl Into<String>) {
    trace.lock().unwrap().push(what.into());
}

fn taken(trace: &Trace) -> Vec<String> {
    std::mem::take(&mut *trace.lock().unwrap())
}

#[test]
fn strict_priority_then_fifo_within_a_level() {
    let exec = Executor::leak(16, NoPlatform);
    let trace = Trace::default();
    for (name, level) in [("c1", 9), ("a", 0), ("c2", 9), ("b", 4), ("c3", 9)] {
        let t = trace.clone();
        exec.spawn(async move { log(&t, name) }, p(level)).unwrap();
    }
    assert_eq!(exec.run_until_idle(), 5);
    assert_eq!(taken(&trace), ["a", "b", "c1", "c2", "c3"]);
}

#[test]
fn coroutine_reprioritises_itself_and_yields() {
    let exec = Executor::leak(8, NoPlatform);
    let trace = Trace::default();
    let t = trace.clone();
    exec.spawn(
        async move {
            log(&t, "worker starts at 5");
            let me = current_id().await.unwrap();
            exec.set_priority(me, p(20)).unwrap();
            yield_now().await; // now behind the level-10 coroutine
            log(&t, "worker resumes at 20");
        },
        p(5),
    )
    .unwrap();
    let t = trace.clone();
    exec.spawn(async move { log(&t, "other at 10") }, p(10))
        .unwrap();
    exec.run_until_idle();
    assert_eq!(
        taken(&trace),
        ["worker starts at 5", "other at 10", "worker resumes at 20"]
    );
}

#[test]
fn current_id_is_the_spawned_id() {
    let exec = Executor::leak(4, NoPlatform);
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    let h = exec
        .spawn(
            async move { *s.lock().unwrap() = Some((current_id().await, exec.current_id())) },
            p(1),
        )
        .unwrap();
    let id = h.id();
    exec.run_until_idle();
    assert_eq!(*seen.lock().unwrap(), Some((Some(id), Some(id))));
    assert_eq!(exec.current_id(), None, "no coroutine runs outside a poll");
}

#[test]
fn join_handles_deliver_outputs_and_cancellation() {
    let exec = Executor::leak(8, NoPlatform);
    let mut answer = exec.spawn(async { 6 * 7 }, p(3)).unwrap();
    let blocked = exec.spawn(std::future::pending::<u32>(), p(3)).unwrap();
    let pending_id = blocked.id();
    let trace = Trace::default();
    let t = trace.clone();
    exec.spawn(
        async move {
            let r = blocked.await;
            log(&t, format!("joined: {r:?}"));
        },
        p(2),
    )
    .unwrap();
    exec.run_until_idle();
    assert_eq!(answer.try_take(), Some(Ok(42)));
    assert_eq!(
        exec.live(),
        2,
        "the pending coroutine and its joiner are blocked"
    );

    exec.cancel(pending_id).unwrap();
    exec.run_until_idle();
    assert_eq!(
        taken(&trace),
        [format!("joined: {:?}", Err::<u32, _>(JoinError::Cancelled))]
    );
    assert_eq!(exec.live(), 0);
    assert_eq!(
        exec.wake(pending_id),
        Err(Error::Stale),
        "the slot was recycled"
    );
}

/// A hand-written future: its type can be named in a `static`.
struct CountDone(&'static AtomicUsize);

impl std::future::Future for CountDone {
    type Output = ();
    fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        self.0.fetch_add(1, SeqCst);
        std::task::Poll::Ready(())
    }
}

#[test]
fn spawn_in_static_storage_needs_no_allocator() {
    cops_core::static_executor! {
        static EXEC: Executor<NoPlatform> = (2, NoPlatform);
    }
    static DONE: AtomicUsize = AtomicUsize::new(0);
    static SLOT: CoroutineStorage<CountDone> = CoroutineStorage::new();

    let id = EXEC.spawn_in(&SLOT, CountDone(&DONE), p(0)).unwrap();
    assert_eq!(
        EXEC.spawn_in(&SLOT, CountDone(&DONE), p(0)),
        Err(Error::NoSlot),
        "storage in use"
    );
    EXEC.run_until_idle();
    assert_eq!(DONE.load(SeqCst), 1);
    assert_eq!(EXEC.state(id), Err(Error::Stale));
    EXEC.spawn_in(&SLOT, CountDone(&DONE), p(0)).unwrap();
    EXEC.run_until_idle();
    assert_eq!(
        DONE.load(SeqCst),
        2,
        "the storage is reusable once its coroutine finished"
    );
}

/// Records whether the future it is polled in sits on a 128-byte boundary.
struct WhereAmI(&'static AtomicUsize);

impl std::future::Future for WhereAmI {
    type Output = ();
    fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        let misaligned = (&*self as *const Self as usize) % 128 != 0;
        self.0.fetch_add(1 + usize::from(misaligned) * 100, SeqCst);
        std::task::Poll::Ready(())
    }
}

#[test]
fn cache_aligned_futures_own_their_lines_boxed_and_in_static_storage() {
    static POLLS: AtomicUsize = AtomicUsize::new(0);
    static SLOTS: [CoroutineStorage<CacheAligned<WhereAmI>>; 2] =
        [CoroutineStorage::new(), CoroutineStorage::new()];
    let exec = Executor::leak(16, NoPlatform);
    for _ in 0..4 {
        // Boxed, interleaved with unaligned allocations.
        exec.spawn(CacheAligned(WhereAmI(&POLLS)), p(1)).unwrap();
        exec.spawn(async {}, p(1)).unwrap();
    }
    for slot in &SLOTS {
        exec.spawn_in(slot, CacheAligned(WhereAmI(&POLLS)), p(1))
            .unwrap();
    }
    assert_eq!(exec.run_until_idle(), 10);
    assert_eq!(POLLS.load(SeqCst), 6, "1 per poll, 101 per misaligned poll");
}

#[test]
fn aging_bounds_the_wait_of_a_low_priority_coroutine() {
    /// A level-60 coroutine and a level-0 one that yields for 50 steps
    /// without blocking: after how many busy steps did the low one run?
    fn low_waits_for(exec: &'static Executor) -> usize {
        let (low_ran_at, steps) = (
            Arc::new(AtomicUsize::new(usize::MAX)),
            Arc::new(AtomicUsize::new(0)),
        );
        let (l, s) = (low_ran_at.clone(), steps.clone());
        exec.spawn(async move { l.store(s.load(SeqCst), SeqCst) }, p(60))
            .unwrap();
        exec.spawn(
            async move {
                for _ in 0..50 {
                    steps.fetch_add(1, SeqCst);
                    yield_now().await;
                }
            },
            p(0),
        )
        .unwrap();
        exec.run_until_idle();
        low_ran_at.load(SeqCst)
    }

    let storage: &'static Storage<8> = Box::leak(Box::new(Storage::new()));
    // SAFETY: `storage` was just leaked here and serves only this executor.
    let aging = Box::leak(Box::new(
        unsafe { Executor::new(storage, NoPlatform) }.with_aging(4),
    ));
    let at = low_waits_for(aging);
    assert!(
        at < 4,
        "low-priority coroutine waited {at} steps with aging every 4 picks"
    );
    // Without aging the same load starves it until the busy one finishes.
    assert_eq!(low_waits_for(Executor::leak(8, NoPlatform)), 50);
}

/// Many workers, many cross-thread wakes (racing with the polls that
/// block): every coroutine completes, every worker returns `AllDone`, and
/// the published priority ends empty.
#[test]
fn std_workers_run_one_executor_to_completion() {
    const N: usize = 400;
    let exec = Executor::leak(N, StdPlatform::new());
    let done = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = std::sync::mpsc::channel::<cops_core::CoroutineId>();
    for i in 0..N {
        let (done, tx) = (done.clone(), tx.clone());
        exec.spawn(
            async move {
                // Block once; a foreign thread wakes us by id, possibly
                // while this poll is still running.
                let mut first = true;
                std::future::poll_fn(|_| {
                    if std::mem::take(&mut first) {
                        tx.send(exec.current_id().unwrap()).unwrap();
                        std::task::Poll::Pending
                    } else {
                        std::task::Poll::Ready(())
                    }
                })
                .await;
                done.fetch_add(1, SeqCst);
            },
            p((i % 64) as u8),
        )
        .unwrap();
    }
    drop(tx);
    let waker_thread = std::thread::spawn(move || {
        for id in rx {
            exec.wake(id).unwrap();
        }
    });
    assert_eq!(exec.alloc_cpu(3), Ok(3));
    assert_eq!(exec.run(), RunExit::AllDone);
    assert_eq!(exec.platform().join_workers(), 0);
    waker_thread.join().unwrap();
    assert_eq!(done.load(SeqCst), N);
    assert_eq!(exec.platform().published().0, None);
}

struct Recorder(Mutex<Vec<(SpaceId, u8)>>);

impl SpaceSwitcher for Recorder {
    fn enter(&self, space: SpaceId, priority: Priority) {
        self.0.lock().unwrap().push((space, priority.level()));
    }
}

#[test]
fn switching_coroutine_follows_the_most_urgent_space() {
    static VIEW: GlobalPriorityView = GlobalPriorityView::new();
    static SWITCHING: Switching = Switching::new(&VIEW);
    static RECORDER: Recorder = Recorder(Mutex::new(Vec::new()));
    let exec = Executor::leak(8, NoPlatform);
    SWITCHING.spawn(exec, &RECORDER, 1).unwrap();
    // COPS §3.3: it starts at the highest level, before any kernel work.
    let me = SWITCHING.id(0).unwrap();
    assert_eq!(exec.priority(me), Ok(Priority::HIGHEST));
    exec.spawn(async {}, p(0)).unwrap();
    assert_eq!(exec.poll_next().map(|s| s.id), Some(me));
    exec.run_until_idle(); // nothing to enter: it parks
    assert!(RECORDER.0.lock().unwrap().is_empty());

    // Space 7 becomes ready at 12, space 3 at 5: space 3 is entered first.
    for (space, level) in [(7, 12), (3, 5)] {
        if let Some(h) = VIEW.update(space, Some(p(level))).unwrap() {
            SWITCHING.follow(exec, h);
        }
    }
    let trace = Trace::default();
    let t = trace.clone();
    // A kernel coroutine more urgent than every space runs before any entry.
    exec.spawn_kind(
        async move { log(&t, "kernel work") },
        p(1),
        CoroutineKind::Syscall,
    )
    .unwrap();
    assert_eq!(exec.poll_next().map(|s| s.priority), Some(p(1)));
    assert_eq!(taken(&trace), ["kernel work"]);
    assert_eq!(exec.poll_next().map(|s| s.priority), Some(p(5)));
    assert_eq!(RECORDER.0.lock().unwrap().as_slice(), [(3, 5)]);

    // Space 3 has nothing left: the switching coroutine drops to 12 and
    // enters space 7.
    if let Some(h) = VIEW.update(3, None).unwrap() {
        SWITCHING.follow(exec, h);
    }
    assert_eq!(exec.poll_next().map(|s| s.priority), Some(p(12)));
    assert_eq!(RECORDER.0.lock().unwrap().last(), Some(&(7, 12)));

    // Space 3 is back at 5 without a `follow` (a pick racing with the
    // update): the entry itself takes the level of the space it enters.
    VIEW.update(3, Some(p(5))).unwrap();
    assert_eq!(exec.poll_next().map(|s| s.priority), Some(p(12)));
    assert_eq!(RECORDER.0.lock().unwrap().last(), Some(&(3, 5)));
    assert_eq!(exec.priority(me), Ok(p(5)));
}

/// A serving worker outlives an empty executor: it idles until the next
/// spawn instead of returning `AllDone`, and returns only when the
/// platform asks for the CPU back.
#[test]
fn serve_idles_through_an_empty_executor() {
    use std::sync::atomic::AtomicBool;
    struct Stoppable {
        inner: StdPlatform,
        stop: AtomicBool,
    }
    impl cops_core::Platform for Stoppable {
        fn idle(&self) {
            self.inner.idle();
        }
        fn notify(&self) {
            self.inner.notify();
        }
        fn should_yield(&self, _: Option<Priority>) -> bool {
            self.stop.load(SeqCst)
        }
    }
    let exec = Executor::leak(
        4,
        Stoppable {
            inner: StdPlatform::new(),
            stop: AtomicBool::new(false),
        },
    );
    let server = std::thread::spawn(move || exec.serve());
    let done = Arc::new(AtomicUsize::new(0));
    for _ in 0..3 {
        let d = done.clone();
        exec.spawn(async move { d.fetch_add(1, SeqCst) }, p(3))
            .unwrap();
        let t = std::time::Instant::now();
        while exec.live() != 0 {
            assert!(
                t.elapsed().as_secs() < 10,
                "the serving worker never ran it"
            );
            std::thread::yield_now();
        }
        // Empty now: the server parks instead of returning.
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(!server.is_finished());
    }
    assert_eq!(done.load(SeqCst), 3);
    exec.spawn(
        async move { exec.platform().stop.store(true, SeqCst) },
        p(0),
    )
    .unwrap();
    assert_eq!(server.join().unwrap(), RunExit::Yield);
}

/// A coroutine that wakes itself (a yield) goes behind the ready
/// coroutines of its level and ahead of less urgent ones, and one made
/// more urgent meanwhile runs first: through `poll_next` (which links it
/// at once) and through the worker loops (which hand it to the next pick).
#[test]
fn a_yield_goes_behind_its_level_and_ahead_of_less_urgent_ones() {
    for driver in ["poll_next", "run_until_idle", "run"] {
        let exec = Executor::leak(8, StdPlatform::new());
        let trace = Trace::default();
        let t = trace.clone();
        exec.spawn(
            async move {
                log(&t, "a0");
                yield_now().await; // behind b
                log(&t, "a1");
                let u = t.clone();
                exec.spawn(async move { log(&u, "d") }, p(1)).unwrap();
                yield_now().await; // behind d
                log(&t, "a2");
                yield_now().await; // alone at 3: again at once, before c
                log(&t, "a3");
            },
            p(3),
        )
        .unwrap();
        let t = trace.clone();
        exec.spawn(async move { log(&t, "b") }, p(3)).unwrap();
        let t = trace.clone();
        exec.spawn(async move { log(&t, "c") }, p(7)).unwrap();
        match driver {
            "poll_next" => while exec.poll_next().is_some() {},
            "run_until_idle" => assert_eq!(exec.run_until_idle(), 7),
            _ => assert_eq!(exec.run(), RunExit::AllDone),
        }
        assert_eq!(
            taken(&trace),
            ["a0", "b", "a1", "d", "a2", "a3", "c"],
            "driven by {driver}"
        );
    }
}

/// A worker loop that the platform stops right after a yield leaves the
/// yielding coroutine linked and ready, not lost with the loop's state.
#[test]
fn a_worker_stopped_after_a_yield_leaves_the_coroutine_ready() {
    struct StopAfterEachStep;
    impl cops_core::Platform for StopAfterEachStep {
        fn should_yield(&self, highest: Option<Priority>) -> bool {
            // The yielding coroutine counts as ready for the platform.
            assert_eq!(highest, Some(p(4)));
            true
        }
    }
    let exec = Executor::leak(2, StopAfterEachStep);
    let polls = Arc::new(AtomicUsize::new(0));
    let n = polls.clone();
    let id = exec
        .spawn(
            async move {
                for _ in 0..3 {
                    n.fetch_add(1, SeqCst);
                    yield_now().await;
                }
            },
            p(4),
        )
        .unwrap()
        .id();
    for round in 1..=3 {
        assert_eq!(exec.run(), RunExit::Yield);
        assert_eq!(polls.load(SeqCst), round);
        assert_eq!(exec.state(id), Ok(cops_core::CoroutineState::Ready));
        assert_eq!(exec.highest_ready(), Some(p(4)));
    }
    assert_eq!(exec.run_until_idle(), 1);
    assert_eq!(exec.live(), 0);
}

/// Between two polls of a coroutine that yielded, the worker holds it
/// outside the ready bitmap: `running_priority` keeps reporting its level
/// until the next pick, so a kernel ranking the thread then (a timer tick)
/// still sees it. Once a stopping worker links it, the report is `None`.
#[test]
fn a_held_coroutine_still_counts_as_running() {
    #[derive(Default)]
    struct Reports {
        running: Mutex<Vec<Option<u8>>>,
        stop: std::sync::atomic::AtomicBool,
    }
    impl cops_core::Platform for &'static Reports {
        fn running_priority(&self, priority: Option<Priority>) {
            self.running
                .lock()
                .unwrap()
                .push(priority.map(Priority::level));
        }
        fn should_yield(&self, _: Option<Priority>) -> bool {
            self.stop.load(SeqCst)
        }
    }
    let reports: &'static Reports = Box::leak(Box::default());
    let exec = Executor::leak(2, reports);
    exec.spawn(
        async {
            for _ in 0..2 {
                yield_now().await;
            }
        },
        p(7),
    )
    .unwrap();
    assert_eq!(exec.run(), RunExit::AllDone);
    let seven = Some(7);
    assert_eq!(
        std::mem::take(&mut *reports.running.lock().unwrap()),
        // poll, held, poll, held, poll, completed.
        [seven, seven, seven, seven, seven, None]
    );

    exec.spawn(yield_now(), p(9)).unwrap();
    reports.stop.store(true, SeqCst);
    assert_eq!(exec.run(), RunExit::Yield);
    assert_eq!(
        std::mem::take(&mut *reports.running.lock().unwrap()),
        // poll, held, linked as the worker stops.
        [Some(9), Some(9), None]
    );
    assert_eq!(exec.highest_ready(), Some(p(9)));
}

/// `publish_priority` follows every change of the highest ready level,
/// and a platform that says it publishes nothing gets no call at all (and
/// runs the same).
#[test]
fn a_platform_that_publishes_nothing_gets_no_publication() {
    struct Publications {
        wanted: bool,
        seen: Mutex<Vec<Option<u8>>>,
    }
    impl cops_core::Platform for &'static Publications {
        fn publish_priority(&self, highest: Option<Priority>) {
            self.seen.lock().unwrap().push(highest.map(Priority::level));
        }
        fn publishes_priority(&self) -> bool {
            self.wanted
        }
    }
    for wanted in [true, false] {
        let platform: &'static Publications = Box::leak(Box::new(Publications {
            wanted,
            seen: Mutex::new(Vec::new()),
        }));
        let exec = Executor::leak(4, platform);
        exec.spawn(async {}, p(9)).unwrap();
        exec.spawn(async {}, p(3)).unwrap();
        assert_eq!(exec.highest_ready(), Some(p(3)));
        assert_eq!(exec.run_until_idle(), 2);
        let seen = std::mem::take(&mut *platform.seen.lock().unwrap());
        if wanted {
            // 9 is ready, then 3; 3 ran, then 9.
            assert_eq!(seen, [Some(9), Some(3), Some(9), None]);
        } else {
            assert_eq!(seen, []);
        }
        assert_eq!(exec.live(), 0);
    }
}

/// A coroutine that a poll makes ready for its own CPU to run next (a
/// handoff) still releases a parked worker: here the stepping thread stops
/// after that step, and the parked worker must run it.
#[test]
#[cfg_attr(
    miri,
    ignore = "waits for a parked thread in real time; loom models it"
)]
fn a_handoff_left_by_a_lone_step_reaches_a_parked_worker() {
    struct CountingIdle {
        inner: StdPlatform,
        idles: AtomicUsize,
    }
    impl cops_core::Platform for CountingIdle {
        fn cpu_id(&self) -> usize {
            self.inner.cpu_id()
        }
        fn idle(&self) {
            self.idles.fetch_add(1, SeqCst);
            self.inner.idle();
        }
        fn notify(&self) {
            self.inner.notify();
        }
        fn alloc_cpu(
            &self,
            worker: &'static dyn cops_core::Worker,
            n: usize,
        ) -> Result<usize, Error> {
            self.inner.alloc_cpu(worker, n)
        }
    }
    let exec = Executor::leak(
        4,
        CountingIdle {
            inner: StdPlatform::new(),
            idles: AtomicUsize::new(0),
        },
    );
    let gate: &'static std::sync::atomic::AtomicBool =
        Box::leak(Box::new(std::sync::atomic::AtomicBool::new(false)));
    let gated = exec
        .spawn(
            std::future::poll_fn(move |_| {
                if gate.load(SeqCst) {
                    std::task::Poll::Ready(())
                } else {
                    std::task::Poll::Pending
                }
            }),
            p(2),
        )
        .unwrap()
        .id();
    exec.poll_next().unwrap(); // it blocks
    // Polled on this thread (CPU 0): bring up a worker, wait until it
    // parks, then wake the gated coroutine: a handoff (CPU 0 is polling,
    // its shard is empty), so the parked worker is not released for it.
    exec.spawn(
        async move {
            exec.alloc_cpu(1).unwrap();
            let t = std::time::Instant::now();
            while exec.platform().idles.load(SeqCst) == 0 {
                assert!(t.elapsed().as_secs() < 10, "the worker never parked");
                std::thread::yield_now();
            }
            gate.store(true, SeqCst);
            exec.wake(gated).unwrap();
        },
        p(0),
    )
    .unwrap();
    // The lone step; this thread steps no more.
    let _ = exec.poll_next().unwrap();
    let t = std::time::Instant::now();
    while exec.live() != 0 {
        assert!(
            t.elapsed().as_secs() < 10,
            "the parked worker was never released: {} coroutines left",
            exec.live()
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// A poll that never returns while it waits for coroutines it spawned
/// (each holding a worker until all have started), with one holder and
/// with three: each spawn is a handoff (same level, and the first into an
/// empty shard), and each must release a parked worker, or the holders
/// wait for a poll that waits for them (this hung `test_priority` on
/// rcore-n at -smp 2, one holder, and at -smp 4).
#[test]
#[cfg_attr(miri, ignore = "four spinning threads in real time")]
fn a_long_poll_that_spawns_holders_gets_every_worker() {
    for holders in [1, 3] {
        long_poll_with_holders(holders);
    }
}

fn long_poll_with_holders(holders: usize) {
    let started: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
    let finished: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
    let exec = Executor::leak(8, StdPlatform::new());
    exec.spawn(
        async move {
            exec.alloc_cpu(holders).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20)); // they park
            for _ in 0..holders {
                exec.spawn(
                    async move {
                        started.fetch_add(1, SeqCst);
                        let t = std::time::Instant::now();
                        while started.load(SeqCst) < holders {
                            assert!(t.elapsed().as_secs() < 10, "a holder never started");
                            std::thread::yield_now();
                        }
                        finished.fetch_add(1, SeqCst);
                    },
                    p(5),
                )
                .unwrap();
            }
            let t = std::time::Instant::now();
            while started.load(SeqCst) < holders {
                assert!(
                    t.elapsed().as_secs() < 10,
                    "{} of {holders} holders started",
                    started.load(SeqCst)
                );
                std::thread::yield_now();
            }
        },
        p(5),
    )
    .unwrap();
    exec.poll_next().unwrap();
    assert_eq!(exec.platform().join_workers(), 0, "a worker panicked");
    assert_eq!(exec.live(), 0);
    // A holder gives up (panics) when the others do not start in time.
    assert_eq!(finished.load(SeqCst), holders);
}
