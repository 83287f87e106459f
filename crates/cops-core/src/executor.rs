//! The safe executor: storage, spawn and the COPS operations; the worker
//! loop that polls is in `worker`.

use crate::raw::cell::WakeTarget;
use crate::raw::scheduler::Scheduler;
use crate::raw::{CoroutineCell, CoroutineState, RawCoroutine, SchedSlot};
use crate::{CoroutineId, CoroutineKind, Error, Platform, Priority};

mod worker;

/// Slot storage for an executor of `N` coroutines, `const`-constructible so
/// it can be a `static` (no allocator needed). One storage serves exactly
/// one executor: [`static_executor!`](crate::static_executor) declares the
/// storage where nothing else can name it; [`Executor::new`] is `unsafe`
/// because it cannot check that.
pub struct Storage<const N: usize> {
    sched: [SchedSlot; N],
    cells: [CoroutineCell; N],
}

impl<const N: usize> Storage<N> {
    /// Empty storage.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self {
            sched: [const { SchedSlot::new() }; N],
            cells: [const { CoroutineCell::new() }; N],
        }
    }
    /// Empty storage.
    #[cfg(loom)]
    pub fn new() -> Self {
        Self {
            sched: core::array::from_fn(|_| SchedSlot::new()),
            cells: core::array::from_fn(|_| CoroutineCell::new()),
        }
    }
}

impl<const N: usize> Default for Storage<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// What one scheduling step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Polled {
    /// The coroutine.
    pub id: CoroutineId,
    /// The level it ran at.
    pub priority: Priority,
    /// How the step ended.
    pub outcome: Outcome,
}

/// How a scheduling step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Polled; returned `Pending`.
    Pending,
    /// Polled; returned `Ready`.
    Completed,
    /// Cancelled: dropped without polling.
    Cancelled,
    /// Its poll or its destructor panicked (caught with feature `std`):
    /// the slot was released and its [`JoinHandle`](crate::JoinHandle)
    /// resolves to [`JoinError::Panicked`](crate::JoinError::Panicked).
    Panicked,
}

/// Why [`Executor::run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunExit {
    /// No coroutine is left.
    AllDone,
    /// [`Platform::should_yield`] asked for the CPU back.
    Yield,
}

/// A priority coroutine executor shared by any number of CPUs.
///
/// Operations that create wakers take `&'static self`: an executor lives in
/// a `static` ([`static_executor!`](crate::static_executor)), in a vDSO data
/// area ([`Executor::from_parts`]), or is leaked ([`Executor::leak`]).
/// Which operation may be called from where is in the crate docs
/// ("Contexts").
pub struct Executor<P: Platform = crate::NoPlatform> {
    sched: Scheduler,
    cells: &'static [CoroutineCell],
    platform: P,
}

impl<P: Platform> Executor<P> {
    /// An executor over `storage`, salt 0 (see [`Executor::with_salt`]).
    /// [`static_executor!`](crate::static_executor) is the safe way to
    /// write this.
    ///
    /// # Safety
    /// No other executor ever uses `storage`: two executors on one storage
    /// hand out the same slot twice (a data race, then a use-after-free).
    #[cfg(not(loom))]
    pub const unsafe fn new<const N: usize>(storage: &'static Storage<N>, platform: P) -> Self {
        // SAFETY: the caller's contract is this one's.
        unsafe { Self::from_parts(&storage.sched, &storage.cells, platform) }
    }
    /// An executor over `storage`.
    ///
    /// # Safety
    /// As for the non-loom `new`.
    #[cfg(loom)]
    pub unsafe fn new<const N: usize>(storage: &'static Storage<N>, platform: P) -> Self {
        // SAFETY: the caller's contract is this one's.
        unsafe { Self::from_parts(&storage.sched, &storage.cells, platform) }
    }

    /// An executor over separately placed slot halves (e.g. a vDSO data
    /// area), salt 0.
    ///
    /// # Safety
    /// `sched` and `cells` have the same length, at most
    /// [`CoroutineId::MAX_SLOTS`], are fresh (every slot as `new()` made it)
    /// and are used by no other executor, ever.
    #[cfg(not(loom))]
    pub const unsafe fn from_parts(
        sched: &'static [SchedSlot],
        cells: &'static [CoroutineCell],
        platform: P,
    ) -> Self {
        assert!(sched.len() == cells.len() && sched.len() <= CoroutineId::MAX_SLOTS);
        Self {
            sched: Scheduler::new(sched, 0),
            cells,
            platform,
        }
    }
    /// An executor over separately placed slot halves.
    ///
    /// # Safety
    /// As for the non-loom `from_parts`.
    #[cfg(loom)]
    pub unsafe fn from_parts(
        sched: &'static [SchedSlot],
        cells: &'static [CoroutineCell],
        platform: P,
    ) -> Self {
        assert!(sched.len() == cells.len());
        Self {
            sched: Scheduler::new(sched, 0),
            cells,
            platform,
        }
    }

