//! The scheduling state of one address space: slots, ready queues, free
//! list and the per-CPU "current" table. No futures, no code pointers: this is
//! the part the vDSO exports, operating on a data area it is handed.

use super::state::{self, AfterPending, Cancel, StateWord, Wake};
use crate::loom::{AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Mutex, Ordering::*, UnsafeCell};
use crate::ready::{LinkTable, Links, NIL, ReadyQueues, highest_in};
use crate::{CoroutineId, CoroutineKind, Error, Platform, Priority};

/// Most CPUs (harts, worker threads) one executor tracks a current
/// coroutine for.
#[cfg(not(loom))]
pub const MAX_CPUS: usize = 64;
/// Most CPUs (shrunk for model checking).
#[cfg(loom)]
pub const MAX_CPUS: usize = 2;

/// The scheduling half of one coroutine slot.
pub struct SchedSlot {
    state: StateWord,
    priority: AtomicU8,
    kind: AtomicU8,
    /// Next index in the free stack (meaningful while FREE).
    next_free: AtomicU32,
    /// Ready-queue links: read and written only with `Scheduler::ready` locked.
    links: UnsafeCell<Links>,
}

// SAFETY: every field is atomic except `links`, which is only accessed while
// the owning scheduler's ready lock is held (see `SlotLinks`).
unsafe impl Sync for SchedSlot {}

impl SchedSlot {
    /// An unused slot.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self {
            state: StateWord::new(),
            priority: AtomicU8::new(Priority::LOWEST.level()),
            kind: AtomicU8::new(0),
            next_free: AtomicU32::new(NIL),
            links: UnsafeCell::new(Links::UNLINKED),
        }
    }
    /// An unused slot.
    #[cfg(loom)]
    pub fn new() -> Self {
        Self {
            state: StateWord::new(),
            priority: AtomicU8::new(Priority::LOWEST.level()),
            kind: AtomicU8::new(0),
            next_free: AtomicU32::new(NIL),
            links: UnsafeCell::new(Links::UNLINKED),
        }
    }
}

impl Default for SchedSlot {
    fn default() -> Self {
        Self::new()
    }
}

/// The [`LinkTable`] view of the slots, only constructible with the ready
/// lock held.
struct SlotLinks<'a>(&'a [SchedSlot]);

impl LinkTable for SlotLinks<'_> {
    fn links(&mut self, index: u32) -> &mut Links {
        // SAFETY: a `SlotLinks` exists only inside `Scheduler::with_ready`,
        // i.e. while the ready lock is held, and it is the only path to
        // `links`; `&mut self` keeps the returned borrows from overlapping.
        self.0[index as usize]
            .links
            .with_mut(|p| unsafe { &mut *p })
    }
}

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
pub struct Picked {
    /// The coroutine.
    pub id: CoroutineId,
    /// The level it was queued at.
    pub priority: Priority,
    /// Cancel requested: drop it instead of polling.
    pub cancelled: bool,
}

/// Scheduling state of one executor (one address space).
pub struct Scheduler {
    slots: &'static [SchedSlot],
    ready: Mutex<ReadyQueues>,
    /// Copy of the ready bitmap, readable without the lock.
    ready_bitmap: AtomicU64,
    /// Tagged head of the free stack: `tag << 32 | index`.
    free_head: AtomicU64,
    /// Slots never used yet are handed out in order before the free stack.
    fresh: AtomicU32,
    /// Coroutines spawned and not yet finished.
    live: AtomicUsize,
    current: [AtomicU64; MAX_CPUS],
    /// Every `aging_every`-th pick serves the longest-waiting coroutine; 0 = off.
    aging_every: u32,
}

impl Scheduler {
    /// Scheduling state over `slots`, aging off.
    #[cfg(not(loom))]
    pub const fn new(slots: &'static [SchedSlot]) -> Self {
        Self {
            slots,
            ready: Mutex::new(ReadyQueues::new()),
            ready_bitmap: AtomicU64::new(0),
            free_head: AtomicU64::new(NIL as u64),
            fresh: AtomicU32::new(0),
            live: AtomicUsize::new(0),
            current: [const { AtomicU64::new(u64::MAX) }; MAX_CPUS],
            aging_every: 0,
        }
    }
    /// Scheduling state over `slots`, aging off.
    #[cfg(loom)]
    pub fn new(slots: &'static [SchedSlot]) -> Self {
        Self {
            slots,
            ready: Mutex::new(ReadyQueues::new()),
            ready_bitmap: AtomicU64::new(0),
            free_head: AtomicU64::new(NIL as u64),
            fresh: AtomicU32::new(0),
            live: AtomicUsize::new(0),
            current: core::array::from_fn(|_| AtomicU64::new(u64::MAX)),
            aging_every: 0,
        }
    }

