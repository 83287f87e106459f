//! The coroutine half of a slot: the type-erased future and the way back
//! from a `Waker` to its executor.

use core::task::{Context, Poll};

use crate::loom::UnsafeCell;

/// A type-erased coroutine: a pointer to its state and two functions.
/// `#[repr(C)]` so it can cross the vDSO ABI.
#[repr(C)]
pub struct RawCoroutine {
    pub(crate) data: *mut (),
    pub(crate) vtable: &'static CoroutineVTable,
}

/// How to poll, drop and release a [`RawCoroutine`].
///
/// A coroutine ends in two steps, so that whoever waits for it (a
/// [`JoinHandle`](crate::JoinHandle), a reused static storage) hears of it
/// only once the future is gone *and* its slot is free again:
/// `drop` (the future's destructor runs; the slot is still held), then the
/// executor frees the slot, then `release` (memory and join state).
#[repr(C)]
pub struct CoroutineVTable {
    /// Poll the coroutine once. Must not be called after it returned `Ready`.
    pub poll: unsafe fn(data: *mut (), cx: &mut Context<'_>) -> Poll<()>,
    /// Drop the coroutine's future (completed or not). Called exactly once,
    /// also when `poll` panicked.
    pub drop: unsafe fn(data: *mut ()),
    /// Called exactly once after `drop`, when the slot has been given back:
    /// free the state behind `data` and report the end to any joiner.
    pub release: unsafe fn(data: *mut ()),
}

impl RawCoroutine {
    /// # Safety
    /// `data` must be valid for `vtable.poll`, `vtable.drop` and
    /// `vtable.release` until `release` returns, from whichever CPU polls it
    /// (the executor is multi-CPU: the state behind `data` must be `Send`).
    /// `poll` is not called after it returned `Ready`; `drop` is called once,
    /// then `release` once.
    pub const unsafe fn new(data: *mut (), vtable: &'static CoroutineVTable) -> Self {
        Self { data, vtable }
    }
}

impl RawCoroutine {
    /// Drop and release a coroutine that was never handed to an executor
    /// (e.g. given back by a failed spawn).
    pub fn discard(self) {
        // SAFETY: `new`'s contract: `data` is valid for both functions,
        // called once each, in this order.
        unsafe {
            (self.vtable.drop)(self.data);
            (self.vtable.release)(self.data);
        }
    }

    /// The state pointer and vtable (to hand the coroutine across an ABI;
    /// rebuild it with [`RawCoroutine::new`]).
    pub fn into_parts(self) -> (*mut (), &'static CoroutineVTable) {
        (self.data, self.vtable)
    }
}

// SAFETY: `RawCoroutine::new`'s contract makes the state `Send`.
unsafe impl Send for RawCoroutine {}

/// Where wakers of a slot lead: implemented by `Executor<P>` so the waker
/// vtable need not be generic (and `current_id()` can recognise it). Each
/// takes one of this target's cells: one virtual call per waker operation.
pub(crate) trait WakeTarget: Sync {
    fn wake(&self, cell: &CoroutineCell);
    /// `wake`, then `ref_dec`, in one step (an owned waker's `wake`).
    fn wake_and_unref(&self, cell: &CoroutineCell);
    fn ref_inc(&self, cell: &CoroutineCell);
    fn ref_dec(&self, cell: &CoroutineCell);
    fn id_of(&self, cell: &CoroutineCell) -> crate::CoroutineId;
}

/// The coroutine half of one slot.
pub struct CoroutineCell {
    /// Owned by whoever owns the slot: the spawner while FREE-claimed, the
    /// worker while RUNNING.
    coroutine: UnsafeCell<Option<RawCoroutine>>,
    /// Written by the spawner before the slot is published; read by wakers of
    /// this occupant, which can only exist after publication. (The index is
    /// not kept: the executor finds it from the cell's address.)
    owner: UnsafeCell<Option<&'static dyn WakeTarget>>,
}

// SAFETY: access to both cells follows slot ownership as documented on the
// fields; the state word's Release/Acquire transitions order the accesses.
unsafe impl Sync for CoroutineCell {}

impl Default for CoroutineCell {
    fn default() -> Self {
        Self::new()
    }
}

impl CoroutineCell {
    /// An empty cell.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self {
            coroutine: UnsafeCell::new(None),
            owner: UnsafeCell::new(None),
        }
    }
    /// An empty cell.
    #[cfg(loom)]
    pub fn new() -> Self {
        Self {
            coroutine: UnsafeCell::new(None),
            owner: UnsafeCell::new(None),
        }
    }

    /// # Safety
    /// The caller owns the slot (claimed, not yet activated).
    pub(crate) unsafe fn install(&self, c: RawCoroutine, owner: &'static dyn WakeTarget) {
        // SAFETY: exclusive by the caller's ownership of the claimed slot.
        self.coroutine.with_mut(|p| unsafe { *p = Some(c) });
        // SAFETY: as above; no waker of this occupant exists yet.
        self.owner.with_mut(|p| unsafe { *p = Some(owner) });
    }

    /// # Safety
    /// The caller is the worker that moved the slot to RUNNING.
    pub(crate) unsafe fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: RUNNING is held by exactly one worker (the state word's
        // QUEUED → RUNNING CAS); the coroutine is present until dropped by
        // that same worker.
        self.coroutine.with_mut(|p| {
            let c = unsafe { (*p).as_ref() }.expect("a running slot holds its coroutine");
            unsafe { (c.vtable.poll)(c.data, cx) }
        })
    }

    /// Take the coroutine out of the cell (to drop and release it).
    ///
    /// # Safety
    /// As for [`CoroutineCell::poll`].
    pub(crate) unsafe fn take(&self) -> RawCoroutine {
        // SAFETY: exclusive access as stated by the caller; `take` leaves the
        // cell empty so the coroutine is ended exactly once.
        self.coroutine
            .with_mut(|p| unsafe { (*p).take() })
            .expect("a running slot holds its coroutine")
    }

    /// The executor wakers of this slot lead to.
    pub(crate) fn owner(&self) -> &'static dyn WakeTarget {
        // SAFETY: written once per occupant before publication (see field docs).
        self.owner
            .with(|p| unsafe { *p })
            .expect("wakers exist only for spawned slots")
    }
}
