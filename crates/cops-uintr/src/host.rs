//! Host receiver (`std` feature): a thread plays the interrupted context, so
//! the sender → queue → handler → wake path runs on Linux in tests and
//! examples.
//!
//! Senders (any threads) post into the shared [`UintrPage`] and, when the
//! post says `notify`, ring a condvar doorbell. The receiver thread waits
//! for the doorbell, "takes the interrupt" (clears the page's enabled bit
//! as hardware clears UIE), runs [`UintrPage::handle`] until nothing is
//! pending, and re-enables — the `uret`. [`HostReceiver::disable`] masks
//! delivery (records keep queueing); [`HostReceiver::enable`] redelivers.

extern crate std;

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};

use crate::handler::{Doorbell, DrainReport, Sender, WakeById};
use crate::page::{Overflowed, UintrPage};
use crate::queue::PushError;
use crate::record::Record;

/// Sums of the handler runs of one receiver.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Handler invocations ("interrupts taken").
    pub deliveries: u64,
    /// `wake` calls that returned `Ok`.
    pub woken: u64,
    /// `wake` calls that returned `Err`.
    pub rejected: u64,
    /// Records with other causes.
    pub other: u64,
    /// `resync` calls.
    pub resyncs: u64,
}

impl Totals {
    fn add(&mut self, r: &DrainReport) {
        self.woken += r.woken;
        self.rejected += r.rejected;
        self.other += r.other;
        self.resyncs += r.resynced as u64;
    }
}

#[derive(Default)]
struct Bell {
    rung: bool,
    masked: bool,
    shutdown: bool,
}

struct Shared<const N: usize> {
    page: UintrPage<N>,
    bell: Mutex<Bell>,
    cv: Condvar,
}

impl<const N: usize> Doorbell for Shared<N> {
    fn ring(&self) {
        self.bell
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .rung = true;
        self.cv.notify_one();
    }
}

/// A receiver thread owning a wake sink `W`.
pub struct HostReceiver<W, const N: usize> {
    shared: Arc<Shared<N>>,
    thread: JoinHandle<(W, Totals)>,
}

/// A cloneable sender to one [`HostReceiver`].
pub struct HostSender<const N: usize> {
    shared: Arc<Shared<N>>,
}

impl<const N: usize> Clone for HostSender<N> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<const N: usize> HostSender<N> {
    /// Post `record`, ringing the receiver if needed. `Err`: not stored,
    /// the receiver will resync.
    pub fn send(&self, record: Record) -> Result<(), Overflowed> {
        Sender::new(&self.shared.page, &*self.shared).send(record)
    }

    /// Back-pressure only: store or hand back `record` (no overflow flag).
    pub fn try_send(&self, record: Record) -> Result<(), PushError> {
        Sender::new(&self.shared.page, &*self.shared).try_send(record)
    }

    /// The receiver's shared page (for inspection).
    pub fn page(&self) -> &UintrPage<N> {
        &self.shared.page
    }

    /// Post a wake for coroutine `id`.
    pub fn wake(&self, id: u64) -> Result<(), Overflowed> {
        self.send(Record::wake(id))
    }
}

impl<W: WakeById + Send + 'static, const N: usize> HostReceiver<W, N> {
    /// Start the receiver thread with delivery enabled; returns it and a
    /// sender.
    pub fn spawn(sink: W) -> (Self, HostSender<N>) {
        let shared = Arc::new(Shared {
            page: UintrPage::new(),
            bell: Mutex::new(Bell::default()),
            cv: Condvar::new(),
        });
        shared.page.enable();
        let s = shared.clone();
        let thread = thread::Builder::new()
            .name("uintr-receiver".into())
            .spawn(move || receive_loop(&s, sink))
            .expect("spawn receiver thread");
        let sender = HostSender {
            shared: shared.clone(),
        };
        (Self { shared, thread }, sender)
    }

    /// Mask delivery: the receiver thread stops running the handler until
    /// [`enable`](Self::enable); senders keep posting (and may overflow).
    pub fn disable(&self) {
        self.shared
            .bell
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .masked = true;
    }

    /// Unmask delivery; anything posted meanwhile is delivered at once.
    pub fn enable(&self) {
        let mut bell = self
            .shared
            .bell
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        bell.masked = false;
        bell.rung |= self.shared.page.is_pending();
        drop(bell);
        self.shared.cv.notify_one();
    }

    /// The shared page (for inspection).
    pub fn page(&self) -> &UintrPage<N> {
        &self.shared.page
    }

    /// Stop the thread after a final delivery of everything pending (even if
    /// masked); returns the sink and the totals.
    pub fn shutdown(self) -> (W, Totals) {
        let mut bell = self
            .shared
            .bell
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        bell.shutdown = true;
        drop(bell);
        self.shared.cv.notify_one();
        self.thread.join().expect("receiver thread panicked")
    }
}

fn receive_loop<W: WakeById, const N: usize>(shared: &Shared<N>, sink: W) -> (W, Totals) {
    let mut totals = Totals::default();
    loop {
        let mut bell = shared.bell.lock().unwrap_or_else(PoisonError::into_inner);
        while !bell.shutdown && (!bell.rung || bell.masked) {
            bell = shared.cv.wait(bell).unwrap_or_else(PoisonError::into_inner);
        }
        let shutdown = bell.shutdown;
        bell.rung = false;
        drop(bell);
        // Take the interrupt: clear "enabled" for the handler's duration.
        if shared.page.enter_handler() {
            totals.deliveries += 1;
            loop {
                let report = shared.page.handle(&sink);
                totals.add(&report);
                if !report.again {
                    break;
                }
            }
            shared.page.enable(); // the uret
        }
        if shutdown {
            return (sink, totals);
        }
    }
}
