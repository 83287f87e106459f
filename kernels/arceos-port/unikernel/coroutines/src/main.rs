//! ArceOS app: cops-core coroutines inside ArceOS, on riscv64 QEMU virt
//! (`-smp 1`, the shim's cooperative `CoopScheduler` inside the unmodified
//! `axtask`).
//!
//! Two carrier threads (axstd threads), each owning one `cops_core::Executor`
//! whose `Platform` is [`Carrier`]:
//! - `idle` parks the carrier on its own ArceOS `WaitQueue` until a *permit*
//!   (an `AtomicBool`) is set, so a `notify` that comes before the park is
//!   not lost. Before parking, the carrier sets its axtask level to 0, so a
//!   notify gets it picked next. Once woken, it re-ranks itself to its best
//!   ready coroutine and yields.
//! - `publish_priority` stores the executor's highest ready level in a
//!   table that every carrier reads.
//! - `should_yield`, asked after each poll, says yes when another carrier
//!   has a strictly more urgent ready coroutine. The carrier then sets its
//!   own axtask level to its executor's `highest_ready()` and yields, and
//!   axtask (cops-core's priority queue) picks the most urgent carrier.
//!
//! axtask only lets a task change its own level while it runs. A carrier
//! therefore ranks itself, and only at the points above.
//!
//! Three phases: (1) coroutines at several levels on both carriers;
//! (2) a parked carrier woken by the other carrier's coroutine, whose
//! coroutine is more urgent; (3) the same, but the woken coroutine sits
//! between the other carrier's levels. Each phase checks the following:
//! - every coroutine completed (its `JoinHandle` holds `Ok`);
//! - on each carrier, coroutines ran in priority order, FIFO within a level;
//! - the global run order across both carriers is the expected one.
//!
//! Checked through the QEMU exit status (sifive_test finisher: 0 pass, 3
//! fail) and the marker line `COROUTINES OK`.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use core::future::{Future, poll_fn};
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering::*};
use core::task::{Poll, Waker};

use axstd::println;
use axtask::WaitQueue;
use cops_core::{Executor, JoinHandle, Platform, Priority, RunExit, Storage};

const FINISHER: *mut u32 = 0xffff_ffc0_0010_0000 as *mut u32;

fn finish(code: u32) -> ! {
    let value = if code == 0 { 0x5555 } else { (code << 16) | 0x3333 };
    unsafe { core::ptr::write_volatile(FINISHER, value) };
    loop {
        core::hint::spin_loop();
    }
}

const CARRIERS: usize = 2;
/// "No ready coroutine" in the published table (levels are `0..64`).
const NONE: u8 = 64;

/// What a carrier shares with the others and with its wakers.
struct CarrierState {
    /// Highest ready level of this carrier's executor (`NONE`: none).
    published: AtomicU8,
    /// Wake permit: set by `notify`, consumed by `idle`.
    permit: AtomicBool,
    wq: WaitQueue,
    parked: AtomicBool,
    parks: AtomicUsize,
    yields: AtomicUsize,
}

impl CarrierState {
    const fn new() -> Self {
        Self {
            published: AtomicU8::new(NONE),
            permit: AtomicBool::new(false),
            wq: WaitQueue::new(),
            parked: AtomicBool::new(false),
            parks: AtomicUsize::new(0),
            yields: AtomicUsize::new(0),
        }
    }
}

static STATE: [CarrierState; CARRIERS] = [const { CarrierState::new() }; CARRIERS];

/// The `Platform` of carrier `.0`'s executor.
struct Carrier(usize);

impl Platform for Carrier {
    fn idle(&self) {
        let me = &STATE[self.0];
        // Parked at level 0: whoever notifies us gets us picked next, and we
        // re-rank ourselves at once (nobody else can change our level).
        assert!(axtask::set_priority(0));
        me.parked.store(true, Release);
        me.parks.fetch_add(1, Relaxed);
        me.wq.wait_until(|| me.permit.swap(false, AcqRel));
        me.parked.store(false, Release);
        rerank_and_yield(self.0);
    }

    fn notify(&self) {
        let me = &STATE[self.0];
        me.permit.store(true, Release);
        me.wq.notify_one(false);
    }

