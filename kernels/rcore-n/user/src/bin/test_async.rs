//! Asynchronous system calls woken by user interrupts: many coroutines of
//! one thread reading a pipe at once while another process writes; wakes
//! for finished coroutines are dropped; a flood of completions larger than
//! the interrupt queue overflows it (checked) and loses nothing (the
//! handler resyncs, checked).
#![no_std]
#![no_main]
extern crate alloc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use rcore_n_user::*;

entry!(main);

const READERS: usize = 64;
const FLOOD: usize = 300;

/// Times the user-interrupt page was drained, whichever way (soft upcall,
/// between two polls, N-extension handler).
fn drains() -> u64 {
    let s = &uintr::STATS;
    s.upcalls.load(Relaxed) + s.inline.load(Relaxed) + s.hw_entries.load(Relaxed)
}

async fn main() -> i32 {
    // 1. 64 coroutines of this one thread each await an 8-byte pipe read.
    assert_eq!(syscall::pipe(), Ok((3, 4)));
    let calls0 = call::STATS.snapshot();
    let records0 = guest_test::wake_records();
    let drains0 = drains();
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
    // Every read went asynchronous or was answered at once, none fell
    // back to blocking the thread; each one that waited was completed
    // through its slot and woken by a user-interrupt record.
    let calls = call::STATS.snapshot().since(calls0);
    let records = guest_test::wake_records_since(records0, calls.completed).await;
    println!(
        "{READERS} concurrent async reads each got their 8 bytes: {calls:?}, {records} wake records drained in {} drains",
        drains() - drains0
    );
    assert_eq!(calls.refused, 0, "a call was refused");
    assert_eq!(
        calls.in_progress + calls.immediate,
        READERS as u64,
        "a read did not go through the async path"
    );
    assert!(calls.in_progress >= 1, "no read waited");
    assert_eq!(
        calls.completed, calls.in_progress,
        "a waiting read did not complete through its slot"
    );
    // A call that completes before its first poll returns is seen there;
    // its record then finds the coroutine moved on (or finished: rejected).
    assert!(
        records >= calls.completed,
        "a completion posted no wake record"
    );
    assert!(
        drains() > drains0,
        "no upcall or drain delivered the records"
    );

    // An async call polled outside any coroutine (a plain thread) is
    // refused with an error, not quietly turned into a blocking call.
    fn outside_a_coroutine(_: usize) -> i32 {
        use core::future::{Future, IntoFuture};
        let refused0 = call::STATS.refused.load(Relaxed);
        let mut call = core::pin::pin!(call::sleep(1_000_000_000).into_future());
        let mut cx = core::task::Context::from_waker(core::task::Waker::noop());
        let polled = call.as_mut().poll(&mut cx);
        let refused = call::STATS.refused.load(Relaxed) - refused0;
        (polled == core::task::Poll::Ready(Err(Errno::Inval)) && refused == 1) as i32
    }
    let t = spawn_thread(outside_a_coroutine, 0).unwrap();
    assert_eq!(
        syscall::thread_join(t),
        Ok(1),
        "an async call outside a coroutine was not refused"
    );

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

    // 3. Flood: more completions than the queue holds (128 records). A
    // coroutine less urgent than the sleepers runs once they all wait, and
    // holds this thread (one poll, user interrupts masked) until a post
    // fails: nothing can drain meanwhile, so the queue must overflow. The
    // handler must then resync: every sleeper still completes.
    // SAFETY: the kernel maps our user-interrupt page here.
    let page =
        unsafe { cops_uintr::PageSized::from_zeroed(rcore_n_abi::layout::UINTR_PAGE as *mut u8) };
    let (failed0, resyncs0) = (page.failed_posts(), uintr::STATS.resyncs.load(Relaxed));
    let calls0 = call::STATS.snapshot();
    let mut sleepers = Vec::new();
    for i in 0..FLOOD {
        // Long enough (300 ms) that every sleep is issued before the first
        // one ends, even with a slow vCPU: the completions come together.
        sleepers.push(spawn(async move { call::sleep(300_000_000).await.map(|_| i) }, 30).unwrap());
    }
    let holder = spawn(
        async move {
            let calls = call::STATS.snapshot().since(calls0);
            let waiting = calls.in_progress - calls.completed;
            let give_up = syscall::ticks() + 50_000_000;
            uintr::masked(|| {
                while page.failed_posts() == failed0 && syscall::ticks() < give_up {
                    core::hint::spin_loop();
                }
            });
            waiting
        },
        40,
    )
    .unwrap();
    for (i, s) in sleepers.into_iter().enumerate() {
        assert_eq!(s.await.unwrap(), Ok(i), "a completion was lost");
    }
    let waiting = holder.await.unwrap();
    let calls = call::STATS.snapshot().since(calls0);
    let (failed, resyncs) = (
        page.failed_posts() - failed0,
        uintr::STATS.resyncs.load(Relaxed) - resyncs0,
    );
    println!(
        "{FLOOD} async sleeps completed ({waiting} waiting at once); the queue overflowed ({failed} posts failed), {resyncs} resyncs"
    );
    assert!(
        waiting > cops_uintr::PAGE_RECORDS as u64,
        "only {waiting} sleeps waited at once: too few to overflow the queue"
    );
    assert_eq!(
        calls.in_progress, FLOOD as u64,
        "a sleep did not go asynchronous"
    );
    assert_eq!(
        calls.completed, FLOOD as u64,
        "a sleep did not complete through its slot"
    );
    assert!(failed > 0, "the queue never overflowed");
    assert!(resyncs > 0, "the overflow was never resynced");

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
