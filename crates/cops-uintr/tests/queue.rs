//! Single-threaded and multi-threaded behaviour of the pending queue.
#![cfg(not(loom))]

use cops_uintr::{PendingQueue, PushError, Record};
use std::collections::HashSet;
use std::sync::Arc;

#[test]
fn fifo_and_capacity() {
    let q = PendingQueue::<4>::new();
    assert!(q.is_empty());
    for id in 0..4 {
        q.push(Record::wake(id)).unwrap();
    }
    assert_eq!(q.len(), 4);
    assert_eq!(
        q.push(Record::wake(99)),
        Err(PushError::Full(Record::wake(99)))
    );
    for id in 0..4 {
        assert_eq!(q.pop(), Some(Record::wake(id)));
    }
    assert_eq!(q.pop(), None);
}

#[test]
fn wraps_around_many_laps() {
    let q = PendingQueue::<2>::new();
    for round in 0..1000u64 {
        q.push(Record::wake(round)).unwrap();
        q.push(Record {
            cause: 5,
            payload: round,
        })
        .unwrap();
        assert!(q.push(Record::wake(0)).is_err(), "full on lap {round}");
        assert_eq!(q.pop(), Some(Record::wake(round)));
        assert_eq!(
            q.pop(),
            Some(Record {
                cause: 5,
                payload: round
            })
        );
        assert_eq!(q.pop(), None);
    }
}

#[test]
fn freed_slot_is_reusable_while_others_are_full() {
    let q = PendingQueue::<4>::new();
    for id in 0..4 {
        q.push(Record::wake(id)).unwrap();
    }
    assert_eq!(q.pop(), Some(Record::wake(0)));
    q.push(Record::wake(4)).unwrap();
    assert!(q.push(Record::wake(5)).is_err());
    let rest: Vec<_> = std::iter::from_fn(|| q.pop()).map(|r| r.payload).collect();
    assert_eq!(rest, [1, 2, 3, 4]);
}

#[test]
fn concurrent_producers_and_consumer_lose_and_duplicate_nothing() {
    const PRODUCERS: u64 = 4;
    const EACH: u64 = if cfg!(miri) { 50 } else { 20_000 };
    let q = Arc::new(PendingQueue::<64>::new());
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let q = q.clone();
            std::thread::spawn(move || {
                for i in 0..EACH {
                    let mut rec = Record::wake(p * EACH + i);
                    while let Err(e) = q.push(rec) {
                        rec = e.into_record();
                        std::thread::yield_now();
                    }
                }
            })
        })
        .collect();
    let mut seen = HashSet::new();
    let mut last_per_producer = vec![None; PRODUCERS as usize];
    while seen.len() < (PRODUCERS * EACH) as usize {
        match q.pop() {
            Some(r) => {
                assert!(seen.insert(r.payload), "duplicate {}", r.payload);
                // Per-producer FIFO order is preserved.
                let p = (r.payload / EACH) as usize;
                assert!(last_per_producer[p] < Some(r.payload));
                last_per_producer[p] = Some(r.payload);
            }
            None => std::thread::yield_now(),
        }
    }
    for t in producers {
        t.join().unwrap();
    }
    assert_eq!(q.pop(), None);
}