    fn publish_priority(&self, highest: Option<Priority>) {
        STATE[self.0].published.store(highest.map_or(NONE, Priority::level), Release);
    }

    fn should_yield(&self, local_highest: Option<Priority>) -> bool {
        let mine = local_highest.map_or(NONE, Priority::level);
        (0..CARRIERS).any(|c| c != self.0 && STATE[c].published.load(Acquire) < mine)
    }
}

static STORAGE: [Storage<16>; CARRIERS] = [const { Storage::new() }; CARRIERS];
// SAFETY: each storage serves exactly one executor (index i ↔ carrier i).
// Distinct salts keep one carrier's ids away from the other's executor.
static EXECS: [Executor<Carrier>; CARRIERS] = unsafe {
    [
        Executor::new(&STORAGE[0], Carrier(0)).with_salt(1),
        Executor::new(&STORAGE[1], Carrier(1)).with_salt(2),
    ]
};

/// Set the calling carrier's axtask level to its executor's best ready
/// coroutine (63 when none is ready), then yield: axtask picks the most
/// urgent carrier.
fn rerank_and_yield(c: usize) {
    let best = EXECS[c].highest_ready();
    let published = STATE[c].published.load(Acquire);
    assert_eq!(best.map_or(NONE, Priority::level), published, "publish_priority tracks highest_ready");
    let level = best.map_or(63, Priority::level);
    assert!(axtask::set_priority(level as isize));
    STATE[c].yields.fetch_add(1, Relaxed);
    axtask::yield_now();
}

/// A carrier thread: run its executor until every coroutine finished.
fn carrier(c: usize) {
    loop {
        match EXECS[c].run() {
            RunExit::AllDone => return,
            RunExit::Yield => rerank_and_yield(c),
        }
    }
}

/// A one-shot signal coroutines await (`fire` wakes them all).
struct Signal {
    set: AtomicBool,
    wakers: spin::Mutex<Vec<Waker>>,
}

