//! The real `axtask 0.3.0-preview.3` (crates.io, unmodified) with `axsched`
//! replaced by cops-core's priority ready queue, driven through axtask's
//! public API on the host (axhal's dummy platform: one pseudo-CPU per
//! process, real stack switches).
//!
//! One pseudo-CPU per process, so the tests serialize on a global mutex and
//! share one `init_scheduler`, like axtask's own tests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};

use axtask::WaitQueue;

static INIT: Once = Once::new();
static SERIAL: Mutex<()> = Mutex::new(());

/// The level the main task returns to after each test.
const LOWEST: isize = 63;

fn setup() -> std::sync::MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    INIT.call_once(axtask::init_scheduler);
    assert!(axtask::set_priority(LOWEST));
    guard
}

/// Spawn one task per entry of `prios`; each raises itself to its level and
/// parks on a wait queue. Once everyone is parked, `notify_all` wakes them all
/// at once, and each runs `body(index)`, whose value is its exit code.
/// Returns the join handles (nothing of `body` has run yet when it returns
/// to a main task at the lowest level).
fn spawn_gated<F>(prios: &[isize], body: F) -> Vec<axtask::AxTaskRef>
where
    F: Fn(usize) -> i32 + Send + Sync + 'static,
{
    let body = Arc::new(body);
    let parked = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(WaitQueue::new());
    let handles: Vec<_> = prios
        .iter()
        .enumerate()
        .map(|(i, &prio)| {
            let (body, parked, gate) = (body.clone(), parked.clone(), gate.clone());
            axtask::spawn(move || {
                assert!(axtask::set_priority(prio));
                parked.fetch_add(1, Ordering::AcqRel);
                gate.wait();
                axtask::exit(body(i))
            })
        })
        .collect();
    // Cooperative on the host (no timer): a task cannot be switched out
    // between counting itself in and parking.
    while parked.load(Ordering::Acquire) < prios.len() {
        axtask::yield_now();
    }
    gate.notify_all(false);
    handles
}

/// [`spawn_gated`] tasks that log their index; joins them all (the main task
/// blocks) and returns the completion order.
fn run_gated(prios: &[isize]) -> Vec<usize> {
    let order = Arc::new(Mutex::new(Vec::new()));
    let o = order.clone();
    let handles = spawn_gated(prios, move |i| {
        o.lock().unwrap().push(i);
        0
    });
    for h in &handles {
        assert_eq!(h.join(), 0);
    }
    let order = order.lock().unwrap().clone();
    order
}

#[test]
fn the_patched_scheduler_is_in_place() {
    let _g = setup();
    assert!(axsched::FifoScheduler::<()>::scheduler_name().starts_with("COPS-priority"));
}

#[test]
fn priority_order() {
    let _g = setup();
    // Spawned (and parked) from low to high urgency; woken all at once.
    assert_eq!(run_gated(&[6, 5, 3, 2, 1]), [4, 3, 2, 1, 0]);
    assert_eq!(run_gated(&[3, 0, 62, 2, 5]), [1, 3, 0, 4, 2]);
}

#[test]
fn fifo_within_a_level() {
    let _g = setup();
    assert_eq!(run_gated(&[4; 6]), [0, 1, 2, 3, 4, 5]);
    // Two levels, FIFO inside each.
    assert_eq!(run_gated(&[9, 2, 9, 2, 9]), [1, 3, 0, 2, 4]);
}

#[test]
fn yield_stays_within_priority() {
    let _g = setup();
    // Two tasks at level 1 yield to each other; the level-5 task only runs
    // once both have finished, though it is ready all along.
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let handles = spawn_gated(&[5, 1, 1], move |i| {
        let (name, rounds) = [("low", 1), ("a", 3), ("b", 3)][i];
        for _ in 0..rounds {
            l.lock().unwrap().push(name);
            axtask::yield_now();
        }
        0
    });
    for h in handles {
        h.join();
    }
    assert_eq!(*log.lock().unwrap(), ["a", "b", "a", "b", "a", "b", "low"]);
}

#[test]
fn join_returns_exit_codes_in_priority_order() {
    let _g = setup();
    let order = Arc::new(Mutex::new(Vec::new()));
    let o = order.clone();
    let codes = [3, 1, 2];
    let handles = spawn_gated(&[7, 2, 5], move |i| {
        o.lock().unwrap().push(codes[i]);
        codes[i]
    });
    let joined: Vec<i32> = handles.iter().map(|h| h.join()).collect();
    assert_eq!(joined, codes);
    assert_eq!(*order.lock().unwrap(), [1, 2, 3]);
}

/// Regression for the livelock found by running (docs: §3.5). axtask's gc
/// task busy-yields while an exited task is still referenced; if new tasks
/// (gc included) started above the task holding the references, strict
/// priority re-picked gc forever. New tasks start at the lowest level, so
/// gc never out-ranks the holder. Passing = terminating.
#[test]
fn gc_does_not_livelock_a_joiner_at_the_lowest_level() {
    let _g = setup();
    // A livelock would hang the process: fail it instead.
    let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let f = finished.clone();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(20));
        if !f.load(Ordering::Acquire) {
            eprintln!("gc_does_not_livelock_a_joiner_at_the_lowest_level: still running after 20 s: livelock");
            std::process::exit(101);
        }
    });
    let done = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let done = done.clone();
            // Default level: no set_priority.
            axtask::spawn(move || {
                done.fetch_add(1, Ordering::AcqRel);
            })
        })
        .collect();
    // Main explicitly at the lowest level, still holding the handles of
    // exited tasks while it yields.
    assert!(axtask::set_priority(LOWEST));
    for _ in 0..100 {
        axtask::yield_now();
    }
    assert_eq!(done.load(Ordering::Acquire), 3);
    for h in handles {
        assert_eq!(h.join(), 0);
    }
    finished.store(true, Ordering::Release);
}

#[test]
fn set_priority_bounds() {
    let _g = setup();
    for bad in [-1, 64, 1000, isize::MIN, isize::MAX] {
        assert!(!axtask::set_priority(bad), "{bad} must be refused");
    }
    for good in [0, 31, 63] {
        assert!(axtask::set_priority(good), "{good} must be accepted");
    }
    // A refused value keeps the current level: a level-0 main still runs
    // before a task at level 1 that became ready after it.
    assert!(axtask::set_priority(0));
    assert!(!axtask::set_priority(64));
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let h = axtask::spawn(move || {
        assert!(axtask::set_priority(1));
        r.store(1, Ordering::Release);
    });
    axtask::yield_now(); // the task is at level 63 until it runs: main (0) continues
    assert_eq!(ran.load(Ordering::Acquire), 0);
    assert!(axtask::set_priority(LOWEST));
    axtask::yield_now();
    assert_eq!(ran.load(Ordering::Acquire), 1);
    h.join();
}
