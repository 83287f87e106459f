//! The pending queue: a bounded, lock-free, multi-producer ring of
//! [`Record`]s that lives in a shared page.
//!
//! # Algorithm
//! Dmitry Vyukov's bounded queue with one sequence word ("stamp") per slot,
//! re-encoded so that **an all-zero page is a valid empty queue**: position
//! `p` lives in slot `p % N` on lap `p / N`; the slot's stamp is `2*lap` when
//! it is free for lap `lap` and `2*lap + 1` when it holds lap `lap`'s record.
//!
//! - A producer claims position `tail` by CAS once the slot's stamp says
//!   "free for this lap", writes the record, then publishes it with a
//!   `Release` store of `2*lap + 1`.
//! - A consumer claims `head` by CAS once the stamp says "full for this lap",
//!   reads the record, then frees the slot for the next lap (`2*lap + 2`).
//! - A stamp from an *older* lap at the producer's position means the ring is
//!   full: the producer gets [`PushError::Full`] and nothing is written.
//!
//! Consumers also claim by CAS, so `pop` is safe to call from several
//! threads; the intended use is one handler per page.
//!
//! # Robustness against a hostile page
//! The page is writable by the receiving process, while the kernel pushes
//! into it. Nothing the receiver writes can make `push` index out of bounds
//! (indices are reduced `% N`), overflow-panic (all arithmetic wraps), or loop
//! forever (an impossible stamp/tail combination returns
//! [`PushError::Invalid`], and CAS retries are bounded). Positions are 64-bit
//! and never wrap in practice (2^64 posts).

use crate::loom::{AtomicU64, Ordering, UnsafeCell};
use crate::record::Record;

/// Bound on CAS retries in `push`; beyond it the push fails with
/// [`PushError::Invalid`] rather than spinning (a receiver rewriting `tail`
/// in a loop must not be able to hold a kernel sender forever).
const MAX_CAS_RETRIES: u32 = 1024;

/// Why a push stored nothing. The record is handed back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushError {
    /// All `N` slots hold unread records.
    Full(Record),
    /// The queue's words are inconsistent (the receiver scribbled on its
    /// page) or CAS retries ran out. Treated like `Full` by senders.
    Invalid(Record),
}

impl PushError {
    /// The record that was not stored.
    pub fn into_record(self) -> Record {
        match self {
            PushError::Full(r) | PushError::Invalid(r) => r,
        }
    }
}

/// A cache line of its own, so producers' `tail` and the consumer's `head`
/// do not share one.
#[repr(C, align(64))]
struct Padded(AtomicU64);

#[repr(C)]
struct Slot {
    stamp: AtomicU64,
    record: UnsafeCell<Record>,
}

/// The ring. `repr(C)`, no pointers, and valid when all-zero (outside loom),
/// so it can sit in a page shared between the kernel and a process.
#[repr(C)]
pub struct PendingQueue<const N: usize> {
    tail: Padded,
    head: Padded,
    slots: [Slot; N],
}

// SAFETY: every slot's `record` is only written by the producer that won the
// CAS on `tail` for that position and before its `Release` stamp store, and
// only read by the consumer that won the CAS on `head` after an `Acquire`
// load of that stamp; the stamps therefore give exclusive, ordered access to
// each record cell. Everything else is atomics.
unsafe impl<const N: usize> Sync for PendingQueue<N> {}
// SAFETY: the queue owns plain data (u64s and atomics); no thread affinity.
unsafe impl<const N: usize> Send for PendingQueue<N> {}

impl<const N: usize> PendingQueue<N> {
    const CHECK: () = assert!(
        N >= 2 && N.is_power_of_two() && N <= (1 << 31),
        "PendingQueue capacity must be a power of two in 2..=2^31"
    );

    /// An empty queue (bit-for-bit all zero outside loom).
    pub fn new() -> Self {
        let () = Self::CHECK;
        Self {
            tail: Padded(AtomicU64::new(0)),
            head: Padded(AtomicU64::new(0)),
            slots: core::array::from_fn(|_| Slot {
                stamp: AtomicU64::new(0),
                record: UnsafeCell::new(Record::default()),
            }),
        }
    }

    /// Capacity in records.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Slot index of `pos` and the stamp meaning "free for `pos`'s lap".
    #[inline]
    fn locate(pos: u64) -> (usize, u64) {
        ((pos % N as u64) as usize, (pos / N as u64).wrapping_mul(2))
    }

    /// Append `record`. Lock-free; fails instead of overwriting.
    pub fn push(&self, record: Record) -> Result<(), PushError> {
        let mut pos = self.tail.0.load(Ordering::Relaxed);
        let mut retries = 0u32;
        loop {
            let (idx, free_stamp) = Self::locate(pos);
            let slot = &self.slots[idx];
            let stamp = slot.stamp.load(Ordering::Acquire);
            let diff = stamp.wrapping_sub(free_stamp) as i64;
            if diff == 0 {
                match self.tail.0.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: winning the CAS for `pos` while the stamp said
                        // "free for this lap" makes us the only writer of this
                        // slot until our Release store below; the consumer of
                        // the previous lap finished reading before it stored
                        // `free_stamp` (Release), which we Acquire-loaded.
                        slot.record.with_mut(|p| unsafe { p.write(record) });
                        slot.stamp
                            .store(free_stamp.wrapping_add(1), Ordering::Release);
                        return Ok(());
                    }
                    Err(current) => pos = current,
                }
            } else if diff < 0 {
                // The slot still holds the previous lap's record.
                return Err(PushError::Full(record));
            } else {
                // Another producer took `pos`; its CAS precedes its stamp
                // store, which we acquired, so `tail` must have moved on.
                let current = self.tail.0.load(Ordering::Relaxed);
                if current == pos {
                    return Err(PushError::Invalid(record));
                }
                pos = current;
            }
            retries += 1;
            if retries > MAX_CAS_RETRIES {
                return Err(PushError::Invalid(record));
            }
        }
    }

    /// Take the oldest record, or `None` if the queue is empty (or its
    /// words are inconsistent: the owner's own page is damaged).
    pub fn pop(&self) -> Option<Record> {
        let mut pos = self.head.0.load(Ordering::Relaxed);
        loop {
            let (idx, free_stamp) = Self::locate(pos);
            let full_stamp = free_stamp.wrapping_add(1);
            let slot = &self.slots[idx];
            let stamp = slot.stamp.load(Ordering::Acquire);
            let diff = stamp.wrapping_sub(full_stamp) as i64;
            if diff == 0 {
                match self.head.0.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: the Acquire load saw the producer's Release
                        // store of `full_stamp`, so the record write is
                        // visible and complete; winning the CAS for `pos`
                        // makes us its only reader, and no producer writes
                        // the slot again until our store of the next lap's
                        // free stamp below.
                        let record = slot.record.with(|p| unsafe { p.read() });
                        slot.stamp
                            .store(full_stamp.wrapping_add(1), Ordering::Release);
                        return Some(record);
                    }
                    Err(current) => pos = current,
                }
            } else if diff < 0 {
                return None;
            } else {
                let current = self.head.0.load(Ordering::Relaxed);
                if current == pos {
                    return None;
                }
                pos = current;
            }
        }
    }

    /// Records currently queued (a snapshot; exact when quiescent).
    pub fn len(&self) -> usize {
        let tail = self.tail.0.load(Ordering::Acquire);
        let head = self.head.0.load(Ordering::Acquire);
        (tail.wrapping_sub(head) as usize).min(N)
    }

    /// Whether [`len`](Self::len) is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<const N: usize> Default for PendingQueue<N> {
    fn default() -> Self {
        Self::new()
    }
}
