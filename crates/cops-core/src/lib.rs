//! # cops-core: the COPS priority coroutine scheduler
//!
//! Stackless Rust coroutines as the unit a kernel schedules. One executor,
//! `no_std`, shared by any number of CPUs, written once and used by the
//! kernel and by every user process (directly, or through the vDSO).
//!
//! - **Coroutine control block**: an id (slot index + generation), a kind,
//!   a priority, the future and a real [`Waker`](core::task::Waker).
//! - **64 priority levels** (0 highest), per-level FIFO queues and a `u64`
//!   bitmap: pick-next is `trailing_zeros` plus an unlink, O(1) whatever the
//!   number of coroutines ([`ready`]).
//! - **The COPS interface**: [`Executor::spawn`] (plus a [`JoinHandle`]),
//!   [`current_id`] / [`Executor::current_id`] (getcid), [`Executor::wake`],
//!   [`Executor::set_priority`], [`Executor::alloc_cpu`], [`Executor::cancel`].
//! - **Hooks** ([`Platform`]): which CPU is this, idle/notify, publish the
//!   highest ready priority, the priority of the coroutine being polled,
//!   should-I-yield, alloc-CPU. [`StdPlatform`] (feature `std`) runs
//!   workers as threads.
//! - **[`ExecutorOps`]**: spawn / wake / set_priority / cancel by id, for
//!   code that works on any executor handle (this crate's [`Executor`], or
//!   one reached through the cops-vdso table).
//! - **The kernel's side**: [`view::GlobalPriorityView`] (address space →
//!   highest ready priority, O(1) "who is most urgent") and the
//!   [`switching`] coroutine that hands the CPU to that space.
//!
//! ## Coroutine states
//!
//! ```text
//!            spawn                     pick (O(1))
//!   FREE ───────────► READY ────────────────────────► RUNNING ──preempted──► RUNNING-
//!    ▲                ▲   ▲                           │  │  ▲                SUSPENDED
//!    │       wake     │   │ poll → Pending            │  │  └────resumed────────┘
//!    │   ┌────────────┘   │ with NOTIFIED or CANCEL   │  │
//!    │   │                └───────────────────────────┘  │ poll → Pending
//!    │ BLOCKED ◄─────────────────────────────────────────┘
//!    │                                                   │ poll → Ready, or CANCEL
//!    └─── last waker dropped (generation + 1) ◄── COMPLETED ◄┘
//! ```
//!
//! | state | `wake(id)` | `cancel(id)` | `set_priority(id)` |
//! |---|---|---|---|
//! | READY (queued) | nothing (already queued once) | flagged; dropped when popped | moves to the new level's tail, O(1) |
//! | RUNNING / RUNNING-SUSPENDED | sets NOTIFIED: re-queued when the poll returns, never lost | flagged; dropped after the poll | takes effect when next queued |
//! | BLOCKED | → READY, enqueued | → READY with CANCEL, dropped by a worker | takes effect when next queued |
//! | COMPLETED | `Err(Finished)` | `Err(Finished)` | `Err(Finished)` |
//! | recycled slot (old id) | `Err(Stale)` | `Err(Stale)` | `Err(Stale)` |
//!
//! A coroutine is never polled twice at once (only the worker that wins the
//! READY → RUNNING transition polls) and never queued twice (only the
//! BLOCKED → READY transition enqueues); wake never polls inline. The state,
//! the waker count and the generation share one atomic word
//! (`raw::state`), so every transition is a single CAS and a stale id is
//! rejected atomically.
//!
//! ## Starvation
//!
//! Scheduling is strict priority: a busy level starves every level below it,
//! by design. [`Executor::with_aging`]`(n)` bounds the wait: every `n`-th pick
//! serves the longest-waiting ready coroutine whatever its level, so the
//! oldest ready coroutine is served within `n` picks (cost: a look at the
//! heads of at most 64 levels, still independent of the number of
//! coroutines). Off by default.
//!
//! ## Example
//!
//! ```
//! use cops_core::{Executor, NoPlatform, Priority, Storage};
//! use std::sync::{Arc, Mutex};
//!
//! static STORAGE: Storage<8> = Storage::new();
//! static EXEC: Executor = Executor::new(&STORAGE, NoPlatform);
//!
//! let log = Arc::new(Mutex::new(Vec::new()));
//! for (name, prio) in [("low", 9), ("high", 0), ("mid", 5)] {
//!     let log = log.clone();
//!     EXEC.spawn(async move { log.lock().unwrap().push(name) }, Priority::new(prio).unwrap()).unwrap();
//! }
//! EXEC.run_until_idle();
//! assert_eq!(*log.lock().unwrap(), ["high", "mid", "low"]);
//! ```
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![warn(missing_docs)]

#[cfg(any(feature = "alloc", test))]
extern crate alloc;

mod executor;
mod future;
mod id;
mod loom;
mod platform;
pub mod raw;
pub mod ready;
mod spawn;
#[cfg(feature = "std")]
mod std_platform;
pub mod switching;
pub mod view;

pub use executor::{Executor, Outcome, Polled, RunExit, Storage};
pub use future::{CurrentId, YieldNow, current_id, yield_now};
pub use id::{CoroutineId, CoroutineKind, Error, Priority};
pub use platform::{NoPlatform, Platform, Worker};
pub use raw::CoroutineState;
#[cfg(feature = "alloc")]
pub use spawn::{Cancelled, JoinHandle, spawn_boxed};
pub use spawn::{CoroutineStorage, ExecutorOps};
#[cfg(feature = "std")]
pub use std_platform::StdPlatform;
