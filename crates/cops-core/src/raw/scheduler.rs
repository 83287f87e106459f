//! The scheduling state of one address space: slots, ready queues, free
//! list, the wake inbox and the per-CPU "current" table. No futures, no code
//! pointers: this is the part the vDSO exports, operating on a data area it
//! is handed. Crate-private: its slot protocol (claim, pick, complete) has
//! preconditions only [`crate::Executor`] keeps.
//!
//! ## The ready lock and interrupt handlers
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

use super::state::{self, AfterPending, Cancel, StateWord, Wake};
use crate::loom::{
    AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering::*, UnsafeCell,
};
use crate::ready::{LinkTable, Links, NIL, ReadyQueues, highest_in};
use crate::{CoroutineId, CoroutineKind, Error, Platform, Priority};

/// Most CPUs (harts, worker threads) one executor tracks a current
/// coroutine for.
#[cfg(not(loom))]
pub const MAX_CPUS: usize = 64;
/// Most CPUs (shrunk for model checking).
#[cfg(loom)]
pub const MAX_CPUS: usize = 2;

/// The scheduling half of one coroutine slot. Opaque: only an
/// [`Executor`](crate::Executor) reads or writes it.
pub struct SchedSlot {
    state: StateWord,
    priority: AtomicU8,
    kind: AtomicU8,
    /// A `set_priority` is waiting in the move inbox.
    move_pending: AtomicBool,
    /// Next index in the free stack (while FREE) or in the wake inbox
    /// (while QUEUED and not yet linked): never both at once.
    next: AtomicU32,
    /// Next index in the move inbox (while `move_pending`).
    move_next: AtomicU32,
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
            move_pending: AtomicBool::new(false),
            next: AtomicU32::new(NIL),
            move_next: AtomicU32::new(NIL),
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
            move_pending: AtomicBool::new(false),
            next: AtomicU32::new(NIL),
            move_next: AtomicU32::new(NIL),
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
        // SAFETY: a `SlotLinks` exists only inside `Scheduler::locked`, i.e.
        // while the ready lock is held, and it is the only path to `links`;
        // `&mut self` keeps the returned borrows from overlapping.
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
pub(crate) struct Picked {
    pub(crate) id: CoroutineId,
    pub(crate) priority: Priority,
    /// Cancel requested: drop it instead of polling.
    pub(crate) cancelled: bool,
}

/// The ready lock word: `LOCKED`, `MOVES` (the move stack has entries for
/// the holder) and, in the high half, the head of the wake inbox. One word,
/// so that a push and the lock check are one CAS, and so is letting go and
/// checking that nothing was pushed meanwhile.
const LOCKED: u64 = 1;
const MOVES: u64 = 2;
const HEAD_SHIFT: u32 = 32;
const UNLOCKED: u64 = (NIL as u64) << HEAD_SHIFT;

fn inbox_head(word: u64) -> u32 {
    (word >> HEAD_SHIFT) as u32
}

/// Scheduling state of one executor (one address space).
pub(crate) struct Scheduler {
    slots: &'static [SchedSlot],
    /// Names this executor in every id it issues.
    salt: u8,
    /// The ready lock and the wake inbox (see `LOCKED`).
    lock: AtomicU64,
    /// The per-level FIFOs: only with `lock` held.
    queues: UnsafeCell<ReadyQueues>,
    /// Copy of the ready bitmap, readable without the lock; written only
    /// with the lock held.
    ready_bitmap: AtomicU64,
    /// Head of the move stack (`set_priority` requests for the holder).
    moves: AtomicU32,
    /// Tagged head of the free stack: `tag << 32 | index`.
    free_head: AtomicU64,
    /// Slots never used yet are handed out in order before the free stack.
    fresh: AtomicU32,
    /// Coroutines spawned whose slot is not yet released.
    live: AtomicUsize,
    /// Workers parked in `Platform::idle`.
    parked: AtomicUsize,
    current: [AtomicU64; MAX_CPUS],
    /// Every `aging_every`-th pick serves the longest-waiting coroutine; 0 = off.
    aging_every: u32,
}

// SAFETY: `queues` is only accessed with `lock` held (`with_queues`); every
// other field is atomic or immutable.
unsafe impl Sync for Scheduler {}

impl Scheduler {
    #[cfg(not(loom))]
    pub(crate) const fn new(slots: &'static [SchedSlot], salt: u8) -> Self {
        Self {
            slots,
            salt,
            lock: AtomicU64::new(UNLOCKED),
            queues: UnsafeCell::new(ReadyQueues::new()),
            ready_bitmap: AtomicU64::new(0),
            moves: AtomicU32::new(NIL),
            free_head: AtomicU64::new(NIL as u64),
            fresh: AtomicU32::new(0),
            live: AtomicUsize::new(0),
            parked: AtomicUsize::new(0),
            current: [const { AtomicU64::new(u64::MAX) }; MAX_CPUS],
            aging_every: 0,
        }
    }
    #[cfg(loom)]
    pub(crate) fn new(slots: &'static [SchedSlot], salt: u8) -> Self {
        Self {
            slots,
            salt,
            lock: AtomicU64::new(UNLOCKED),
            queues: UnsafeCell::new(ReadyQueues::new()),
            ready_bitmap: AtomicU64::new(0),
            moves: AtomicU32::new(NIL),
            free_head: AtomicU64::new(NIL as u64),
            fresh: AtomicU32::new(0),
            live: AtomicUsize::new(0),
            parked: AtomicUsize::new(0),
            current: core::array::from_fn(|_| AtomicU64::new(u64::MAX)),
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

    pub(crate) fn ready_bitmap(&self) -> u64 {
        self.ready_bitmap.load(SeqCst)
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

    // ----- the ready lock ---------------------------------------------------

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

    /// Lock the ready queues (spinning: worker side only), run `f`, let go,
    /// and release a parked worker for anything linked meanwhile.
    fn locked<R, P: Platform + ?Sized>(
        &self,
        platform: &P,
        f: impl FnOnce(&mut ReadyQueues, &mut SlotLinks<'_>) -> R,
    ) -> R {
        self.acquire();
        let r = self.with_queues(f);
        let linked = self.release(platform);
        self.notify_if(platform, linked);
        r
    }

    /// Link `index` (spawned, woken, cancelled or re-queued) at its level,
    /// without ever waiting for the lock (see the module docs), and release
    /// a parked worker for it.
    fn make_ready<P: Platform + ?Sized>(&self, platform: &P, index: u32) {
        self.link_ready(platform, index, true);
    }

    /// `make_ready`; with `notify_for_index` false, a parked worker is
    /// released only for *other* slots linked on the way (one
    /// read-modify-write less): for a coroutine re-queued by its own poll,
    /// which the polling CPU's next pick takes anyway.
    fn link_ready<P: Platform + ?Sized>(&self, platform: &P, index: u32, notify_for_index: bool) {
        if self.acquire_or_push(index) {
            self.with_queues(|q, _| Self::link(q, self.slots, index));
            let others = self.release(platform);
            self.notify_if(platform, others || notify_for_index);
        }
        // Pushed: the holder links it, and releases a worker for it.
    }

    /// Move a queued `index` to its (new) level, without waiting for the lock.
    fn request_move<P: Platform + ?Sized>(&self, platform: &P, index: u32) {
        let slot = &self.slots[index as usize];
        let mut w = self.lock.load(Relaxed);
        loop {
            if w & LOCKED == 0 {
                match self
                    .lock
                    .compare_exchange_weak(w, w | LOCKED, Acquire, Relaxed)
                {
                    Ok(_) => {
                        // Ours, and any move left by a request that found the
                        // lock taken but saw it let go before flagging it.
                        self.with_queues(|q, _| Self::relink(q, self.slots, index));
                        self.relink_moves();
                        let linked = self.release(platform);
                        self.notify_if(platform, linked);
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

    // ----- parking ----------------------------------------------------------

    /// A worker is about to park: returns whether it still may (nothing
    /// ready, and, if `unless_empty`, something live). Call
    /// [`Scheduler::unpark`] after `idle`.
    pub(crate) fn park(&self, unless_empty: bool) -> bool {
        // Pairs with `parked_now`: both sides are read-modify-writes of
        // `parked`, so one is ordered after the other. Either the waker's
        // comes later and sees us parked, or ours reads from it and we see
        // its link (or the last completion) below.
        self.parked.fetch_add(1, AcqRel);
        self.ready_bitmap() == 0 && (!unless_empty || self.live() != 0)
    }

    pub(crate) fn unpark(&self) {
        self.parked.fetch_sub(1, AcqRel);
    }

    /// Workers parked now. A read-modify-write, never a plain load: a load
    /// after an enqueue can miss a worker that is parking at that moment
    /// (the store-buffering pattern; `tests/loom.rs` catches it) and so
    /// lose its wake-up.
    pub(crate) fn parked_now(&self) -> usize {
        self.parked.fetch_add(0, AcqRel)
    }

    fn notify_if<P: Platform + ?Sized>(&self, platform: &P, linked: bool) {
        if linked && self.parked_now() != 0 {
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
    /// here. Never waits for the ready lock.
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

    /// Change the priority of `id`; a queued coroutine moves to the tail of
    /// its new level. Never waits for the ready lock.
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
        self.request_move(platform, id.index());
        self.waker_ref_dec(id.index());
        Ok(())
    }

    pub(crate) fn priority(&self, id: CoroutineId) -> Result<Priority, Error> {
        let slot = self.slot(id)?;
        slot.state.validate(id.generation())?;
        Ok(Priority::from_level(slot.priority.load(Relaxed)))
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
    /// Never waits for the ready lock.
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

    /// Take the next coroutine to run: O(1). Moves it QUEUED → RUNNING; the
    /// caller owns it until [`Scheduler::end_poll_pending`] or
    /// [`Scheduler::complete`].
    pub(crate) fn pick<P: Platform + ?Sized>(&self, platform: &P) -> Option<Picked> {
        let aging = self.aging_every;
        let (index, priority) = self.locked(platform, |q, links| {
            // `ReadyQueues` counts picks; every `aging`-th one serves the oldest.
            if aging != 0 && q.len() > 1 && q.ticks() % aging == aging - 1 {
                q.pop_oldest(links)
            } else {
                q.pop(links)
            }
        })?;
        let cancelled = self.slots[index as usize].state.start_poll();
        Some(Picked {
            id: self.id_at(index),
            priority,
            cancelled,
        })
    }

    /// Record `id` as the coroutine polled on `cpu`; returns the previous
    /// entry (a nested poll restores it). Only `cpu` itself writes its
    /// entry, so a load and a store do (no read-modify-write).
    pub(crate) fn swap_current(&self, cpu: usize, id: Option<CoroutineId>) -> Option<CoroutineId> {
        let entry = self.current.get(cpu)?;
        let prev = entry.load(Relaxed);
        entry.store(id.map_or(u64::MAX, CoroutineId::to_raw), Release);
        (prev != u64::MAX).then(|| CoroutineId::from_raw(prev))
    }

    /// The poll of picked `index` returned `Pending`.
    ///
    /// # Safety
    /// The caller picked `index` and has not ended that poll.
    pub(crate) unsafe fn end_poll_pending<P: Platform + ?Sized>(&self, platform: &P, index: u32) {
        if self.slots[index as usize].state.end_poll_pending() == AfterPending::Requeue {
            // The polling CPU picks again next: no parked worker is needed.
            self.link_ready(platform, index, false);
        }
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

    /// The coroutine being polled on `cpu`.
    pub(crate) fn current(&self, cpu: usize) -> Option<CoroutineId> {
        let raw = self.current.get(cpu)?.load(Acquire);
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
