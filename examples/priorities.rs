//! Several priorities on the `std` platform with two workers (the main thread
//! plus one from `alloc_cpu(1)`): prints the order in which coroutines first
//! ran, their spawn → first-poll latency, and the wake → poll latency of a
//! priority-0 coroutine woken by id from another thread while lower
//! priorities keep both workers busy.
//!
//! cargo run --example priorities

use std::sync::Mutex;
use std::task::Poll;
use std::time::{Duration, Instant};

use cops_core::{CoroutineId, Executor, Platform, Priority, StdPlatform, yield_now};

type Ex = &'static Executor<StdPlatform>;

/// Background load: (name, priority, chunks of busy work).
const LOAD: [(&str, u8, u32); 6] = [
    ("load-63", 63, 30),
    ("load-50", 50, 30),
    ("load-40", 40, 30),
    ("load-20", 20, 30),
    ("load-10", 10, 30),
    ("load-5", 5, 30),
];
const CHUNK: Duration = Duration::from_micros(100);
const TICKS: usize = 8;

struct Log {
    start: Instant,
    lines: Mutex<Vec<(Duration, String)>>,
}

impl Log {
    fn push(&self, line: String) {
        self.lines
            .lock()
            .unwrap()
            .push((self.start.elapsed(), line));
    }
}

fn prio(level: u8) -> Priority {
    Priority::new(level).unwrap()
}

fn spin(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

fn us(d: Duration) -> String {
    format!("{:8.1} µs", d.as_secs_f64() * 1e6)
}

/// Pending once without registering a waker: only `Executor::wake(id)`
/// brings the coroutine back.
async fn park() {
    let mut parked = false;
    std::future::poll_fn(move |_| {
        if parked {
            Poll::Ready(())
        } else {
            parked = true;
            Poll::Pending
        }
    })
    .await
}

async fn load(
    ex: Ex,
    log: &'static Log,
    name: &'static str,
    level: u8,
    chunks: u32,
    spawned: Instant,
) {
    log.push(format!(
        "first poll  {name:<9} prio {level:2}  cpu {}  spawn→poll {}",
        ex.platform().cpu_id(),
        us(spawned.elapsed())
    ));
    for _ in 0..chunks {
        spin(CHUNK);
        yield_now().await;
    }
    log.push(format!(
        "done        {name:<9} prio {level:2}  cpu {}",
        ex.platform().cpu_id()
    ));
}

/// Priority 0: blocks until woken by id; records wake → poll each time.
async fn ticker(
    ex: Ex,
    log: &'static Log,
    stamp: &'static Mutex<Option<Instant>>,
    spawned: Instant,
) {
    log.push(format!(
        "first poll  {:<9} prio  0  cpu {}  spawn→poll {}",
        "ticker",
        ex.platform().cpu_id(),
        us(spawned.elapsed())
    ));
    let mut got = 0;
    while got < TICKS {
        park().await;
        if let Some(t0) = stamp.lock().unwrap().take() {
            got += 1;
            log.push(format!(
                "tick {got}      {:<9} prio  0  cpu {}  wake→poll  {}",
                "ticker",
                ex.platform().cpu_id(),
                us(t0.elapsed())
            ));
        }
    }
}

fn main() {
    let ex: Ex = Executor::leak(64, StdPlatform::new());
    let log: &'static Log = Box::leak(Box::new(Log {
        start: Instant::now(),
        lines: Mutex::new(Vec::new()),
    }));
    let stamp: &'static Mutex<Option<Instant>> = Box::leak(Box::new(Mutex::new(None)));

    // Spawn lowest first: the order of first polls below is the priority
    // order, not the spawn order.
    for (name, level, chunks) in LOAD {
        let t = Instant::now();
        drop(
            ex.spawn(load(ex, log, name, level, chunks, t), prio(level))
                .unwrap(),
        );
    }
    let t = Instant::now();
    let tick_id: CoroutineId = ex.spawn(ticker(ex, log, stamp, t), prio(0)).unwrap().id();

    // An event source outside the executor (think: an interrupt handler)
    // wakes the priority-0 coroutine by id while the load runs.
    let source = std::thread::spawn(move || {
        for _ in 0..TICKS {
            std::thread::sleep(Duration::from_micros(700));
            *stamp.lock().unwrap() = Some(Instant::now());
            if ex.wake(tick_id).is_err() {
                break;
            }
        }
    });

    // Two workers: one more thread, and this one.
    let started = ex.alloc_cpu(1).expect("std platform starts threads");
    let exit = ex.run();
    assert_eq!(ex.platform().join_workers(), 0, "a worker panicked");
    source.join().unwrap();

    println!(
        "cops priorities: {} workers (main thread = cpu 0, alloc_cpu(1) started {started}), {} coroutines, run() -> {exit:?}",
        started + 1,
        LOAD.len() + 1
    );
    println!("  time        event       coroutine  prio  cpu  latency");
    let mut lines = std::mem::take(&mut *log.lines.lock().unwrap());
    lines.sort_by_key(|(t, _)| *t);
    for (t, line) in &lines {
        println!("  {:8.3} ms  {line}", t.as_secs_f64() * 1e3);
    }
    let first: Vec<&str> = lines
        .iter()
        .filter_map(|(_, l)| l.strip_prefix("first poll  "))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    println!("first-poll order: {}", first.join(" → "));
    assert_eq!(ex.live(), 0);
}
