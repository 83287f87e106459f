//! A boxed coroutine's allocation (its future and join state) is freed
//! exactly once on every path: completed with its handle kept or dropped
//! first, cancelled, panicked, and refused by a full executor. The heap is
//! counted by this binary's allocator; a missing or extra release of the
//! task's two references (executor and handle) shows as bytes left over
//! (or, under Miri, as a double free).
#![cfg(all(not(loom), feature = "std"))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::poll_fn;
use std::sync::atomic::{AtomicIsize, Ordering::SeqCst};
use std::task::Poll;

use cops_core::{Error, JoinError, NoPlatform, Priority, yield_now};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator, only counting the bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, SeqCst);
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, SeqCst);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

cops_core::static_executor! {
    static EXEC: Executor<NoPlatform> = (2, NoPlatform);
}

fn p(level: u8) -> Priority {
    Priority::new(level).unwrap()
}

/// One test function: the counter is process-wide, so nothing else may
/// allocate meanwhile.
#[test]
fn every_path_frees_the_task_once() {
    // A silent panic hook (the default one caches backtrace symbols), and
    // whatever the executor allocates once.
    std::panic::set_hook(Box::new(|_| {}));
    drop(EXEC.spawn(async {}, p(1)).unwrap());
    EXEC.run_until_idle();
    let base = LIVE.load(SeqCst);
    let payload = [7u64; 8]; // something to free

    // Completed; the handle takes the output, then drops.
    let mut h = EXEC
        .spawn(
            async move {
                yield_now().await;
                payload.len()
            },
            p(1),
        )
        .unwrap();
    EXEC.run_until_idle();
    assert_eq!(h.try_take(), Some(Ok(8)));
    drop(h);
    assert_eq!(LIVE.load(SeqCst), base, "completed, handle dropped after");

    // Completed after its handle was dropped (detached), with an output
    // that owns memory.
    drop(EXEC.spawn(async move { vec![payload; 4] }, p(1)).unwrap());
    EXEC.run_until_idle();
    assert_eq!(LIVE.load(SeqCst), base, "detached, output dropped");

    // An output nobody takes, handle dropped after the end.
    let h = EXEC.spawn(async move { vec![payload; 4] }, p(1)).unwrap();
    EXEC.run_until_idle();
    assert!(h.is_finished());
    drop(h);
    assert_eq!(LIVE.load(SeqCst), base, "finished, output not taken");

    // Cancelled while blocked.
    let mut h = EXEC
        .spawn(poll_fn(move |_| Poll::<[u64; 8]>::Pending), p(1))
        .unwrap();
    EXEC.run_until_idle();
    h.cancel().unwrap();
    EXEC.run_until_idle();
    assert_eq!(h.try_take(), Some(Err(JoinError::Cancelled)));
    drop(h);
    assert_eq!(LIVE.load(SeqCst), base, "cancelled");

    // Panicked in its poll (caught with feature `std`).
    let h = EXEC
        .spawn(
            async move {
                if payload[0] == 7 {
                    panic!("a planned panic");
                }
            },
            p(1),
        )
        .unwrap();
    EXEC.run_until_idle();
    drop(h);
    assert_eq!(LIVE.load(SeqCst), base, "panicked");

    // Refused by a full executor: the future comes back dropped and the
    // task freed.
    let blockers: Vec<_> = (0..2)
        .map(|_| EXEC.spawn(poll_fn(|_| Poll::<()>::Pending), p(1)).unwrap())
        .collect();
    let with_blockers = LIVE.load(SeqCst);
    assert_eq!(
        EXEC.spawn(async move { payload }, p(1)).err(),
        Some(Error::NoSlot)
    );
    assert_eq!(LIVE.load(SeqCst), with_blockers, "refused spawn");
    for b in &blockers {
        b.cancel().unwrap();
    }
    EXEC.run_until_idle();
    drop(blockers);
    assert_eq!(LIVE.load(SeqCst), base, "blockers cancelled");
}
