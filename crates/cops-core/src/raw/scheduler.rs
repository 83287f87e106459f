//! The scheduling state of one address space: slots, ready queues, free
//! list, the wake inbox and the per-CPU "current" table. No futures, no code
//! pointers: this is the part the vDSO exports, operating on a data area it
//! is handed. Crate-private: its slot protocol (claim, pick, complete) has
//! preconditions only [`crate::Executor`] keeps.
//!
//! The ready structure is sharded per CPU: [`SHARDS`] shards, each with its
//! own lock word (and lock-free wake inbox, so that nothing reachable from
//! an interrupt handler waits for it), 64 FIFOs and bitmap; CPU `c` links
//! into shard `c % SHARDS`, and a pick steals from another shard when that
//! shard has a more urgent level. All of it is in [`shard`]; the slots
//! themselves are in [`slot`].

use super::state::{self, AfterPending, Cancel, Wake};
use crate::loom::{AtomicU32, AtomicU64, AtomicUsize, Ordering::*};
use crate::ready::{NIL, highest_in};
use crate::{CoroutineId, CoroutineKind, Error, Platform, Priority};

mod shard;
mod slot;
use shard::{NOTHING_PUBLISHED, Shard, ShardBitmap};
pub use slot::SchedSlot;
use slot::{NO_SHARD, SlotLinks};

/// Ready shards per executor. CPU `c` links into shard `c % SHARDS`. Four:
/// the kernel's machines have up to four harts, and every executor (each
/// user process has one) pays about 640 bytes per shard; with more CPUs
/// than shards, CPUs share a shard (correct, only more contended).
#[cfg(not(loom))]
pub const SHARDS: usize = 4;
/// Ready shards (two for model checking: one per model CPU).
#[cfg(loom)]
pub const SHARDS: usize = 2;

// A power of two (`shard_of` masks), and a bit each in `move_pending_on`.
const _: () = assert!(SHARDS.is_power_of_two() && SHARDS <= u8::BITS as usize);

/// The shard CPU `cpu` links into. A mask: the compiler then knows every
/// shard index is in bounds.
#[inline]
fn shard_of(cpu: usize) -> usize {
    cpu & (SHARDS - 1)
}

/// What [`Scheduler::look`] saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Look {
    /// Nothing is ready.
    Nothing,
    /// Only another CPU's handoff, which a pick with `spare_handoffs` spares.
    HandoffOnly,
    /// Something a pick would start.
    Work,
}

/// Most CPUs (harts, worker threads) one executor tracks a current
/// coroutine for.
#[cfg(not(loom))]
pub const MAX_CPUS: usize = 64;
/// Most CPUs (shrunk for model checking).
#[cfg(loom)]
pub const MAX_CPUS: usize = 2;

/// Observable state of a coroutine (see the table in the crate docs).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CoroutineState {
    /// In a ready queue (or popped and about to be polled).
    Ready,
    /// Being polled.
    Running,
    /// Being polled, but its worker was preempted mid-poll.
    RunningSuspended,
    /// Waiting for a wake.
    Blocked,
}

/// A slot taken off the ready queues by [`Scheduler::pick`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Picked {
    pub(crate) id: CoroutineId,
    pub(crate) priority: Priority,
    /// Cancel requested: drop it instead of polling.
    pub(crate) cancelled: bool,
}

/// A coroutine re-queued by its own poll (woken while it ran) that the
/// polling CPU has not linked yet. It is READY (QUEUED), but in no shard
/// until this CPU's next pick links it (or picks it again at once): the
/// same state as between any wake's CAS and its link. Must be consumed by
/// [`Scheduler::pick`] or [`Scheduler::link_requeued`].
#[must_use]
#[derive(Debug)]
pub(crate) struct Requeued(u32);

/// One CPU's entry in the "current" table, alone in its cache line: it is
/// written twice per poll, and CPUs polling side by side must not bounce
/// a shared line.
#[repr(C, align(64))]
struct CurrentEntry(AtomicU64);

