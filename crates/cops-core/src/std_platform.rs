//! Threads as CPUs: the host platform for tests, examples and benches.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use crate::{Error, Platform, Priority, Worker};

std::thread_local! {
    static CPU: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[derive(Default)]
struct Shared {
    permits: Mutex<usize>,
    cv: Condvar,
    threads: Mutex<Vec<JoinHandle<()>>>,
    next_cpu: std::sync::atomic::AtomicUsize,
    /// Last published highest level (`u8::MAX` = none) and how many times.
    published: std::sync::atomic::AtomicU8,
    publications: std::sync::atomic::AtomicUsize,
}

/// Worker threads as CPUs: `idle` parks on a condition variable with permit
/// semantics, `notify` releases one parked worker, `alloc_cpu` starts threads.
#[derive(Clone, Default)]
pub struct StdPlatform(Arc<Shared>);

impl StdPlatform {
    /// A platform whose calling thread is CPU 0.
    pub fn new() -> Self {
        let p = Self::default();
        p.0.published
            .store(u8::MAX, std::sync::atomic::Ordering::Relaxed);
        p.0.next_cpu.store(1, std::sync::atomic::Ordering::Relaxed);
        p
    }

    /// Wait for every worker started by `alloc_cpu` to return.
    pub fn join_workers(&self) {
        let threads = std::mem::take(&mut *self.0.threads.lock().unwrap());
        for t in threads {
            t.join().expect("worker thread panicked");
        }
    }

    /// The last highest ready priority the executor published, and how
    /// many publications there were.
    pub fn published(&self) -> (Option<Priority>, usize) {
        use std::sync::atomic::Ordering::Acquire;
        let level = self.0.published.load(Acquire);
        (Priority::new(level), self.0.publications.load(Acquire))
    }
}

impl Platform for StdPlatform {
    fn cpu_id(&self) -> usize {
        CPU.with(|c| c.get())
    }

    fn idle(&self) {
        let mut permits = self.0.permits.lock().unwrap();
        while *permits == 0 {
            permits = self.0.cv.wait(permits).unwrap();
        }
        *permits -= 1;
    }

    fn notify(&self) {
        *self.0.permits.lock().unwrap() += 1;
        self.0.cv.notify_one();
    }

    fn publish_priority(&self, highest: Option<Priority>) {
        use std::sync::atomic::Ordering::Release;
        self.0
            .published
            .store(highest.map_or(u8::MAX, Priority::level), Release);
        self.0.publications.fetch_add(1, Release);
    }

    fn alloc_cpu(&self, worker: &'static dyn Worker, n: usize) -> Result<usize, Error> {
        let mut threads = self.0.threads.lock().unwrap();
        for _ in 0..n {
            let cpu = self
                .0
                .next_cpu
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if cpu >= crate::raw::MAX_CPUS {
                return Err(Error::Unsupported);
            }
            threads.push(std::thread::spawn(move || {
                CPU.with(|c| c.set(cpu));
                worker.run_worker();
            }));
        }
        Ok(n)
    }
}
