//! The per-slot state word and its transitions.
//!
//! One `AtomicU64` per slot holds everything a wake, a poll and a recycle
//! must agree on, so each transition is one compare-and-swap:
//!
//! ```text
//!  63            28 27          8  7   5   4   3  2    0
//! +----------------+-------------+---+---+---+---+------+
//! | generation (36)| waker refs  | - |SUS|CAN|NTF| life |
//! +----------------+-------------+---+---+---+---+------+
//! ```
//!
//! Neither counter ever carries into its neighbour: the waker count
//! saturates (a saturated slot is never recycled: it leaks, as `Arc` would
//! abort), and a slot whose generation reaches its maximum is retired
//! (stays COMPLETED forever) instead of wrapping.
//!
//! `life` is FREE, BLOCKED, QUEUED, RUNNING or COMPLETED; NOTIFIED records a
//! wake that arrived while RUNNING; CANCELLED a cancel request; SUSPENDED the
//! paper's running-suspended (the worker was preempted mid-poll). Keeping the
//! generation in the same word as `life` is what makes a stale id's wake
//! atomic with the check that rejects it.

use crate::loom::{AtomicU64, Ordering::*};

pub(crate) const LIFE: u64 = 0b111;
pub(crate) const FREE: u64 = 0;
pub(crate) const BLOCKED: u64 = 1;
pub(crate) const QUEUED: u64 = 2;
pub(crate) const RUNNING: u64 = 3;
pub(crate) const COMPLETED: u64 = 4;

pub(crate) const NOTIFIED: u64 = 1 << 3;
pub(crate) const CANCELLED: u64 = 1 << 4;
pub(crate) const SUSPENDED: u64 = 1 << 5;

const REF_SHIFT: u32 = 8;
const REF_ONE: u64 = 1 << REF_SHIFT;
/// The waker count's largest value, which means "saturated".
const REF_SATURATED: u64 = (1 << 20) - 1;
const REF_MASK: u64 = REF_SATURATED << REF_SHIFT;
const GEN_SHIFT: u32 = 28;
const GEN_MAX: u64 = crate::CoroutineId::MAX_GENERATION;
const _: () = assert!(GEN_MAX == u64::MAX >> GEN_SHIFT);

#[inline]
pub(crate) fn life(s: u64) -> u64 {
    s & LIFE
}
#[inline]
pub(crate) fn generation(s: u64) -> u64 {
    s >> GEN_SHIFT
}
#[inline]
fn refs(s: u64) -> u64 {
    (s & REF_MASK) >> REF_SHIFT
}
#[inline]
fn with_life(s: u64, l: u64) -> u64 {
    (s & !LIFE) | l
}

/// What a wake did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Wake {
    /// BLOCKED → QUEUED: the caller must enqueue the slot.
    Enqueue,
    /// Already queued or already notified: nothing to do.
    Nothing,
    /// RUNNING: NOTIFIED set; the worker re-queues it when the poll returns.
    Notified,
}

/// What a cancel request did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Cancel {
    /// BLOCKED → QUEUED with CANCELLED: the caller must enqueue the slot so a
    /// worker drops the coroutine.
    Enqueue,
    /// Flag set; the worker that owns or will pop it drops the coroutine.
    Flagged,
}

/// After a poll returned `Pending`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum AfterPending {
    /// Woken (or cancelled) during the poll: RUNNING → QUEUED, enqueue it.
    Requeue,
    /// RUNNING → BLOCKED.
    Blocked,
}

/// The state word of one slot.
pub(crate) struct StateWord(AtomicU64);