impl Signal {
    const fn new() -> Self {
        Self { set: AtomicBool::new(false), wakers: spin::Mutex::new(Vec::new()) }
    }
    fn fire(&self) {
        self.set.store(true, Release);
        let wakers = core::mem::take(&mut *self.wakers.lock());
        for w in wakers {
            w.wake();
        }
    }
    fn wait(&'static self) -> impl Future<Output = ()> + Send + 'static {
        poll_fn(move |cx| {
            if self.set.load(Acquire) {
                return Poll::Ready(());
            }
            self.wakers.lock().push(cx.waker().clone());
            if self.set.load(Acquire) { Poll::Ready(()) } else { Poll::Pending }
        })
    }
}

/// Completion log: (carrier, level, tag), in run order.
static LOG: spin::Mutex<Vec<(usize, u8, usize)>> = spin::Mutex::new(Vec::new());

#[derive(Clone, Copy)]
enum Kind {
    Plain,
    /// Await the signal, then log.
    Wait(&'static Signal),
    /// Log, then fire the signal.
    Fire(&'static Signal),
}

/// (carrier, level, what it does)
type Job = (usize, u8, Kind);

fn spawn_job(tag: usize, (c, level, kind): Job) -> JoinHandle<()> {
    let fut = async move {
        if let Kind::Wait(s) = kind {
            s.wait().await;
        }
        LOG.lock().push((c, level, tag));
        if let Kind::Fire(s) = kind {
            s.fire();
        }
    };
    EXECS[c].spawn(fut, Priority::new(level).unwrap()).expect("spawn")
}

/// Yield (main is at level 63, below every busy carrier) until both
/// carriers are parked with nothing ready.
fn wait_quiescent() {
    while !STATE.iter().all(|s| s.parked.load(Acquire) && s.published.load(Acquire) == NONE) {
        axtask::yield_now();
    }
}

/// Spawn each step's jobs (tags count across steps), letting the carriers
/// go quiet after each step; then check completion, per-carrier priority
/// order and the global run order (`want`, as tags).
fn phase(name: &str, steps: &[&[Job]], want: &[usize]) -> bool {
    LOG.lock().clear();
    let mut handles = Vec::new();
    let mut jobs = Vec::new();
    for step in steps {
        for &job in *step {
            handles.push(spawn_job(jobs.len(), job));
            jobs.push(job);
        }
        wait_quiescent();
    }
    let log = core::mem::take(&mut *LOG.lock());
    let completed = handles.iter_mut().filter_map(|h| h.try_take()).filter(Result::is_ok).count();
    let mut ok = completed == jobs.len() && log.len() == jobs.len();
    for c in 0..CARRIERS {
        let mine: Vec<(u8, usize)> = log.iter().filter(|e| e.0 == c).map(|e| (e.1, e.2)).collect();
        // Priority order, FIFO (spawn order = tag order) within a level.
        ok &= mine.windows(2).all(|w| w[0] <= w[1]);
        println!("  {name}: carrier {c} ran levels {:?}", mine.iter().map(|e| e.0).collect::<Vec<_>>());
    }
    let got: Vec<usize> = log.iter().map(|e| e.2).collect();
    ok &= got == want;
    let shown: Vec<(char, u8)> = log.iter().map(|e| ((b'A' + e.0 as u8) as char, e.1)).collect();
    println!(
        "{name}: {completed}/{} completed, global order {shown:?} (tags {got:?}, want {want:?}) {}",
        jobs.len(),
        if ok { "ok" } else { "FAILED" }
    );
    ok
}

static STOP: Signal = Signal::new();
static SIGNAL_1: Signal = Signal::new();
static SIGNAL_2: Signal = Signal::new();
const A: usize = 0;
const B: usize = 1;

#[unsafe(no_mangle)]
fn main() {
    println!("coroutines: cops-core executors on 2 ArceOS carrier threads (axtask with cops-core's scheduler)");
    assert!(axtask::set_priority(63));
    // A keeper per executor (lowest level, blocked until STOP) keeps each
    // carrier in its executor's worker loop between phases.
    let keepers: Vec<JoinHandle<()>> =
        (0..CARRIERS).map(|c| EXECS[c].spawn(STOP.wait(), Priority::LOWEST).unwrap()).collect();
    let carriers: Vec<_> = (0..CARRIERS).map(|c| axstd::thread::spawn(move || carrier(c))).collect();
    wait_quiescent();

    use Kind::*;
    let mut ok = true;
    // 1. Levels interleaved across the carriers, two equal levels on A.
    ok &= phase(
        "several levels on 2 carriers",
        &[&[
            (A, 5, Plain), (A, 1, Plain), (A, 9, Plain), (A, 3, Plain), (A, 3, Plain),
            (B, 4, Plain), (B, 0, Plain), (B, 7, Plain), (B, 2, Plain), (B, 10, Plain),
        ]],
        &[6, 1, 8, 3, 4, 5, 0, 7, 2, 9],
    );
    // 2. A's level-0 coroutine waits (A parks); B's level-4 coroutine wakes
    //    it. A runs it before B's levels 5 and 6.
    ok &= phase(
        "parked carrier woken to level 0",
        &[&[(A, 0, Wait(&SIGNAL_1))], &[(B, 4, Fire(&SIGNAL_1)), (B, 5, Plain), (B, 6, Plain)]],
        &[1, 0, 2, 3],
    );
    // 3. The same wake, but to level 7: after B's 5, before B's 9.
    ok &= phase(
        "parked carrier woken to level 7",
        &[&[(A, 7, Wait(&SIGNAL_2))], &[(B, 4, Fire(&SIGNAL_2)), (B, 5, Plain), (B, 9, Plain)]],
        &[1, 2, 0, 3],
    );

    STOP.fire();
    for (c, t) in carriers.into_iter().enumerate() {
        t.join().unwrap();
        let s = &STATE[c];
        println!("carrier {c}: done, parked {} times, yielded {} times", s.parks.load(Relaxed), s.yields.load(Relaxed));
    }
    let kept = keepers.iter().all(|k| k.is_finished());
    ok &= kept && EXECS.iter().all(|e| e.live() == 0);
    println!("keepers finished, executors empty: {}", if kept { "ok" } else { "FAILED" });
    if ok {
        println!("COROUTINES OK");
        finish(0);
    } else {
        println!("COROUTINES FAILED");
        finish(3);
    }
}
