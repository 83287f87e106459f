//! The ready shards: per-CPU ready queues, each behind its own lock that
//! nothing reachable from an interrupt handler waits for.
//!
//! # One shard
//!
//! A shard is the ready structure one CPU links into: 64 FIFOs and their
//! bitmap ([`ReadyQueues`]) behind a spin lock. The lock and a lock-free
//! wake inbox share one atomic word, so making a slot ready (wake, cancel,
//! spawn, a re-queue after a poll) is one CAS that either takes the free
//! lock or, if someone holds it (another CPU stealing, or the very code
//! this interrupt handler interrupted), pushes the slot index on the inbox
//! for the holder. Letting go is one CAS too, which fails if anything was
//! pushed meanwhile: the holder links it first. `set_priority` does the
//! same with a move stack and a flag in the word.
//!
//! ```text
//!  lock word:  [ inbox head (32) | ... | MOVES | LOCKED ]
//!
//!  wake / cancel / spawn ──CAS: free → LOCKED──► link at its level ──┐
//!        │                                                          ├─► CAS: → unlocked
//!        └─ CAS: held → push index ──► holder links it ◄─ fails ────┘   (only if inbox empty)
//! ```
//!
//! Only [`Scheduler::pick`] (the worker side) spins on a shard lock, and it
//! is never called from an interrupt handler. Nobody holds two shard locks
//! while waiting for one: a holder that forwards a move to another shard
//! (below) only ever *tries* that shard's lock (take it if free, push
//! otherwise), so there is no lock order to keep.
//!
//! # Which shard
//!
//! A slot made ready is linked on the shard of the CPU that makes it ready
//! (`cpu_id() % SHARDS`): a coroutine re-queued after its poll goes back
//! where its worker picks, a wake from a pipeline partner lands where the
//! waker runs, and a yield storm never touches another CPU's lines. Each
//! slot's `linked_in` says which shard it is linked in (or none). It is
//! written only by the holder of that shard's lock (`NONE → s` when linking
//! on `s`, `s → NONE` when popping from `s`), and a holder touches a slot's
//! links only if `linked_in` names its own shard: that is what keeps the
//! links' `UnsafeCell` free of data races although different shards'
//! holders run at once (the neighbours a link update touches are in the
//! same queue, hence linked in the same shard).
//!
//! # Moves across shards
//!
//! `set_priority` stores the new level, reads `linked_in` and runs the move
//! protocol on that shard. Every access to `linked_in` is an `AcqRel`
//! read-modify-write: a link's and a pop's swap, the setter's read, the
//! read of a holder that applies a move. With plain loads and stores this
//! would be the store-buffering pattern (the setter misses the link, the
//! link misses the new level); with read-modify-writes only, each one
//! reads from the one before it in the location's modification order, so
//! they are all ordered by happens-before, and one of two things holds:
//!
//! - the setter's read comes after the link: it finds the shard the slot
//!   is linked in, and the move is applied under that shard's lock (or
//!   forwarded, below);
//! - the link comes after the setter's read: it happens-after the setter's
//!   store of the level, and reads the new level.
//!
//! (A plain store would do for the pop under the C11 model, since a pop
//! only ever follows a link; loom, whose modification order for plain
//! stores is partial, then reports a false race, so we pay the swap.)
//!
//! A holder that applies a move and finds (by a read-modify-write) the slot
//! no longer linked in its shard skips it if it is linked nowhere (popped:
//! the next link comes after that read-modify-write, which happens-after
//! the setter's request, so it reads the new level) and forwards it if it
//! is linked in another shard (a setter that found the slot's move already
//! pending on this shard left the move to us; otherwise a harmless extra
//! move). `move_pending_on` (at most one pending move per slot, so one
//! `move_next` link suffices) names the shard whose move stack holds the
//! slot. The cost on the hot path: two uncontended read-modify-writes on
//! the slot's own line per yield (the link's and the pop's swap).
//!
//! # Picking and stealing
//!
//! A pick reads every shard's bitmap copy (own shard first, so a tie
//! stays local), takes the most urgent level, and pops it from the shard
//! that has it, under that shard's lock. If the shard no longer has that
//! level or better when locked (another CPU took it), the pick looks
//! again. A steal (the level is on another shard) also moves half of the
//! rest of that level to the stealer's shard, still under the victim's
//! lock: linked there directly if the stealer's lock is free, else pushed
//! on its inbox like a wake (a second lock is never waited for, so two
//! workers stealing from each other cannot deadlock). The priority
//! guarantee and its window are in the crate docs.
//!
//! # Hooks and locks
//!
//! `Platform::publish_priority` runs with one shard lock held and the
//! publication word `BUSY` (below). `Platform::notify` never runs with a
//! shard lock held: a path that lets go of a nested shard (a forwarded
//! move, a steal's share) hands "something was linked" back to the caller
//! that lets go last. `cpu_id` is read once per worker step and once per
//! wake/cancel/spawn.
//!
//! # The global highest level
//!
//! Each shard's bitmap is copied into its own cache line when it changes
//! (under that shard's lock), so workers can scan every shard without a
//! lock, and the lines stay shared-clean while a storm keeps its levels
//! non-empty. The executor's highest ready level is the OR of those
//! copies; [`Platform::publish_priority`] gets it through a publication
//! word (`BUSY`, `DIRTY`, last published level) that never waits: a shard
//! whose best level changed either takes `BUSY`, computes the OR and
//! publishes it if it changed, or, if `BUSY` is taken, sets `DIRTY`, and
//! the holder computes again before letting go. One read-modify-write per
//! change orders them all (no fences): two on an uncontended change. So two shards changing at
//! once never leave a stale level published (`tests/loom.rs` checks that
//! the last publication equals the true OR).

