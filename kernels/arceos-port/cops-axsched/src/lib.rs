//! cops-core's priority ready queue behind ArceOS's scheduler seam,
//! [`axsched::BaseScheduler`] (the genuine published trait, `=0.3.1`).
//!
//! - [`CoopScheduler`]: cooperative priority scheduling. The highest ready
//!   level runs; FIFO within a level; a timer tick never preempts.
//! - [`PreemptScheduler`]: the same, and [`BaseScheduler::task_tick`] asks
//!   for preemption when a strictly higher level than the running task's is
//!   ready.
//! - [`NiceScheduler`]: [`PreemptScheduler`] taking nice values.
//!
//! ## Priority mapping
//!
//! | scheduler | `set_priority(task, prio)` accepts | level |
//! |---|---|---|
//! | [`CoopScheduler`], [`PreemptScheduler`] | `0..=63` | `prio` (0 is the most urgent) |
//! | [`NiceScheduler`] | nice `-20..=19` | linear: -20 → 0, 0 → 32, 19 → 63 ([`nice_to_level`]) |
//!
//! Anything else returns `false` and leaves the level alone. New tasks start
//! at the **lowest** level, 63 ([`DEFAULT_LEVEL`]; see there for the
//! livelock a higher default causes under `axtask`).
//!
//! `put_prev_task(_, preempt = true)` puts the task at the front of its
//! level, `false` at the back. `set_priority` on a task queued in this run
//! queue moves it to the back of its new level in O(1).
//!
//! The implementation lives in `src/sched.rs`, which the `axsched` shim
//! (`../axtask-host/axsched-cops`) compiles unchanged against a copy of the
//! trait so that it can replace `axsched` in the published `axtask`.
#![cfg_attr(not(test), no_std)]
#![warn(missing_docs)]

extern crate alloc;

pub use axsched::BaseScheduler;

mod sched;

pub use sched::*;
