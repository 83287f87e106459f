//! Threads as CPUs: the host platform for tests, examples and benches.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicUsize, Ordering::*};
use std::thread::JoinHandle;

use crate::{Error, Platform, Priority, Worker};

std::thread_local! {
    static CPU: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Worker threads as CPUs for one executor: the calling thread is CPU 0,
/// `alloc_cpu` starts threads as CPUs 1, 2, …; `idle` parks on a futex with
/// permit semantics and `notify` releases one parked worker.
///
/// `notify` is an atomic add and a futex wake, with no lock: it is safe from
/// a signal handler, so a handler may wake coroutines. Not `Clone`: each
/// executor gets its own platform (two executors sharing permits would steal
/// each other's wake-ups); reach it through
/// [`Executor::platform`](crate::Executor::platform).
pub struct StdPlatform {
    /// Wake-up permits (the futex word).
    permits: AtomicU32,
    threads: Mutex<Vec<JoinHandle<()>>>,
    next_cpu: AtomicUsize,
    /// Last published highest level (`u8::MAX` = none) and how many times.
    published: AtomicU8,
    publications: AtomicUsize,
}

impl Default for StdPlatform {
    fn default() -> Self {
        Self::new()
    }
}

impl StdPlatform {
    /// A platform whose calling thread is CPU 0.
    pub fn new() -> Self {
        Self {
            permits: AtomicU32::new(0),
            threads: Mutex::new(Vec::new()),
            next_cpu: AtomicUsize::new(1),
            published: AtomicU8::new(u8::MAX),
            publications: AtomicUsize::new(0),
        }
    }

    /// Wait for every worker started by `alloc_cpu` to return; returns how
    /// many panicked.
    pub fn join_workers(&self) -> usize {
        let threads = std::mem::take(&mut *self.threads.lock().unwrap());
        threads
            .into_iter()
            .map(JoinHandle::join)
            .filter(Result::is_err)
            .count()
    }

    /// The last highest ready priority the executor published, and how
    /// many publications there were.
    pub fn published(&self) -> (Option<Priority>, usize) {
        (
            Priority::new(self.published.load(Acquire)),
            self.publications.load(Acquire),
        )
    }
}

impl Platform for StdPlatform {
    fn cpu_id(&self) -> usize {
        CPU.with(|c| c.get())
    }

    fn idle(&self) {
        loop {
            let p = self.permits.load(Acquire);
            if p == 0 {
                atomic_wait::wait(&self.permits, 0);
            } else if self
                .permits
                .compare_exchange_weak(p, p - 1, AcqRel, Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }

    fn notify(&self) {
        self.permits.fetch_add(1, Release);
        atomic_wait::wake_one(&self.permits);
    }

    fn publish_priority(&self, highest: Option<Priority>) {
        self.published
            .store(highest.map_or(u8::MAX, Priority::level), Release);
        // Calls come one at a time (`publish_priority`'s contract): a load
        // and a store count them, with no read-modify-write.
        let n = self.publications.load(Relaxed);
        self.publications.store(n + 1, Release);
    }

    fn alloc_cpu(&self, worker: &'static dyn Worker, n: usize) -> Result<usize, Error> {
        // Reserve all `n` CPU numbers first: either every thread starts or
        // none does.
        let first = self
            .next_cpu
            .fetch_update(AcqRel, Acquire, |next| {
                (next + n <= crate::raw::MAX_CPUS).then_some(next + n)
            })
            .map_err(|_| Error::Unsupported)?;
        let mut threads = self.threads.lock().unwrap();
        for cpu in first..first + n {
            threads.push(std::thread::spawn(move || {
                CPU.with(|c| c.set(cpu));
                worker.run_worker();
            }));
        }
        Ok(n)
    }
}