use super::{NO_SHARD, Requeued, SchedSlot, Scheduler, SlotLinks, shard_of};
use crate::loom::{AtomicBool, AtomicU32, AtomicU64, Ordering::*, UnsafeCell};
use crate::ready::{NIL, ReadyQueues, highest_in};
use crate::{Platform, Priority};

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

/// The publication word: `BUSY` (someone is computing and publishing the
/// OR), `DIRTY` (a shard changed while `BUSY`: compute again) and the last
/// published level (`trailing_zeros` of the OR: 64 for none).
const BUSY: u32 = 1;
const DIRTY: u32 = 2;
const LEVEL_SHIFT: u32 = 8;
pub(super) const NOTHING_PUBLISHED: u32 = 64 << LEVEL_SHIFT;

/// One CPU's ready structure. Its own cache lines: the lock word is written
/// by every link and pop on this shard, and must not share a line with
/// another shard's.
#[repr(C, align(64))]
pub(super) struct Shard {
    /// The ready lock and the wake inbox (see `LOCKED`).
    lock: AtomicU64,
    /// Head of the move stack (`set_priority` requests for the holder).
    moves: AtomicU32,
    /// The per-level FIFOs: only with `lock` held.
    queues: UnsafeCell<ReadyQueues>,
}

impl Shard {
    #[cfg(not(loom))]
    pub(super) const fn new() -> Self {
        Self {
            lock: AtomicU64::new(UNLOCKED),
            moves: AtomicU32::new(NIL),
            queues: UnsafeCell::new(ReadyQueues::new()),
        }
    }
    #[cfg(loom)]
    pub(super) fn new() -> Self {
        Self {
            lock: AtomicU64::new(UNLOCKED),
            moves: AtomicU32::new(NIL),
            queues: UnsafeCell::new(ReadyQueues::new()),
        }
    }
}

/// A shard's bitmap, readable without its lock, alone in its cache line:
/// it is read by every pick of every CPU and written only when one of the
/// shard's levels becomes empty or non-empty.
#[repr(C, align(64))]
pub(super) struct ShardBitmap {
    pub(super) bits: AtomicU64,
    /// The shard's only ready coroutine is a handoff its CPU will run when
    /// its poll returns (`make_ready`): a stealer spares it for a while.
    /// Cleared by that CPU's next pick and by the next link that is not a
    /// handoff. A hint: a stale value only delays or hastens a steal.
    pub(super) handoff: AtomicBool,
}

impl ShardBitmap {
    #[cfg(not(loom))]
    pub(super) const fn new() -> Self {
        Self {
            bits: AtomicU64::new(0),
            handoff: AtomicBool::new(false),
        }
    }
    #[cfg(loom)]
    pub(super) fn new() -> Self {
        Self {
            bits: AtomicU64::new(0),
            handoff: AtomicBool::new(false),
        }
    }
}

