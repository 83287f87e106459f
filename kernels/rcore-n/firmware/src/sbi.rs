//! The SBI extensions rcore-n uses, dispatched by `rustsbi`'s derive.
//!
//! Cross-hart requests (IPI, remote fences, HSM start) are words in
//! [`HARTS`] plus the target's CLINT `msip`; the target acts on them in its
//! machine software interrupt. Remote fences are synchronous: the caller
//! waits until every target has fenced, serving its own requests meanwhile
//! (two harts fencing each other cannot deadlock).

use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering::*};

use rustsbi::{HartMask, Physical, RustSBI, SbiRet};

use crate::platform::{
    self, FINISHER_FAIL, FINISHER_PASS, FINISHER_RESET, MAX_HARTS, MTIP, SSIP, STIP, Uart,
};
use crate::trap::Context;

pub const RUSTSBI_VERSION: &str = "0.4.1";

/// Request bits in [`HartState::pending`].
const REQ_SSIP: usize = 1;
const REQ_FENCE_I: usize = 2;
const REQ_SFENCE_VMA: usize = 4;

/// HSM states (SBI spec numbering).
const STARTED: u32 = 0;
const STOPPED: u32 = 1;
const START_PENDING: u32 = 2;

struct HartState {
    pending: AtomicUsize,
    /// SBI HSM state; `.bss` zero would read as STARTED, so harts are
    /// marked STOPPED until they arrive (see `hsm_wait_for_start`).
    status: AtomicU32,
    present: AtomicU32,
    start_addr: AtomicUsize,
    opaque: AtomicUsize,
}

static HARTS: [HartState; MAX_HARTS] = [const {
    HartState {
        pending: AtomicUsize::new(0),
        status: AtomicU32::new(STOPPED),
        present: AtomicU32::new(0),
        start_addr: AtomicUsize::new(0),
        opaque: AtomicUsize::new(0),
    }
}; MAX_HARTS];

/// The boot hart is running the kernel.
pub fn hsm_mark_started(hart: usize) {
    HARTS[hart].present.store(1, Release);
    HARTS[hart].status.store(STARTED, Release);
}

/// A secondary hart: wait, stopped, for `hart_start`; returns its entry
/// point and argument.
pub fn hsm_wait_for_start(hart: usize) -> (usize, usize) {
    let me = &HARTS[hart];
    me.present.store(1, Release);
    loop {
        if me.status.load(Acquire) == START_PENDING {
            platform::set_msip(hart, 0);
            let r = (me.start_addr.load(Relaxed), me.opaque.load(Relaxed));
            me.status.store(STARTED, Release);
            return r;
        }
        // SAFETY: waits for an interrupt; MIE is off so none is taken.
        unsafe { core::arch::asm!("wfi") };
    }
}

/// Act on the requests other harts left for `hart`.
pub fn on_software_interrupt(hart: usize) {
    platform::set_msip(hart, 0);
    serve_requests(hart);
}

fn serve_requests(hart: usize) {
    let req = HARTS[hart].pending.swap(0, AcqRel);
    if req & REQ_SSIP != 0 {
        // SAFETY: pends S-mode's software interrupt (delegated).
        unsafe { core::arch::asm!("csrs mip, {}", in(reg) SSIP) };
    }
    if req & REQ_FENCE_I != 0 {
        // SAFETY: instruction-cache fence on this hart.
        unsafe { core::arch::asm!("fence.i") };
    }
    if req & REQ_SFENCE_VMA != 0 {
        // SAFETY: flushes this hart's TLB (a superset of any range asked).
        unsafe { core::arch::asm!("sfence.vma") };
    }
}

/// Post `req` to every hart in `mask`; with `wait`, return once each has
/// served it. The calling hart serves its own at once.
fn send(mask: HartMask, req: usize, wait: bool) -> SbiRet {
    let me = platform::hart_id();
    let mut targets = 0usize;
    for hart in 0..MAX_HARTS {
        if !mask.has_bit(hart) {
            continue;
        }
        if HARTS[hart].present.load(Acquire) == 0 {
            return SbiRet::invalid_param();
        }
        targets |= 1 << hart;
    }
    for hart in 0..MAX_HARTS {
        if targets & (1 << hart) == 0 {
            continue;
        }
        if hart == me {
            HARTS[me].pending.fetch_or(req, AcqRel);
            serve_requests(me);
        } else {
            HARTS[hart].pending.fetch_or(req, AcqRel);
            platform::set_msip(hart, 1);
        }
    }
    if wait {
        for hart in 0..MAX_HARTS {
            if targets & (1 << hart) == 0 || hart == me {
                continue;
            }
            // A stopped hart serves requests when it starts; do not wait.
            while HARTS[hart].status.load(Acquire) == STARTED
                && HARTS[hart].pending.load(Acquire) & req != 0
            {
                serve_requests(me);
                core::hint::spin_loop();
            }
        }
    }
    SbiRet::success(0)
}

struct Timer;
impl rustsbi::Timer for Timer {
    fn set_timer(&self, stime_value: u64) {
        platform::set_mtimecmp(platform::hart_id(), stime_value);
        // SAFETY: this hart's interrupt bits: the old STIP is withdrawn and
        // the machine timer armed for the new deadline.
        unsafe { core::arch::asm!("csrc mip, {}", "csrs mie, {}", in(reg) STIP, in(reg) MTIP) };
    }
}

struct Ipi;
impl rustsbi::Ipi for Ipi {
    fn send_ipi(&self, hart_mask: HartMask) -> SbiRet {
        send(hart_mask, REQ_SSIP, false)
    }
}

