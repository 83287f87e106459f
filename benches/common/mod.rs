//! Executor-agnostic workload futures shared by the benches: every executor
//! (cops, tokio current_thread, embassy raw) runs the *same* future types.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// `Pending` once with `wake_by_ref`, then `Ready`: one yield round trip
/// (identical to `cops_core::yield_now`).
pub struct YieldOnce(bool);

impl YieldOnce {
    pub fn new() -> Self {
        Self(false)
    }
}

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The empty task of spawn+run.
pub async fn empty() {}

/// Empty task that counts its completion (tokio batch driver).
pub async fn counted(done: &'static AtomicUsize) {
    done.fetch_add(1, Relaxed);
}

/// `n` yield round trips, then raise `done`.
pub async fn yielder(n: u64, done: &'static AtomicBool) {
    for _ in 0..n {
        YieldOnce::new().await;
    }
    done.store(true, Release);
}

/// One-slot signal: an `AtomicBool` plus a waker cell (the ping-pong channel).
pub struct Chan {
    flag: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Chan {
    pub const fn new() -> Self {
        Self {
            flag: AtomicBool::new(false),
            waker: Mutex::new(None),
        }
    }
    pub fn send(&self) {
        self.flag.store(true, Release);
        let w = self.waker.lock().unwrap().take();
        if let Some(w) = w {
            w.wake();
        }
    }
    pub fn recv(&self) -> Recv<'_> {
        Recv(self)
    }
}

pub struct Recv<'a>(&'a Chan);

impl Future for Recv<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut w = self.0.waker.lock().unwrap();
        if self.0.flag.swap(false, Acquire) {
            return Poll::Ready(());
        }
        match &*w {
            Some(old) if old.will_wake(cx.waker()) => {}
            _ => *w = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

pub struct PingPong {
    pub ping: Chan,
    pub pong: Chan,
    pub done: AtomicBool,
}

impl PingPong {
    /// Clear flags and any waker left from the previous run.
    pub fn reset(&self) {
        self.done.store(false, Relaxed);
        for c in [&self.ping, &self.pong] {
            c.flag.store(false, Relaxed);
            *c.waker.lock().unwrap() = None;
        }
    }
    pub fn leak() -> &'static Self {
        Box::leak(Box::new(Self {
            ping: Chan::new(),
            pong: Chan::new(),
            done: AtomicBool::new(false),
        }))
    }
}

/// Side A: `n` round trips (ping, await pong).
pub async fn ping(pp: &'static PingPong, n: u64) {
    for _ in 0..n {
        pp.ping.send();
        pp.pong.recv().await;
    }
    pp.done.store(true, Release);
}

/// Side B: `n` round trips (await ping, pong).
pub async fn pong(pp: &'static PingPong, n: u64) {
    for _ in 0..n {
        pp.ping.recv().await;
        pp.pong.send();
    }
}

/// A coroutine that blocks forever: every poll returns `Pending` without
/// waking itself, stores its waker once, counts polls; `Ready` once `stop`.
pub struct Blocked {
    pub waker: Mutex<Option<Waker>>,
    pub polls: AtomicUsize,
    pub stop: AtomicBool,
}

impl Blocked {
    pub fn leak() -> &'static Self {
        Box::leak(Box::new(Self {
            waker: Mutex::new(None),
            polls: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        }))
    }
    pub fn waker(&self) -> Waker {
        self.waker.lock().unwrap().clone().expect("polled once")
    }
}

/// Polls of every `block_forever` coroutine (the tokio driver waits on it).
pub static TOTAL_POLLS: AtomicUsize = AtomicUsize::new(0);