    /// Turn on aging: every `every`-th pick serves the longest-waiting ready
    /// coroutine whatever its priority (`0` = off, the default).
    #[cfg(not(loom))]
    pub const fn with_aging(mut self, every: u32) -> Self {
        self.sched = self.sched.with_aging(every);
        self
    }

    /// Name this executor's ids with `salt`, so ids of executors with other
    /// salts are refused with [`Error::BadId`] (see [`CoroutineId`]).
    #[cfg(not(loom))]
    pub const fn with_salt(mut self, salt: u8) -> Self {
        self.sched = self.sched.with_salt(salt);
        self
    }

    /// An executor with `capacity` heap-allocated slots, leaked to
    /// `'static`. Each gets its own salt (distinct for 256 consecutive
    /// calls). Panics if `capacity` exceeds [`CoroutineId::MAX_SLOTS`].
    #[cfg(feature = "alloc")]
    pub fn leak(capacity: usize, platform: P) -> &'static Self {
        use alloc::{boxed::Box, vec::Vec};
        // A plain (not loom) atomic: a process-wide counter, not modelled.
        static NEXT_SALT: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(1);
        assert!(
            capacity <= CoroutineId::MAX_SLOTS,
            "cops: at most CoroutineId::MAX_SLOTS slots"
        );
        let sched: Vec<SchedSlot> = (0..capacity).map(|_| SchedSlot::new()).collect();
        let cells: Vec<CoroutineCell> = (0..capacity).map(|_| CoroutineCell::new()).collect();
        // SAFETY: fresh slots, leaked here and handed to this executor only.
        let mut exec = unsafe {
            Self::from_parts(
                Box::leak(sched.into_boxed_slice()),
                Box::leak(cells.into_boxed_slice()),
                platform,
            )
        };
        let salt = NEXT_SALT.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        exec.sched = exec.sched.with_salt(salt);
        Box::leak(Box::new(exec))
    }

    /// The platform hooks.
    pub fn platform(&self) -> &P {
        &self.platform
    }

    /// Spawn a type-erased coroutine. The allocation-free primitive under
    /// [`Executor::spawn`] and [`Executor::spawn_in`]. Lock-free: callable
    /// from an interrupt handler. On failure the coroutine comes back.
    pub fn spawn_raw(
        &'static self,
        coroutine: RawCoroutine,
        priority: Priority,
        kind: CoroutineKind,
    ) -> Result<CoroutineId, (Error, RawCoroutine)> {
        let index = match self.sched.claim() {
            Ok(i) => i,
            Err(e) => return Err((e, coroutine)),
        };
        // SAFETY: `claim` handed us the slot exclusively until `activate`.
        unsafe {
            self.cells[index as usize].install(coroutine, self);
            Ok(self.sched.activate(&self.platform, index, priority, kind))
        }
    }

    /// Wake coroutine `id`: make it ready if blocked, or make a poll in
    /// progress run again. Never polls, never waits for a lock: callable
    /// from an interrupt handler. `Waker::wake` does exactly this.
    pub fn wake(&self, id: CoroutineId) -> Result<(), Error> {
        self.sched.wake(&self.platform, id)
    }

    /// Change the priority of `id` (O(1); a queued coroutine moves to the
    /// tail of its new level). Callable from an interrupt handler.
    pub fn set_priority(&self, id: CoroutineId, priority: Priority) -> Result<(), Error> {
        self.sched.set_priority(&self.platform, id, priority)?;
        if self.current_id() == Some(id) {
            // A coroutine re-prioritising itself: the platform hears it now.
            self.platform.running_priority(Some(priority));
        }
        Ok(())
    }

    /// Priority of `id`.
    pub fn priority(&self, id: CoroutineId) -> Result<Priority, Error> {
        self.sched.priority(id)
    }

    /// State of `id`.
    pub fn state(&self, id: CoroutineId) -> Result<CoroutineState, Error> {
        self.sched.state(id)
    }

    /// Kind of `id`.
    pub fn kind(&self, id: CoroutineId) -> Result<CoroutineKind, Error> {
        self.sched.kind(id)
    }

    /// Cancel `id`: it is never polled again and a worker drops it soon
    /// (never the caller). Callable from an interrupt handler.
    pub fn cancel(&self, id: CoroutineId) -> Result<(), Error> {
        self.sched.cancel(&self.platform, id)
    }

    /// The coroutine being polled on the calling CPU (getcid).
    pub fn current_id(&self) -> Option<CoroutineId> {
        self.sched.current(self.platform.cpu_id())
    }

    /// The highest priority with a ready coroutine.
    pub fn highest_ready(&self) -> Option<Priority> {
        self.sched.highest_ready()
    }

    /// The ready bitmap (bit `p` set = something ready at priority `p`).
    pub fn ready_bitmap(&self) -> u64 {
        self.sched.ready_bitmap()
    }

    /// Coroutines spawned whose slot is not yet given back.
    pub fn live(&self) -> usize {
        self.sched.live()
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.sched.capacity()
    }

    /// The salt in every id this executor issues.
    pub fn salt(&self) -> u8 {
        self.sched.salt()
    }

    /// Ask the platform for `n` more CPUs running this executor.
    pub fn alloc_cpu(&'static self, n: usize) -> Result<usize, Error> {
        self.platform.alloc_cpu(self, n)
    }

    /// The platform preempted the calling CPU mid-poll (`true`) or resumed
    /// it (`false`): the running coroutine is running-suspended meanwhile.
    pub fn set_preempted(&self, preempted: bool) {
        self.sched.set_suspended(self.platform.cpu_id(), preempted);
    }
}

