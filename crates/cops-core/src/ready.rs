//! Per-level FIFO ready queues with a priority bitmap: the O(1) pick.
//!
//! Linux's O(1)/rt scheduler shape: one bit per non-empty level in a `u64`,
//! one doubly linked FIFO per level. Pick is `trailing_zeros` plus an unlink
//! at the head; enqueue, removal and a move between levels are a constant
//! number of link updates. Nothing here depends on how many items are queued.
//!
//! The lists are *intrusive by index*: the queue stores only heads and tails,
//! and each item's [`Links`] live wherever the caller keeps its items (the
//! executor's slot table, a slab, a static array), reached through
//! [`LinkTable`]. So the structure never allocates and can sit in a vDSO data
//! page. [`PriorityQueue`] (feature `alloc`) wraps it with its own slab for
//! callers that just want a queue of `T` (the ArceOS port does).

use crate::Priority;

/// Number of priority levels (0 is the highest).
pub const LEVELS: usize = 64;

/// "No item" in an index link.
pub const NIL: u32 = u32::MAX;

const NOT_QUEUED: u8 = u8::MAX;

/// The links one item needs to sit in a [`ReadyQueues`].
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct Links {
    next: u32,
    prev: u32,
    /// Pick tick at which the item was queued: the aging pick serves the
    /// oldest head.
    stamp: u32,
    level: u8,
}

impl Links {
    /// Links of an item that is in no queue.
    pub const UNLINKED: Links = Links {
        next: NIL,
        prev: NIL,
        stamp: 0,
        level: NOT_QUEUED,
    };

    /// The level the item is queued at, if it is queued.
    pub fn queued_level(&self) -> Option<Priority> {
        (self.level != NOT_QUEUED).then(|| Priority::from_level(self.level))
    }
}

impl Default for Links {
    fn default() -> Self {
        Self::UNLINKED
    }
}

/// Where a [`ReadyQueues`] finds the [`Links`] of item `index`.
pub trait LinkTable {
    /// The links of item `index`. Called only with indices the caller pushed
    /// or asks about.
    fn links(&mut self, index: u32) -> &mut Links;
}

impl LinkTable for [Links] {
    fn links(&mut self, index: u32) -> &mut Links {
        &mut self[index as usize]
    }
}

/// Heads, tails and the non-empty bitmap of [`LEVELS`] FIFO queues.
#[derive(Debug)]
#[repr(C)]
pub struct ReadyQueues {
    bitmap: u64,
    len: u32,
    /// Counts picks; stamps items for the aging pick.
    tick: u32,
    head: [u32; LEVELS],
    tail: [u32; LEVELS],
}

impl Default for ReadyQueues {
    fn default() -> Self {
        Self::new()
    }
}

impl ReadyQueues {
    /// Empty queues.
    pub const fn new() -> Self {
        Self {
            bitmap: 0,
            len: 0,
            tick: 0,
            head: [NIL; LEVELS],
            tail: [NIL; LEVELS],
        }
    }

    /// One bit per non-empty level, bit 0 = priority 0.
    pub fn bitmap(&self) -> u64 {
        self.bitmap
    }

    /// Number of queued items.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Number of picks so far (wrapping).
    pub fn ticks(&self) -> u32 {
        self.tick
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.bitmap == 0
    }

    /// The highest non-empty level: one `trailing_zeros`.
    pub fn highest(&self) -> Option<Priority> {
        highest_in(self.bitmap)
    }

    /// Queue `index` at the back of `level`. The item must not be queued.
    pub fn push_back(
        &mut self,
        table: &mut (impl LinkTable + ?Sized),
        index: u32,
        level: Priority,
    ) {
        let l = level.level();
        let tail = self.tail[l as usize];
        let stamp = self.tick;
        *table.links(index) = Links {
            next: NIL,
            prev: tail,
            stamp,
            level: l,
        };
        if tail == NIL {
            self.head[l as usize] = index;
        } else {
            table.links(tail).next = index;
        }
        self.tail[l as usize] = index;
        self.bitmap |= 1 << l;
        self.len += 1;
    }

