//! What every layer may ask about the machine it runs on: the calling
//! hart's id, how many harts run the kernel, the timer's frequency, and the
//! kernel command line. `boot` sets them once, from the device tree.

use core::sync::atomic::{AtomicUsize, Ordering::*};

static HARTS: AtomicUsize = AtomicUsize::new(1);
static TIMEBASE: AtomicUsize = AtomicUsize::new(10_000_000);
static BOOTARGS: spin::Once<&'static str> = spin::Once::new();

/// The calling hart's id (kept in `tp` while in the kernel).
pub fn hart_id() -> usize {
    let id: usize;
    // SAFETY: reads a register.
    unsafe { core::arch::asm!("mv {}, tp", out(reg) id) };
    id
}

/// `rdtime` ticks per second.
pub fn timebase() -> u64 {
    TIMEBASE.load(Relaxed) as u64
}

/// Harts running the kernel.
pub fn harts() -> usize {
    HARTS.load(Relaxed)
}

/// The device tree's timer frequency (boot hart, before anything reads it).
pub fn set_timebase(hz: usize) {
    TIMEBASE.store(hz, Relaxed);
}

/// The harts started (boot hart, once the others run).
pub fn set_harts(n: usize) {
    HARTS.store(n, Release);
}

/// The kernel command line (boot hart, once).
pub fn set_bootargs(args: &'static str) {
    BOOTARGS.call_once(|| args);
}

/// The kernel command line.
pub fn bootargs() -> &'static str {
    BOOTARGS.get().copied().unwrap_or("")
}

/// The number of a `key=N` word on the kernel command line.
pub fn bootarg(key: &str) -> Option<u64> {
    bootargs()
        .split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}