impl Shard {
    /// A read-modify-write of the lock word that changes nothing: a parking
    /// worker's half of the pairing with `notify_if` (see `Scheduler::park`).
    pub(super) fn touch(&self) {
        self.lock.fetch_or(0, AcqRel);
    }
}

impl Scheduler {
    /// Spin until shard `s`'s lock is ours (worker side only).
    fn acquire(&self, s: usize) {
        let lock = &self.shards[s].lock;
        loop {
            let w = lock.load(Relaxed);
            if w & LOCKED == 0
                && lock
                    .compare_exchange_weak(w, w | LOCKED, Acquire, Relaxed)
                    .is_ok()
            {
                return;
            }
            crate::loom::spin_loop();
        }
    }

    /// Take shard `s`'s lock if it is free (`true`); otherwise leave the
    /// slots `head` → … → `tail` (chained through `next`: one slot, or the
    /// share a steal moves) on its wake inbox for the holder (`false`).
    /// One CAS, never waits.
    fn acquire_or_push(&self, s: usize, head: u32, tail: u32) -> bool {
        let lock = &self.shards[s].lock;
        let next = &self.slots[tail as usize].next;
        let mut w = lock.load(Relaxed);
        loop {
            let new = if w & LOCKED == 0 {
                debug_assert_eq!(inbox_head(w), NIL, "pushes happen only under a holder");
                w | LOCKED
            } else {
                next.store(inbox_head(w), Relaxed);
                (w & !(u64::from(NIL) << HEAD_SHIFT)) | u64::from(head) << HEAD_SHIFT
            };
            // Acquire: taking the lock. Release: the holder sees `next`.
            match lock.compare_exchange_weak(w, new, AcqRel, Relaxed) {
                Ok(_) => return w & LOCKED == 0,
                Err(actual) => w = actual,
            }
        }
    }

