//! Asynchronous system calls woken by user interrupts: many coroutines of
//! one thread reading a pipe at once while another process writes; wakes
//! for finished coroutines are dropped; a flood of completions larger than
//! the interrupt queue loses nothing.
#![no_std]
#![no_main]
extern crate alloc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use rcore_n_user::*;

entry!(main);

const READERS: usize = 64;
const FLOOD: usize = 300;

async fn main() -> i32 {
    // 1. 64 coroutines of this one thread each await an 8-byte pipe read.
    assert_eq!(syscall::pipe(), Ok((3, 4)));
    let mut readers = Vec::new();
    for _ in 0..READERS {
        readers.push(
            spawn(
                async {
                    let mut buf = [0u8; 8];
                    let n = call::read(3, &mut buf).await;
                    (n, u64::from_le_bytes(buf))
                },
                20,
            )
            .unwrap(),
        );
    }
    let writer = syscall::spawn("async_writer", 12).unwrap();
    let mut seen = [false; READERS];
    for r in readers {
        let (n, v) = r.await.unwrap();
        assert_eq!(n, Ok(8), "a read lost its bytes");
        assert!(
            !core::mem::replace(&mut seen[v as usize], true),
            "record {v} read twice"
        );
    }
    assert_eq!(syscall::waitpid(Some(writer)), Ok((writer, 0)));
    println!("{READERS} concurrent async reads each got their 8 bytes");

    // 2. Wakes for finished coroutines are rejected by id, never delivered
    // to the slot's next occupant. We post them into our own page, exactly
    // as the kernel does when a completion races with the coroutine's end.
    static POLLS: AtomicU64 = AtomicU64::new(0);
    let rejected_before = uintr::STATS.rejected.load(Relaxed);
    let (stale, occupants) = guest_test::stale_ids_with_new_occupants(8, 20, &POLLS).await;
    // Step below them so each occupant is polled once before we go on.
    let me = current_id().unwrap();
    set_priority(me, 30).unwrap();
    yield_now().await;
    set_priority(me, MAIN_PRIORITY).unwrap();
    let polls = POLLS.load(Relaxed);
    assert_eq!(polls, 8, "each occupant polled once");
    // SAFETY: the kernel maps our user-interrupt page here.
    let page =
        unsafe { cops_uintr::PageSized::from_zeroed(rcore_n_abi::layout::UINTR_PAGE as *mut u8) };
    for id in &stale {
        page.post(cops_uintr::Record::wake(id.to_raw())).unwrap();
    }
    call::sleep(1_000_000).await.unwrap(); // the records are drained by now
    yield_now().await;
    let rejected = uintr::STATS.rejected.load(Relaxed) - rejected_before;
    println!(
        "stale wakes rejected: {rejected}; occupants polled {} more times",
        POLLS.load(Relaxed) - polls
    );
    assert_eq!(rejected, 8, "a stale wake was not rejected");
    assert_eq!(
        POLLS.load(Relaxed),
        polls,
        "a stale wake reached a new occupant"
    );
    for o in occupants {
        o.cancel().unwrap();
    }

    // 3. Flood: more completions at once than the queue holds.
    let mut sleepers = Vec::new();
    for i in 0..FLOOD {
        sleepers.push(spawn(async move { call::sleep(3_000_000).await.map(|_| i) }, 30).unwrap());
    }
    for (i, s) in sleepers.into_iter().enumerate() {
        assert_eq!(s.await.unwrap(), Ok(i), "a completion was lost");
    }
    println!(
        "{FLOOD} async sleeps completed; the queue overflowed {} times (then resynced)",
        {
            // SAFETY: the kernel maps our user-interrupt page here.
            let page = unsafe {
                cops_uintr::PageSized::from_zeroed(rcore_n_abi::layout::UINTR_PAGE as *mut u8)
            };
            page.failed_posts()
        }
    );
    // 4. A busy executor (coroutines yielding to each other, no system
    // calls) still hears completions: an urgent coroutine's async sleep
    // ends while two low-priority coroutines spin.
    static DONE_AT: AtomicU64 = AtomicU64::new(0);
    let spin_until = syscall::ticks() + 20_000_000; // 2 s of rdtime
    let spinners: Vec<_> = (0..2)
        .map(|_| {
            spawn(
                async move {
                    while DONE_AT.load(Relaxed) == 0 && syscall::ticks() < spin_until {
                        yield_now().await;
                    }
                },
                50,
            )
            .unwrap()
        })
        .collect();
    let t0 = syscall::ticks();
    let urgent = spawn(
        async {
            call::sleep(2_000_000).await.unwrap();
            DONE_AT.store(syscall::ticks(), Relaxed);
        },
        1,
    )
    .unwrap();
    for s in spinners {
        s.await.unwrap();
    }
    urgent.await.unwrap();
    let waited_us = (DONE_AT.load(Relaxed) - t0) / 10;
    println!("urgent async sleep(2 ms) done after {waited_us} us while others spun");
    assert!(
        DONE_AT.load(Relaxed) < spin_until,
        "the completion waited for the spinners"
    );
    guest_test::pass("test_async");
    0
}