/// Scheduling state of one executor (one address space).
pub(crate) struct Scheduler {
    slots: &'static [SchedSlot],
    /// Names this executor in every id it issues.
    salt: u8,
    /// The per-CPU ready structures (see [`shard`]).
    shards: [Shard; SHARDS],
    /// Each shard's bitmap, readable without its lock; written only with
    /// that shard's lock held.
    shard_bitmaps: [ShardBitmap; SHARDS],
    /// `BUSY`, `DIRTY` and the last level given to `publish_priority`.
    publication: AtomicU32,
    /// Tagged head of the free stack: `tag << 32 | index`.
    free_head: AtomicU64,
    /// Slots never used yet are handed out in order before the free stack.
    fresh: AtomicU32,
    /// Coroutines spawned whose slot is not yet released.
    live: AtomicUsize,
    /// Workers parked in `Platform::idle`.
    parked: AtomicUsize,
    current: [CurrentEntry; MAX_CPUS],
    /// Every `aging_every`-th pick serves the longest-waiting coroutine; 0 = off.
    aging_every: u32,
}

// SAFETY: each shard's `queues` is only accessed with that shard's lock
// held (`with_queues`); every other field is atomic or immutable.
unsafe impl Sync for Scheduler {}

impl Scheduler {
    #[cfg(not(loom))]
    pub(crate) const fn new(slots: &'static [SchedSlot], salt: u8) -> Self {
        Self {
            slots,
            salt,
            shards: [const { Shard::new() }; SHARDS],
            shard_bitmaps: [const { ShardBitmap::new() }; SHARDS],
            publication: AtomicU32::new(NOTHING_PUBLISHED),
            free_head: AtomicU64::new(NIL as u64),
            fresh: AtomicU32::new(0),
            live: AtomicUsize::new(0),
            parked: AtomicUsize::new(0),
            current: [const { CurrentEntry(AtomicU64::new(u64::MAX)) }; MAX_CPUS],
            aging_every: 0,
        }
    }
    #[cfg(loom)]
    pub(crate) fn new(slots: &'static [SchedSlot], salt: u8) -> Self {
        Self {
            slots,
            salt,
            shards: core::array::from_fn(|_| Shard::new()),
            shard_bitmaps: core::array::from_fn(|_| ShardBitmap::new()),
            publication: AtomicU32::new(NOTHING_PUBLISHED),
            free_head: AtomicU64::new(NIL as u64),
            fresh: AtomicU32::new(0),
            live: AtomicUsize::new(0),
            parked: AtomicUsize::new(0),
            current: core::array::from_fn(|_| CurrentEntry(AtomicU64::new(u64::MAX))),
            aging_every: 0,
        }
    }

    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) const fn with_aging(mut self, every: u32) -> Self {
        self.aging_every = every;
        self
    }

    pub(crate) const fn with_salt(mut self, salt: u8) -> Self {
        self.salt = salt;
        self
    }

    pub(crate) fn salt(&self) -> u8 {
        self.salt
    }

    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn live(&self) -> usize {
        self.live.load(Acquire)
    }

    pub(crate) fn highest_ready(&self) -> Option<Priority> {
        highest_in(self.ready_bitmap())
    }

    /// The levels ready in any shard (the OR of their bitmap copies).
    pub(crate) fn ready_bitmap(&self) -> u64 {
        self.shards_or()
    }

    /// The slot an id names, if the id is this executor's.
    fn slot(&self, id: CoroutineId) -> Result<&SchedSlot, Error> {
        if id.salt() != self.salt {
            return Err(Error::BadId);
        }
        self.slots.get(id.index() as usize).ok_or(Error::BadId)
    }

    /// The id the slot at `index` currently carries.
    pub(crate) fn id_at(&self, index: u32) -> CoroutineId {
        CoroutineId::new(
            index,
            self.salt,
            state::generation(self.slots[index as usize].state.load()),
        )
    }

    // ----- parking ----------------------------------------------------------

    /// A worker is about to park: returns whether it still may (nothing
    /// ready, and, if `unless_empty`, something live). Call
    /// [`Scheduler::unpark`] after `idle`.
    pub(crate) fn park(&self, unless_empty: bool) -> bool {
        self.parked.fetch_add(1, AcqRel);
        // Pairs with the link side (`notify_if`): every link ends with a
        // read-modify-write of its shard's lock word, and so does this, on
        // every shard. Either ours comes later in that word's order and we
        // see the link's bitmap below, or the link's comes later and its
        // `notify_if` sees us counted.
        for shard in &self.shards {
            shard.touch();
        }
        // Pairs with `parked_now` in the last completion's broadcast, the
        // same way through `parked` itself.
        self.ready_bitmap() == 0 && (!unless_empty || self.live() != 0)
    }

    pub(crate) fn unpark(&self) {
        self.parked.fetch_sub(1, AcqRel);
    }

    /// Workers parked now, as seen by the last coroutine's completion (the
    /// broadcast that ends `run`). A read-modify-write, never a plain
    /// load: after `live` drops, a load could miss a worker that is
    /// parking at that moment (the store-buffering pattern; `park` pairs
    /// with it through `parked`) and so lose its wake-up.
    pub(crate) fn parked_now(&self) -> usize {
        self.parked.fetch_add(0, AcqRel)
    }

    /// Release a parked worker if a link was made. Called after the
    /// link's shard lock was let go: that read-modify-write of the lock
    /// word (`AcqRel`) is what orders this load against a parking worker's
    /// own read-modify-write of the same word (`park`). A load, so that
    /// two CPUs linking side by side do not bounce `parked`'s line.
    fn notify_if<P: Platform + ?Sized>(&self, platform: &P, linked: bool) {
        if linked && self.parked.load(Relaxed) != 0 {
            platform.notify();
        }
    }

    // ----- slot allocation -------------------------------------------------

    /// Take a free slot for a new coroutine. The slot stays FREE (and
    /// invisible to wakes) until [`Scheduler::activate`]. Lock-free.
    pub(crate) fn claim(&self) -> Result<u32, Error> {
        self.pop_free()
            .or_else(|| {
                let i = self.fresh.fetch_add(1, Relaxed);
                if (i as usize) < self.slots.len() {
                    Some(i)
                } else {
                    self.fresh.fetch_sub(1, Relaxed);
                    None
                }
            })
            .ok_or(Error::NoSlot)
    }

    /// Make a claimed slot ready at `priority`; returns its id.
    ///
    /// # Safety
    /// `index` came from [`Scheduler::claim`] and was not activated since.
    pub(crate) unsafe fn activate<P: Platform + ?Sized>(
        &self,
        platform: &P,
        index: u32,
        priority: Priority,
        kind: CoroutineKind,
    ) -> CoroutineId {
        let slot = &self.slots[index as usize];
        slot.kind.store(kind as u8, Relaxed);
        slot.priority.store(priority.level(), Relaxed);
        self.live.fetch_add(1, AcqRel);
        let id = self.id_at(index);
        slot.state.publish_spawned();
        self.make_ready(platform, index);
        id
    }

    fn pop_free(&self) -> Option<u32> {
        let mut head = self.free_head.load(Acquire);
        loop {
            let index = head as u32;
            if index == NIL {
                return None;
            }
            let next = self.slots[index as usize].next.load(Relaxed);
            let tag = (head >> 32).wrapping_add(1);
            match self.free_head.compare_exchange_weak(
                head,
                (tag << 32) | next as u64,
                AcqRel,
                Acquire,
            ) {
                Ok(_) => return Some(index),
                Err(h) => head = h,
            }
        }
    }

    fn push_free(&self, index: u32) {
        let mut head = self.free_head.load(Relaxed);
        loop {
            self.slots[index as usize].next.store(head as u32, Relaxed);
            let tag = (head >> 32).wrapping_add(1);
            match self.free_head.compare_exchange_weak(
                head,
                (tag << 32) | index as u64,
                Release,
                Relaxed,
            ) {
                Ok(_) => return,
                Err(h) => head = h,
            }
        }
    }

    // ----- the COPS operations (any context) --------------------------------

    /// Wake `id`. The one wake path: `Waker::wake` and wake-by-id both end
    /// here. Never waits for a ready lock. Always inlined: left to the
    /// compiler, whether a self-wake (a yield) paid a call here changed
    /// with unrelated code (yield 28 or 31 ns, `Waker` wake 15 or 18).
    #[inline(always)]
    pub(crate) fn wake<P: Platform + ?Sized>(
        &self,
        platform: &P,
        id: CoroutineId,
    ) -> Result<(), Error> {
        if self.slot(id)?.state.wake(id.generation())? == Wake::Enqueue {
            self.make_ready(platform, id.index());
        }
        Ok(())
    }

    /// Wake slot `index` through an owned waker, dropping its ref: `wake`
    /// and `waker_ref_dec` in one read-modify-write of the state word.
    pub(crate) fn wake_and_unref<P: Platform + ?Sized>(&self, platform: &P, index: u32) {
        let (wake, recycled) = self.slots[index as usize].state.wake_and_unref();
        if wake == Wake::Enqueue {
            self.make_ready(platform, index);
        } else if recycled {
            self.push_free(index);
        }
    }

    /// Change the priority of `id`; a queued coroutine moves to the tail of
    /// its new level. Never waits for a ready lock.
    pub(crate) fn set_priority<P: Platform + ?Sized>(
        &self,
        platform: &P,
        id: CoroutineId,
        priority: Priority,
    ) -> Result<(), Error> {
        let slot = self.slot(id)?;
        // Pinned, the slot cannot be recycled (and re-spawned with its own
        // priority) between the id check and the store.
        slot.state.pin(id.generation())?;
        slot.priority.store(priority.level(), Relaxed);
        // Only a QUEUED slot can be linked, or be linked before its state
        // word changes again: one that is RUNNING or BLOCKED at this
        // read-modify-write is linked only after a later one (a wake, the
        // end of its poll), which sees the new level. So the request to
        // every shard (a lock-word read-modify-write each) is made only
        // for a QUEUED slot: the kernel re-prioritises running switching
        // coroutines on every change of its priority view.
        if slot.state.is_queued() {
            self.request_move(platform, id.index());
        }
        self.waker_ref_dec(id.index());
        Ok(())
    }

    pub(crate) fn priority(&self, id: CoroutineId) -> Result<Priority, Error> {
        let slot = self.slot(id)?;
        slot.state.validate(id.generation())?;
        Ok(slot.priority())
    }

    pub(crate) fn kind(&self, id: CoroutineId) -> Result<CoroutineKind, Error> {
        let slot = self.slot(id)?;
        slot.state.validate(id.generation())?;
        Ok(CoroutineKind::from_u8(slot.kind.load(Relaxed)))
    }

    pub(crate) fn state(&self, id: CoroutineId) -> Result<CoroutineState, Error> {
        let s = self.slot(id)?.state.validate(id.generation())?;
        Ok(match state::life(s) {
            state::QUEUED => CoroutineState::Ready,
            state::RUNNING if s & state::SUSPENDED != 0 => CoroutineState::RunningSuspended,
            state::RUNNING => CoroutineState::Running,
            _ => CoroutineState::Blocked,
        })
    }

    /// Ask for `id` to be dropped; a worker drops it (never the caller).
    /// Never waits for a ready lock.
    pub(crate) fn cancel<P: Platform + ?Sized>(
        &self,
        platform: &P,
        id: CoroutineId,
    ) -> Result<(), Error> {
        if self.slot(id)?.state.cancel(id.generation())? == Cancel::Enqueue {
            self.make_ready(platform, id.index());
        }
        Ok(())
    }

    // ----- the worker side (thread context only) ---------------------------

    /// Take the next coroutine to run: the head of the most urgent level of
    /// all shards, O(1) (a look at each shard's bitmap copy). From the
    /// calling CPU's own shard when it has that level, else stolen from a
    /// shard that has it. Moves it QUEUED → RUNNING; the caller owns it
    /// until [`Scheduler::end_poll_pending`] or [`Scheduler::complete`].
    ///
    /// `requeued`, the coroutine this CPU's last poll re-queued, is linked
    /// on the own shard in the same lock hold as the pop (one lock round
    /// trip per yield instead of two), or not linked at all when it is
    /// strictly more urgent than everything ready: then it is picked again
    /// at once, as its link and pop would have done.
    ///
    /// With `spare_handoffs`, a pick that would steal a handoff (a
    /// coroutine another CPU's poll made ready for that CPU to run next,
    /// see `make_ready`) returns `None` instead, starting nothing: the
    /// worker loop looks again a bounded number of times before it steals.
    pub(crate) fn pick<P: Platform + ?Sized>(
        &self,
        platform: &P,
        cpu: usize,
        mut requeued: Option<Requeued>,
        spare_handoffs: bool,
    ) -> Option<Picked> {
        let own = shard_of(cpu);
        // Our own handoff, if any, is ours to take now.
        let own_copy = &self.shard_bitmaps[own];
        if own_copy.handoff.load(Relaxed) {
            own_copy.handoff.store(false, Relaxed);
        }
        let (index, priority) = loop {
            // Own shard first, so a tie stays local; others from the next
            // one on, so stealers spread over victims.
            let mut best = own_copy.bits.load(Acquire).trailing_zeros();
            let mut from = own;
            for k in 1..SHARDS {
                let s = shard_of(own + k);
                let level = self.shard_bitmaps[s].bits.load(Acquire).trailing_zeros();
                if level < best {
                    best = level;
                    from = s;
                }
            }
            if from != own
                && spare_handoffs
                && requeued.is_none()
                && self.shard_bitmaps[from].handoff.load(Relaxed)
            {
                return None;
            }
            if let Some(Requeued(index)) = requeued {
                let level = u32::from(self.slots[index as usize].priority().level());
                if level < best && self.aging_every == 0 {
                    // Its link and pop would change nothing another CPU can
                    // see: skip both (aging counts pops, so not with aging).
                    break (index, Priority::from_level(level as u8));
                }
                if level <= best {
                    (best, from) = (level, own);
                } else if from != own {
                    // Stealing: link it where a parked worker can find it.
                    self.link_ready(platform, own, index);
                    requeued = None;
                }
            }
            if best == u64::BITS {
                return None;
            }
            // Taken meanwhile by another CPU: look again (that CPU runs
            // it, so the priority guarantee holds). Never with `requeued`
            // (linked on `from` before the pop).
            if let Some(popped) = self.pop_from(platform, own, from, best, requeued.take()) {
                break popped;
            }
        };
        let cancelled = self.slots[index as usize].state.start_poll();
        Some(Picked {
            id: self.id_at(index),
            priority,
            cancelled,
        })
    }

    /// Link a coroutine this CPU's poll re-queued, when no pick follows
    /// (the worker returns).
    pub(crate) fn link_requeued<P: Platform + ?Sized>(
        &self,
        platform: &P,
        cpu: usize,
        requeued: Requeued,
    ) {
        // The polling CPU's worker is leaving: a parked one may take it.
        self.link_ready(platform, shard_of(cpu), requeued.0);
    }

    /// The level a re-queued coroutine will be linked at.
    pub(crate) fn requeued_priority(&self, requeued: &Requeued) -> Priority {
        self.slots[requeued.0 as usize].priority()
    }

    /// Record `id` as the coroutine polled on `cpu`; returns the previous
    /// entry (a nested poll restores it). Only `cpu` itself writes its
    /// entry, so a load and a store do (no read-modify-write).
    pub(crate) fn swap_current(&self, cpu: usize, id: Option<CoroutineId>) -> Option<CoroutineId> {
        let entry = &self.current.get(cpu)?.0;
        let prev = entry.load(Relaxed);
        entry.store(id.map_or(u64::MAX, CoroutineId::to_raw), Release);
        (prev != u64::MAX).then(|| CoroutineId::from_raw(prev))
    }

    /// The poll of picked `index` returned `Pending`. A coroutine woken
    /// during its poll is re-queued: returned to be handed to this CPU's
    /// next [`Scheduler::pick`] (or [`Scheduler::link_requeued`]).
    ///
    /// # Safety
    /// The caller picked `index` and has not ended that poll.
    pub(crate) unsafe fn end_poll_pending(&self, index: u32) -> Option<Requeued> {
        (self.slots[index as usize].state.end_poll_pending() == AfterPending::Requeue)
            .then_some(Requeued(index))
    }

    /// The picked coroutine at `index` has been dropped (completed,
    /// cancelled or panicked): its slot is recycled (unless wakers still
    /// hold it), then it stops counting as live.
    ///
    /// # Safety
    /// As for [`Scheduler::end_poll_pending`].
    pub(crate) unsafe fn complete(&self, index: u32) {
        if self.slots[index as usize].state.complete() {
            self.push_free(index);
        }
        self.live.fetch_sub(1, AcqRel);
    }

    /// What a pick on `cpu` would find now, without taking any lock (what
    /// an idle worker's spin looks at).
    pub(crate) fn look(&self, cpu: usize) -> Look {
        let own = shard_of(cpu);
        let mut look = Look::Nothing;
        for (s, copy) in self.shard_bitmaps.iter().enumerate() {
            if copy.bits.load(Acquire) != 0 {
                if s == own || !copy.handoff.load(Relaxed) {
                    return Look::Work;
                }
                look = Look::HandoffOnly;
            }
        }
        look
    }

    /// The level of the coroutine `cpu` is polling, if it polls one of
    /// this executor's.
    pub(crate) fn running_level(&self, cpu: usize) -> Option<u8> {
        let raw = self.current.get(cpu)?.0.load(Relaxed);
        (raw != u64::MAX).then(|| {
            let index = CoroutineId::from_raw(raw).index() as usize;
            self.slots[index].priority().level()
        })
    }

    /// The coroutine being polled on `cpu`.
    pub(crate) fn current(&self, cpu: usize) -> Option<CoroutineId> {
        let raw = self.current.get(cpu)?.0.load(Acquire);
        (raw != u64::MAX).then(|| CoroutineId::from_raw(raw))
    }

    /// Mark the coroutine running on `cpu` as running-suspended (its worker
    /// was preempted mid-poll) or running again.
    pub(crate) fn set_suspended(&self, cpu: usize, suspended: bool) {
        if let Some(id) = self.current(cpu) {
            self.slots[id.index() as usize]
                .state
                .set_suspended(suspended);
        }
    }

    /// A waker for slot `index` was cloned.
    pub(crate) fn waker_ref_inc(&self, index: u32) {
        self.slots[index as usize].state.ref_inc();
    }

    /// A waker for slot `index` was dropped.
    pub(crate) fn waker_ref_dec(&self, index: u32) {
        if self.slots[index as usize].state.ref_dec() {
            self.push_free(index);
        }
    }

    /// Test hook: put slot `index`'s next generation at `generation`.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn force_generation(&self, index: u32, generation: u64) {
        self.slots[index as usize]
            .state
            .force_generation(generation);
    }
}
