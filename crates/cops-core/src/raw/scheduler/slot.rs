//! One coroutine's scheduling slot: its state word, level, and the links
//! that put it in a shard's queues, free stack, wake inbox or move stacks.
//! Fields are for the scheduler and its shards only (see their docs for
//! who may touch which, and when).

use super::SHARDS;
use crate::Priority;
use crate::loom::{AtomicU8, AtomicU32, Ordering::*, UnsafeCell};
use crate::raw::state::StateWord;
use crate::ready::{LinkTable, Links, NIL};

/// "Linked in no shard" / "no move pending" in a slot's shard fields.
pub(super) const NO_SHARD: u8 = u8::MAX;

/// The scheduling half of one coroutine slot. Opaque: only an
/// [`Executor`](crate::Executor) reads or writes it.
///
/// A cache line each (48 bytes used): a poll writes its slot's state word
/// three times and its shard field twice, and coroutines of neighbouring
/// slots often run on different CPUs (slots are recycled in completion
/// order). Packed at 40 bytes, two workers yielding side by side spent
/// most of their time moving shared lines (`benches/scaling.rs`: a yield
/// storm on two workers 37-40 ns per yield packed, 24-30 ns aligned, one
/// worker 45 ns either way).
#[repr(align(64))]
pub struct SchedSlot {
    pub(super) state: StateWord,
    pub(super) priority: AtomicU8,
    pub(super) kind: AtomicU8,
    /// The shards whose move stacks hold a `set_priority` for this slot
    /// (bit `s` for shard `s`).
    pub(super) move_pending_on: AtomicU8,
    /// The shard whose queues this slot is linked in, or `NO_SHARD`.
    /// Changed only by that shard's lock holder (see `shard`).
    pub(super) linked_in: AtomicU8,
    /// Next index in the free stack (while FREE) or in a wake inbox
    /// (while QUEUED and not yet linked): never both at once.
    pub(super) next: AtomicU32,
    /// Next index in shard `s`'s move stack (while `move_pending_on` has
    /// bit `s`): a slot can be on every shard's stack at once.
    pub(super) move_next: [AtomicU32; SHARDS],
    /// Ready-queue links: read and written only by the lock holder of the
    /// shard `linked_in` names (or, to link it, of the shard linking it).
    pub(super) links: UnsafeCell<Links>,
}

// SAFETY: every field is atomic except `links`, which is only accessed by
// the holder of the lock of the shard the slot is linked in (or is being
// linked in): see `SlotLinks` and the `shard` module docs.
unsafe impl Sync for SchedSlot {}

impl SchedSlot {
    /// An unused slot.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self {
            state: StateWord::new(),
            priority: AtomicU8::new(Priority::LOWEST.level()),
            kind: AtomicU8::new(0),
            move_pending_on: AtomicU8::new(0),
            linked_in: AtomicU8::new(NO_SHARD),
            next: AtomicU32::new(NIL),
            move_next: [const { AtomicU32::new(NIL) }; SHARDS],
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
            move_pending_on: AtomicU8::new(0),
            linked_in: AtomicU8::new(NO_SHARD),
            next: AtomicU32::new(NIL),
            move_next: core::array::from_fn(|_| AtomicU32::new(NIL)),
            links: UnsafeCell::new(Links::UNLINKED),
        }
    }

    /// The level the slot is (or will next be) linked at. `Relaxed`: every
    /// reader that must see a new level reaches it through a
    /// read-modify-write of a shard's lock word (see `shard`).
    pub(super) fn priority(&self) -> Priority {
        Priority::from_level(self.priority.load(Relaxed))
    }
}

impl Default for SchedSlot {
    fn default() -> Self {
        Self::new()
    }
}

/// The [`LinkTable`] view of the slots, only constructed with a shard lock
/// held, and only asked for slots linked in that shard or being linked in
/// it (and their queue neighbours, linked in the same shard).
pub(super) struct SlotLinks<'a>(pub(super) &'a [SchedSlot]);

impl LinkTable for SlotLinks<'_> {
    fn links(&mut self, index: u32) -> &mut Links {
        // SAFETY: a `SlotLinks` exists only while a shard lock is held, and
        // is used only on slots whose `linked_in` names that shard (or
        // that it is linking: `linked_in` set to it first); only holders
        // of that shard touch those links, and this is the only path to
        // them. `&mut self` keeps the returned borrows from overlapping.
        self.0[index as usize]
            .links
            .with_mut(|p| unsafe { &mut *p })
    }
}
