//! Host demo of the sender → queue → handler → wake path, with latency.
//!
//! `cargo run -p cops-uintr --features std --release --example host_wake`
//!
//! "Kernel" threads complete fake async calls and send `WAKE {id}`; the
//! receiver thread's handler wakes the id. Reported: send→wake latency
//! percentiles (includes a condvar wake-up when the receiver was idle).

fn main() {
    #[cfg(not(loom))]
    demo::main();
}

// The host receiver does not exist under `--cfg loom`.
#[cfg(not(loom))]
mod demo {
    use cops_uintr::WakeById;
    use cops_uintr::host::HostReceiver;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    const CALLS: usize = 20_000;

    struct Latency {
        start: Instant,
        sent_ns: Arc<Vec<AtomicU64>>,
        lat_ns: Vec<AtomicU64>,
        resyncs: AtomicU64,
    }

    impl WakeById for Latency {
        type Error = ();
        fn wake(&self, id: u64) -> Result<(), ()> {
            let now = self.start.elapsed().as_nanos() as u64;
            let sent = self
                .sent_ns
                .get(id as usize)
                .ok_or(())?
                .load(Ordering::Acquire);
            self.lat_ns[id as usize].store(now - sent, Ordering::Relaxed);
            Ok(())
        }
        fn resync(&self) {
            self.resyncs.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn main() {
        let start = Instant::now();
        let sent_ns: Arc<Vec<AtomicU64>> =
            Arc::new((0..CALLS).map(|_| AtomicU64::new(0)).collect());
        let sink = Latency {
            start,
            sent_ns: sent_ns.clone(),
            lat_ns: (0..CALLS).map(|_| AtomicU64::new(0)).collect(),
            resyncs: AtomicU64::new(0),
        };
        let (rx, tx) = HostReceiver::<_, 128>::spawn(sink);
        std::thread::scope(|s| {
            for k in 0..2 {
                let (tx, sent_ns) = (tx.clone(), sent_ns.clone());
                s.spawn(move || {
                    for id in (k..CALLS).step_by(2) {
                        sent_ns[id].store(start.elapsed().as_nanos() as u64, Ordering::Release);
                        let mut rec = cops_uintr::Record::wake(id as u64);
                        while let Err(e) = tx.try_send(rec) {
                            rec = e.into_record();
                            std::thread::yield_now();
                        }
                        if id % 64 < 2 {
                            std::thread::sleep(Duration::from_micros(50)); // let it go idle
                        }
                    }
                });
            }
        });
        let (sink, totals) = rx.shutdown();
        let mut lat: Vec<u64> = sink
            .lat_ns
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .collect();
        lat.sort_unstable();
        let pct = |p: f64| lat[((lat.len() - 1) as f64 * p) as usize];
        println!("{totals:?}");
        println!(
            "send->wake latency over {CALLS} wakes: p50 {} ns, p90 {} ns, p99 {} ns, max {} ns",
            pct(0.5),
            pct(0.9),
            pct(0.99),
            lat[lat.len() - 1]
        );
        assert_eq!(
            totals.woken as usize, CALLS,
            "every call woken exactly once"
        );
    }
}