pub fn block_forever(b: &'static Blocked) -> impl Future<Output = ()> + Send + 'static {
    std::future::poll_fn(move |cx| {
        b.polls.fetch_add(1, Relaxed);
        TOTAL_POLLS.fetch_add(1, Relaxed);
        if b.stop.load(Acquire) {
            return Poll::Ready(());
        }
        let mut w = b.waker.lock().unwrap();
        if w.is_none() {
            *w = Some(cx.waker().clone());
        }
        Poll::Pending
    })
}

/// Yields until `stop`: a ready-forever backlog coroutine.
pub async fn spinner(stop: &'static AtomicBool) {
    while !stop.load(Relaxed) {
        YieldOnce::new().await;
    }
}

/// The latency probe: `trigger` (woken by the driver) stamps the time and
/// wakes `urgent`; `urgent` adds the stamp's age when it is polled.
pub struct Probe {
    pub t0: Mutex<Option<Instant>>,
    pub urgent_waker: Mutex<Option<Waker>>,
    pub trigger_waker: Mutex<Option<Waker>>,
    pub total_ns: AtomicU64,
    pub samples: AtomicU64,
    pub stop: AtomicBool,
}

impl Probe {
    pub fn leak() -> &'static Self {
        Box::leak(Box::new(Self {
            t0: Mutex::new(None),
            urgent_waker: Mutex::new(None),
            trigger_waker: Mutex::new(None),
            total_ns: AtomicU64::new(0),
            samples: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        }))
    }
    pub fn reset(&self) {
        self.total_ns.store(0, Relaxed);
        self.samples.store(0, Relaxed);
    }
    /// `iters` times the mean recorded latency (criterion's per-iteration time).
    pub fn mean_times(&self, iters: u64) -> std::time::Duration {
        let mean = self.total_ns.load(Relaxed) as f64 / self.samples.load(Relaxed) as f64;
        std::time::Duration::from_secs_f64(mean * iters as f64 * 1e-9)
    }
    pub fn ready(&self) -> bool {
        self.urgent_waker.lock().unwrap().is_some() && self.trigger_waker.lock().unwrap().is_some()
    }
    /// Driver side: fire one sample.
    pub fn fire(&self) {
        let w = self.trigger_waker.lock().unwrap();
        w.as_ref().expect("trigger polled").wake_by_ref();
    }
}

/// Blocked until the driver wakes it; then stamps `t0` and wakes `urgent`.
pub fn trigger(p: &'static Probe) -> impl Future<Output = ()> + Send + 'static {
    let mut first = true;
    std::future::poll_fn(move |cx| {
        if p.stop.load(Acquire) {
            return Poll::Ready(());
        }
        if first {
            first = false;
            *p.trigger_waker.lock().unwrap() = Some(cx.waker().clone());
            return Poll::Pending;
        }
        *p.t0.lock().unwrap() = Some(Instant::now());
        let w = p.urgent_waker.lock().unwrap();
        w.as_ref().expect("urgent polled").wake_by_ref();
        Poll::Pending
    })
}

/// Blocked until `trigger` wakes it; records wake → poll latency.
pub fn urgent(p: &'static Probe) -> impl Future<Output = ()> + Send + 'static {
    let mut first = true;
    std::future::poll_fn(move |cx| {
        if let Some(t0) = p.t0.lock().unwrap().take() {
            p.total_ns
                .fetch_add(t0.elapsed().as_nanos() as u64, Relaxed);
            p.samples.fetch_add(1, Release);
        }
        if p.stop.load(Acquire) {
            return Poll::Ready(());
        }
        if first {
            first = false;
            *p.urgent_waker.lock().unwrap() = Some(cx.waker().clone());
        }
        Poll::Pending
    })
}

// ----- cops helpers ----------------------------------------------------------

pub type Cops = &'static cops_core::Executor<cops_core::NoPlatform>;

pub fn cops(capacity: usize) -> Cops {
    cops_core::Executor::leak(capacity, cops_core::NoPlatform)
}

/// A platform that publishes its highest ready level with one store, as a
/// kernel's priority view does: the cost `NoPlatform` leaves out.
#[derive(Default)]
pub struct Publishing(pub std::sync::atomic::AtomicU8);

impl cops_core::Platform for Publishing {
    fn publish_priority(&self, highest: Option<cops_core::Priority>) {
        self.0
            .store(highest.map_or(u8::MAX, cops_core::Priority::level), Release);
    }
}

pub fn cops_publishing(capacity: usize) -> &'static cops_core::Executor<Publishing> {
    cops_core::Executor::leak(capacity, Publishing::default())
}

pub fn prio(level: u8) -> cops_core::Priority {
    cops_core::Priority::new(level).unwrap()
}

pub fn leak<T>(t: T) -> &'static T {
    Box::leak(Box::new(t))
}

pub fn leak_n<T>(n: usize, f: impl FnMut(usize) -> T) -> &'static [T] {
    Box::leak((0..n).map(f).collect::<Vec<_>>().into_boxed_slice())
}

/// Fire the probe `iters` times, calling `step` (run the executor a bit)
/// until each sample lands; returns `iters` × the mean latency.
pub fn probe_samples(p: &Probe, iters: u64, mut step: impl FnMut()) -> std::time::Duration {
    p.reset();
    for _ in 0..iters {
        let s = p.samples.load(Acquire);
        p.fire();
        while p.samples.load(Acquire) == s {
            step();
        }
    }
    p.mean_times(iters)
}