impl<P: Platform> Executor<P> {
    /// The index of `cell`, one of this executor's cells.
    fn index_of(&self, cell: &CoroutineCell) -> u32 {
        let offset = cell as *const CoroutineCell as usize - self.cells.as_ptr() as usize;
        (offset / core::mem::size_of::<CoroutineCell>()) as u32
    }
}

impl<P: Platform> WakeTarget for Executor<P> {
    fn wake(&self, cell: &CoroutineCell) {
        // The waker holds a ref, so the slot still carries its occupant's
        // generation; finished coroutines answer `Finished`, which a waker
        // ignores like any late wake.
        let _ = Executor::wake(self, self.sched.id_at(self.index_of(cell)));
    }
    fn wake_and_unref(&self, cell: &CoroutineCell) {
        self.sched
            .wake_and_unref(&self.platform, self.index_of(cell));
    }
    fn ref_inc(&self, cell: &CoroutineCell) {
        self.sched.waker_ref_inc(self.index_of(cell));
    }
    fn ref_dec(&self, cell: &CoroutineCell) {
        self.sched.waker_ref_dec(self.index_of(cell));
    }
    fn id_of(&self, cell: &CoroutineCell) -> CoroutineId {
        self.sched.id_at(self.index_of(cell))
    }
}

/// Declare a `static` executor with its own slot storage, which nothing
/// else can name (so no second executor can share it):
///
/// ```
/// use cops_core::{Executor, NoPlatform, Priority};
///
/// cops_core::static_executor! {
///     /// The kernel's executor.
///     static EXEC: Executor<NoPlatform> = (64, NoPlatform);
/// }
///
/// EXEC.spawn(async {}, Priority::new(3).unwrap()).unwrap();
/// assert_eq!(EXEC.run_until_idle(), 1);
/// assert_eq!(EXEC.capacity(), 64);
/// ```
///
/// The salt of its ids is a hash of the static's path (see
/// [`CoroutineId`]). `.with_aging(n)` may follow the tuple.
#[macro_export]
macro_rules! static_executor {
    ($(#[$meta:meta])* $vis:vis static $name:ident: Executor<$platform_ty:ty> =
        ($slots:expr, $platform:expr $(,)?) $(.with_aging($aging:expr))?;) => {
        $(#[$meta])*
        $vis static $name: $crate::Executor<$platform_ty> = {
            static STORAGE: $crate::Storage<{ $slots }> = $crate::Storage::new();
            // SAFETY: `STORAGE` is declared inside this initializer, where no
            // other code can name it: this executor is its only user.
            unsafe { $crate::Executor::new(&STORAGE, $platform) }
                .with_salt($crate::__salt(concat!(module_path!(), "::", stringify!($name))))
                $(.with_aging($aging))?
        };
    };
}

/// FNV-1a of `name`, folded to 8 bits: the salt of a static executor.
#[doc(hidden)]
pub const fn __salt(name: &str) -> u8 {
    let bytes = name.as_bytes();
    let mut h: u32 = 0x811c_9dc5;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u32;
        h = h.wrapping_mul(0x0100_0193);
        i += 1;
    }
    (h ^ (h >> 8) ^ (h >> 16) ^ (h >> 24)) as u8
}

#[cfg(all(test, not(loom), feature = "alloc"))]
mod tests {
    use super::*;

    /// A slot recycled 2^36 times is retired, not wrapped: every id it ever
    /// carried stays dead. (2^36 real spawns take an hour, so the test puts
    /// the slot at its last generations directly.)
    #[test]
    fn a_slot_is_retired_before_its_generation_wraps() {
        let exec = Executor::leak(1, crate::NoPlatform);
        let last = CoroutineId::MAX_GENERATION;
        exec.sched.force_generation(0, last - 1);
        let a = exec.spawn(async {}, Priority::HIGHEST).unwrap().id();
        exec.run_until_idle();
        let b = exec.spawn(async {}, Priority::HIGHEST).unwrap().id();
        assert_eq!((a.generation(), b.generation()), (last - 1, last));
        exec.run_until_idle();
        assert_eq!(
            exec.spawn(async {}, Priority::HIGHEST).err(),
            Some(Error::NoSlot),
            "the one slot is retired"
        );
        assert_eq!(exec.cancel(a), Err(Error::Stale));
        assert_eq!(exec.set_priority(a, Priority::LOWEST), Err(Error::Stale));
        assert_eq!(exec.cancel(b), Err(Error::Finished));
        // The wrapped-around id (generation 0) names nothing either.
        assert_eq!(
            exec.wake(CoroutineId::new(0, exec.salt(), 0)),
            Err(Error::Stale)
        );
    }
}
