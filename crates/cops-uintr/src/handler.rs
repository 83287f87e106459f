//! The receiver's handler (drain records, wake by id, resync on overflow)
//! and the sender abstraction (post, then ring a backend's doorbell).

use crate::loom::Ordering;
use crate::page::{Overflowed, UintrPage};
use crate::queue::PushError;
use crate::record::{Cause, Record};

/// Where the handler delivers wakes. The user library implements it for its
/// executor, e.g. for cops-core:
///
/// ```text
/// impl WakeById for MyExecutorHandle {          // in the user library
///     type Error = cops_core::Error;
///     fn wake(&self, id: u64) -> Result<(), Self::Error> {
///         self.executor.wake(CoroutineId::from_raw(id))
///     }
///     fn resync(&self) { /* wake every coroutine with an async call in flight */ }
/// }
/// // and the sender side posts Record::wake(id.to_raw()).
/// ```
///
/// Both methods run in handler context: they must not block, and `wake`
/// must be idempotent (a resync may wake a coroutine whose record was also
/// delivered), rejecting stale ids with an `Err` rather than a panic.
pub trait WakeById {
    /// Error for an id that no longer names a waiting coroutine.
    type Error;
    /// Wake coroutine `id` (the payload of a [`Cause::WAKE`] record).
    fn wake(&self, id: u64) -> Result<(), Self::Error>;
    /// Records were refused while the queue was full: wake every coroutine
    /// that may be waiting for one (or rescan completions).
    fn resync(&self);
}

/// What one handler run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// `WAKE` records whose `wake` returned `Ok`.
    pub woken: u64,
    /// `WAKE` records whose `wake` returned `Err` (stale ids).
    pub rejected: u64,
    /// Records with any other cause (passed to `handle_with`'s closure, or
    /// counted and dropped by `handle`).
    pub other: u64,
    /// Whether the overflow flag was set and `resync` was called.
    pub resynced: bool,
    /// Whether more work is pending: the drain stopped at its bound or a
    /// sender posted after the acknowledgement. Run the handler again (the
    /// `pending` flag is left set, so every backend redelivers).
    pub again: bool,
}

impl<const N: usize> UintrPage<N> {
    /// The handler body shared by every backend: acknowledge `pending`,
    /// drain at most `N` records through `on_record`, then, if the overflow
    /// flag was set, call `on_resync`.
    ///
    /// Guarantee: every record stored by a successful post is passed to
    /// `on_record` exactly once, by this run or a later one; every failed
    /// post is followed by an `on_resync` in this run or a later one. "Later
    /// one" is guaranteed because `pending` stays set (`again`) or the
    /// sender rang the doorbell after this run's acknowledgement.
    pub fn handle_with(
        &self,
        mut on_record: impl FnMut(Record),
        on_resync: impl FnOnce(),
    ) -> DrainReport {
        let mut report = DrainReport::default();
        // Acknowledge first: a post after this raises `pending` again (and
        // its sender rings), so nothing posted during the drain is missed.
        // AcqRel: acquiring the senders' `pending` raise makes their records
        // and overflow flags visible below.
        self.header.pending.swap(0, Ordering::AcqRel);
        let mut drained = 0;
        while drained < N {
            match self.queue.pop() {
                Some(record) => {
                    drained += 1;
                    on_record(record);
                }
                None => break,
            }
        }
        if drained == N && !self.queue.is_empty() {
            // Bounded run: leave the rest for the next delivery.
            // swap, not store: see `UintrPage::post` (loom#254).
            self.header.pending.swap(1, Ordering::AcqRel);
        }
        if self.header.overflow.swap(0, Ordering::AcqRel) != 0 {
            report.resynced = true;
            on_resync();
        }
        report.again = self.is_pending();
        report
    }

    /// [`handle_with`](Self::handle_with) dispatching `WAKE` records to
    /// `sink.wake(payload)` and overflow to `sink.resync()`; records of
    /// other causes are counted in [`DrainReport::other`] and dropped.
    pub fn handle<W: WakeById + ?Sized>(&self, sink: &W) -> DrainReport {
        let (mut woken, mut rejected, mut other) = (0, 0, 0);
        let mut report = self.handle_with(
            |record| match record.cause {
                Cause::WAKE => match sink.wake(record.payload) {
                    Ok(()) => woken += 1,
                    Err(_) => rejected += 1,
                },
                _ => other += 1,
            },
            || sink.resync(),
        );
        report.woken = woken;
        report.rejected = rejected;
        report.other = other;
        report
    }
}

/// How a backend interrupts the receiver once a post says `notify`:
/// the kernel marking the thread for an upcall (soft), `senduipi` (x86),
/// setting `USIP` (N extension), a condvar (host).
pub trait Doorbell {
    /// Make the receiver run its handler soon (it may be running already).
    fn ring(&self);
}

impl<D: Doorbell + ?Sized> Doorbell for &D {
    fn ring(&self) {
        (**self).ring()
    }
}

/// A sender bound to one receiver: a page plus the backend's doorbell.
pub struct Sender<'p, D: Doorbell, const N: usize> {
    page: &'p UintrPage<N>,
    doorbell: D,
}

impl<'p, D: Doorbell, const N: usize> Sender<'p, D, N> {
    /// A sender posting into `page` and interrupting through `doorbell`.
    pub fn new(page: &'p UintrPage<N>, doorbell: D) -> Self {
        Self { page, doorbell }
    }

    /// Post `record` and ring the doorbell if the post asks for it.
    /// `Err` means the record was not stored and the receiver will resync.
    pub fn send(&self, record: Record) -> Result<(), Overflowed> {
        let result = self.page.post(record);
        let notify = match result {
            Ok(p) => p.notify,
            Err(o) => o.notify,
        };
        if notify {
            self.doorbell.ring();
        }
        result.map(|_| ())
    }

    /// Back-pressure only: store `record` (ringing if needed) or hand it
    /// back untouched, without setting the overflow flag; retry later.
    pub fn try_send(&self, record: Record) -> Result<(), PushError> {
        let posted = self.page.try_post(record)?;
        if posted.notify {
            self.doorbell.ring();
        }
        Ok(())
    }

    /// Post a [`Cause::WAKE`] record for coroutine `id`.
    pub fn wake(&self, id: u64) -> Result<(), Overflowed> {
        self.send(Record::wake(id))
    }

    /// The page this sender posts into.
    pub fn page(&self) -> &'p UintrPage<N> {
        self.page
    }
}
