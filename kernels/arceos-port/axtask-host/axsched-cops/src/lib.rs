//! A drop-in `axsched`: the adapter of `cops-axsched` (`src/sched.rs`,
//! compiled unchanged, where it is checked against the genuine published
//! trait) behind a copy of `axsched 0.3.1`'s `BaseScheduler` trait and under
//! the names `axtask 0.3.0-preview.3` selects by cargo feature:
//!
//! | axtask feature | axtask's aliases | here |
//! |---|---|---|
//! | none / `sched-fifo` | `FifoScheduler`, `FifoTask` | [`CoopScheduler`]: cooperative priority, levels 0..=63 |
//! | `sched-cfs` (enables `preempt`) | `CFScheduler`, `CFSTask` | [`PreemptScheduler`] (levels), or [`NiceScheduler`] (nice) with feature `cfs-nice` |
//! | `sched-rr` | `RRScheduler<T, N>` | not provided (no `axtask` build with `sched-rr` against this shim) |
//!
//! The trait below is copied from `axsched 0.3.1` (`src/lib.rs`,
//! GPL-3.0-or-later OR Apache-2.0 OR MulanPSL-2.0, used under Apache-2.0;
//! Yuekai Jia, guoweikang).
#![cfg_attr(not(test), no_std)]

extern crate alloc;

/// The base scheduler trait that all schedulers should implement (copied
/// from `axsched 0.3.1`).
///
/// All tasks in the scheduler are considered runnable. If a task is go to
/// sleep, it should be removed from the scheduler.
pub trait BaseScheduler {
    /// Type of scheduled entities. Often a task struct.
    type SchedItem;

    /// Initializes the scheduler.
    fn init(&mut self);

    /// Adds a task to the scheduler.
    fn add_task(&mut self, task: Self::SchedItem);

    /// Removes a task by its reference from the scheduler. Returns the owned
    /// removed task with ownership if it exists.
    fn remove_task(&mut self, task: &Self::SchedItem) -> Option<Self::SchedItem>;

    /// Picks the next task to run, it will be removed from the scheduler.
    /// Returns [`None`] if there is not runnable task.
    fn pick_next_task(&mut self) -> Option<Self::SchedItem>;

    /// Puts the previous task back to the scheduler. `preempt` indicates
    /// whether the previous task is preempted by the next task.
    fn put_prev_task(&mut self, prev: Self::SchedItem, preempt: bool);

    /// Advances the scheduler state at each timer tick. Returns `true` if
    /// re-scheduling is required.
    fn task_tick(&mut self, current: &Self::SchedItem) -> bool;

    /// set priority for a task
    fn set_priority(&mut self, task: &Self::SchedItem, prio: isize) -> bool;
}

#[path = "../../../cops-axsched/src/sched.rs"]
mod sched;

pub use sched::*;

/// `axtask`'s default (cooperative) scheduler.
pub type FifoScheduler<T> = CoopScheduler<T>;
/// `axtask`'s task type under the default scheduler.
pub type FifoTask<T> = PrioTask<T>;
/// `axtask`'s `sched-cfs` scheduler: preemptive priority.
#[cfg(not(feature = "cfs-nice"))]
pub type CFScheduler<T> = PreemptScheduler<T>;
/// `axtask`'s `sched-cfs` scheduler: preemptive priority taking nice values.
#[cfg(feature = "cfs-nice")]
pub type CFScheduler<T> = NiceScheduler<T>;
/// `axtask`'s task type under `sched-cfs`.
pub type CFSTask<T> = PrioTask<T>;