    /// With shard `s`'s lock held: run `f` on its queues.
    fn with_queues<R>(
        &self,
        s: usize,
        f: impl FnOnce(&mut ReadyQueues, &mut SlotLinks<'_>) -> R,
    ) -> R {
        // SAFETY: only called with shard `s`'s lock held (by this thread),
        // which makes this the only access to its queues. `SlotLinks` is
        // only used on slots linked in `s` (see the module docs).
        self.shards[s]
            .queues
            .with_mut(|q| f(unsafe { &mut *q }, &mut SlotLinks(self.slots)))
    }

    /// Let go of shard `s`'s lock: first link what was pushed meanwhile,
    /// refresh its bitmap copy (and the published level) if it changed.
    /// Returns whether anything was linked (here, or on a shard a move was
    /// forwarded to): the caller owes a `notify_if` once it holds no lock
    /// (`Platform::notify` is never called with a ready lock held).
    fn release<P: Platform + ?Sized>(&self, platform: &P, s: usize) -> bool {
        let lock = &self.shards[s].lock;
        let mut linked = false;
        let mut w = lock.load(Acquire);
        loop {
            if inbox_head(w) == NIL && w & MOVES == 0 {
                self.publish(platform, s);
                // One CAS lets go and checks that nothing was pushed since
                // `w`: a push makes it fail, and we link that too. Acquire
                // as well: a parking worker's `touch` before it makes our
                // caller's `notify_if` see that worker counted.
                match lock.compare_exchange_weak(w, UNLOCKED, AcqRel, Acquire) {
                    Ok(_) => return linked,
                    Err(actual) => w = actual,
                }
                continue;
            }
            // Take the inbox (and the moves flag), keep the lock.
            match lock.compare_exchange_weak(w, UNLOCKED | LOCKED, AcqRel, Acquire) {
                Ok(_) => {
                    linked |= self.link_inbox(s, inbox_head(w));
                    if w & MOVES != 0 {
                        linked |= self.relink_moves(platform, s);
                    }
                    w = lock.load(Acquire);
                }
                Err(actual) => w = actual,
            }
        }
    }

    /// With shard `s`'s lock held: its bitmap copy follows its queues, and
    /// the published level follows the OR of the copies.
    fn publish<P: Platform + ?Sized>(&self, platform: &P, s: usize) {
        let copy = &self.shard_bitmaps[s].bits;
        let before = copy.load(Relaxed);
        let after = self.with_queues(s, |q, _| q.bitmap());
        if before != after {
            // Release: picks on other CPUs read the copy without our lock.
            // (A parking worker sees it through the lock word: this store
            // comes before our letting go, which its `touch` reads from.)
            copy.store(after, Release);
            if before.trailing_zeros() != after.trailing_zeros() {
                self.publish_highest(platform);
            }
        }
    }

    /// The OR of the shard bitmap copies.
    pub(super) fn shards_or(&self) -> u64 {
        self.shard_bitmaps
            .iter()
            .fold(0, |acc, b| acc | b.bits.load(Acquire))
    }

    /// A shard's best level changed (its copy is stored): make the
    /// published level the OR's best. Never waits (see the module docs).
    fn publish_highest<P: Platform + ?Sized>(&self, platform: &P) {
        // Every caller does one read-modify-write on the word: it takes
        // `BUSY`, or sets `DIRTY` for the holder. The word's modification
        // order then orders all callers, and each copy store comes before
        // its caller's RMW: the holder sees every copy stored before the
        // RMW it synchronised with (taking `BUSY`, clearing `DIRTY`), and
        // any later one comes with a `DIRTY` that fails its letting go.
        let word = &self.publication;
        let mut w = word.load(Relaxed);
        loop {
            let busy = w & BUSY != 0;
            let new = if busy { w | DIRTY } else { w | BUSY };
            match word.compare_exchange_weak(w, new, AcqRel, Relaxed) {
                // The holder computes again before letting go.
                Ok(_) if busy => return,
                Ok(_) => break,
                Err(actual) => w = actual,
            }
        }
        let busy = w | BUSY;
        let mut published = w >> LEVEL_SHIFT;
        loop {
            let top = self.shards_or().trailing_zeros();
            if top != published {
                platform.publish_priority(highest_in(if top == 64 { 0 } else { 1 << top }));
                published = top;
            }
            // Let go, unless a shard changed meanwhile: then look again.
            match word.compare_exchange(busy, published << LEVEL_SHIFT, AcqRel, Acquire) {
                Ok(_) => return,
                Err(_) => {
                    word.fetch_and(!DIRTY, AcqRel);
                }
            }
        }
    }

    /// With shard `s`'s lock held: link a wake inbox taken off its lock
    /// word. Returns whether it held anything.
    fn link_inbox(&self, s: usize, head: u32) -> bool {
        // The inbox is a stack: reverse it so wakes keep their order.
        let mut fifo = NIL;
        let mut i = head;
        while i != NIL {
            let next = self.slots[i as usize].next.load(Relaxed);
            self.slots[i as usize].next.store(fifo, Relaxed);
            fifo = i;
            i = next;
        }
        self.with_queues(s, |q, _| {
            while fifo != NIL {
                let next = self.slots[fifo as usize].next.load(Relaxed);
                Self::link(q, self.slots, s, fifo);
                fifo = next;
            }
        });
        head != NIL
    }

    /// With shard `s`'s lock held: apply every pending `set_priority` move
    /// on it; forward those whose slot is now linked in another shard.
    /// Returns whether a forward linked anything (a `notify_if` is owed).
    fn relink_moves<P: Platform + ?Sized>(&self, platform: &P, s: usize) -> bool {
        let mut linked = false;
        let mut m = self.shards[s].moves.swap(NIL, Acquire);
        while m != NIL {
            let slot = &self.slots[m as usize];
            let next = slot.move_next.load(Relaxed);
            slot.move_pending_on.swap(NO_SHARD, AcqRel);
            linked |= self.apply_move(platform, s, m);
            m = next;
        }
        linked
    }

    /// With shard `s`'s lock held: a move of `index` requested on `s`.
    /// Applied if the slot is linked in `s`, forwarded if it is linked in
    /// another shard (it was popped from `s` and linked there, maybe at its
    /// old level), dropped if it is linked nowhere. Returns whether a
    /// forward linked anything.
    fn apply_move<P: Platform + ?Sized>(&self, platform: &P, s: usize, index: u32) -> bool {
        // A read-modify-write, like every read of `linked_in` but a link's
        // (module docs): if the slot is linked nowhere now, its next link
        // comes after this in `linked_in`'s order and reads the level the
        // requester stored before handing us the move (and a setter that
        // found this move pending here and left it to us read `linked_in`
        // before, so we see the shard it found, or a later one).
        match self.slots[index as usize].linked_in.fetch_or(0, AcqRel) {
            t if usize::from(t) == s => {
                // Only holders of `s` set `linked_in` to or from `s`: under
                // its lock, the slot stays in our queues.
                self.with_queues(s, |q, _| {
                    let p = self.slots[index as usize].priority();
                    q.requeue(&mut SlotLinks(self.slots), index, p);
                });
                false
            }
            NO_SHARD => false,
            t => self.request_move_on(platform, usize::from(t), index),
        }
    }

    /// Link `index` (spawned, woken, cancelled or re-queued) at its level
    /// on the calling CPU's shard, without ever waiting for the lock (see
    /// the module docs), and release a parked worker for it. A **handoff**
    /// (made ready by a coroutine polled on this CPU, at that coroutine's
    /// level or less urgent, into an empty shard: this CPU picks it as
    /// soon as that poll returns, tokio's LIFO-slot rule) is flagged, so
    /// that stealers spare it for a while: stealing it would only move a
    /// ping-pong pair across CPUs. It still releases a parked worker: the
    /// poll that made it ready may never return (it may wait for the
    /// handoff to run elsewhere), and only a worker that looks can take it.
    pub(super) fn make_ready<P: Platform + ?Sized>(&self, platform: &P, index: u32) {
        let cpu = platform.cpu_id();
        let s = shard_of(cpu);
        let copy = &self.shard_bitmaps[s];
        let level = self.slots[index as usize].priority().level();
        let handoff = self
            .running_level(cpu)
            .is_some_and(|running| level >= running)
            && copy.bits.load(Relaxed) == 0;
        if handoff != copy.handoff.load(Relaxed) {
            copy.handoff.store(handoff, Relaxed);
        }
        self.link_ready(platform, s, index);
    }

    /// `make_ready` on shard `s`: link `index` and release a parked worker
    /// for it.
    pub(super) fn link_ready<P: Platform + ?Sized>(&self, platform: &P, s: usize, index: u32) {
        if self.acquire_or_push(s, index, index) {
            self.with_queues(s, |q, _| Self::link(q, self.slots, s, index));
            // Whatever letting go linked too is covered by this release.
            self.release(platform, s);
            self.notify_if(platform, true);
        }
        // Pushed: the holder links it, and releases a worker for it.
    }

    /// Move `index`, if it is queued, to its (new) level, without waiting
    /// for a lock. The caller has stored the new level.
    pub(super) fn request_move<P: Platform + ?Sized>(&self, platform: &P, index: u32) {
        // A read-modify-write (module docs): we find the slot's shard, or
        // its next link finds our level.
        match self.slots[index as usize].linked_in.fetch_or(0, AcqRel) {
            NO_SHARD => {}
            t => {
                let linked = self.request_move_on(platform, usize::from(t), index);
                self.notify_if(platform, linked);
            }
        }
    }

    /// Move `index`, last seen linked in shard `s`, to its level there.
    /// Returns whether anything was linked on the way (a `notify_if` is
    /// owed: this may run with another shard's lock held).
    fn request_move_on<P: Platform + ?Sized>(&self, platform: &P, s: usize, index: u32) -> bool {
        let slot = &self.slots[index as usize];
        let shard = &self.shards[s];
        let mut w = shard.lock.load(Relaxed);
        loop {
            if w & LOCKED == 0 {
                match shard
                    .lock
                    .compare_exchange_weak(w, w | LOCKED, Acquire, Relaxed)
                {
                    Ok(_) => {
                        // Any move left by a request that found the lock
                        // taken but saw it let go before flagging it, and ours.
                        let mut linked = self.relink_moves(platform, s);
                        linked |= self.apply_move(platform, s, index);
                        return self.release(platform, s) || linked;
                    }
                    Err(actual) => w = actual,
                }
                continue;
            }
            // At most once on a move stack: a pending move reads the
            // level when it is applied, so it carries this one too. If it
            // is pending on another shard, that shard's holder forwards it
            // here (it finds the slot linked in `s`, or linked nowhere).
            if slot
                .move_pending_on
                .compare_exchange(NO_SHARD, s as u8, AcqRel, Acquire)
                .is_ok()
            {
                let mut head = shard.moves.load(Relaxed);
                loop {
                    slot.move_next.store(head, Relaxed);
                    match shard
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
            match shard
                .lock
                .compare_exchange_weak(w, w | MOVES, AcqRel, Relaxed)
            {
                Ok(_) => return false,
                Err(actual) => w = actual,
            }
        }
    }

    /// With shard `s`'s lock held: link `index` (linked nowhere) on `s`.
    fn link(q: &mut ReadyQueues, slots: &[SchedSlot], s: usize, index: u32) {
        let slot = &slots[index as usize];
        // The read-modify-write that pairs with `request_move`'s (module
        // docs); then the level, so a concurrent `set_priority` is either
        // seen here or finds the slot linked in `s` and moves it.
        let was = slot.linked_in.swap(s as u8, AcqRel);
        debug_assert_eq!(was, NO_SHARD, "a slot is linked in one shard at most");
        let p = slot.priority();
        q.push_back(&mut SlotLinks(slots), index, p);
    }

    /// With shard `s`'s lock held: the slot just popped from `s` is linked
    /// nowhere now (a swap: see the module docs).
    pub(super) fn unlinked(slots: &[SchedSlot], s: usize, index: u32) {
        let was = slots[index as usize].linked_in.swap(NO_SHARD, AcqRel);
        debug_assert_eq!(usize::from(was), s);
    }

    /// Lock shard `s`, which a pick on shard `own` chose, expecting a
    /// coroutine at level `best` or better, link `requeued` (only when
    /// `s == own`), and pop (`None`: the level was taken meanwhile). A steal (`s != own`) also moves half of the rest
    /// of that level to `own`: a worker that ran dry gets a share of the
    /// work instead of coming back for every coroutine (a storm at one
    /// level would otherwise migrate one coroutine per steal).
    pub(super) fn pop_from<P: Platform + ?Sized>(
        &self,
        platform: &P,
        own: usize,
        s: usize,
        best: u32,
        requeued: Option<Requeued>,
    ) -> Option<(u32, Priority)> {
        let aging = self.aging_every;
        self.acquire(s);
        if let Some(Requeued(index)) = requeued {
            debug_assert_eq!(s, own, "a re-queued coroutine is linked on its CPU's shard");
            self.with_queues(s, |q, _| Self::link(q, self.slots, s, index));
        }
        // The share, stacked through `next` (newest on top, like an inbox).
        let (mut share, mut share_tail) = (NIL, NIL);
        // Whether letting go of our own shard linked wakes: notified once
        // no lock is held.
        let mut owed = false;
        let popped = self.with_queues(s, |q, links| {
            if q.bitmap().trailing_zeros() > best {
                return None;
            }
            // `ReadyQueues` counts this shard's picks; every `aging`-th one
            // serves its oldest.
            let popped = if aging != 0 && q.len() > 1 && q.ticks() % aging == aging - 1 {
                q.pop_oldest(links)
            } else {
                q.pop(links)
            };
            let (index, level) = popped?;
            Self::unlinked(self.slots, s, index);
            if s != own {
                for _ in 0..q.len() / 2 {
                    if q.highest() != Some(level) {
                        break;
                    }
                    let (moved, _) = q.pop(links)?;
                    Self::unlinked(self.slots, s, moved);
                    self.slots[moved as usize].next.store(share, Relaxed);
                    if share == NIL {
                        share_tail = moved;
                    }
                    share = moved;
                }
            }
            popped
        });
        if share != NIL {
            // Still holding `s`, so the share stays visible in its bitmap
            // copy until it is linked in ours. Only if our lock is free:
            // waiting for it here could deadlock with a worker stealing
            // the other way; if it is not, the share waits in our inbox
            // like a wake (the holder links it before letting go).
            if self.acquire_or_push(own, share, share_tail) {
                self.slots[share_tail as usize].next.store(NIL, Relaxed);
                self.link_inbox(own, share);
                owed = self.release(platform, own);
            }
        }
        let linked = self.release(platform, s);
        self.notify_if(platform, linked || owed);
        popped
    }
}
