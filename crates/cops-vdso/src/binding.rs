//! The binding side: check a table, then reach the executor it manages
//! through the same safe API as a statically linked `cops_core::Executor`.

use core::ffi::c_void;

use cops_core::raw::RawCoroutine;
use cops_core::{
    CoroutineId, CoroutineKind, CoroutineState, Error, ExecutorOps, Outcome, Polled, Priority,
    RunExit,
};

use crate::abi::{AbiError, PolledRepr, State, VdsoPlatform, VdsoTable};

/// A checked table.
#[derive(Clone, Copy)]
pub struct Vdso(&'static VdsoTable);

impl Vdso {
    /// Call a loaded image's entry point and check the table it returns.
    ///
    /// # Safety
    /// `entry` is the entry point of an image loaded (and relocated) at the
    /// address it runs from, and stays mapped for the rest of the program.
    pub unsafe fn from_entry(entry: usize) -> Result<Self, AbiError> {
        // SAFETY: per the contract, `entry` is `extern "C" fn() -> *const VdsoTable`.
        let get: extern "C" fn() -> *const VdsoTable = unsafe { core::mem::transmute(entry) };
        // SAFETY: the image's table lives in its (mapped) read-only data.
        Self::from_table(unsafe { &*get() })
    }

    /// Check a table.
    pub fn from_table(table: &'static VdsoTable) -> Result<Self, AbiError> {
        table.check()?;
        Ok(Self(table))
    }

    /// The table.
    pub fn table(&self) -> &'static VdsoTable {
        self.0
    }
}

/// An executor reached through a vDSO table; its state lives in a data
/// area the caller gave it. Spawning, waking, re-prioritising and
/// cancelling come from [`ExecutorOps`] (bring it into scope).
pub struct VdsoExecutor {
    table: &'static VdsoTable,
    state: *const State,
}

// SAFETY: the executor behind the table is built for concurrent use from
// many CPUs (it is `cops_core::Executor`); this is a pointer to it.
unsafe impl Send for VdsoExecutor {}
// SAFETY: as above.
unsafe impl Sync for VdsoExecutor {}

fn result(code: i32) -> Result<(), Error> {
    if code == 0 {
        Ok(())
    } else {
        Err(Error::from_code(code).unwrap_or(Error::BadId))
    }
}

impl VdsoExecutor {
    /// Build an executor in `area` (as many coroutine slots as fit).
    ///
    /// # Safety
    /// `area` is used by nothing else for the rest of the program, and is
    /// aligned to the table's `state_align`.
    pub unsafe fn new(
        vdso: Vdso,
        area: &'static mut [u8],
        platform: &'static VdsoPlatform,
    ) -> Result<Self, Error> {
        let table = vdso.table();
        // SAFETY: per the contract; the image writes only inside `area`.
        let state = unsafe { (table.init)(area.as_mut_ptr(), area.len(), platform) };
        if state.is_null() {
            Err(Error::NoSlot)
        } else {
            Ok(Self { table, state })
        }
    }

