//! The shared page: a small header of flags plus the [`PendingQueue`].
//!
//! The header carries what a hardware user-interrupt unit keeps in registers,
//! so that the kernel (soft backend) or a host thread can play the hardware:
//!
//! | field      | N-extension analogue | written by |
//! |------------|----------------------|------------|
//! | `pending`  | `uip.USIP`           | senders set, handler clears |
//! | `enabled`  | `ustatus.UIE`        | receiver; cleared on handler entry |
//! | `overflow` | (none)               | senders set on a failed post, handler clears |
//! | `entry`    | `utvec`              | receiver |
//! | `arg`      | `uscratch`           | receiver |
//! | `saved_pc` | `uepc`               | kernel on upcall |
//! | `doorbell` | (which one rings)    | kernel, on the receiver's request |

use crate::loom::{AtomicU32, AtomicU64, Ordering};
use crate::queue::{PendingQueue, PushError};
use crate::record::Record;

/// Flags and registration words at the start of a [`UintrPage`].
#[repr(C, align(64))]
pub struct Header {
    pub(crate) pending: AtomicU32,
    pub(crate) enabled: AtomicU32,
    pub(crate) overflow: AtomicU32,
    pub(crate) doorbell: AtomicU32,
    pub(crate) entry: AtomicU64,
    pub(crate) arg: AtomicU64,
    pub(crate) saved_pc: AtomicU64,
    pub(crate) failed_posts: AtomicU64,
}

/// One receiver's shared state: header + pending queue of `N` records.
/// See the crate docs for the protocol.
#[repr(C)]
pub struct UintrPage<const N: usize> {
    pub(crate) header: Header,
    pub(crate) queue: PendingQueue<N>,
}

/// [`UintrPage::doorbell`]: the kernel delivers by upcall on the return
/// from a system call (the `soft` backend). Zero, so a fresh page is soft.
pub const DOORBELL_SOFT: u32 = 0;
/// [`UintrPage::doorbell`]: the kernel rings a hardware user interrupt
/// (RISC-V N: `uip.USIP`, entered through the receiver's `utvec`).
pub const DOORBELL_HW: u32 = 1;

/// Records per page in [`PageSized`]: header + 128 × 24 bytes fits 4 KiB.
pub const PAGE_RECORDS: usize = 128;

/// The page the soft backend maps into a process: exactly one 4 KiB page.
pub type PageSized = UintrPage<PAGE_RECORDS>;

#[cfg(not(loom))]
const _: () = {
    assert!(core::mem::size_of::<PageSized>() <= 4096);
    assert!(core::mem::align_of::<PageSized>() <= 4096);
    assert!(core::mem::size_of::<Header>() == 64);
};

/// A post that stored its record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Posted {
    /// `true` if this post turned `pending` on: the sender must ring the
    /// receiver's doorbell (upcall, IPI, condvar). `false` means a doorbell
    /// is already outstanding and the handler will see this record.
    pub notify: bool,
}

/// A post that stored nothing. The overflow flag has been set, so the
/// receiver's handler **will** call [`crate::WakeById::resync`] after this
/// failure became visible; the sender may drop the record (resync covers
/// it) or keep it and retry later (back-pressure).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overflowed {
    /// Why the queue refused it, with the record.
    pub error: PushError,
    /// As [`Posted::notify`]: ring the doorbell so the resync happens.
    pub notify: bool,
}

impl<const N: usize> UintrPage<N> {
    /// A fresh page: empty, disabled, nothing registered.
    pub fn new() -> Self {
        Self {
            header: Header {
                pending: AtomicU32::new(0),
                enabled: AtomicU32::new(0),
                overflow: AtomicU32::new(0),
                doorbell: AtomicU32::new(0),
                entry: AtomicU64::new(0),
                arg: AtomicU64::new(0),
                saved_pc: AtomicU64::new(0),
                failed_posts: AtomicU64::new(0),
            },
            queue: PendingQueue::new(),
        }
    }

    /// View zero-filled memory (e.g. a freshly allocated frame the kernel
    /// will map into the receiver) as an empty page.
    ///
    /// # Safety
    /// `ptr` must be non-null, aligned to `align_of::<Self>()` (64), point to
    /// `size_of::<Self>()` bytes that are all zero when this is called, and
    /// stay valid and only accessed through atomics / this type for `'a`.
    #[cfg(not(loom))]
    pub unsafe fn from_zeroed<'a>(ptr: *mut u8) -> &'a Self {
        debug_assert!((ptr as usize).is_multiple_of(core::mem::align_of::<Self>()));
        // SAFETY: every field is an atomic integer, a `repr(transparent)`
        // cell around `Record` (two u64), or an array of those, for which
        // the all-zero bit pattern is a valid value, and that value is the
        // empty queue with stamps on lap 0 and all flags clear. Alignment,
        // size and lifetime are the caller's contract above.
        unsafe { &*ptr.cast::<Self>() }
    }