struct Fence;
impl rustsbi::Fence for Fence {
    fn remote_fence_i(&self, hart_mask: HartMask) -> SbiRet {
        send(hart_mask, REQ_FENCE_I, true)
    }
    fn remote_sfence_vma(&self, hart_mask: HartMask, _start: usize, _size: usize) -> SbiRet {
        send(hart_mask, REQ_SFENCE_VMA, true)
    }
    fn remote_sfence_vma_asid(
        &self,
        hart_mask: HartMask,
        _start: usize,
        _size: usize,
        _asid: usize,
    ) -> SbiRet {
        send(hart_mask, REQ_SFENCE_VMA, true)
    }
}

struct Hsm;
impl rustsbi::Hsm for Hsm {
    fn hart_start(&self, hartid: usize, start_addr: usize, opaque: usize) -> SbiRet {
        // A hart that has not reached the firmware yet (a slow vCPU) is
        // stopped all the same: it finds START_PENDING when it arrives.
        let Some(h) = HARTS.get(hartid) else {
            return SbiRet::invalid_param();
        };
        h.start_addr.store(start_addr, Relaxed);
        h.opaque.store(opaque, Relaxed);
        if h.status
            .compare_exchange(STOPPED, START_PENDING, AcqRel, Acquire)
            .is_err()
        {
            return SbiRet::already_available();
        }
        platform::set_msip(hartid, 1);
        SbiRet::success(0)
    }
    fn hart_stop(&self) -> SbiRet {
        let hart = platform::hart_id();
        HARTS[hart].status.store(STOPPED, Release);
        // SAFETY: this hart stops taking S/U interrupts while stopped.
        unsafe { core::arch::asm!("csrc mip, {}", in(reg) SSIP | STIP) };
        let (addr, opaque) = hsm_wait_for_start(hart);
        crate::enter_supervisor(hart, addr, opaque)
    }
    fn hart_get_status(&self, hartid: usize) -> SbiRet {
        match HARTS.get(hartid) {
            Some(h) => SbiRet::success(h.status.load(Acquire) as usize),
            None => SbiRet::invalid_param(),
        }
    }
}

struct Reset;
impl rustsbi::Reset for Reset {
    fn system_reset(&self, reset_type: u32, reset_reason: u32) -> SbiRet {
        match (reset_type, reset_reason) {
            (0, 0) => platform::finisher(FINISHER_PASS),
            (0, _) => platform::finisher(FINISHER_FAIL | (reset_reason << 16)),
            (1 | 2, _) => platform::finisher(FINISHER_RESET),
            _ => SbiRet::invalid_param(),
        }
    }
}

struct Console;
impl rustsbi::Console for Console {
    fn write(&self, bytes: Physical<&[u8]>) -> SbiRet {
        // S-mode passes a physical address; M-mode reads it untranslated.
        let (addr, len) = (bytes.phys_addr_lo(), bytes.num_bytes());
        for i in 0..len {
            // SAFETY: a byte of RAM the kernel named; a bad address faults
            // into the firmware's trap handler, which reports it.
            Uart::putchar(unsafe { core::ptr::read_volatile((addr + i) as *const u8) });
        }
        SbiRet::success(len)
    }
    fn read(&self, bytes: Physical<&mut [u8]>) -> SbiRet {
        let (addr, len) = (bytes.phys_addr_lo(), bytes.num_bytes());
        let mut n = 0;
        while n < len {
            let Some(b) = Uart::getchar() else { break };
            // SAFETY: as in `write`.
            unsafe { core::ptr::write_volatile((addr + n) as *mut u8, b) };
            n += 1;
        }
        SbiRet::success(n)
    }
    fn write_byte(&self, byte: u8) -> SbiRet {
        Uart::putchar(byte);
        SbiRet::success(0)
    }
}

#[derive(RustSBI)]
struct Sbi {
    timer: Timer,
    ipi: Ipi,
    fence: Fence,
    hsm: Hsm,
    reset: Reset,
    console: Console,
}

static SBI: Sbi = Sbi {
    timer: Timer,
    ipi: Ipi,
    fence: Fence,
    hsm: Hsm,
    reset: Reset,
    console: Console,
};

/// Legacy (v0.1) extension ids still used by old kernels and by rcore-n's
/// FPGA console.
mod legacy {
    pub const SET_TIMER: usize = 0;
    pub const PUTCHAR: usize = 1;
    pub const GETCHAR: usize = 2;
    pub const CLEAR_IPI: usize = 3;
    pub const SHUTDOWN: usize = 8;
}

/// Serve the ecall in `ctx`; returns (a0, a1).
pub fn handle_ecall(ctx: &Context) -> (usize, usize) {
    let (eid, fid) = (ctx.x[17], ctx.x[16]);
    let a = [
        ctx.x[10], ctx.x[11], ctx.x[12], ctx.x[13], ctx.x[14], ctx.x[15],
    ];
    match eid {
        legacy::SET_TIMER => {
            rustsbi::Timer::set_timer(&Timer, a[0] as u64);
            (0, 0)
        }
        legacy::PUTCHAR => {
            Uart::putchar(a[0] as u8);
            (0, 0)
        }
        legacy::GETCHAR => (Uart::getchar().map_or(usize::MAX, usize::from), 0),
        legacy::CLEAR_IPI => {
            // SAFETY: clears S-mode's pending software interrupt.
            unsafe { core::arch::asm!("csrc mip, {}", in(reg) SSIP) };
            (0, 0)
        }
        legacy::SHUTDOWN => platform::finisher(FINISHER_PASS),
        _ => {
            let r = SBI.handle_ecall(eid, fid, a);
            (r.error, r.value)
        }
    }
}
