//! Bytes per idle coroutine: spawn 1 000 000 coroutines that wait forever
//! (a 16-byte future each) and count what the heap grew by, with the slots
//! of a run-time sized executor (`Executor::leak`) included; also what the
//! process's resident memory grew by (allocator overhead included, Linux).
//!
//! `cargo run --release --example memory`

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::poll_fn;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::task::Poll;

use cops_core::{Executor, NoPlatform, Priority};

struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, only counting the bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        IN_USE.fetch_add(layout.size(), Relaxed);
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        IN_USE.fetch_sub(layout.size(), Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const N: usize = 1_000_000;

/// Resident memory of this process in bytes (`/proc/self/statm`), if known.
fn resident() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn main() {
    let (before, rss_before) = (IN_USE.load(Relaxed), resident());
    let exec = Executor::leak(N, NoPlatform);
    let slots = IN_USE.load(Relaxed) - before;
    for i in 0..N {
        let pad = [i as u64; 2]; // a 16-byte future
        exec.spawn(
            poll_fn(move |_| {
                std::hint::black_box(&pad);
                Poll::<()>::Pending
            }),
            Priority::new((i % 64) as u8).unwrap(),
        )
        .unwrap(); // the JoinHandle is dropped: detached
    }
    exec.run_until_idle(); // every coroutine polled once: now blocked
    let total = IN_USE.load(Relaxed) - before;
    println!(
        "{N} idle coroutines: {} bytes of heap each ({} slot + {} boxed future and join state), {:.1} MB in all",
        total / N,
        slots / N,
        (total - slots) / N,
        total as f64 / 1e6,
    );
    if let (Some(a), Some(b)) = (rss_before, resident()) {
        println!(
            "resident memory grew by {:.1} MB ({} bytes per coroutine, allocator overhead included)",
            (b - a) as f64 / 1e6,
            (b - a) / N
        );
    }
}