    /// The pending queue itself.
    pub fn queue(&self) -> &PendingQueue<N> {
        &self.queue
    }

    /// Sender side: store `record`, or on failure set the overflow flag.
    /// In both cases `pending` is raised afterwards (ordering the record or
    /// the overflow flag before it), and the result says whether this call
    /// must ring the doorbell.
    pub fn post(&self, record: Record) -> Result<Posted, Overflowed> {
        let pushed = self.queue.push(record);
        if pushed.is_err() {
            // All writes to the flags are RMWs (swap), never plain stores:
            // same semantics here, and it keeps loom sound (tokio-rs/loom#254:
            // a plain store can slip inside a concurrent RMW in loom's model).
            self.header.overflow.swap(1, Ordering::AcqRel);
            self.header.failed_posts.fetch_add(1, Ordering::Relaxed);
        }
        let notify = self.header.pending.swap(1, Ordering::AcqRel) == 0;
        match pushed {
            Ok(()) => Ok(Posted { notify }),
            Err(error) => Err(Overflowed { error, notify }),
        }
    }

    /// Sender side, pure back-pressure: store `record` or hand it back
    /// without touching the overflow flag (the caller keeps the record and
    /// retries). On success, returns whether to ring the doorbell.
    pub fn try_post(&self, record: Record) -> Result<Posted, PushError> {
        self.queue.push(record)?;
        let notify = self.header.pending.swap(1, Ordering::AcqRel) == 0;
        Ok(Posted { notify })
    }

    /// Whether a doorbell is outstanding (records or an overflow to handle).
    pub fn is_pending(&self) -> bool {
        self.header.pending.load(Ordering::Acquire) != 0
    }

    /// Whether the overflow flag is set (a resync is owed).
    pub fn is_overflowed(&self) -> bool {
        self.header.overflow.load(Ordering::Acquire) != 0
    }

    /// Posts that failed since the page was created (statistics).
    pub fn failed_posts(&self) -> u64 {
        self.header.failed_posts.load(Ordering::Relaxed)
    }

    /// Receiver: allow delivery. Returns `true` if something is already
    /// pending, in which case the caller should run the handler itself (a
    /// doorbell rung while disabled was deferred, not repeated).
    pub fn enable(&self) -> bool {
        self.header.enabled.swap(1, Ordering::SeqCst);
        self.is_pending()
    }

    /// Receiver: hold delivery off (records keep queueing).
    pub fn disable(&self) {
        self.header.enabled.swap(0, Ordering::SeqCst);
    }

    /// Whether delivery is enabled.
    pub fn is_enabled(&self) -> bool {
        self.header.enabled.load(Ordering::Acquire) != 0
    }

    /// Receiver: atomically take the "enabled" bit (enabled → disabled), as
    /// hardware does on handler entry. `false` if it was already disabled.
    pub fn enter_handler(&self) -> bool {
        self.header
            .enabled
            .compare_exchange(1, 0, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Receiver: register the handler entry point and its argument (the
    /// `utvec` / `uscratch` analogues). `entry == 0` unregisters.
    pub fn register(&self, entry: u64, arg: u64) {
        self.header.arg.store(arg, Ordering::Relaxed);
        self.header.entry.store(entry, Ordering::Release);
    }

    /// Registered handler entry point (0 if none).
    pub fn entry(&self) -> u64 {
        self.header.entry.load(Ordering::Acquire)
    }

    /// Registered handler argument.
    pub fn arg(&self) -> u64 {
        self.header.arg.load(Ordering::Relaxed)
    }

    /// How the receiver wants to be interrupted: [`DOORBELL_SOFT`] or
    /// [`DOORBELL_HW`] (any other value reads as soft). Written by the
    /// kernel when the receiver asks; the receiver can scribble on it, which
    /// only changes how it is itself interrupted.
    pub fn doorbell(&self) -> u32 {
        match self.header.doorbell.load(Ordering::Acquire) {
            DOORBELL_HW => DOORBELL_HW,
            _ => DOORBELL_SOFT,
        }
    }

    /// Choose the doorbell (see [`doorbell`](Self::doorbell)).
    pub fn set_doorbell(&self, kind: u32) {
        self.header.doorbell.swap(kind, Ordering::AcqRel);
    }

    /// Program counter saved by the kernel at the last upcall.
    pub fn saved_pc(&self) -> u64 {
        self.header.saved_pc.load(Ordering::Acquire)
    }
}

impl<const N: usize> Default for UintrPage<N> {
    fn default() -> Self {
        Self::new()
    }
}
