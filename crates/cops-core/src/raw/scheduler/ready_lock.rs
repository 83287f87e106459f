//! The ready lock and interrupt handlers.
//!
//! The per-level FIFOs sit behind one spin lock, but nothing that a wake can
//! reach ever *waits* for it. The lock and a lock-free wake inbox share one
//! atomic word, so making a slot ready (wake, cancel, spawn, a re-queue
//! after a poll) is one CAS that either takes the free lock or, if someone
//! holds it (another CPU, or the very code this interrupt handler
//! interrupted), pushes the slot index on the inbox for the holder. Letting
//! go is one CAS too, which fails if anything was pushed meanwhile: the
//! holder links it first. `set_priority` does the same with a move stack
//! and a flag in the word.
//!
//! ```text
//!  lock word:  [ inbox head (32) | ... | MOVES | LOCKED ]
//!
//!  wake / cancel / spawn ──CAS: free → LOCKED──► link at its level ──┐
//!        │                                                          ├─► CAS: → unlocked
//!        └─ CAS: held → push index ──► holder links it ◄─ fails ────┘   (only if inbox empty)
//! ```
//!
//! Only [`Scheduler::pick`] (the worker side) spins on the lock, and it is
//! never called from an interrupt handler.

use super::{SchedSlot, Scheduler, SlotLinks};
use crate::loom::Ordering::*;
use crate::ready::{NIL, ReadyQueues, highest_in};
use crate::{Platform, Priority};

/// The ready lock word: `LOCKED`, `MOVES` (the move stack has entries for
/// the holder) and, in the high half, the head of the wake inbox. One word,
/// so that a push and the lock check are one CAS, and so is letting go and
/// checking that nothing was pushed meanwhile.
const LOCKED: u64 = 1;
const MOVES: u64 = 2;
const HEAD_SHIFT: u32 = 32;
pub(super) const UNLOCKED: u64 = (NIL as u64) << HEAD_SHIFT;

fn inbox_head(word: u64) -> u32 {
    (word >> HEAD_SHIFT) as u32
}

impl Scheduler {
    /// Spin until the ready lock is ours (worker side only).
    fn acquire(&self) {
        loop {
            let w = self.lock.load(Relaxed);
            if w & LOCKED == 0
                && self
                    .lock
                    .compare_exchange_weak(w, w | LOCKED, Acquire, Relaxed)
                    .is_ok()
            {
                return;
            }
            crate::loom::spin_loop();
        }
    }

    /// Take the ready lock if it is free (`true`); otherwise leave `index`
    /// on the wake inbox for the holder (`false`). One CAS, never waits.
    fn acquire_or_push(&self, index: u32) -> bool {
        let next = &self.slots[index as usize].next;
        let mut w = self.lock.load(Relaxed);
        loop {
            let new = if w & LOCKED == 0 {
                debug_assert_eq!(inbox_head(w), NIL, "pushes happen only under a holder");
                w | LOCKED
            } else {
                next.store(inbox_head(w), Relaxed);
                (w & !(u64::from(NIL) << HEAD_SHIFT)) | u64::from(index) << HEAD_SHIFT
            };
            // Acquire: taking the lock. Release: the holder sees `next`.
            match self.lock.compare_exchange_weak(w, new, AcqRel, Relaxed) {
                Ok(_) => return w & LOCKED == 0,
                Err(actual) => w = actual,
            }
        }
    }

