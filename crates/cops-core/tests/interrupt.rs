//! Wake, cancel and re-prioritise from a signal handler while workers run:
//! the host's stand-in for an interrupt handler that may interrupt a CPU
//! inside the executor (holding its ready lock). Before the lock-free inbox,
//! a handler that landed on a lock holder spun forever.
//!
//! A source thread sends `SIGUSR1` to the two worker threads in turn until
//! the handler has raised 2000 wakes, made 1000 moves and 8 cancels. The
//! handler picks a coroutine and either raises its flag and wakes it,
//! moves it to another level, or cancels one of the cancel targets. Every
//! raised flag must be consumed by its coroutine (no lost wake), every
//! cancel target must end cancelled, and the workers must finish (no hang).
#![cfg(all(not(loom), not(miri), feature = "std", target_os = "linux"))]

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Mutex, OnceLock};
use std::task::Poll;
use std::time::{Duration, Instant};

use cops_core::{
    CoroutineId, Executor, JoinError, Platform, Priority, StdPlatform, Worker, yield_now,
};

const WAITERS: usize = 48;
const SPINNERS: usize = 8;
const TARGETS: usize = 8;
const SIGNAL_FOR_AT_MOST: Duration = Duration::from_secs(60);

/// Worker threads this test starts itself (so it knows whom to signal);
/// parking and wake-ups are `StdPlatform`'s (futex permits).
struct SignalledCpus {
    inner: StdPlatform,
    threads: Mutex<Vec<(libc::pthread_t, std::thread::JoinHandle<()>)>>,
}

std::thread_local! {
    static CPU: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl Platform for SignalledCpus {
    fn cpu_id(&self) -> usize {
        CPU.with(|c| c.get())
    }
    fn idle(&self) {
        self.inner.idle();
    }
    fn notify(&self) {
        self.inner.notify();
    }
    fn alloc_cpu(&self, worker: &'static dyn Worker, n: usize) -> Result<usize, cops_core::Error> {
        let mut threads = self.threads.lock().unwrap();
        for cpu in 1..=n {
            let (tx, rx) = std::sync::mpsc::channel();
            let t = std::thread::spawn(move || {
                CPU.with(|c| c.set(cpu));
                // SAFETY: pthread_self has no preconditions.
                tx.send(unsafe { libc::pthread_self() }).unwrap();
                worker.run_worker();
            });
            threads.push((rx.recv().unwrap(), t));
        }
        Ok(n)
    }
}

type Exec = Executor<SignalledCpus>;

static EXEC: OnceLock<&'static Exec> = OnceLock::new();
/// Ids as raw words (the handler reads them without locks).
static IDS: [AtomicU64; WAITERS + SPINNERS + TARGETS] =
    [const { AtomicU64::new(u64::MAX) }; WAITERS + SPINNERS + TARGETS];
static FLAG: [AtomicBool; WAITERS] = [const { AtomicBool::new(false) }; WAITERS];
static STOP: AtomicBool = AtomicBool::new(false);
static RAISED: AtomicUsize = AtomicUsize::new(0);
static CONSUMED: AtomicUsize = AtomicUsize::new(0);
static MOVED: AtomicUsize = AtomicUsize::new(0);
static CANCELLED: AtomicUsize = AtomicUsize::new(0);
static HANDLED: AtomicUsize = AtomicUsize::new(0);
static RNG: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);

fn random() -> u64 {
    // xorshift on a shared word: good enough to spread the handler's choices.
    let mut x = RNG.load(SeqCst);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    RNG.store(x, SeqCst);
    x
}

extern "C" fn on_signal(_: libc::c_int) {
    let exec = EXEC.get().unwrap();
    let n = HANDLED.fetch_add(1, SeqCst);
    let r = random();
    let id = |i: usize| CoroutineId::from_raw(IDS[i].load(SeqCst));
    if n % 101 == 100 && CANCELLED.load(SeqCst) < TARGETS {
        let t = CANCELLED.fetch_add(1, SeqCst);
        if t < TARGETS {
            exec.cancel(id(WAITERS + SPINNERS + t)).unwrap();
        }
    } else if r % 3 == 0 {
        let i = (r >> 8) as usize % WAITERS;
        let level = (r >> 20) as u8 % 63; // waiters stay above the spinners
        exec.set_priority(id(i), Priority::new(level).unwrap())
            .unwrap();
        MOVED.fetch_add(1, SeqCst);
    } else {
        let i = (r >> 8) as usize % WAITERS;
        if !FLAG[i].swap(true, SeqCst) {
            RAISED.fetch_add(1, SeqCst);
        }
        exec.wake(id(i)).unwrap();
    }
}