    /// Queue `index` at the front of `level` (a preempted item keeps its turn).
    pub fn push_front(
        &mut self,
        table: &mut (impl LinkTable + ?Sized),
        index: u32,
        level: Priority,
    ) {
        let l = level.level();
        let head = self.head[l as usize];
        let stamp = self.tick;
        *table.links(index) = Links {
            next: head,
            prev: NIL,
            stamp,
            level: l,
        };
        if head == NIL {
            self.tail[l as usize] = index;
        } else {
            table.links(head).prev = index;
        }
        self.head[l as usize] = index;
        self.bitmap |= 1 << l;
        self.len += 1;
    }

    /// Take the head of the highest non-empty level: O(1).
    pub fn pop(&mut self, table: &mut (impl LinkTable + ?Sized)) -> Option<(u32, Priority)> {
        let level = self.highest()?;
        let index = self.head[level.level() as usize];
        self.unlink(table, index);
        self.tick = self.tick.wrapping_add(1);
        Some((index, level))
    }

    /// Take the item that has waited longest, whatever its level: the heads
    /// of the (at most 64) non-empty levels are compared, so the cost is
    /// bounded by [`LEVELS`], not by the number of items. Used by aging.
    pub fn pop_oldest(&mut self, table: &mut (impl LinkTable + ?Sized)) -> Option<(u32, Priority)> {
        let mut bits = self.bitmap;
        let mut best: Option<(u32, u32, u8)> = None; // (age, index, level)
        while bits != 0 {
            let l = bits.trailing_zeros() as u8;
            bits &= bits - 1;
            let index = self.head[l as usize];
            let age = self.tick.wrapping_sub(table.links(index).stamp);
            if best.is_none_or(|(a, _, _)| age > a) {
                best = Some((age, index, l));
            }
        }
        let (_, index, l) = best?;
        self.unlink(table, index);
        self.tick = self.tick.wrapping_add(1);
        Some((index, Priority::from_level(l)))
    }

    /// Take `index` out of its queue. Returns whether it was queued.
    pub fn remove(&mut self, table: &mut (impl LinkTable + ?Sized), index: u32) -> bool {
        if table.links(index).level == NOT_QUEUED {
            return false;
        }
        self.unlink(table, index);
        true
    }

    /// Move a queued `index` to the back of `level`: O(1). Returns whether it
    /// was queued (an unqueued item is left alone).
    pub fn requeue(
        &mut self,
        table: &mut (impl LinkTable + ?Sized),
        index: u32,
        level: Priority,
    ) -> bool {
        let old = table.links(index).level;
        if old == NOT_QUEUED {
            return false;
        }
        if old != level.level() {
            self.unlink(table, index);
            self.push_back(table, index, level);
        }
        true
    }

    fn unlink(&mut self, table: &mut (impl LinkTable + ?Sized), index: u32) {
        let Links {
            next, prev, level, ..
        } = *table.links(index);
        debug_assert_ne!(level, NOT_QUEUED);
        let l = level as usize;
        if prev == NIL {
            self.head[l] = next;
        } else {
            table.links(prev).next = next;
        }
        if next == NIL {
            self.tail[l] = prev;
        } else {
            table.links(next).prev = prev;
        }
        if self.head[l] == NIL {
            self.bitmap &= !(1 << l);
        }
        *table.links(index) = Links::UNLINKED;
        self.len -= 1;
    }
}

/// The highest level set in a priority bitmap.
#[inline]
pub fn highest_in(bitmap: u64) -> Option<Priority> {
    (bitmap != 0).then(|| Priority::from_level(bitmap.trailing_zeros() as u8))
}

#[cfg(feature = "alloc")]
pub use slab_queue::{PriorityQueue, QueueHandle};