    /// With the lock held: run `f` on the queues.
    fn with_queues<R>(&self, f: impl FnOnce(&mut ReadyQueues, &mut SlotLinks<'_>) -> R) -> R {
        // SAFETY: only called with `lock` held (by this thread), which
        // makes this the only access to the queues.
        self.queues
            .with_mut(|q| f(unsafe { &mut *q }, &mut SlotLinks(self.slots)))
    }

    /// Let go of the lock: first link what was pushed meanwhile, refresh
    /// the lock-free bitmap copy and tell the platform when the best level
    /// changed. Returns whether anything was linked.
    fn release<P: Platform + ?Sized>(&self, platform: &P) -> bool {
        let mut linked = false;
        let mut w = self.lock.load(Acquire);
        loop {
            if inbox_head(w) == NIL && w & MOVES == 0 {
                self.publish(platform);
                // One CAS lets go and checks that nothing was pushed since
                // `w`: a push makes it fail, and we link that too.
                match self
                    .lock
                    .compare_exchange_weak(w, UNLOCKED, Release, Acquire)
                {
                    Ok(_) => return linked,
                    Err(actual) => w = actual,
                }
                continue;
            }
            // Take the inbox (and the moves flag), keep the lock.
            match self
                .lock
                .compare_exchange_weak(w, UNLOCKED | LOCKED, AcqRel, Acquire)
            {
                Ok(_) => {
                    linked |= self.link_inbox(inbox_head(w));
                    if w & MOVES != 0 {
                        self.relink_moves();
                    }
                    w = self.lock.load(Acquire);
                }
                Err(actual) => w = actual,
            }
        }
    }

    /// With the lock held: the bitmap copy and the platform follow the queues.
    fn publish<P: Platform + ?Sized>(&self, platform: &P) {
        let before = self.ready_bitmap.load(Relaxed);
        let after = self.with_queues(|q, _| q.bitmap());
        if before != after {
            // Release: every change that makes work ready is followed by a
            // read-modify-write of `parked` (`notify_if`), which a parking
            // worker's RMW of `parked` synchronises with before it loads
            // this word.
            self.ready_bitmap.store(after, Release);
            if before.trailing_zeros() != after.trailing_zeros() {
                // Under the lock, so publications are ordered like the changes.
                platform.publish_priority(highest_in(after));
            }
        }
    }

    /// With the lock held: link a wake inbox taken off the lock word.
    /// Returns whether it held anything.
    fn link_inbox(&self, head: u32) -> bool {
        // The inbox is a stack: reverse it so wakes keep their order.
        let mut fifo = NIL;
        let mut i = head;
        while i != NIL {
            let next = self.slots[i as usize].next.load(Relaxed);
            self.slots[i as usize].next.store(fifo, Relaxed);
            fifo = i;
            i = next;
        }
        self.with_queues(|q, _| {
            while fifo != NIL {
                let next = self.slots[fifo as usize].next.load(Relaxed);
                Self::link(q, self.slots, fifo);
                fifo = next;
            }
        });
        head != NIL
    }

    /// With the lock held: apply every pending `set_priority` move.
    fn relink_moves(&self) {
        let mut m = self.moves.swap(NIL, Acquire);
        self.with_queues(|q, _| {
            while m != NIL {
                let slot = &self.slots[m as usize];
                let next = slot.move_next.load(Relaxed);
                slot.move_pending.store(false, Release);
                Self::relink(q, self.slots, m);
                m = next;
            }
        });
    }

    /// Lock the ready queues (spinning: worker side only), then as
    /// [`Scheduler::holding`].
    pub(super) fn locked<R, P: Platform + ?Sized>(
        &self,
        platform: &P,
        f: impl FnOnce(&mut ReadyQueues, &mut SlotLinks<'_>) -> R,
    ) -> R {
        self.acquire();
        self.holding(platform, false, f)
    }

    /// With the lock just taken: run `f` on the queues, let go, and release
    /// a parked worker if anything was linked meanwhile (or `notify`).
    fn holding<R, P: Platform + ?Sized>(
        &self,
        platform: &P,
        notify: bool,
        f: impl FnOnce(&mut ReadyQueues, &mut SlotLinks<'_>) -> R,
    ) -> R {
        let r = self.with_queues(f);
        let linked = self.release(platform);
        self.notify_if(platform, linked || notify);
        r
    }

    /// Link `index` (spawned, woken, cancelled or re-queued) at its level,
    /// without ever waiting for the lock (see the module docs), and release
    /// a parked worker for it.
    pub(super) fn make_ready<P: Platform + ?Sized>(&self, platform: &P, index: u32) {
        self.link_ready(platform, index, true);
    }

    /// `make_ready`; with `notify_for_index` false, a parked worker is
    /// released only for *other* slots linked on the way (one
    /// read-modify-write less): for a coroutine re-queued by its own poll,
    /// which the polling CPU's next pick takes anyway.
    pub(super) fn link_ready<P: Platform + ?Sized>(
        &self,
        platform: &P,
        index: u32,
        notify_for_index: bool,
    ) {
        if self.acquire_or_push(index) {
            self.holding(platform, notify_for_index, |q, _| {
                Self::link(q, self.slots, index)
            });
        }
        // Pushed: the holder links it, and releases a worker for it.
    }

    /// Move a queued `index` to its (new) level, without waiting for the lock.
    pub(super) fn request_move<P: Platform + ?Sized>(&self, platform: &P, index: u32) {
        let slot = &self.slots[index as usize];
        let mut w = self.lock.load(Relaxed);
        loop {
            if w & LOCKED == 0 {
                match self
                    .lock
                    .compare_exchange_weak(w, w | LOCKED, Acquire, Relaxed)
                {
                    Ok(_) => {
                        // Any move left by a request that found the lock
                        // taken but saw it let go before flagging it, and ours.
                        self.relink_moves();
                        self.holding(platform, false, |q, _| Self::relink(q, self.slots, index));
                        return;
                    }
                    Err(actual) => w = actual,
                }
                continue;
            }
            // At most once on the move stack: a pending move reads the
            // priority when it is applied, so it carries this one too.
            if !slot.move_pending.swap(true, AcqRel) {
                let mut head = self.moves.load(Relaxed);
                loop {
                    slot.move_next.store(head, Relaxed);
                    match self
                        .moves
                        .compare_exchange_weak(head, index, Release, Relaxed)
                    {
                        Ok(_) => break,
                        Err(actual) => head = actual,
                    }
                }
            }
            // Flag it for the holder; if the lock was let go meanwhile, the
            // CAS fails and we take the lock ourselves.
            match self
                .lock
                .compare_exchange_weak(w, w | MOVES, AcqRel, Relaxed)
            {
                Ok(_) => return,
                Err(actual) => w = actual,
            }
        }
    }

    fn link(q: &mut ReadyQueues, slots: &[SchedSlot], index: u32) {
        // The priority is read under the lock, so a concurrent
        // `set_priority` is either seen here or moves the linked slot.
        let p = Priority::from_level(slots[index as usize].priority.load(Relaxed));
        q.push_back(&mut SlotLinks(slots), index, p);
    }

    fn relink(q: &mut ReadyQueues, slots: &[SchedSlot], index: u32) {
        let p = Priority::from_level(slots[index as usize].priority.load(Relaxed));
        q.requeue(&mut SlotLinks(slots), index, p);
    }
}
