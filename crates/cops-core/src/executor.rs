//! The safe executor: spawn, the COPS operations, and the worker loop.

use core::task::{Context, Poll};

use crate::loom::{AtomicUsize, Ordering::AcqRel};
use crate::raw::cell::WakeTarget;
use crate::raw::{CoroutineCell, CoroutineState, RawCoroutine, SchedSlot, Scheduler, waker};
use crate::{CoroutineId, CoroutineKind, Error, Platform, Priority, Worker};

/// Slot storage for an executor of `N` coroutines, `const`-constructible so
/// it can be a `static` (no allocator needed).
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
/// a `static`, in a vDSO data area, or is leaked ([`Executor::leak`]).
pub struct Executor<P: Platform = crate::NoPlatform> {
    sched: Scheduler,
    cells: &'static [CoroutineCell],
    parked: AtomicUsize,
    platform: P,
}

impl<P: Platform> Executor<P> {
    /// An executor over `storage`.
    #[cfg(not(loom))]
    pub const fn new<const N: usize>(storage: &'static Storage<N>, platform: P) -> Self {
        Self::from_parts(&storage.sched, &storage.cells, platform)
    }
    /// An executor over `storage`.
    #[cfg(loom)]
    pub fn new<const N: usize>(storage: &'static Storage<N>, platform: P) -> Self {
        Self::from_parts(&storage.sched, &storage.cells, platform)
    }

