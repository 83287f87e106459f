//! The kernel's global priority view: which address space has the most
//! urgent ready coroutine, answered in O(1).
//!
//! For every priority level there is a two-level bitset of address spaces
//! (a summary word over 64 words of 64 spaces), and one word says which
//! levels are non-empty. Each space is in exactly one level's set: the level
//! of its highest ready coroutine. "Who is most urgent" is three
//! `trailing_zeros`; among spaces of equal priority, [`GlobalPriorityView::pick`]
//! rotates a cursor so ties do not always favour the lowest id.
//!
//! The kernel is the only writer ([`GlobalPriorityView::update`]). Every
//! field is an atomic in a `#[repr(C)]` struct, so the kernel can map the view
//! read-only into processes and let their executors read
//! [`GlobalPriorityView::highest`] (the `should_yield` test) without a
//! system call and without being able to change it.

use crate::loom::{AtomicU8, AtomicU64, Mutex, Ordering::*};
use crate::ready::{LEVELS, highest_in};
use crate::{Error, Priority};

/// Address-space (process) index in the view. The kernel is a space too.
pub type SpaceId = u16;

/// Spaces the view can hold.
#[cfg(not(loom))]
pub const MAX_SPACES: usize = 4096;
/// Spaces the view can hold (shrunk for model checking).
#[cfg(loom)]
pub const MAX_SPACES: usize = 128;

const WORDS: usize = MAX_SPACES / 64;
const NONE: u8 = u8::MAX;

/// One level's set of spaces.
#[repr(C)]
struct SpaceSet {
    summary: AtomicU64,
    words: [AtomicU64; WORDS],
}

/// Address space → highest ready priority, with O(1) "most urgent space".
#[repr(C)]
pub struct GlobalPriorityView {
    /// Bit `p`: some space's highest ready priority is `p`. First, so a
    /// reader mapping only needs this word.
    levels: AtomicU64,
    prio_of: [AtomicU8; MAX_SPACES],
    sets: [SpaceSet; LEVELS],
    /// Writers (kernel CPUs) serialise here; readers never lock.
    writer: Mutex<[u16; LEVELS]>,
}

impl Default for GlobalPriorityView {
    fn default() -> Self {
        Self::new()
    }
}

impl GlobalPriorityView {
    /// An empty view.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self {
            levels: AtomicU64::new(0),
            prio_of: [const { AtomicU8::new(NONE) }; MAX_SPACES],
            sets: [const {
                SpaceSet {
                    summary: AtomicU64::new(0),
                    words: [const { AtomicU64::new(0) }; WORDS],
                }
            }; LEVELS],
            writer: Mutex::new([0; LEVELS]),
        }
    }
    /// An empty view.
    #[cfg(loom)]
    pub fn new() -> Self {
        use core::array::from_fn;
        Self {
            levels: AtomicU64::new(0),
            prio_of: from_fn(|_| AtomicU8::new(NONE)),
            sets: from_fn(|_| SpaceSet {
                summary: AtomicU64::new(0),
                words: from_fn(|_| AtomicU64::new(0)),
            }),
            writer: Mutex::new([0; LEVELS]),
        }
    }

    /// The most urgent priority any space has ready. Lock-free: this is
    /// what user executors read to decide whether to yield.
    pub fn highest(&self) -> Option<Priority> {
        highest_in(self.levels.load(Acquire))
    }

    /// The highest ready priority `space` last reported.
    pub fn priority_of(&self, space: SpaceId) -> Option<Priority> {
        let p = self.prio_of.get(space as usize)?.load(Acquire);
        (p != NONE).then(|| Priority::from_level(p))
    }

    /// Record that `space`'s highest ready priority is now `priority`
    /// (`None`: nothing ready). Returns the new global highest if it changed.
    pub fn update(
        &self,
        space: SpaceId,
        priority: Option<Priority>,
    ) -> Result<Option<Option<Priority>>, Error> {
        let slot = self.prio_of.get(space as usize).ok_or(Error::BadId)?;
        let _w = self.writer.lock();
        let before = self.levels.load(Relaxed);
        let old = slot.load(Relaxed);
        let new = priority.map_or(NONE, Priority::level);
        if old == new {
            return Ok(None);
        }
        let (w, bit) = (space as usize / 64, 1u64 << (space % 64));
        if old != NONE {
            let set = &self.sets[old as usize];
            if set.words[w].fetch_and(!bit, AcqRel) == bit
                && set.summary.fetch_and(!(1 << w), AcqRel) == 1 << w
            {
                self.levels.fetch_and(!(1 << old), AcqRel);
            }
        }
        if new != NONE {
            let set = &self.sets[new as usize];
            set.words[w].fetch_or(bit, AcqRel);
            set.summary.fetch_or(1 << w, AcqRel);
            self.levels.fetch_or(1 << new, AcqRel);
        }
        slot.store(new, Release);
        let after = self.levels.load(Relaxed);
        Ok((before.trailing_zeros() != after.trailing_zeros()).then(|| highest_in(after)))
    }

    /// The most urgent space and its priority, rotating among spaces of
    /// equal priority (round robin from the last pick). O(1).
    pub fn pick(&self) -> Option<(SpaceId, Priority)> {
        let mut cursors = self.writer.lock();
        let level = self.highest()?;
        let set = &self.sets[level.level() as usize];
        let start = cursors[level.level() as usize] as usize % MAX_SPACES;
        let space = first_at_or_after(set, start).or_else(|| first_at_or_after(set, 0))?;
        cursors[level.level() as usize] = (space + 1) as u16;
        Some((space as SpaceId, level))
    }
}

/// First space in `set` with index `>= start`: two masked `trailing_zeros`.
fn first_at_or_after(set: &SpaceSet, start: usize) -> Option<usize> {
    let (w, b) = (start / 64, start % 64);
    let word = set.words[w].load(Acquire) & (u64::MAX << b);
    if word != 0 {
        return Some(w * 64 + word.trailing_zeros() as usize);
    }
    let later = set.summary.load(Acquire) & u64::MAX.checked_shl(w as u32 + 1).unwrap_or(0);
    if later == 0 {
        return None;
    }
    let w = later.trailing_zeros() as usize;
    let word = set.words[w].load(Acquire);
    (word != 0).then(|| w * 64 + word.trailing_zeros() as usize)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn p(l: u8) -> Option<Priority> {
        Priority::new(l)
    }

    #[test]
    fn most_urgent_space_wins_and_ties_rotate() {
        let v = alloc::boxed::Box::new(GlobalPriorityView::new());
        assert_eq!(v.pick(), None);
        v.update(7, p(5)).unwrap();
        v.update(3000, p(2)).unwrap();
        v.update(70, p(2)).unwrap();
        assert_eq!(v.highest(), p(2));
        assert_eq!(v.pick(), Some((70, p(2).unwrap())));
        assert_eq!(v.pick(), Some((3000, p(2).unwrap())));
        assert_eq!(v.pick(), Some((70, p(2).unwrap())), "wraps around");
        assert_eq!(v.update(70, None).unwrap(), None, "3000 still at 2");
        assert_eq!(v.update(3000, p(9)).unwrap(), Some(p(5)));
        assert_eq!(v.pick(), Some((7, p(5).unwrap())));
        assert_eq!(v.priority_of(3000), p(9));
        assert_eq!(v.update(MAX_SPACES as SpaceId, p(1)), Err(Error::BadId));
    }
}