fn wait_until(deadline: Instant, what: &str, done: impl Fn() -> bool) {
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what}: raised {} consumed {} moved {} cancelled {} handled {} live {}",
            RAISED.load(SeqCst),
            CONSUMED.load(SeqCst),
            MOVED.load(SeqCst),
            CANCELLED.load(SeqCst),
            HANDLED.load(SeqCst),
            EXEC.get().unwrap().live()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn signal_handlers_wake_cancel_and_reprioritise_while_workers_run() {
    let exec: &'static Exec = Executor::leak(
        64,
        SignalledCpus {
            inner: StdPlatform::new(),
            threads: Mutex::default(),
        },
    );
    EXEC.set(exec).ok().unwrap();
    let lowest = Priority::LOWEST;
    for i in 0..WAITERS {
        let h = exec
            .spawn(
                poll_fn(move |_| {
                    if FLAG[i].swap(false, SeqCst) {
                        CONSUMED.fetch_add(1, SeqCst);
                    }
                    if STOP.load(SeqCst) {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    }
                }),
                Priority::new((i % 60) as u8).unwrap(),
            )
            .unwrap();
        IDS[i].store(h.id().to_raw(), SeqCst);
    }
    for i in 0..SPINNERS {
        // Keep the workers inside the executor (and its lock) all the time.
        let h = exec
            .spawn(
                async {
                    while !STOP.load(SeqCst) {
                        yield_now().await;
                    }
                },
                lowest,
            )
            .unwrap();
        IDS[WAITERS + i].store(h.id().to_raw(), SeqCst);
    }
    let targets: Vec<_> = (0..TARGETS)
        .map(|i| {
            let h = exec
                .spawn(poll_fn(|_| Poll::<()>::Pending), lowest)
                .unwrap();
            IDS[WAITERS + SPINNERS + i].store(h.id().to_raw(), SeqCst);
            h
        })
        .collect();

    // SAFETY: installs a handler that only touches atomics and the executor's
    // interrupt-safe operations; SA_RESTART keeps the workers' futex waits going.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
    exec.alloc_cpu(2).unwrap();
    let workers: Vec<libc::pthread_t> = exec
        .platform()
        .threads
        .lock()
        .unwrap()
        .iter()
        .map(|(t, _)| *t)
        .collect();

    // Signal until the handler has done enough of each kind of work (how
    // many signals that takes depends on the host's load: signals sent
    // while one is pending merge), at most `SIGNAL_FOR_AT_MOST`.
    let start = Instant::now();
    let mut sent = 0usize;
    let enough = || {
        RAISED.load(SeqCst) >= 2000
            && MOVED.load(SeqCst) >= 1000
            && CANCELLED.load(SeqCst) >= TARGETS
    };
    while !enough() && start.elapsed() < SIGNAL_FOR_AT_MOST {
        // SAFETY: the worker threads run until every coroutine is done,
        // which needs STOP, set only after this loop.
        unsafe { libc::pthread_kill(workers[sent % workers.len()], libc::SIGUSR1) };
        sent += 1;
        for _ in 0..200 {
            std::hint::spin_loop();
        }
    }
    assert!(
        enough(),
        "the handler ran too rarely to prove anything: raised {} moved {} cancelled {} in {:?}",
        RAISED.load(SeqCst),
        MOVED.load(SeqCst),
        CANCELLED.load(SeqCst),
        start.elapsed()
    );
    // Every raised flag must now be consumed: a lost wake leaves one set.
    std::thread::sleep(Duration::from_millis(10));
    let deadline = Instant::now() + Duration::from_secs(20);
    wait_until(
        deadline,
        "a wake from a handler was lost (or a handler hung)",
        || CONSUMED.load(SeqCst) == RAISED.load(SeqCst),
    );
    // Finish: cancel the targets the handler did not reach, stop everyone.
    for target in &targets[CANCELLED.load(SeqCst).min(TARGETS)..] {
        exec.cancel(target.id()).unwrap();
    }
    STOP.store(true, SeqCst);
    for id in &IDS[..WAITERS] {
        exec.wake(CoroutineId::from_raw(id.load(SeqCst))).unwrap();
    }
    wait_until(deadline, "workers did not finish", || exec.live() == 0);
    for (_, t) in exec.platform().threads.lock().unwrap().drain(..) {
        t.join().unwrap();
    }
    for (i, mut h) in targets.into_iter().enumerate() {
        assert_eq!(h.try_take(), Some(Err(JoinError::Cancelled)), "target {i}");
    }
    let (raised, moved, cancelled) = (
        RAISED.load(SeqCst),
        MOVED.load(SeqCst),
        CANCELLED.load(SeqCst).min(TARGETS),
    );
    let handled = HANDLED.load(SeqCst);
    println!(
        "{sent} signals sent, {handled} handled: {raised} wakes raised and consumed, {moved} priority moves, \
         {cancelled} cancels from the handler"
    );
}
