//! Time: `rdtime`, per-hart timer programming, and the sleep queue.

use alloc::collections::BTreeMap;
use core::future::poll_fn;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use core::task::{Poll, Waker};

/// Time slice of a user thread before the timer preempts it.
pub const SLICE_MS: u64 = 10;

static SLEEPERS: spin::Mutex<BTreeMap<(u64, u64), Waker>> = spin::Mutex::new(BTreeMap::new());
static SEQ: AtomicU64 = AtomicU64::new(0);

/// `rdtime` ticks.
pub fn now() -> u64 {
    riscv::register::time::read64()
}

/// Ticks → nanoseconds.
pub fn ticks_to_ns(t: u64) -> u64 {
    (t as u128 * 1_000_000_000 / crate::boot::timebase() as u128) as u64
}

/// Nanoseconds → ticks (saturating).
pub fn ns_to_ticks(ns: u64) -> u64 {
    (ns as u128 * crate::boot::timebase() as u128 / 1_000_000_000).min(u64::MAX as u128 / 2) as u64
}

/// Sleep until `deadline` (ticks).
pub async fn sleep_until(deadline: u64) {
    let seq = SEQ.fetch_add(1, Relaxed);
    poll_fn(|cx| {
        if now() >= deadline {
            SLEEPERS.lock().remove(&(deadline, seq));
            return Poll::Ready(());
        }
        SLEEPERS.lock().insert((deadline, seq), cx.waker().clone());
        Poll::Pending
    })
    .await
}

/// Wake every sleeper whose deadline passed; returns the next deadline.
pub fn wake_expired() -> Option<u64> {
    let t = now();
    let mut due = alloc::vec::Vec::new();
    let next = {
        let mut q = SLEEPERS.lock();
        while let Some(entry) = q.first_entry() {
            if entry.key().0 > t {
                break;
            }
            due.push(entry.remove());
        }
        q.first_key_value().map(|(k, _)| k.0)
    };
    for w in due {
        w.wake();
    }
    next
}

/// The deadline each hart's timer is programmed for.
static PROGRAMMED: [AtomicU64; crate::board::MAX_HARTS] =
    [const { AtomicU64::new(0) }; crate::board::MAX_HARTS];

/// Program this hart's timer for `deadline` (clears a pending timer
/// interrupt if the deadline is in the future).
pub fn set_timer(deadline: u64) {
    if let Some(p) = PROGRAMMED.get(crate::boot::hart_id()) {
        p.store(deadline, Relaxed);
    }
    let _ = sbi_rt::set_timer(deadline);
}

/// Make sure this hart's timer fires by `deadline`, reprogramming it (an
/// SBI call) only if it is not already due to fire in time.
pub fn fire_by(deadline: u64) {
    let programmed = PROGRAMMED
        .get(crate::boot::hart_id())
        .map_or(0, |p| p.load(Relaxed));
    if programmed <= now() || programmed > deadline {
        set_timer(deadline);
    }
}
