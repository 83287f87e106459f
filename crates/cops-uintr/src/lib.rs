//! # cops-uintr — user-level interrupts that wake coroutines by id
//!
//! A kernel (or another process) tells a process "coroutine `id` can run
//! again" — e.g. its asynchronous system call completed — without a thread
//! per wake. The sender appends a `{cause, payload}` [`Record`] to the
//! receiver's lock-free [`PendingQueue`], which lives in a [`UintrPage`]
//! shared by both; it then rings a backend-specific [`Doorbell`]. The
//! receiver's handler drains the records and calls [`WakeById::wake`] on its
//! executor (for cops-core: `Executor::wake(CoroutineId::from_raw(payload))`;
//! this crate only knows `u64`s and does not depend on cops-core).
//!
//! ```text
//!  sender (kernel coroutine,            receiver (process / thread)
//!          other process, host thread)
//!  ─────────────────────────────        ────────────────────────────────────
//!  page.post({WAKE, id})                 doorbell → handler entry
//!    ├─ queue.push ──► [ UintrPage:  ]     page.handle(&sink):
//!    │   Ok ─────────► [ pending flag]       ack pending
//!    │   Full ─► overflow=1           ]      drain ≤ N records ──► sink.wake(id)
//!    └─ pending 0→1 ?  [ queue[N]    ]       overflow? ──────────► sink.resync()
//!         └─ yes: doorbell.ring()            more? → again (pending stays set)
//!            (upcall / senduipi / USIP / condvar)
//! ```
//!
//! ## Protocol (what is guaranteed)
//! - **Queue** ([`PendingQueue`]): bounded, lock-free, multi-producer ring of
//!   `repr(C)` records with a per-slot stamp; an all-zero page is an empty
//!   queue; nothing the receiver writes to its page can make a kernel sender
//!   panic, index out of bounds or spin forever.
//! - **No silent loss**: [`UintrPage::post`] either stores the record, or
//!   returns `Err` (back-pressure: the sender still has the record) **and**
//!   sets the overflow flag. The handler drains the queue, and if the flag
//!   was set calls [`WakeById::resync`] (wake everything waiting on an async
//!   call, or rescan completions). [`UintrPage::try_post`] is back-pressure
//!   only, for senders that keep and retry the record.
//! - **Exactly once per stored record**: each stored record reaches the
//!   handler once; resync may wake coroutines that also get a record, so
//!   `wake` must be idempotent and reject stale ids (cops-core's is).
//! - **No lost doorbell**: a post raises `pending` after storing; the
//!   handler acknowledges `pending` before draining; a post that turns
//!   `pending` on must ring. So every record is seen by the run in progress
//!   or by a run the ring causes.
//!
//! ## Backends
//! | feature | delivery | status |
//! |---|---|---|
//! | `soft` | kernel upcall on trap return (`soft`) | runs (rcore-n, stock QEMU) |
//! | `riscv-n` | N-extension CSRs by number, `uret` (`riscv_n`) | runs in rcore-n on the N-extension QEMU fork; **not tested on hardware** |
//! | `x86-uintr` | `senduipi`/`uiret`/`clui`/`stui`/`testui` + RFC syscalls (`x86_uintr`) | builds for x86_64; **untested on hardware** |
//! | `std` | a receiver thread + condvar (`host`) | tested on Linux |
//!
//! ## Example
//! ```
//! use cops_uintr::{Record, UintrPage, WakeById};
//! use std::cell::RefCell;
//! # // Under `--cfg loom` the library's atomics only work inside a loom model.
//! # if cops_uintr::LOOM_BUILD { return; }
//!
//! struct Woken(RefCell<Vec<u64>>, RefCell<u32>);
//! impl WakeById for Woken {
//!     type Error = ();
//!     fn wake(&self, id: u64) -> Result<(), ()> {
//!         self.0.borrow_mut().push(id);
//!         Ok(())
//!     }
//!     fn resync(&self) {
//!         *self.1.borrow_mut() += 1;
//!     }
//! }
//!
//! let page = UintrPage::<4>::new();
//! // Sender: the first post asks for a doorbell, the second does not.
//! assert!(page.post(Record::wake(7)).unwrap().notify);
//! assert!(!page.post(Record::wake(9)).unwrap().notify);
//! // Handler: drain and wake.
//! let sink = Woken(RefCell::new(vec![]), RefCell::new(0));
//! let report = page.handle(&sink);
//! assert_eq!(*sink.0.borrow(), [7, 9]);
//! assert_eq!((report.woken, report.resynced), (2, false));
//!
//! // Overflow: the fifth post fails, and the next handler run resyncs.
//! for id in 0..4 { page.post(Record::wake(id)).unwrap(); }
//! assert!(page.post(Record::wake(4)).is_err());
//! assert!(page.handle(&sink).resynced);
//! assert_eq!(*sink.1.borrow(), 1);
//! ```
#![no_std]
// docs.rs (and `RUSTDOCFLAGS="--cfg docsrs" cargo +nightly doc`) marks every
// item that needs a feature on the rendered page.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

mod handler;
mod loom;
mod page;
mod queue;
mod record;

pub use handler::{Doorbell, DrainReport, Sender, WakeById};
pub use page::{
    DOORBELL_HW, DOORBELL_SOFT, Header, Overflowed, PAGE_RECORDS, PageSized, Posted, UintrPage,
};
pub use queue::{PendingQueue, PushError};
pub use record::{Cause, Record};

/// Whether this build uses loom's model-checked atomics (`--cfg loom`); the
/// doctests return early then, as loom types only work inside `loom::model`.
#[doc(hidden)]
pub const LOOM_BUILD: bool = cfg!(loom);

#[cfg(feature = "soft")]
pub mod soft;

#[cfg(feature = "riscv-n")]
pub mod riscv_n;

#[cfg(feature = "x86-uintr")]
pub mod x86_uintr;

#[cfg(all(feature = "std", not(loom)))]
pub mod host;

#[cfg(feature = "cops-core")]
mod glue;
#[cfg(feature = "cops-core")]
pub use glue::ExecutorSink;

/// The README's example, compiled and run by `cargo test --doc` (not under
/// `--cfg loom`, whose atomics work only inside a model).
#[cfg(all(doctest, not(loom)))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