    /// Serve the longest-waiting ready coroutine every `every`-th pick
    /// (`0` turns aging off). See the crate docs on starvation.
    pub const fn with_aging(mut self, every: u32) -> Self {
        self.aging_every = every;
        self
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Coroutines spawned and not yet finished.
    pub fn live(&self) -> usize {
        self.live.load(Acquire)
    }

    /// The highest ready priority, read without locking.
    pub fn highest_ready(&self) -> Option<Priority> {
        highest_in(self.ready_bitmap.load(SeqCst))
    }

    /// The ready bitmap (bit `p` set = something ready at priority `p`).
    pub fn ready_bitmap(&self) -> u64 {
        self.ready_bitmap.load(SeqCst)
    }

    fn slot(&self, id: CoroutineId) -> Result<&SchedSlot, Error> {
        self.slots.get(id.index() as usize).ok_or(Error::BadId)
    }

    /// The id the slot at `index` currently carries.
    pub(crate) fn id_at(&self, index: u32) -> CoroutineId {
        CoroutineId::new(
            index,
            state::generation(self.slots[index as usize].state.load()),
        )
    }

    /// Run `f` on the ready queues with the lock held, then refresh the
    /// lock-free bitmap copy and tell the platform if the best level changed.
    fn with_ready<R, P: Platform + ?Sized>(
        &self,
        platform: &P,
        f: impl FnOnce(&mut ReadyQueues, &mut SlotLinks<'_>) -> R,
    ) -> R {
        let mut q = self.ready.lock();
        let before = q.bitmap();
        let r = f(&mut q, &mut SlotLinks(self.slots));
        let after = q.bitmap();
        if before != after {
            // Release: every change that makes work ready is followed by
            // the executor's read-modify-write of `parked`, which a parking
            // worker's RMW of `parked` synchronises with before it loads
            // this word.
            self.ready_bitmap.store(after, Release);
            if before.trailing_zeros() != after.trailing_zeros() {
                // Under the lock, so publications are ordered like the changes.
                platform.publish_priority(highest_in(after));
            }
        }
        r
    }

    fn enqueue<P: Platform + ?Sized>(&self, platform: &P, index: u32) {
        let slot = &self.slots[index as usize];
        self.with_ready(platform, |q, links| {
            // The priority is read under the lock, so a concurrent
            // `set_priority` is either seen here or moves the linked slot.
            let p = Priority::from_level(slot.priority.load(Relaxed));
            q.push_back(links, index, p);
        });
    }

    // ----- slot allocation -------------------------------------------------

    /// Take a free slot for a new coroutine. The slot stays FREE (and
    /// invisible to wakes) until [`Scheduler::activate`].
    pub fn claim(&self) -> Result<CoroutineId, Error> {
        let index = self.pop_free().or_else(|| {
            let i = self.fresh.fetch_add(1, Relaxed);
            if (i as usize) < self.slots.len() {
                Some(i)
            } else {
                self.fresh.fetch_sub(1, Relaxed);
                None
            }
        });
        index.map(|i| self.id_at(i)).ok_or(Error::NoSlot)
    }

    /// Make a claimed slot ready at `priority`.
    pub fn activate<P: Platform + ?Sized>(
        &self,
        platform: &P,
        id: CoroutineId,
        priority: Priority,
        kind: CoroutineKind,
    ) {
        let slot = &self.slots[id.index() as usize];
        slot.kind.store(kind as u8, Relaxed);
        self.live.fetch_add(1, AcqRel);
        self.with_ready(platform, |q, links| {
            slot.priority.store(priority.level(), Relaxed);
            slot.state.publish_spawned();
            q.push_back(links, id.index(), priority);
        });
    }

    /// Give back a claimed slot that was never activated.
    pub fn unclaim(&self, id: CoroutineId) {
        self.push_free(id.index());
    }

    fn pop_free(&self) -> Option<u32> {
        let mut head = self.free_head.load(Acquire);
        loop {
            let index = head as u32;
            if index == NIL {
                return None;
            }
            let next = self.slots[index as usize].next_free.load(Relaxed);
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
            self.slots[index as usize]
                .next_free
                .store(head as u32, Relaxed);
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

    // ----- the COPS operations ---------------------------------------------

    /// Wake `id`. The one wake path: `Waker::wake` and wake-by-id both end
    /// here. Returns whether the coroutine was made ready by this call.
    pub fn wake<P: Platform + ?Sized>(&self, platform: &P, id: CoroutineId) -> Result<bool, Error> {
        match self.slot(id)?.state.wake(id.generation())? {
            Wake::Enqueue => {
                self.enqueue(platform, id.index());
                Ok(true)
            }
            Wake::Nothing | Wake::Notified => Ok(false),
        }
    }

    /// Change the priority of `id`; a queued coroutine moves to the tail of
    /// its new level at once. O(1).
    pub fn set_priority<P: Platform + ?Sized>(
        &self,
        platform: &P,
        id: CoroutineId,
        priority: Priority,
    ) -> Result<(), Error> {
        let slot = self.slot(id)?;
        self.with_ready(platform, |q, links| {
            // Validated under the lock: a slot recycled and re-spawned
            // concurrently has its priority written under this same lock.
            slot.state.validate(id.generation())?;
            slot.priority.store(priority.level(), Relaxed);
            q.requeue(links, id.index(), priority);
            Ok(())
        })
    }

    /// Current priority of `id`.
    pub fn priority(&self, id: CoroutineId) -> Result<Priority, Error> {
        let slot = self.slot(id)?;
        slot.state.validate(id.generation())?;
        Ok(Priority::from_level(slot.priority.load(Relaxed)))
    }

    /// Kind of `id`.
    pub fn kind(&self, id: CoroutineId) -> Result<CoroutineKind, Error> {
        let slot = self.slot(id)?;
        slot.state.validate(id.generation())?;
        Ok(CoroutineKind::from_u8(slot.kind.load(Relaxed)))
    }

    /// Observable state of `id`.
    pub fn state(&self, id: CoroutineId) -> Result<CoroutineState, Error> {
        let s = self.slot(id)?.state.validate(id.generation())?;
        Ok(match state::life(s) {
            state::QUEUED => CoroutineState::Ready,
            state::RUNNING if s & state::SUSPENDED != 0 => CoroutineState::RunningSuspended,
            state::RUNNING => CoroutineState::Running,
            _ => CoroutineState::Blocked,
        })
    }

    /// Ask for `id` to be dropped; a worker drops it (never the caller, so
    /// cancel is safe from interrupt context).
    pub fn cancel<P: Platform + ?Sized>(
        &self,
        platform: &P,
        id: CoroutineId,
    ) -> Result<bool, Error> {
        match self.slot(id)?.state.cancel(id.generation())? {
            Cancel::Enqueue => {
                self.enqueue(platform, id.index());
                Ok(true)
            }
            Cancel::Flagged => Ok(false),
        }
    }

    // ----- the worker side -------------------------------------------------

    /// Take the next coroutine to run on `cpu`: O(1).
    pub fn pick<P: Platform + ?Sized>(&self, platform: &P, cpu: usize) -> Option<Picked> {
        let aging = self.aging_every;
        let (index, priority) = self.with_ready(platform, |q, links| {
            // `ReadyQueues` counts picks; every `aging`-th one serves the oldest.
            if aging != 0 && q.len() > 1 && q.ticks() % aging == aging - 1 {
                q.pop_oldest(links)
            } else {
                q.pop(links)
            }
        })?;
        let slot = &self.slots[index as usize];
        let cancelled = slot.state.start_poll();
        let id = self.id_at(index);
        if let Some(c) = self.current.get(cpu) {
            c.store(id.to_raw(), Release);
        }
        Some(Picked {
            id,
            priority,
            cancelled,
        })
    }

    /// The poll of `id` on `cpu` returned `Pending`.
    pub fn end_poll_pending<P: Platform + ?Sized>(
        &self,
        platform: &P,
        cpu: usize,
        id: CoroutineId,
    ) -> bool {
        self.clear_current(cpu);
        match self.slots[id.index() as usize].state.end_poll_pending() {
            AfterPending::Requeue => {
                self.enqueue(platform, id.index());
                true
            }
            AfterPending::Blocked => false,
        }
    }

    /// The coroutine `id` picked on `cpu` has been dropped (completed or
    /// cancelled).
    pub fn complete(&self, cpu: usize, id: CoroutineId) {
        self.clear_current(cpu);
        self.live.fetch_sub(1, AcqRel);
        if self.slots[id.index() as usize].state.complete() {
            self.push_free(id.index());
        }
    }

    fn clear_current(&self, cpu: usize) {
        if let Some(c) = self.current.get(cpu) {
            c.store(u64::MAX, Release);
        }
    }

    /// The coroutine being polled on `cpu`.
    pub fn current(&self, cpu: usize) -> Option<CoroutineId> {
        let raw = self.current.get(cpu)?.load(Acquire);
        (raw != u64::MAX).then(|| CoroutineId::from_raw(raw))
    }

    /// Mark the coroutine running on `cpu` as running-suspended (its worker
    /// was preempted mid-poll) or running again.
    pub fn set_suspended(&self, cpu: usize, suspended: bool) {
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
}
