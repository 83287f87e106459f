//! Time: `rdtime`, per-hart timer programming, and the sleep queue.

use alloc::collections::BTreeMap;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use core::task::{Context, Poll, Waker};

/// Time slice of a user thread before the timer preempts it, unless the
/// command line says otherwise (`slice_ms=N`, N >= 1: a test of cooperative
/// yield makes it very long so that the timer cannot be what switched).
pub const DEFAULT_SLICE_MS: u64 = 10;

/// The slice in ticks (read from the command line once).
pub fn slice_ticks() -> u64 {
    static SLICE: spin::Once<u64> = spin::Once::new();
    *SLICE.call_once(|| {
        let ms = crate::hart::bootarg("slice_ms")
            .filter(|&ms| ms >= 1)
            .unwrap_or(DEFAULT_SLICE_MS);
        ns_to_ticks(ms.saturating_mul(1_000_000))
    })
}

static SLEEPERS: spin::Mutex<BTreeMap<(u64, u64), Waker>> = spin::Mutex::new(BTreeMap::new());
static SEQ: AtomicU64 = AtomicU64::new(0);

/// `rdtime` ticks.
pub fn now() -> u64 {
    riscv::register::time::read64()
}

/// Ticks → nanoseconds.
pub fn ticks_to_ns(t: u64) -> u64 {
    (t as u128 * 1_000_000_000 / crate::hart::timebase() as u128) as u64
}

/// Nanoseconds → ticks (saturating).
pub fn ns_to_ticks(ns: u64) -> u64 {
    (ns as u128 * crate::hart::timebase() as u128 / 1_000_000_000).min(u64::MAX as u128 / 2) as u64
}

/// Sleep until `deadline` (ticks).
pub fn sleep_until(deadline: u64) -> Sleep {
    Sleep {
        key: (deadline, SEQ.fetch_add(1, Relaxed)),
    }
}

/// Entries in the sleep queue.
pub fn sleepers() -> usize {
    SLEEPERS.lock().len()
}

/// The future of [`sleep_until`]. Dropped before its deadline (its call was
/// cancelled, its process died), it takes its waker out of the queue: left
/// there, the waker would pin the coroutine's slot until the deadline,
/// which may be never.
pub struct Sleep {
    key: (u64, u64),
}

impl Future for Sleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if now() >= self.key.0 {
            SLEEPERS.lock().remove(&self.key);
            return Poll::Ready(());
        }
        SLEEPERS.lock().insert(self.key, cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        SLEEPERS.lock().remove(&self.key);
    }
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
    if let Some(p) = PROGRAMMED.get(crate::hart::hart_id()) {
        p.store(deadline, Relaxed);
    }
    let _ = sbi_rt::set_timer(deadline);
}

/// Make sure this hart's timer fires by `deadline`, reprogramming it (an
/// SBI call) only if it is not already due to fire in time.
pub fn fire_by(deadline: u64) {
    let programmed = PROGRAMMED
        .get(crate::hart::hart_id())
        .map_or(0, |p| p.load(Relaxed));
    if programmed <= now() || programmed > deadline {
        set_timer(deadline);
    }
}
