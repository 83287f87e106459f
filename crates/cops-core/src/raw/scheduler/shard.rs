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
//! while waiting for one: a stealer that hands a share to its own shard
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
//! `set_priority` stores the new level and asks every shard to move the
//! slot (`request_move_on`): it takes each shard's lock if it is free and
//! applies the move, or else pushes the slot on that shard's move stack
//! and flags `MOVES` in its lock word for the holder. Applying a move
//! requeues the slot at its level if it is linked in that shard, and does
//! nothing otherwise. A link stores `linked_in` and reads the level inside
//! a hold of its shard's lock. Each request is a read-modify-write of the
//! lock word that changes it (`LOCKED` or `MOVES`), so for each shard one
//! of three things holds:
//!
//! - the request comes before a link's hold in the lock word's order:
//!   the link's taking of the lock reads from it (or from a holder that
//!   applied it), and the link reads the new level;
//! - it comes during the hold: the holder's letting go fails on `MOVES`,
//!   and the holder applies the move, now reading the new level, to the
//!   slot it just linked;
//! - it comes after: the request read from the holder's letting go, and
//!   finds the slot linked in that shard (or popped from it since: then
//!   its next link is the first case, on whichever shard).
//!
//! So `linked_in` needs no read-modify-write: every read that matters is
//! under the lock of the shard it names, and only that shard's holders
//! change it from or to that shard. The cost moved from the hot path (two
//! swaps per yield: a link's and a pop's) to `set_priority` of a QUEUED
//! slot (one lock word read-modify-write per shard). Of a RUNNING or
//! BLOCKED one, it asks no shard: its state word's next transition comes
//! before any link and sees the new level (`Scheduler::set_priority`).
//! That matters to a kernel that re-prioritises its running switching
//! coroutines on every change of its priority view: asking every shard
//! each time slowed rcore-n's switching enough that `test_coop_yield` at
//! `-smp 4` failed 8 times in 48 boots (1 in 48 before; the rest of that
//! flake was rcore-n's runtime yielding for nothing, fixed since: 0 in
//! 115). `move_pending_on` has a bit per shard whose move stack holds the
//! slot (at most once per stack: a
//! pending move reads the level when it is applied, so it carries a later
//! one too), and `move_next` a link per shard.
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
//! shard lock held: a path that lets go of a nested shard (a steal's
//! share) hands "something was linked" back to the caller that lets go
//! last. `cpu_id` is read once per worker step and once per
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

use super::{NO_SHARD, Requeued, SHARDS, SchedSlot, Scheduler, SlotLinks, shard_of};
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
    /// Returns whether anything was linked: the caller owes a `notify_if`
    /// once it holds no lock
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
                        self.relink_moves(s);
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
            if before.trailing_zeros() != after.trailing_zeros() && platform.publishes_priority() {
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
    /// on it.
    fn relink_moves(&self, s: usize) {
        let mut m = self.shards[s].moves.swap(NIL, Acquire);
        while m != NIL {
            let slot = &self.slots[m as usize];
            // Before the bit goes: then a new request may reuse the link.
            let next = slot.move_next[s].load(Relaxed);
            slot.move_pending_on.fetch_and(!(1 << s), AcqRel);
            self.apply_move(s, m);
            m = next;
        }
    }

    /// With shard `s`'s lock held: requeue `index` at its level if it is
    /// linked in `s` (module docs: only `s`'s holders change `linked_in`
    /// from or to `s`, so under its lock the answer holds).
    fn apply_move(&self, s: usize, index: u32) {
        if usize::from(self.slots[index as usize].linked_in.load(Relaxed)) == s {
            self.with_queues(s, |q, _| {
                let p = self.slots[index as usize].priority();
                q.requeue(&mut SlotLinks(self.slots), index, p);
            });
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
    /// for a lock: a request on every shard (module docs). The caller has
    /// stored the new level.
    pub(super) fn request_move<P: Platform + ?Sized>(&self, platform: &P, index: u32) {
        let mut linked = false;
        for s in 0..SHARDS {
            linked |= self.request_move_on(platform, s, index);
        }
        // Letting go of a lock we took may have linked pushed wakes.
        self.notify_if(platform, linked);
    }

    /// Move `index` to its level on shard `s` if it is linked there: now,
    /// if the lock is free, or by the holder. Returns whether letting go
    /// linked anything (a `notify_if` is owed).
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
                        self.relink_moves(s);
                        self.apply_move(s, index);
                        return self.release(platform, s);
                    }
                    Err(actual) => w = actual,
                }
                continue;
            }
            // At most once on each move stack: a pending move reads the
            // level when it is applied, so it carries this one too.
            if slot.move_pending_on.fetch_or(1 << s, AcqRel) & (1 << s) == 0 {
                let mut head = shard.moves.load(Relaxed);
                loop {
                    slot.move_next[s].store(head, Relaxed);
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

    /// With shard `s`'s lock held: link `index` (linked nowhere) on `s`,
    /// at the level it has now: a `set_priority` racing with this hold
    /// makes our letting go apply its move (module docs).
    fn link(q: &mut ReadyQueues, slots: &[SchedSlot], s: usize, index: u32) {
        let slot = &slots[index as usize];
        debug_assert_eq!(
            slot.linked_in.load(Relaxed),
            NO_SHARD,
            "linked in one shard at most"
        );
        slot.linked_in.store(s as u8, Relaxed);
        let p = slot.priority();
        q.push_back(&mut SlotLinks(slots), index, p);
    }

    /// With shard `s`'s lock held: the slot just popped from `s` is linked
    /// nowhere now.
    pub(super) fn unlinked(slots: &[SchedSlot], s: usize, index: u32) {
        debug_assert_eq!(
            usize::from(slots[index as usize].linked_in.load(Relaxed)),
            s
        );
        slots[index as usize].linked_in.store(NO_SHARD, Relaxed);
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