impl StateWord {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        Self(AtomicU64::new(FREE))
    }
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        Self(AtomicU64::new(FREE))
    }

    pub(crate) fn load(&self) -> u64 {
        self.0.load(Acquire)
    }

    fn update<R>(&self, mut f: impl FnMut(u64) -> Result<(u64, R), R>) -> R {
        let mut cur = self.0.load(Acquire);
        loop {
            let (next, r) = match f(cur) {
                Ok(x) => x,
                Err(r) => return r,
            };
            match self.0.compare_exchange_weak(cur, next, AcqRel, Acquire) {
                Ok(_) => return r,
                Err(actual) => cur = actual,
            }
        }
    }

    /// The id check every id-taking operation starts with.
    fn check(s: u64, generation_of_id: u64) -> Result<(), crate::Error> {
        if generation(s) != generation_of_id || life(s) == FREE {
            Err(crate::Error::Stale)
        } else if life(s) == COMPLETED {
            Err(crate::Error::Finished)
        } else {
            Ok(())
        }
    }

    /// Validate an id without changing anything.
    pub(crate) fn validate(&self, generation_of_id: u64) -> Result<u64, crate::Error> {
        let s = self.load();
        Self::check(s, generation_of_id).map(|_| s)
    }

    /// FREE → QUEUED for a freshly claimed slot. Only the claimer touches a
    /// FREE slot it popped from the free list, so a plain store is enough;
    /// `Release` publishes the coroutine written into the cell before it.
    pub(crate) fn publish_spawned(&self) {
        let s = self.0.load(Relaxed);
        debug_assert_eq!(life(s), FREE);
        self.0.store(
            with_life(s & !(NOTIFIED | CANCELLED | SUSPENDED), QUEUED),
            Release,
        );
    }

    pub(crate) fn wake(&self, generation_of_id: u64) -> Result<Wake, crate::Error> {
        self.update(|s| {
            if let Err(e) = Self::check(s, generation_of_id) {
                return Err(Err(e));
            }
            let (s, wake) = Self::woken(s);
            Ok((s, Ok(wake)))
        })
    }

    /// The word after a wake of `s`, and what the wake did. Applied by a
    /// read-modify-write even when nothing changes, never after a plain
    /// load: the worker's `start_poll` CAS then reads from this release,
    /// so whatever the waker wrote before waking is visible to the poll. A
    /// plain load there is the store-buffering pattern, and loom found the
    /// lost wake.
    fn woken(s: u64) -> (u64, Wake) {
        match life(s) {
            BLOCKED => (with_life(s, QUEUED), Wake::Enqueue),
            RUNNING if s & NOTIFIED == 0 => (s | NOTIFIED, Wake::Notified),
            _ => (s, Wake::Nothing),
        }
    }

    /// The word after one waker ref of `s` is dropped, and whether that
    /// recycled the slot. A saturated count stays (the slot then leaks).
    fn unref(s: u64) -> (u64, bool) {
        debug_assert!(refs(s) > 0);
        if refs(s) == REF_SATURATED {
            (s, false)
        } else {
            Self::finish_or_recycle(s - REF_ONE)
        }
    }

    /// `wake` and `ref_dec` in one read-modify-write: an owned waker's
    /// `wake` (which consumes it). The ref it holds keeps the occupant, so
    /// there is no id to check; a finished occupant only loses the ref.
    /// Returns what the wake did and whether the slot was recycled.
    pub(crate) fn wake_and_unref(&self) -> (Wake, bool) {
        self.update(|s| {
            debug_assert!(life(s) != FREE);
            let (s, wake) = Self::woken(s);
            let (s, recycled) = Self::unref(s);
            Ok((s, (wake, recycled)))
        })
    }

    pub(crate) fn cancel(&self, generation_of_id: u64) -> Result<Cancel, crate::Error> {
        self.update(|s| {
            if let Err(e) = Self::check(s, generation_of_id) {
                return Err(Err(e));
            }
            if life(s) == BLOCKED {
                Ok((with_life(s, QUEUED) | CANCELLED, Ok(Cancel::Enqueue)))
            } else {
                Ok((s | CANCELLED, Ok(Cancel::Flagged)))
            }
        })
    }

    /// QUEUED → RUNNING for the worker that popped the slot. Returns whether a
    /// cancel was requested (then the worker drops instead of polling).
    pub(crate) fn start_poll(&self) -> bool {
        // QUEUED + 1 = RUNNING, and NOTIFIED is never set on a queued slot
        // (only a running one takes it): one fetch_add, no CAS loop.
        const _: () = assert!(QUEUED + 1 == RUNNING);
        let prev = self.0.fetch_add(1, AcqRel);
        debug_assert_eq!(life(prev), QUEUED, "only a queued slot is popped");
        debug_assert_eq!(prev & NOTIFIED, 0);
        prev & CANCELLED != 0
    }

    pub(crate) fn end_poll_pending(&self) -> AfterPending {
        self.update(|s| {
            debug_assert_eq!(life(s), RUNNING);
            let s2 = s & !(NOTIFIED | SUSPENDED);
            if s & (NOTIFIED | CANCELLED) != 0 {
                Ok((with_life(s2, QUEUED), AfterPending::Requeue))
            } else {
                Ok((with_life(s2, BLOCKED), AfterPending::Blocked))
            }
        })
    }

    /// RUNNING → COMPLETED (the coroutine has been dropped). Returns whether
    /// the slot was recycled at once (no waker refs left).
    pub(crate) fn complete(&self) -> bool {
        self.update(|s| {
            debug_assert_eq!(life(s), RUNNING);
            Ok(Self::finish_or_recycle(
                with_life(s, COMPLETED) & !(NOTIFIED | SUSPENDED),
            ))
        })
    }

    /// A COMPLETED slot with no refs becomes FREE with the next generation,
    /// unless its generation is spent: then it stays COMPLETED for good
    /// (retired), so no old id can ever match it again.
    fn finish_or_recycle(s: u64) -> (u64, bool) {
        if life(s) == COMPLETED && refs(s) == 0 && generation(s) < GEN_MAX {
            (((generation(s) + 1) << GEN_SHIFT) | FREE, true)
        } else {
            (s, false)
        }
    }

    /// Whether the slot is QUEUED, read by a read-modify-write (that
    /// changes nothing): a later transition, being one too, is ordered
    /// after it and sees what the caller wrote before (`set_priority`).
    pub(crate) fn is_queued(&self) -> bool {
        life(self.0.fetch_add(0, AcqRel)) == QUEUED
    }

    /// Take one waker ref. Checked *before* the count changes: a saturated
    /// count stays saturated (the slot is then never recycled), so no number
    /// of clones can carry into the generation, and no panic is involved.
    pub(crate) fn ref_inc(&self) {
        self.update(|s| {
            if refs(s) == REF_SATURATED {
                Err(())
            } else {
                Ok((s + REF_ONE, ()))
            }
        })
    }

    /// Take one ref on the occupant named by `generation_of_id`, if it is
    /// still there: the slot cannot be recycled until [`StateWord::ref_dec`].
    pub(crate) fn pin(&self, generation_of_id: u64) -> Result<(), crate::Error> {
        self.update(|s| {
            if let Err(e) = Self::check(s, generation_of_id) {
                return Err(Err(e));
            }
            if refs(s) == REF_SATURATED {
                return Err(Ok(()));
            }
            Ok((s + REF_ONE, Ok(())))
        })
    }

    /// Drop one waker ref. Returns whether this recycled the slot.
    pub(crate) fn ref_dec(&self) -> bool {
        self.update(|s| {
            debug_assert!(refs(s) > 0);
            if refs(s) == REF_SATURATED {
                return Err(false);
            }
            Ok(Self::finish_or_recycle(s - REF_ONE))
        })
    }

    /// Test hook: a FREE word whose next occupant gets `generation`.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn force_generation(&self, generation: u64) {
        assert_eq!(life(self.load()), FREE);
        self.0.store(generation << GEN_SHIFT | FREE, Relaxed);
    }

    pub(crate) fn set_suspended(&self, on: bool) {
        if on {
            self.0.fetch_or(SUSPENDED, AcqRel);
        } else {
            self.0.fetch_and(!SUSPENDED, AcqRel);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn word(raw: u64) -> StateWord {
        StateWord(AtomicU64::new(raw))
    }

    #[test]
    fn saturated_refs_never_carry_into_the_generation() {
        let g = 7;
        let w = word((g << GEN_SHIFT) | (REF_SATURATED - 2) << REF_SHIFT | RUNNING);
        for _ in 0..10 {
            w.ref_inc();
        }
        let s = w.load();
        assert_eq!(generation(s), g);
        assert_eq!(refs(s), REF_SATURATED);
        // Dropping refs of a saturated slot changes nothing; it is never recycled.
        assert!(!w.ref_dec());
        assert!(!w.complete());
        assert_eq!(generation(w.load()), g);
        assert_eq!(life(w.load()), COMPLETED);
    }

    #[test]
    fn a_spent_generation_retires_the_slot() {
        let w = word((GEN_MAX - 1) << GEN_SHIFT | RUNNING);
        assert!(w.complete(), "recycled into the last generation");
        assert_eq!(generation(w.load()), GEN_MAX);
        w.0.store(GEN_MAX << GEN_SHIFT | RUNNING, Relaxed);
        assert!(!w.complete(), "the last generation is never recycled");
        assert_eq!(life(w.load()), COMPLETED);
        // Every old id is stale, the last one finished: none can revive it.
        assert_eq!(w.wake(0), Err(crate::Error::Stale));
        assert_eq!(w.wake(GEN_MAX - 1), Err(crate::Error::Stale));
        assert_eq!(w.wake(GEN_MAX), Err(crate::Error::Finished));
    }
}
