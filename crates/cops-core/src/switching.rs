//! The switching coroutine (COPS §3.3): a kernel coroutine whose priority
//! follows the most urgent waiting address space and which hands the CPU to
//! it.
//!
//! Kernel coroutines and processes meet in one ready queue: while a kernel
//! coroutine is more urgent than every process it runs first; otherwise the
//! switching coroutine (at the best process's priority) wins the pick and
//! calls [`SpaceSwitcher::enter`], which runs that space in user mode until
//! the next trap. A kernel with several CPUs spawns one switching coroutine
//! per CPU that may run user code.
//!
//! A switching coroutine starts at [`Priority::HIGHEST`] (COPS §3.3: "when
//! the kernel is initialized, it is statically assigned the highest
//! priority, then its priority changes dynamically"): its first poll comes
//! before any other kernel work and reads the view. From then on the view
//! sets its level: every poll that enters a space takes that space's level,
//! and [`Switching::follow`] moves all of them when the view's highest
//! level changes (a parked one is woken at the new level).

#[cfg(feature = "alloc")]
use core::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use crate::loom::{AtomicU64, Ordering::*};
use crate::raw::MAX_CPUS;
use crate::view::{GlobalPriorityView, SpaceId};
use crate::{CoroutineId, ExecutorOps, Priority};
#[cfg(feature = "alloc")]
use crate::{CoroutineKind, Error};

/// How the kernel enters an address space.
pub trait SpaceSwitcher: Sync + 'static {
    /// Run a thread of `space` (at `priority`) in user mode on this CPU and
    /// return at its next trap. Return at once if it has nothing runnable.
    fn enter(&self, space: SpaceId, priority: Priority);
}

/// The switching coroutines of one kernel executor.
pub struct Switching {
    view: &'static GlobalPriorityView,
    ids: [AtomicU64; MAX_CPUS],
}

impl Switching {
    /// Switching coroutines that follow `view` (none spawned yet).
    #[cfg(not(loom))]
    pub const fn new(view: &'static GlobalPriorityView) -> Self {
        Self {
            view,
            ids: [const { AtomicU64::new(u64::MAX) }; MAX_CPUS],
        }
    }

    /// The view these coroutines follow.
    pub fn view(&self) -> &'static GlobalPriorityView {
        self.view
    }

    /// Spawn `n` switching coroutines (at most one per CPU) on `exec`.
    #[cfg(feature = "alloc")]
    pub fn spawn<E: ExecutorOps, S: SpaceSwitcher>(
        &'static self,
        exec: &'static E,
        switcher: &'static S,
        n: usize,
    ) -> Result<(), Error> {
        for slot in self.ids.iter().take(n) {
            let h = crate::spawn_boxed(
                exec,
                SwitchLoop {
                    view: self.view,
                    exec,
                    me: slot,
                    switcher,
                    parked: false,
                },
                Priority::HIGHEST,
                CoroutineKind::Switching,
            )?;
            slot.store(h.id().to_raw(), Release);
        }
        Ok(())
    }

    /// The id of the switching coroutine of CPU `cpu` (the `cpu`-th
    /// spawned), if it exists.
    pub fn id(&self, cpu: usize) -> Option<CoroutineId> {
        let raw = self.ids.get(cpu)?.load(Acquire);
        (raw != u64::MAX).then(|| CoroutineId::from_raw(raw))
    }

    /// Call after [`GlobalPriorityView::update`] reported a new highest
    /// priority: the switching coroutines move to it (O(1) each) and are
    /// woken if they were waiting for work.
    pub fn follow<E: ExecutorOps + ?Sized>(&self, exec: &E, highest: Option<Priority>) {
        for slot in &self.ids {
            let raw = slot.load(Acquire);
            if raw == u64::MAX {
                break;
            }
            let id = CoroutineId::from_raw(raw);
            let _ = exec.set_priority(id, highest.unwrap_or(Priority::LOWEST));
            if highest.is_some() {
                let _ = exec.wake(id);
            }
        }
    }
}

#[cfg(feature = "alloc")]
struct SwitchLoop<S: 'static> {
    view: &'static GlobalPriorityView,
    /// The executor polling this coroutine and this coroutine's id in
    /// [`Switching`] (to set its own level).
    exec: &'static dyn ExecutorOps,
    me: &'static AtomicU64,
    switcher: &'static S,
    parked: bool,
}

#[cfg(feature = "alloc")]
impl<S: SpaceSwitcher> Future for SwitchLoop<S> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.view.pick() {
            Some((space, prio)) => {
                self.parked = false;
                // Run at the level of the space entered (the view's most
                // urgent): kernel work below it waits, above it goes first.
                // (A `follow` racing with this pick may be undone until
                // the next entry, which takes the view's level again.)
                let me = self.me.load(Acquire);
                if me != u64::MAX {
                    let _ = self.exec.set_priority(CoroutineId::from_raw(me), prio);
                }
                self.switcher.enter(space, prio);
                // Back from user mode: go to the back of our level so kernel
                // work of equal or higher priority runs before the next entry.
                cx.waker().wake_by_ref();
            }
            // Nothing to run: block until `follow` wakes us. A wake that
            // raced with this poll is kept by the NOTIFIED bit.
            None => self.parked = true,
        }
        Poll::Pending
    }
}