    /// An executor with room for `capacity` coroutines, in a zeroed heap
    /// area leaked to `'static`: the safe way to call [`VdsoExecutor::new`]
    /// (the area is fresh, so nothing else uses it). Out of memory, or a
    /// capacity the image cannot fit, is [`Error::NoSlot`].
    pub fn leak(
        vdso: Vdso,
        capacity: usize,
        platform: &'static VdsoPlatform,
    ) -> Result<&'static Self, Error> {
        use alloc::alloc::{Layout, alloc_zeroed, dealloc};
        let t = vdso.table();
        // The image rounds its header up to the slots' alignment: 64 bytes
        // of slack cover that.
        let len = capacity
            .checked_mul(t.slot_size as usize)
            .and_then(|slots| slots.checked_add(t.state_size as usize + 64))
            .ok_or(Error::NoSlot)?;
        let layout = Layout::from_size_align(len, (t.state_align as usize).max(8))
            .map_err(|_| Error::NoSlot)?;
        // SAFETY: `len` is at least 64, so the layout is not zero-sized.
        let area = unsafe { alloc_zeroed(layout) };
        if area.is_null() {
            return Err(Error::NoSlot);
        }
        // SAFETY: `len` fresh bytes aligned to `state_align`, never freed
        // while the executor lives (it lives for the rest of the program),
        // and used by nothing else.
        match unsafe { Self::new(vdso, core::slice::from_raw_parts_mut(area, len), platform) } {
            Ok(exec) => Ok(alloc::boxed::Box::leak(alloc::boxed::Box::new(exec))),
            Err(e) => {
                // SAFETY: allocated above with `layout`; `init` refused it,
                // so nothing refers to it.
                unsafe { dealloc(area, layout) };
                Err(e)
            }
        }
    }

    /// As `Executor::priority`.
    pub fn priority(&self, id: CoroutineId) -> Result<Priority, Error> {
        // SAFETY: `state` came from this table's `init`.
        let r = unsafe { (self.table.priority)(self.state, id.to_raw()) };
        if r < 0 {
            Err(Error::from_code(r).unwrap_or(Error::BadId))
        } else {
            Priority::new(r as u8).ok_or(Error::BadPriority)
        }
    }

    /// As `Executor::state`.
    pub fn state(&self, id: CoroutineId) -> Result<CoroutineState, Error> {
        // SAFETY: `state` came from this table's `init`.
        match unsafe { (self.table.coroutine_state)(self.state, id.to_raw()) } {
            0 => Ok(CoroutineState::Ready),
            1 => Ok(CoroutineState::Running),
            2 => Ok(CoroutineState::RunningSuspended),
            3 => Ok(CoroutineState::Blocked),
            e => Err(Error::from_code(e).unwrap_or(Error::BadId)),
        }
    }

    /// As `Executor::current_id`.
    pub fn current_id(&self) -> Option<CoroutineId> {
        // SAFETY: `state` came from this table's `init`.
        let raw = unsafe { (self.table.current_id)(self.state) };
        (raw != u64::MAX).then(|| CoroutineId::from_raw(raw))
    }

    /// As `Executor::highest_ready`.
    pub fn highest_ready(&self) -> Option<Priority> {
        // SAFETY: `state` came from this table's `init`.
        Priority::new(unsafe { (self.table.highest_ready)(self.state) })
    }

    /// As `Executor::live`.
    pub fn live(&self) -> usize {
        // SAFETY: `state` came from this table's `init`.
        unsafe { (self.table.live)(self.state) }
    }

    /// As `Executor::set_preempted`: the calling CPU's preemption handler
    /// marks its running coroutine running-suspended (`true`) and running
    /// again (`false`).
    pub fn set_preempted(&self, preempted: bool) {
        // SAFETY: `state` came from this table's `init`.
        unsafe { (self.table.set_preempted)(self.state, preempted as u8) }
    }

    /// As `Executor::poll_next`.
    pub fn poll_next(&self) -> Option<Polled> {
        let mut out = PolledRepr::default();
        // SAFETY: `state` came from this table's `init`.
        if !unsafe { (self.table.poll_next)(self.state, &mut out) } {
            return None;
        }
        Some(Polled {
            id: CoroutineId::from_raw(out.id),
            priority: Priority::new(out.level)?,
            outcome: match out.outcome {
                0 => Outcome::Pending,
                1 => Outcome::Completed,
                2 => Outcome::Cancelled,
                _ => Outcome::Panicked,
            },
        })
    }

    /// As `Executor::run_until_idle`.
    pub fn run_until_idle(&self) -> usize {
        let mut n = 0;
        while self.poll_next().is_some() {
            n += 1;
        }
        n
    }

    /// As `Executor::run`.
    pub fn run(&self) -> RunExit {
        // SAFETY: `state` came from this table's `init`.
        match unsafe { (self.table.run)(self.state) } {
            0 => RunExit::AllDone,
            _ => RunExit::Yield,
        }
    }
}

impl ExecutorOps for VdsoExecutor {
    fn spawn_raw(
        &'static self,
        coroutine: RawCoroutine,
        priority: Priority,
        kind: CoroutineKind,
    ) -> Result<CoroutineId, (Error, RawCoroutine)> {
        let (data, vtable) = coroutine.into_parts();
        // SAFETY: as `wake`; the parts are a valid `RawCoroutine`'s.
        let r = unsafe {
            (self.table.spawn)(
                self.state,
                data as *mut c_void,
                vtable as *const _ as *const c_void,
                priority.level(),
                kind as u8,
            )
        };
        if r >= 0 {
            Ok(CoroutineId::from_raw(r as u64))
        } else {
            // SAFETY: the image did not take it: rebuild it from its own parts.
            Err((
                Error::from_code(r as i32).unwrap_or(Error::NoSlot),
                unsafe { RawCoroutine::new(data, vtable) },
            ))
        }
    }
    fn wake(&self, id: CoroutineId) -> Result<(), Error> {
        // SAFETY: `state` came from this table's `init`.
        result(unsafe { (self.table.wake)(self.state, id.to_raw()) })
    }
    fn set_priority(&self, id: CoroutineId, priority: Priority) -> Result<(), Error> {
        // SAFETY: `state` came from this table's `init`.
        result(unsafe { (self.table.set_priority)(self.state, id.to_raw(), priority.level()) })
    }
    fn cancel(&self, id: CoroutineId) -> Result<(), Error> {
        // SAFETY: `state` came from this table's `init`.
        result(unsafe { (self.table.cancel)(self.state, id.to_raw()) })
    }
}
