//! How the kernel's executor meets the harts: which hart is this, park in
//! `wfi` with permit semantics, and wake parked harts with IPIs.

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

use cops_core::Platform;

use super::timer;
use crate::board::MAX_HARTS;

/// Harts as the kernel executor's CPUs.
pub struct KernelPlatform {
    /// Bit `h`: hart `h` is parked in `idle`.
    parked: AtomicUsize,
    permits: [AtomicBool; MAX_HARTS],
}

impl KernelPlatform {
    pub const fn new() -> Self {
        Self { parked: AtomicUsize::new(0), permits: [const { AtomicBool::new(false) }; MAX_HARTS] }
    }
}

impl Platform for KernelPlatform {
    fn cpu_id(&self) -> usize {
        crate::boot::hart_id()
    }

    fn idle(&self) {
        let me = self.cpu_id();
        self.parked.fetch_or(1 << me, SeqCst);
        loop {
            // Dekker with `notify`: it sets the permit, then reads `parked`.
            if self.permits[me].swap(false, SeqCst) {
                break;
            }
            let next = timer::wake_expired();
            if self.permits[me].swap(false, SeqCst) {
                break;
            }
            timer::set_timer(next.unwrap_or(u64::MAX));
            // SIE is clear: a pending timer or IPI ends `wfi` without a trap.
            // SAFETY: waits for an interrupt.
            unsafe { core::arch::asm!("wfi") };
            crate::trap::clear_ipi();
        }
        self.parked.fetch_and(!(1 << me), SeqCst);
    }

    fn notify(&self) {
        for p in &self.permits {
            p.store(true, SeqCst);
        }
        let parked = self.parked.load(SeqCst) & !(1 << self.cpu_id());
        if parked != 0 {
            let _ = sbi_rt::send_ipi(sbi_rt::HartMask::from_mask_base(parked, 0));
        }
    }
}
