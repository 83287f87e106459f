//! The papers' wake path end to end on the host: a "kernel" thread completes
//! asynchronous calls, stores each result, and posts a user interrupt
//! carrying the waiting coroutine's id; the receiver's handler drains the
//! records and calls the executor's `wake(id)`, the same function the
//! coroutine's `Waker` would call.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use cops::core::{CoroutineId, Executor, Priority, StdPlatform};
use cops::uintr::host::HostReceiver;
use cops::uintr::{ExecutorSink, Record};

/// Result slot of one asynchronous call: 0 = in flight, else result + 1.
/// The future never registers its waker: only the user interrupt wakes it,
/// as in the kernel's async system calls.
struct Completion(Arc<AtomicU64>);

impl Future for Completion {
    type Output = u64;
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<u64> {
        match self.0.load(SeqCst) {
            0 => Poll::Pending,
            r => Poll::Ready(r - 1),
        }
    }
}

fn executor() -> &'static Executor<StdPlatform> {
    Executor::leak(512, StdPlatform::new())
}

/// `calls` coroutines wait for results; a sender thread completes them in
/// reverse order through a receiver queue of `N` records; every coroutine
/// gets its own result, whether or not the queue overflowed.
fn complete_through_uintr<const N: usize>(calls: usize) -> cops::uintr::host::Totals {
    let exec = executor();
    let slots: Vec<Arc<AtomicU64>> = (0..calls).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let results = Arc::new(Mutex::new(vec![u64::MAX; calls]));
    let mut ids = Vec::new();
    for (i, slot) in slots.iter().enumerate() {
        let (slot, results) = (slot.clone(), results.clone());
        let prio = Priority::new((i % 64) as u8).unwrap();
        let h = exec
            .spawn(
                async move {
                    let r = Completion(slot).await;
                    results.lock().unwrap()[i] = r;
                },
                prio,
            )
            .unwrap();
        ids.push(h.id());
    }
    // Every coroutine reaches its await before any completion.
    exec.run_until_idle();
    assert_eq!(exec.live(), calls);

    // Resync after an overflow: wake every coroutine (wake is idempotent and
    // finished ones answer `Finished`).
    let in_flight: Arc<Vec<CoroutineId>> = Arc::new(ids.clone());
    let resync = {
        let in_flight = in_flight.clone();
        move |e: &Executor<StdPlatform>| {
            for &id in in_flight.iter() {
                let _ = e.wake(id);
            }
        }
    };
    let (receiver, sender) = HostReceiver::<_, N>::spawn(ExecutorSink::new(exec, resync));
    let worker = std::thread::spawn(move || exec.run());
    let refused = AtomicUsize::new(0);
    for (i, id) in ids.iter().enumerate().rev() {
        slots[i].store(1000 + i as u64 + 1, SeqCst);
        if sender.send(Record::wake(id.to_raw())).is_err() {
            refused.fetch_add(1, SeqCst);
        }
    }
    worker.join().unwrap();
    let (_sink, totals) = receiver.shutdown();
    let results = results.lock().unwrap();
    for (i, r) in results.iter().enumerate() {
        assert_eq!(
            *r,
            1000 + i as u64,
            "coroutine {i} got a wrong or no result"
        );
    }
    assert_eq!(exec.live(), 0);
    if refused.load(SeqCst) > 0 {
        assert!(totals.resyncs > 0, "a refused record must force a resync");
    }
    totals
}

#[test]
fn every_async_call_completes_through_its_user_interrupt() {
    let totals = complete_through_uintr::<256>(200);
    assert_eq!(totals.resyncs, 0);
    assert_eq!(totals.woken + totals.rejected, 200);
}

#[test]
fn flooding_a_small_queue_loses_nothing() {
    // 300 completions through an 4-record queue: most posts are refused,
    // the overflow flag forces resyncs, and still every coroutine finishes
    // with its own result.
    complete_through_uintr::<4>(300);
}

#[test]
fn wake_for_a_finished_or_cancelled_coroutine_is_dropped() {
    let exec = executor();
    let polls = Arc::new(AtomicUsize::new(0));
    // A coroutine that finishes, and one that is cancelled while waiting.
    let done = exec.spawn(async {}, Priority::HIGHEST).unwrap();
    let never = Arc::new(AtomicU64::new(0));
    let cancelled = exec.spawn(Completion(never), Priority::HIGHEST).unwrap();
    exec.run_until_idle();
    cancelled.cancel().unwrap();
    exec.run_until_idle();
    let (old_done, old_cancelled) = (done.id(), cancelled.id());
    drop((done, cancelled));
    // New occupants, possibly in the same slots: they must never see the
    // old ids' wakes.
    let mut fresh = Vec::new();
    for _ in 0..2 {
        let polls = polls.clone();
        let h = exec
            .spawn(
                async move {
                    polls.fetch_add(1, SeqCst);
                    std::future::pending::<()>().await
                },
                Priority::HIGHEST,
            )
            .unwrap();
        fresh.push(h);
    }
    exec.run_until_idle();
    assert_eq!(polls.load(SeqCst), 2);

    let (receiver, sender) =
        HostReceiver::<_, 16>::spawn(ExecutorSink::new(exec, |_: &Executor<StdPlatform>| {}));
    sender.send(Record::wake(old_done.to_raw())).unwrap();
    sender.send(Record::wake(old_cancelled.to_raw())).unwrap();
    let (_, totals) = receiver.shutdown();
    assert_eq!((totals.woken, totals.rejected), (0, 2));
    exec.run_until_idle();
    assert_eq!(polls.load(SeqCst), 2, "a stale wake reached a new occupant");
    for h in &fresh {
        h.cancel().unwrap();
    }
    exec.run_until_idle();
}