#[cfg(feature = "alloc")]
mod slab_queue {
    use super::{LinkTable, Links, ReadyQueues};
    use crate::Priority;
    use alloc::vec::Vec;

    /// A handle to an item in a [`PriorityQueue`]; carries a generation so a
    /// handle to a removed item never reaches the slot's next occupant.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct QueueHandle {
        index: u32,
        generation: u32,
    }

    struct Entry<T> {
        links: Links,
        generation: u32,
        item: Option<T>,
    }

    struct Entries<T>(Vec<Entry<T>>);

    impl<T> LinkTable for Entries<T> {
        fn links(&mut self, index: u32) -> &mut Links {
            &mut self.0[index as usize].links
        }
    }

    /// [`ReadyQueues`] over its own slab: a priority FIFO of `T` with O(1)
    /// push, pop, remove-by-handle and level change.
    pub struct PriorityQueue<T> {
        queues: ReadyQueues,
        entries: Entries<T>,
        free: Vec<u32>,
    }

    impl<T> Default for PriorityQueue<T> {
        fn default() -> Self {
            Self::new()
        }
    }

    impl<T> PriorityQueue<T> {
        /// An empty queue.
        pub const fn new() -> Self {
            Self {
                queues: ReadyQueues::new(),
                entries: Entries(Vec::new()),
                free: Vec::new(),
            }
        }

        /// Number of queued items.
        pub fn len(&self) -> usize {
            self.queues.len()
        }

        /// Whether the queue is empty.
        pub fn is_empty(&self) -> bool {
            self.queues.is_empty()
        }

        /// The highest non-empty level.
        pub fn highest(&self) -> Option<Priority> {
            self.queues.highest()
        }

        /// The non-empty-levels bitmap.
        pub fn bitmap(&self) -> u64 {
            self.queues.bitmap()
        }

        fn insert(&mut self, item: T) -> u32 {
            if let Some(index) = self.free.pop() {
                self.entries.0[index as usize].item = Some(item);
                index
            } else {
                self.entries.0.push(Entry {
                    links: Links::UNLINKED,
                    generation: 0,
                    item: Some(item),
                });
                (self.entries.0.len() - 1) as u32
            }
        }

        fn handle(&self, index: u32) -> QueueHandle {
            QueueHandle {
                index,
                generation: self.entries.0[index as usize].generation,
            }
        }

        /// Queue `item` at the back of `level`.
        pub fn push_back(&mut self, item: T, level: Priority) -> QueueHandle {
            let index = self.insert(item);
            self.queues.push_back(&mut self.entries, index, level);
            self.handle(index)
        }

        /// Queue `item` at the front of `level`.
        pub fn push_front(&mut self, item: T, level: Priority) -> QueueHandle {
            let index = self.insert(item);
            self.queues.push_front(&mut self.entries, index, level);
            self.handle(index)
        }

        fn release(&mut self, index: u32) -> T {
            let entry = &mut self.entries.0[index as usize];
            entry.generation = entry.generation.wrapping_add(1);
            self.free.push(index);
            entry.item.take().expect("a queued entry holds its item")
        }

        /// Take the head of the highest non-empty level.
        pub fn pop(&mut self) -> Option<(T, Priority)> {
            let (index, level) = self.queues.pop(&mut self.entries)?;
            Some((self.release(index), level))
        }

        fn live(&self, h: QueueHandle) -> bool {
            self.entries
                .0
                .get(h.index as usize)
                .is_some_and(|e| e.generation == h.generation && e.item.is_some())
        }

        /// Remove the item behind `handle`; `None` if the handle is stale.
        pub fn remove(&mut self, handle: QueueHandle) -> Option<T> {
            if !self.live(handle) {
                return None;
            }
            self.queues.remove(&mut self.entries, handle.index);
            Some(self.release(handle.index))
        }

        /// Move the item behind `handle` to the back of `level`; `false` if
        /// the handle is stale.
        pub fn set_level(&mut self, handle: QueueHandle, level: Priority) -> bool {
            self.live(handle) && self.queues.requeue(&mut self.entries, handle.index, level)
        }

        /// The item behind `handle`, if it is still queued.
        pub fn get(&self, handle: QueueHandle) -> Option<&T> {
            self.live(handle)
                .then(|| self.entries.0[handle.index as usize].item.as_ref())
                .flatten()
        }

        /// Iterate over the queued items, highest level first, FIFO within a level.
        pub fn iter(&self) -> impl Iterator<Item = (&T, Priority)> + '_ {
            let mut bits = self.queues.bitmap;
            let mut cursor = super::NIL;
            core::iter::from_fn(move || {
                if cursor == super::NIL {
                    if bits == 0 {
                        return None;
                    }
                    // A level's bit is set only while its queue is not
                    // empty: its head is an entry.
                    let l = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    cursor = self.queues.head[l];
                }
                let e = &self.entries.0[cursor as usize];
                cursor = e.links.next;
                Some((e.item.as_ref()?, Priority::from_level(e.links.level)))
            })
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn p(l: u8) -> Priority {
        Priority::new(l).unwrap()
    }

    #[test]
    fn highest_first_fifo_within_level() {
        let mut links = [Links::UNLINKED; 8];
        let mut q = ReadyQueues::new();
        for (i, l) in [(0, 5), (1, 3), (2, 5), (3, 3), (4, 63)] {
            q.push_back(&mut links[..], i, p(l));
        }
        let order: Vec<u32> =
            core::iter::from_fn(|| q.pop(&mut links[..]).map(|(i, _)| i)).collect();
        assert_eq!(order, [1, 3, 0, 2, 4]);
        assert!(q.is_empty());
    }

    #[test]
    fn requeue_moves_between_levels_and_updates_bitmap() {
        let mut links = [Links::UNLINKED; 4];
        let mut q = ReadyQueues::new();
        q.push_back(&mut links[..], 0, p(10));
        q.push_back(&mut links[..], 1, p(10));
        assert!(q.requeue(&mut links[..], 0, p(2)));
        assert_eq!(q.bitmap(), (1 << 10) | (1 << 2));
        assert!(q.requeue(&mut links[..], 1, p(2)));
        assert_eq!(q.bitmap(), 1 << 2);
        assert!(
            !q.requeue(&mut links[..], 3, p(0)),
            "unqueued items stay unqueued"
        );
        assert_eq!(q.pop(&mut links[..]), Some((0, p(2))));
    }

    #[test]
    fn pop_oldest_serves_longest_waiting_head() {
        let mut links = [Links::UNLINKED; 4];
        let mut q = ReadyQueues::new();
        q.push_back(&mut links[..], 0, p(60));
        q.pop(&mut links[..]);
        q.push_back(&mut links[..], 1, p(60));
        q.push_back(&mut links[..], 2, p(0));
        q.pop(&mut links[..]); // takes 2, ticks past 1's stamp
        q.push_back(&mut links[..], 3, p(0));
        assert_eq!(q.pop_oldest(&mut links[..]), Some((1, p(60))));
    }

    #[test]
    fn priority_queue_handles_are_generation_checked() {
        let mut q = PriorityQueue::new();
        let a = q.push_back("a", p(1));
        let b = q.push_front("b", p(1));
        assert_eq!(q.iter().map(|(v, _)| *v).collect::<Vec<_>>(), ["b", "a"]);
        assert_eq!(q.remove(a), Some("a"));
        assert_eq!(q.remove(a), None);
        let c = q.push_back("c", p(0)); // reuses a's slot
        assert!(
            !q.set_level(a, p(5)),
            "stale handle must not move the new occupant"
        );
        assert!(q.set_level(c, p(7)));
        assert_eq!(q.pop(), Some(("b", p(1))));
        assert_eq!(q.pop(), Some(("c", p(7))));
        assert!(q.get(b).is_none());
    }
}