    /// An executor over separately placed slot halves (e.g. a vDSO data area).
    #[cfg(not(loom))]
    pub const fn from_parts(
        sched: &'static [SchedSlot],
        cells: &'static [CoroutineCell],
        platform: P,
    ) -> Self {
        assert!(sched.len() == cells.len() && sched.len() < u32::MAX as usize);
        Self {
            sched: Scheduler::new(sched),
            cells,
            parked: AtomicUsize::new(0),
            platform,
        }
    }
    /// An executor over separately placed slot halves (e.g. a vDSO data area).
    #[cfg(loom)]
    pub fn from_parts(
        sched: &'static [SchedSlot],
        cells: &'static [CoroutineCell],
        platform: P,
    ) -> Self {
        assert!(sched.len() == cells.len());
        Self {
            sched: Scheduler::new(sched),
            cells,
            parked: AtomicUsize::new(0),
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

    /// An executor with `capacity` heap-allocated slots, leaked to `'static`.
    #[cfg(feature = "alloc")]
    pub fn leak(capacity: usize, platform: P) -> &'static Self {
        use alloc::{boxed::Box, vec::Vec};
        let sched: Vec<SchedSlot> = (0..capacity).map(|_| SchedSlot::new()).collect();
        let cells: Vec<CoroutineCell> = (0..capacity).map(|_| CoroutineCell::new()).collect();
        Box::leak(Box::new(Self::from_parts(
            Box::leak(sched.into_boxed_slice()),
            Box::leak(cells.into_boxed_slice()),
            platform,
        )))
    }

    /// The platform hooks.
    pub fn platform(&self) -> &P {
        &self.platform
    }

    /// The scheduling state (for platforms and the vDSO).
    pub fn scheduler(&self) -> &Scheduler {
        &self.sched
    }

    /// Spawn a type-erased coroutine. The allocation-free primitive under
    /// [`Executor::spawn`] and [`Executor::spawn_in`].
    pub fn spawn_raw(
        &'static self,
        coroutine: RawCoroutine,
        priority: Priority,
        kind: CoroutineKind,
    ) -> Result<CoroutineId, (Error, RawCoroutine)> {
        let id = match self.sched.claim() {
            Ok(id) => id,
            Err(e) => return Err((e, coroutine)),
        };
        // SAFETY: `claim` handed us the slot exclusively until `activate`.
        unsafe { self.cells[id.index() as usize].install(coroutine, self, id.index()) };
        self.sched.activate(&self.platform, id, priority, kind);
        self.notify_if_parked();
        Ok(id)
    }

    /// Wake coroutine `id`: make it ready if blocked, or make a poll in
    /// progress run again. Never polls. `Waker::wake` does exactly this.
    pub fn wake(&self, id: CoroutineId) -> Result<(), Error> {
        if self.sched.wake(&self.platform, id)? {
            self.notify_if_parked();
        }
        Ok(())
    }

    /// Change the priority of `id` (O(1); a queued coroutine moves at once).
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

    /// Cancel `id`: it is never polled again and a worker drops it soon.
    pub fn cancel(&self, id: CoroutineId) -> Result<(), Error> {
        if self.sched.cancel(&self.platform, id)? {
            self.notify_if_parked();
        }
        Ok(())
    }

    /// The coroutine being polled on the calling CPU (getcid).
    pub fn current_id(&self) -> Option<CoroutineId> {
        self.sched.current(self.platform.cpu_id())
    }

    /// The highest priority with a ready coroutine.
    pub fn highest_ready(&self) -> Option<Priority> {
        self.sched.highest_ready()
    }

    /// Coroutines spawned and not finished.
    pub fn live(&self) -> usize {
        self.sched.live()
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

    /// One scheduling step on the calling CPU: pick the most urgent ready
    /// coroutine and poll it (or drop it if cancelled). O(1) pick.
    pub fn poll_next(&'static self) -> Option<Polled> {
        let cpu = self.platform.cpu_id();
        let picked = self.sched.pick(&self.platform, cpu)?;
        let cell = &self.cells[picked.id.index() as usize];
        let outcome = if picked.cancelled {
            Outcome::Cancelled
        } else {
            let waker = waker::borrowed(cell);
            let mut cx = Context::from_waker(&waker);
            self.platform.running_priority(Some(picked.priority));
            // SAFETY: `pick` moved the slot QUEUED → RUNNING for this CPU.
            let polled = unsafe { cell.poll(&mut cx) };
            self.platform.running_priority(None);
            match polled {
                Poll::Ready(()) => Outcome::Completed,
                Poll::Pending => {
                    if self.sched.end_poll_pending(&self.platform, cpu, picked.id) {
                        self.notify_if_parked();
                    }
                    Outcome::Pending
                }
            }
        };
        if outcome != Outcome::Pending {
            // SAFETY: still RUNNING on this CPU; the slot is recycled only
            // after `complete`, so the drop finishes before any reuse.
            unsafe { cell.drop_coroutine() };
            self.sched.complete(cpu, picked.id);
            if self.live() == 0 {
                // Every parked worker must see "all done", not just one.
                for _ in 0..self.parked_now() {
                    self.platform.notify();
                }
            }
        }
        Some(Polled {
            id: picked.id,
            priority: picked.priority,
            outcome,
        })
    }

    /// Poll until nothing is ready. Returns the number of steps.
    pub fn run_until_idle(&'static self) -> usize {
        let mut n = 0;
        while self.poll_next().is_some() {
            n += 1;
        }
        n
    }

    /// The worker loop: poll in priority order, idle when nothing is ready;
    /// return when no coroutine is left or the platform wants the CPU back.
    pub fn run(&'static self) -> RunExit {
        loop {
            if self.live() == 0 {
                return RunExit::AllDone;
            }
            if self.poll_next().is_some() {
                if self.platform.should_yield(self.highest_ready()) {
                    return RunExit::Yield;
                }
                continue;
            }
            // Pairs with `parked_now`: both sides are read-modify-writes of
            // `parked`, so one is ordered after the other. Either the waker's
            // comes later and sees us parked, or ours reads from it and we
            // see its enqueue (or the last completion) below.
            self.parked.fetch_add(1, AcqRel);
            if self.sched.ready_bitmap() == 0 && self.live() != 0 {
                self.platform.idle();
            }
            self.parked.fetch_sub(1, AcqRel);
        }
    }

    /// Workers parked now. A read-modify-write, never a plain load: a load
    /// after an enqueue can miss a worker that is parking at that moment
    /// (the store-buffering pattern; `tests/loom.rs` catches it) and so
    /// lose its wake-up.
    fn parked_now(&self) -> usize {
        self.parked.fetch_add(0, AcqRel)
    }

    fn notify_if_parked(&self) {
        if self.parked_now() != 0 {
            self.platform.notify();
        }
    }
}

impl<P: Platform> Worker for Executor<P> {
    fn run_worker(&'static self) {
        self.run();
    }
}

impl<P: Platform> WakeTarget for Executor<P> {
    fn wake_index(&self, index: u32) {
        // The waker holds a ref, so the slot still carries its occupant's
        // generation; finished coroutines answer `Finished`, which a waker
        // ignores like any late wake.
        let _ = self.wake(self.sched.id_at(index));
    }
    fn ref_inc(&self, index: u32) {
        self.sched.waker_ref_inc(index);
    }
    fn ref_dec(&self, index: u32) {
        self.sched.waker_ref_dec(index);
    }
    fn id_at(&self, index: u32) -> CoroutineId {
        self.sched.id_at(index)
    }
}
