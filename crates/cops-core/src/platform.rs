//! The hooks through which a kernel or a process plugs into an executor.
//! Every method has a default, so a platform implements only what it has.

use crate::{Error, Priority};

/// Something a new CPU can run: an executor's worker loop.
pub trait Worker: Sync {
    /// Run the worker loop on the calling CPU (returns when the executor
    /// has no coroutine left, or when the platform asks it to yield).
    fn run_worker(&'static self);
}

/// Platform hooks of an [`Executor`](crate::Executor).
pub trait Platform: Send + Sync + 'static {
    /// Index of the calling CPU (hart, worker thread), `< MAX_CPUS`.
    fn cpu_id(&self) -> usize {
        0
    }

    /// Nothing is ready: wait until [`Platform::notify`] (e.g. `wfi`, park).
    /// Must have *permit* semantics: if `notify` ran since this CPU's last
    /// `idle` returned, return at once, or a wake can be lost.
    fn idle(&self) {
        core::hint::spin_loop();
    }

    /// A coroutine became ready while some worker is parked in `idle`.
    /// Called only when a worker is parked. May be called from any context
    /// (interrupt handlers included); must not poll.
    fn notify(&self) {}

    /// The highest ready priority of this executor changed. Called with the
    /// ready lock held, in the order of the changes: keep it short (a store
    /// into the kernel's global priority view).
    fn publish_priority(&self, _highest: Option<Priority>) {}

    /// The calling CPU starts polling a coroutine of `priority` (`Some`), or
    /// finished polling it (`None`). Lets a process tell the kernel how
    /// urgent the coroutine on each of its threads is while it runs (a
    /// running coroutine is not in the ready bitmap).
    fn running_priority(&self, _priority: Option<Priority>) {}

    /// Asked after every poll: should the worker stop and give the CPU back
    /// (someone elsewhere, another process or the kernel, has a more urgent
    /// coroutine than `local_highest`)?
    fn should_yield(&self, _local_highest: Option<Priority>) -> bool {
        false
    }

    /// Start `n` more CPUs running `worker`; returns how many were started.
    fn alloc_cpu(&self, _worker: &'static dyn Worker, _n: usize) -> Result<usize, Error> {
        Err(Error::Unsupported)
    }
}

/// A platform with every default: one CPU, idle = spin.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPlatform;

impl Platform for NoPlatform {}
