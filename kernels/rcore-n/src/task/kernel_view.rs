//! The kernel as a process the others can see (COPS §3.3, SharedScheduler
//! §3.3): its executor's most urgent ready level is published in a page
//! every process maps read-only ([`rcore_n_abi::KernelPage`]), so a user
//! executor yields when kernel work is more urgent than its own level; and
//! a hart running user code less urgent than kernel work that just became
//! ready is sent an IPI, so that work does not wait for the time slice.
//!
//! The executor reports its highest ready level when it changes (the
//! `publish_priority` callback, under its ready lock: this module only
//! stores it there). The IPI is decided when a hart goes back to user code:
//! that hart picked its process over everything ready in the kernel, so
//! kernel work still ready then is left behind unless another hart comes
//! to the kernel. (Deciding at publication would preempt for work the
//! publishing hart is about to run itself.) The level may be a switching
//! coroutine, which stands for a waiting process at the view's highest
//! level: processes already see that one in the view, and preempting for
//! it is the time slice's (or the cooperative yield's) job, not an IPI's.
//! So an IPI goes out only for a level other than the view's highest,
//! which can only be kernel work, and only when no hart is idle (an idle
//! hart is woken for the work by the executor itself).

use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering::*};

use rcore_n_abi::{KernelPage, NO_PRIORITY};

use crate::board::MAX_HARTS;

#[repr(C, align(4096))]
struct PageAligned(KernelPage);

static PAGE: PageAligned = PageAligned(KernelPage {
    highest: AtomicU8::new(NO_PRIORITY),
});

/// The level each hart's user code was entered at, or `NO_PRIORITY` while
/// the hart is in the kernel.
static IN_USER_AT: [AtomicU8; MAX_HARTS] = [const { AtomicU8::new(NO_PRIORITY) }; MAX_HARTS];

static IPIS: AtomicUsize = AtomicUsize::new(0);

/// Physical address of the kernel page (mapped read-only in processes).
pub fn page_pa() -> usize {
    &raw const PAGE as usize
}

/// IPIs sent for kernel work since boot (`kstat(KERNEL_WORK_IPIS)`).
pub fn ipis() -> usize {
    IPIS.load(Relaxed)
}

/// This hart is about to run user code entered at `level`; `idle_harts`:
/// some hart is parked in the kernel. If kernel work more urgent than
/// another hart's user code is left ready, interrupt the hart running the
/// least urgent user code (one hart is enough to run it).
pub fn entering_user(level: u8, idle_harts: bool) {
    let me = crate::hart::hart_id();
    if let Some(at) = IN_USER_AT.get(me) {
        at.store(level, SeqCst);
    }
    let work = PAGE.0.highest.load(SeqCst);
    if work == NO_PRIORITY || idle_harts {
        return;
    }
    let view = super::view().highest().map_or(NO_PRIORITY, |p| p.level());
    if work == view {
        return; // a switching coroutine, or kernel work tied with a process
    }
    let victim = IN_USER_AT
        .iter()
        .enumerate()
        .filter(|&(h, _)| h != me)
        .map(|(h, at)| (h, at.load(SeqCst)))
        .filter(|&(_, at)| at != NO_PRIORITY && at > work)
        .max_by_key(|&(_, at)| at);
    if let Some((hart, _)) = victim {
        IPIS.fetch_add(1, Relaxed);
        let _ = sbi_rt::send_ipi(sbi_rt::HartMask::from_mask_base(1 << hart, 0));
    }
}

/// This hart is back in the kernel.
pub fn left_user() {
    if let Some(at) = IN_USER_AT.get(crate::hart::hart_id()) {
        at.store(NO_PRIORITY, SeqCst);
    }
}

/// The kernel executor's highest ready level is now `level`
/// (`NO_PRIORITY`: nothing ready).
pub fn kernel_ready(level: u8) {
    PAGE.0.highest.store(level, SeqCst);
}
