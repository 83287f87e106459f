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
//!   highest ready priority (or publish nothing, for an executor nothing
//!   outside ranks), the priority of the coroutine being polled,
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
//! ## Priorities across CPUs
//!
//! The ready queues are sharded per CPU (`raw::scheduler::SHARDS`, 4; CPU
//! `c` uses shard `c % 4`): each shard is 64 FIFOs, a bitmap and its own
//! ready lock. A coroutine made ready (spawned, woken, cancelled, re-queued
//! after its poll) is linked on the shard of the CPU that makes it ready,
//! so a yield, or a wake between two coroutines of one CPU, touches only
//! that CPU's lines. Each shard's bitmap has a copy readable without its
//! lock; a pick reads every shard's copy, takes the most urgent level, and
//! pops it from its own shard if it has that level, or else **steals** it
//! from a shard that has it (taking half of the rest of that level along,
//! so a worker that ran dry gets a share). If the level was taken in the
//! meantime, the pick looks again.
//!
//! So **no CPU starts a coroutine of level `L` while a coroutine of a more
//! urgent level is queued and published** when its pick reads the bitmap
//! copies. The window: a coroutine whose link is not published yet when
//! the pick reads the copies: one linked after that read, one waiting
//! in the inbox of a shard whose lock another CPU holds (until that CPU
//! lets go: one critical section: a pop, a link, a move, or a steal), or
//! one that woke itself during its poll on a worker loop, which that
//! CPU's next pick links (or polls again at once, when it is more urgent
//! than everything ready): one step of that worker.
//! `tests/priority_across_workers.rs` checks it on two worker threads and
//! eight levels: no start whose pick lies wholly inside an interval in
//! which a more urgent coroutine was published and not yet picked (0
//! violations required; it catches a pick that prefers its own shard).
//! It also measures the window (`cargo test --release -p cops-core
//! --features std --test priority_across_workers -- --nocapture`, two
//! runs): of 24 000 starts (4 µs polls), 3 300-5 200
//! came while a more urgent coroutine was published during their pick,
//! seen a median 15 ns (p99 under 400 ns) before the start; that
//! coroutine then waited for the next pick on either worker, a median
//! 4.1 µs (one poll), longer when the host descheduled a worker.
//! Two CPUs can of course *run* coroutines of different levels at once:
//! with `n` CPUs, the `n` most urgent ready coroutines run.
//!
//! **Handoffs.** A coroutine made ready by a poll on CPU `c`, no more
//! urgent than the coroutine being polled, into `c`'s empty shard (a
//! ping-pong partner, a spawned child) is left for `c`, which picks it
//! when that poll returns: a worker loop that would steal it first sees
//! it (and nothing else to start) in 32 consecutive looks of its idle
//! spin (tens of microseconds; it starts nothing meanwhile, so the
//! guarantee above holds). It still releases a parked worker, since the
//! poll that made it ready may never return (it may be waiting for that
//! very coroutine to run elsewhere). The idle spin backs off between
//! looks, so that an idle worker does not keep pulling the lines a busy
//! one writes; it parks after about 40 µs on the host.
//!
//! **False sharing.** Slots are recycled and allocations reused, so
//! coroutines side by side in memory often run on different workers. The
//! scheduling half of each slot has a cache line of its own; a future
//! does not, unless it is wrapped in [`CacheAligned`] (128-byte aligned:
//! worth it for coroutines polled often on several workers, at 256 bytes
//! of heap instead of 40 for a 16-byte future).
//!
//! The executor's highest ready level ([`Executor::highest_ready`],
//! [`Executor::ready_bitmap`], and what [`Platform::publish_priority`]
//! receives) is the OR of the shard copies; publications go through a
//! word that never waits (a shard whose best level changes while another
//! publishes leaves it a "look again" flag), so they never go stale when
//! two shards change at once. Aging ([`Executor::with_aging`]) counts picks
//! per shard.
//!
//! ## Starvation
//!
//! Scheduling is strict priority: a busy level starves every level below it,
//! by design. [`Executor::with_aging`]`(n)` bounds the wait: every `n`-th pick
//! from a shard serves that shard's longest-waiting ready coroutine whatever
//! its level, so the oldest ready coroutine of a shard is served within `n`
//! picks from that shard (cost: a look at the heads of at most 64 levels,
//! still independent of the number of coroutines). Off by default.
//!
//! ## Example
//!
//! ```
//! use cops_core::{Executor, NoPlatform, Priority};
//! use std::sync::{Arc, Mutex};
//!
//! cops_core::static_executor! {
//!     static EXEC: Executor<NoPlatform> = (8, NoPlatform);
//! }
//!
//! let log = Arc::new(Mutex::new(Vec::new()));
//! for (name, prio) in [("low", 9), ("high", 0), ("mid", 5)] {
//!     let log = log.clone();
//!     EXEC.spawn(async move { log.lock().unwrap().push(name) }, Priority::new(prio).unwrap()).unwrap();
//! }
//! EXEC.run_until_idle();
//! assert_eq!(*log.lock().unwrap(), ["high", "mid", "low"]);
//! ```
//!
//! ## Features
//!
//! | feature | default | gives |
//! |---|:-:|---|
//! | (none) | | the executor, `static_executor!`, `coroutine!` (allocation-free `async fn`), `spawn_in` / `spawn_raw`, ready queues, ids, the kernel's view and switching coroutine: `no_std`, no allocator |
//! | `alloc` | yes | boxed `spawn` with [`JoinHandle`], `Executor::leak` (capacity chosen at run time), `ready::PriorityQueue<T>` |
//! | `std` | | [`StdPlatform`] (threads as CPUs, futex parking), panics caught per coroutine |
//!
//! ## Porting to a kernel
//!
//! A kernel needs three things: an executor, a [`Platform`], and workers.
//! `examples/minimal-kernel` in the repository is the worked example (a
//! RISC-V kernel on QEMU: a timer interrupt wakes a coroutine, priorities,
//! two harts).
//!
//! 1. **The executor.** `static_executor!` with a slot count (no heap), or
//!    `Executor::leak(n, platform)` once a heap exists. Spawn with
//!    [`coroutine!`] functions or `spawn_in` without a heap, `spawn` with.
//! 2. **The platform** (every hook has a default):
//!
//!    | hook | called by | when | lock held? | contexts it must tolerate |
//!    |---|---|---|---|---|
//!    | `cpu_id` | every operation that touches per-CPU state | often | either | any (keep it a register read: `tp`, `mhartid` copy) |
//!    | `idle` | the worker loop | nothing is ready | no | the worker (e.g. enable interrupts + `wfi`) |
//!    | `notify` | wake, cancel, spawn, set_priority, the last completion | a coroutine became ready while a worker is parked | no | **interrupt handlers**: an IPI or a flag store, never a lock an interrupted CPU may hold |
//!    | `publish_priority` | the executor | its highest ready level (the OR of the shards) changed | **yes**: one shard lock and the publication flag (publications are serialised) | any; keep it to a store (e.g. into a `view::GlobalPriorityView`), never call back into the executor |
//!    | `publishes_priority` | the executor | before each `publish_priority` | yes, as `publish_priority` | any; return a constant (`false`: no publications, two fewer read-modify-writes per change of the highest level) |
//!    | `running_priority` | `poll_next`, `run`, `serve` | before and after each poll (after one, the level of a coroutine that yielded and that the worker holds for its next pick) | no | the worker |
//!    | `should_yield` | `run` / `serve` | after each poll (a coroutine that yielded counts as ready) | no | the worker |
//!    | `alloc_cpu` | [`Executor::alloc_cpu`] | on request | no | thread; start CPUs and hand them the worker through a [`WorkerMailbox`] |
//!
//! 3. **Workers.** Each CPU that serves the executor calls
//!    [`Executor::serve`] (never returns while the kernel runs: it idles
//!    when nothing is ready) or [`Executor::run`] (returns when no
//!    coroutine is left). Interrupt handlers wake coroutines with
//!    [`Executor::wake`] (by id) or a stored [`Waker`](core::task::Waker):
//!    both are safe there (table below). If the platform preempts a CPU in
//!    the middle of a poll, it may report it with
//!    [`Executor::set_preempted`].
//!
//! The only locks are the shards' ready locks: spin locks around each
//! shard's 64 FIFOs, waited for by the worker side only (a pick). Nothing
//! reachable from an interrupt handler waits for one (it takes a free lock
//! with one CAS or leaves its request in the shard's inbox), so a kernel
//! does not need to mask interrupts around any executor call.
//!
//! ## Contexts: what may be called from where
//!
//! "Interrupt" means an interrupt handler that interrupted code which may be
//! inside this executor (holding its ready lock), or a signal handler on
//! the host. "In a poll" means from a coroutine of this executor; "in
//! `Drop`" from a coroutine's destructor (which the executor runs outside
//! its lock).
//!
//! | operation | thread | interrupt | in a poll | in `Drop` |
//! |---|:-:|:-:|:-:|:-:|
//! | `wake`, `Waker::wake`, `cancel`, `set_priority` | yes | **yes**: never wait for a lock (a busy shard lock gets the request through a lock-free inbox) | yes | yes |
//! | `spawn_raw`, `spawn_in` | yes | **yes** (lock-free claim and enqueue) | yes | yes |
//! | `spawn`, `spawn_kind` (boxed) | yes | only if the global allocator is | yes | yes |
//! | `priority`, `state`, `kind`, `current_id`, `highest_ready`, `ready_bitmap`, `live`, `capacity` | yes | yes (atomic loads) | yes | yes |
//! | `set_preempted` | yes | yes (meant for the preemption handler of the CPU it names) | yes | yes |
//! | `poll_next`, `run_until_idle`, `run` | yes | **no**: they spin on a shard lock, which the interrupted code may hold | yes (nested: the outer coroutine's `current_id` is restored) | yes |
//! | `JoinHandle` (`poll`, `try_take`, `is_finished`, drop) | yes | no (a spin lock the interrupted code may hold) | yes | yes |
//! | `JoinHandle::cancel` | yes | yes | yes | yes |
//!
//! The [`Platform`] hooks are called in these contexts too: `notify` from
//! wherever a wake happens (so it must be interrupt-safe: [`StdPlatform`]'s
//! is an atomic add and a futex wake), `publish_priority` with the ready
//! lock held (a shard's, and the publication flag: keep it short, never
//! call back into the executor), the others from the worker.
//!
//! ## Panics and joins
//!
//! A coroutine that panics in its poll or in its destructor gives its slot
//! back: `current_id` is cleared, `live` goes down, its [`JoinHandle`]
//! resolves to [`JoinError::Panicked`] and the other coroutines go on. With
//! feature `std` the worker catches the panic (reported as
//! [`Outcome::Panicked`]); without `std` the unwind goes on after the
//! executor has cleaned up (a kernel built with `panic = "abort"` never
//! unwinds). A `JoinHandle` resolves only once the future has been dropped
//! and its slot is free.
//!
//! ## Safety contracts
//!
//! The `unsafe` entry points and what their callers promise:
//!
//! - [`Executor::new`] / [`Executor::from_parts`]: the storage (or the two
//!   slot halves) serves no other executor, ever; `from_parts` also wants
//!   fresh slots of equal length. [`static_executor!`] and
//!   [`Executor::leak`] are the safe ways to get an executor.
//! - [`raw::RawCoroutine::new`]: `data` stays valid for the vtable's
//!   `poll`, `drop` and `release` until `release`, from any CPU (the state
//!   is `Send`); the executor calls `drop` once, then `release` once.
//!
//! Everything else is safe: the slot protocol (claim, pick, end of a poll,
//! completion) is private to the executor, and callers see it through
//! read-only accessors.
//!
//! ## What does not compile
//!
//! The scheduling core is not reachable from outside:
//! ```compile_fail,E0603
//! let _ = core::mem::size_of::<cops_core::raw::scheduler::Scheduler>();
//! ```
//! Sharing a storage needs `unsafe`:
//! ```compile_fail,E0133
//! use cops_core::{Executor, NoPlatform, Storage};
//! static STORAGE: Storage<4> = Storage::new();
//! static A: Executor = Executor::new(&STORAGE, NoPlatform);
//! ```
//! A coroutine may move between CPUs, so it must be `Send`:
//! ```compile_fail,E0277
//! use cops_core::{Executor, NoPlatform, Priority};
//! use std::{future::Future, pin::Pin, rc::Rc, task::{Context, Poll}};
//! struct NotSend(Rc<()>);
//! impl Future for NotSend {
//!     type Output = ();
//!     fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> { Poll::Ready(()) }
//! }
//! let exec = Executor::leak(4, NoPlatform);
//! exec.spawn(NotSend(Rc::new(())), Priority::HIGHEST);
//! ```
//! A platform is shared by every CPU, so it must be `Sync`:
//! ```compile_fail,E0277
//! use cops_core::{Executor, Platform};
//! struct NotSync(std::cell::Cell<usize>);
//! impl Platform for NotSync {}
//! ```
//! Wakers point into the executor, so spawning needs a `'static` one:
//! ```compile_fail,E0597
//! use cops_core::{Executor, NoPlatform, Priority, Storage};
//! static STORAGE: Storage<4> = Storage::new();
//! let exec = unsafe { Executor::new(&STORAGE, NoPlatform) };
//! exec.spawn(async {}, Priority::HIGHEST);
//! ```
//! Two executors cannot share one [`StdPlatform`] (its wake-up permits):
//! ```compile_fail,E0599
//! let p = cops_core::StdPlatform::new();
//! let q = p.clone();
//! ```
#![cfg_attr(not(any(test, feature = "std")), no_std)]
// docs.rs (and `RUSTDOCFLAGS="--cfg docsrs" cargo +nightly doc`) marks every
// item that needs a feature (`alloc`, `std`) on the rendered page.
#![cfg_attr(docsrs, feature(doc_cfg))]
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
#[cfg(not(loom))]
mod static_coroutine;
#[cfg(feature = "std")]
mod std_platform;
pub mod switching;
pub mod view;

#[doc(hidden)]
pub use executor::__salt;
pub use executor::{Executor, Outcome, Polled, RunExit, Storage};
pub use future::{CacheAligned, CurrentId, YieldNow, current_id, yield_now};
pub use id::{CoroutineId, CoroutineKind, Error, Priority};
pub use platform::{NoPlatform, Platform, Worker, WorkerMailbox};
pub use raw::CoroutineState;
pub use spawn::{CoroutineStorage, ExecutorOps};
#[cfg(feature = "alloc")]
pub use spawn::{JoinError, JoinHandle, spawn_boxed};
#[cfg(not(loom))]
#[doc(hidden)]
pub use static_coroutine::{__CoroutineFn, __CoroutineSlot, __storage, __storage_size};
#[cfg(feature = "std")]
pub use std_platform::StdPlatform;

/// The examples of the crate's README run as doctests too.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
