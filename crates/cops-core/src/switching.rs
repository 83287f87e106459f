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
            let prio = self.view.highest().unwrap_or(Priority::LOWEST);
            let h = crate::spawn_boxed(
                exec,
                SwitchLoop {
                    view: self.view,
                    switcher,
                    parked: false,
                },
                prio,
                CoroutineKind::Switching,
            )?;
            slot.store(h.id().to_raw(), Release);
        }
        Ok(())
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
