//! The std receiver: sender threads → shared page → handler on the receiver
//! thread → wake callback.
#![cfg(not(loom))]

use cops_uintr::Record;
use cops_uintr::WakeById;
use cops_uintr::host::HostReceiver;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// Counts wakes per id; ids >= `stale_from` are rejected like stale ids.
struct Counting {
    per_id: Vec<AtomicU32>,
    resyncs: AtomicU64,
    stale_from: u64,
    threads: Mutex<Vec<String>>,
}

impl Counting {
    fn new(ids: usize) -> Self {
        Self {
            per_id: (0..ids).map(|_| AtomicU32::new(0)).collect(),
            resyncs: AtomicU64::new(0),
            stale_from: u64::MAX,
            threads: Mutex::new(vec![]),
        }
    }
}

impl WakeById for Counting {
    type Error = ();
    fn wake(&self, id: u64) -> Result<(), ()> {
        if id >= self.stale_from {
            return Err(());
        }
        let name = std::thread::current().name().unwrap_or("?").to_owned();
        let mut t = self.threads.lock().unwrap();
        if !t.contains(&name) {
            t.push(name);
        }
        drop(t);
        self.per_id[id as usize].fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
    fn resync(&self) {
        self.resyncs.fetch_add(1, Ordering::Relaxed);
    }
}

const SENDERS: u64 = if cfg!(miri) { 2 } else { 8 };
const EACH: u64 = if cfg!(miri) { 20 } else { 5_000 };

#[test]
fn flood_with_drops_every_stored_id_once_and_refusals_resynced() {
    let (rx, tx) = HostReceiver::<_, 16>::spawn(Counting::new((SENDERS * EACH) as usize));
    let refused: Vec<Vec<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..SENDERS)
            .map(|p| {
                let tx = tx.clone();
                s.spawn(move || {
                    let mut refused = vec![];
                    for i in 0..EACH {
                        if tx.wake(p * EACH + i).is_err() {
                            refused.push(p * EACH + i);
                        }
                        // Pace the flood so the receiver thread gets to run
                        // and both outcomes (stored, refused) are exercised.
                        if i % 8 == 0 {
                            std::thread::sleep(Duration::from_micros(20));
                        }
                    }
                    refused
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let refused: std::collections::HashSet<u64> = refused.into_iter().flatten().collect();
    let page_failed = tx.page().failed_posts();
    let (sink, totals) = rx.shutdown();
    assert!(!tx.page().is_overflowed(), "an overflow was never resynced");
    assert!(!tx.page().is_pending() && tx.page().queue().is_empty());
    for (id, n) in sink.per_id.iter().enumerate() {
        let n = n.load(Ordering::Relaxed);
        let want = u32::from(!refused.contains(&(id as u64)));
        assert_eq!(n, want, "id {id} woken {n} times");
    }
    assert_eq!(page_failed, refused.len() as u64);
    if !refused.is_empty() {
        assert!(sink.resyncs.load(Ordering::Relaxed) >= 1);
    }
    assert_eq!(totals.woken + refused.len() as u64, SENDERS * EACH);
    assert_eq!(
        *sink.threads.lock().unwrap(),
        ["uintr-receiver"],
        "handler runs on the receiver thread"
    );
    eprintln!("flood: {totals:?}, refused {}", refused.len());
    assert!(
        totals.deliveries > 1 && totals.woken > 0,
        "flood never interleaved with the handler"
    );
}

#[test]
fn flood_with_back_pressure_delivers_every_id_exactly_once() {
    let (rx, tx) = HostReceiver::<_, 8>::spawn(Counting::new((SENDERS * EACH) as usize));
    std::thread::scope(|s| {
        for p in 0..SENDERS {
            let tx = tx.clone();
            s.spawn(move || {
                for id in p * EACH..(p + 1) * EACH {
                    let mut rec = Record::wake(id);
                    while let Err(e) = tx.try_send(rec) {
                        rec = e.into_record();
                        std::thread::yield_now();
                    }
                }
            });
        }
    });
    let (sink, totals) = rx.shutdown();
    assert!(sink.per_id.iter().all(|n| n.load(Ordering::Relaxed) == 1));
    assert_eq!(totals.woken, SENDERS * EACH);
    assert_eq!(totals.resyncs, 0, "try_send never sets the overflow flag");
}

#[test]
fn masked_receiver_defers_delivery_until_enabled() {
    let (rx, tx) = HostReceiver::<_, 64>::spawn(Counting::new(32));
    rx.disable();
    for id in 0..32 {
        tx.wake(id).unwrap();
    }
    std::thread::sleep(Duration::from_millis(if cfg!(miri) { 1 } else { 50 }));
    assert_eq!(rx.page().queue().len(), 32, "handler ran while masked");
    assert!(rx.page().is_pending());
    rx.enable();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while rx.page().is_pending() && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    let (sink, totals) = rx.shutdown();
    assert!(sink.per_id.iter().all(|n| n.load(Ordering::Relaxed) == 1));
    assert_eq!(totals.woken, 32);
}

#[test]
fn stale_ids_are_rejected_and_counted() {
    let mut sink = Counting::new(8);
    sink.stale_from = 4;
    let (rx, tx) = HostReceiver::<_, 16>::spawn(sink);
    for id in 0..8 {
        tx.wake(id).unwrap();
    }
    tx.send(Record {
        cause: 77,
        payload: 0,
    })
    .unwrap();
    let (sink, totals) = rx.shutdown();
    assert_eq!((totals.woken, totals.rejected, totals.other), (4, 4, 1));
    assert!(
        sink.per_id[..4]
            .iter()
            .all(|n| n.load(Ordering::Relaxed) == 1)
    );
}
