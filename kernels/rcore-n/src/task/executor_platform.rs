//! How the kernel's executor meets the harts: which hart is this, park in
//! `wfi` with permit semantics, and wake parked harts with IPIs.

use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

use cops_core::Platform;
use cops_vdso::abi::VdsoPlatform;

use crate::board::MAX_HARTS;
use crate::timer;

/// Harts as the kernel executor's CPUs.
pub struct KernelPlatform {
    /// Bit `h`: hart `h` is parked in `idle`.
    parked: AtomicUsize,
    permits: [AtomicBool; MAX_HARTS],
}

impl KernelPlatform {
    pub const fn new() -> Self {
        Self {
            parked: AtomicUsize::new(0),
            permits: [const { AtomicBool::new(false) }; MAX_HARTS],
        }
    }
}

impl Platform for KernelPlatform {
    fn cpu_id(&self) -> usize {
        crate::hart::hart_id()
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
            // A device interrupt that ended `wfi` (SIE is clear: no trap).
            crate::trap::serve_external();
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

static KERNEL: KernelPlatform = KernelPlatform::new();

extern "C" fn cpu_id(_: *const c_void) -> usize {
    KERNEL.cpu_id()
}
extern "C" fn idle(_: *const c_void) {
    KERNEL.idle()
}
extern "C" fn notify(_: *const c_void) {
    KERNEL.notify()
}
extern "C" fn no_op(_: *const c_void, _: u8) {}
extern "C" fn publish_priority(_: *const c_void, level: u8) {
    super::kernel_view::kernel_ready(level);
}

/// Whether some hart is parked in `idle` (it is woken for new kernel work
/// by the executor's notify).
pub fn idle_harts() -> bool {
    KERNEL.parked.load(SeqCst) != 0
}
extern "C" fn never_yield(_: *const c_void, _: u8) -> bool {
    false
}
extern "C" fn harts_are_fixed(_: *const c_void, _: usize) -> isize {
    cops_core::Error::Unsupported.code() as isize
}

/// The kernel platform as the vDSO's callbacks. Kernel coroutines are
/// cooperative; the kernel publishes its highest ready level for the
/// processes to see (and IPIs a hart running less urgent user code), see
/// `kernel_view`.
pub static VDSO_PLATFORM: VdsoPlatform = VdsoPlatform {
    ctx: core::ptr::null(),
    cpu_id,
    idle,
    notify,
    publish_priority,
    running_priority: no_op,
    should_yield: never_yield,
    alloc_cpu: harts_are_fixed,
};
