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
    /// `idle` returned, return at once, or a wake can be lost. Returning
    /// early is always allowed (the worker looks again and parks again).
    /// Called by the worker loop only, never with a ready lock held.
    fn idle(&self) {
        core::hint::spin_loop();
    }

    /// Release **at least one** CPU parked in [`Platform::idle`] (or make
    /// the next `idle` of one CPU return at once). The executor calls it
    /// once per coroutine that became ready while some worker was parked,
    /// and once per parked worker when the last coroutine finishes; extra
    /// calls are harmless. Called from wherever a wake happens, interrupt
    /// handlers included, never with a ready lock held: it must not block
    /// on anything an interrupted CPU may hold, and must not poll.
    fn notify(&self) {}

    /// The highest ready priority of this executor (over all its ready
    /// shards) changed. Called with a shard lock and the executor's
    /// publication flag held, one call at a time, in the order of the
    /// changes: keep it short (a store into the kernel's global priority
    /// view).
    fn publish_priority(&self, _highest: Option<Priority>) {}

    /// Whether this platform wants [`Platform::publish_priority`] calls.
    /// `false` (nothing outside the executor ranks it, e.g. a kernel with
    /// one executor and no priority view) skips the executor-wide
    /// publication word: two read-modify-writes each time the highest
    /// ready level changes, about a tenth of a ping-pong on the host
    /// (`benches/RESULTS.md`). With `false`, `publish_priority` is never
    /// called. Return a constant: it is read at every change.
    fn publishes_priority(&self) -> bool {
        true
    }

    /// The calling CPU starts polling a coroutine of `priority` (`Some`), or
    /// finished polling it (`None`). Lets a process tell the kernel how
    /// urgent the coroutine on each of its threads is while it runs (a
    /// running coroutine is not in the ready bitmap). A coroutine that
    /// yielded stays with its CPU for the next pick, also outside the
    /// bitmap: until that pick links or polls it, the poll's end reports
    /// its level, not `None`.
    fn running_priority(&self, _priority: Option<Priority>) {}

    /// Asked after every poll: should the worker stop and give the CPU back
    /// (someone elsewhere, another process or the kernel, has a more urgent
    /// coroutine than `local_highest`)? `local_highest` counts the
    /// coroutine that just yielded, which the worker holds outside the
    /// ready bitmap while it asks: [`Executor::highest_ready`] alone would
    /// miss it, and a busy executor with one coroutine would look idle.
    ///
    /// [`Executor::highest_ready`]: crate::Executor::highest_ready
    fn should_yield(&self, _local_highest: Option<Priority>) -> bool {
        false
    }

    /// Start `n` more CPUs running `worker`; returns how many were started.
    fn alloc_cpu(&self, _worker: &'static dyn Worker, _n: usize) -> Result<usize, Error> {
        Err(Error::Unsupported)
    }
}

/// A platform with every default (one CPU, idle = spin) that publishes no
/// priority: nothing outside the executor ranks it.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPlatform;

impl Platform for NoPlatform {
    fn publishes_priority(&self) -> bool {
        false
    }
}

/// Hands a worker to a CPU the platform starts (a hart brought up with SBI
/// HSM, a core released from a spin table): [`Platform::alloc_cpu`] posts
/// the worker for CPU `n` and starts it; the new CPU's entry code waits for
/// its worker and runs it.
///
/// ```
/// use cops_core::{Executor, NoPlatform, Worker, WorkerMailbox};
///
/// static MAILBOX: WorkerMailbox<4> = WorkerMailbox::new();
/// let exec = Executor::leak(4, NoPlatform);
/// MAILBOX.post(1, exec).unwrap();               // in alloc_cpu, before starting hart 1
/// assert!(MAILBOX.post(1, exec).is_err());      // hart 1 has not taken it yet
/// let worker = MAILBOX.wait(1);                 // on hart 1, at boot
/// worker.run_worker();                          // nothing spawned: returns at once
/// assert!(MAILBOX.take(1).is_none());
/// ```
pub struct WorkerMailbox<const CPUS: usize> {
    slots: [spin::Mutex<Option<&'static dyn Worker>>; CPUS],
}

impl<const CPUS: usize> Default for WorkerMailbox<CPUS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const CPUS: usize> WorkerMailbox<CPUS> {
    /// Empty mailboxes for CPUs `0..CPUS`.
    pub const fn new() -> Self {
        Self {
            slots: [const { spin::Mutex::new(None) }; CPUS],
        }
    }

    /// Leave `worker` for CPU `cpu`. Fails with [`Error::BadId`] for a CPU
    /// out of range and [`Error::NoSlot`] if its last worker was not taken.
    pub fn post(&self, cpu: usize, worker: &'static dyn Worker) -> Result<(), Error> {
        let mut slot = self.slots.get(cpu).ok_or(Error::BadId)?.lock();
        if slot.is_some() {
            return Err(Error::NoSlot);
        }
        *slot = Some(worker);
        Ok(())
    }

    /// Take CPU `cpu`'s worker, if one was posted.
    pub fn take(&self, cpu: usize) -> Option<&'static dyn Worker> {
        self.slots.get(cpu)?.lock().take()
    }

    /// Spin until CPU `cpu`'s worker is posted, then take it (boot code of
    /// a CPU started before its worker was posted). Panics if `cpu` is out
    /// of range.
    pub fn wait(&self, cpu: usize) -> &'static dyn Worker {
        assert!(cpu < CPUS, "cops: WorkerMailbox has no CPU {cpu}");
        loop {
            if let Some(w) = self.take(cpu) {
                return w;
            }
            core::hint::spin_loop();
        }
    }
}
