//! How a guest test ends: [`pass`] first waits for the kernel's resource
//! counters to come back to where they were when the test (pid 1) started,
//! so every test also checks that the kernel reclaimed everything it made
//! the kernel hold (processes, address spaces, calls in flight, their
//! bytes, kernel coroutines, sleepers, waiters, sockets). Heap bytes and frames are
//! left out: the kernel keeps caches (recycled page-table roots, grown
//! tables) that a first use builds; `test_reclaim` checks those after a
//! warm-up.

use rcore_n_abi::stat;

use crate::syscall;

const COUNTERS: [(&str, usize); 8] = [
    ("kernel coroutines", stat::KERNEL_COROUTINES),
    ("processes", stat::PROCESSES),
    ("address spaces", stat::SPACES),
    ("calls in flight", stat::CALLS),
    ("bytes of calls in flight", stat::CALL_BYTES),
    ("sleepers", stat::SLEEPERS),
    ("waiters", stat::WAITERS),
    ("sockets", stat::SOCKETS),
];

static BASELINE: spin::Once<[usize; COUNTERS.len()]> = spin::Once::new();

fn snapshot() -> [usize; COUNTERS.len()] {
    COUNTERS.map(|(_, which)| syscall::kstat(which).expect("kstat"))
}

/// At the start of pid 1 (every guest test runs as init): the baseline.
pub(crate) fn record_baseline() {
    if syscall::getpid() == 1 {
        BASELINE.call_once(snapshot);
    }
}

/// End guest test `name`: once the kernel's counters are back at their
/// baseline (waiting up to 5 s for exits still finishing on other harts),
/// print `TEST name PASS`; otherwise panic, naming the counter.
pub fn pass(name: &str) {
    pass_holding(name, &[]);
}

/// [`pass`] for a test that still holds something on purpose: `held` lists
/// `(stat::…, how many)` the kernel may keep above the baseline (say why
/// at the call).
pub fn pass_holding(name: &str, held: &[(usize, usize)]) {
    if let Some(start) = BASELINE.get() {
        let mut base = *start;
        for &(which, n) in held {
            let i = COUNTERS
                .iter()
                .position(|&(_, w)| w == which)
                .expect("a counter pass checks");
            base[i] += n;
        }
        let base = &base;
        let mut now = snapshot();
        for _ in 0..500 {
            if now == *base {
                break;
            }
            syscall::sleep(10_000_000);
            now = snapshot();
        }
        let mut leaked = false;
        for (i, (what, _)) in COUNTERS.iter().enumerate() {
            if now[i] != base[i] {
                crate::println!(
                    "{name}: the kernel holds {} {what} after the test, {} expected",
                    now[i],
                    base[i]
                );
                leaked = true;
            }
        }
        assert!(!leaked, "{name}: the kernel did not reclaim everything");
    }
    crate::println!("TEST {name} PASS");
}

/// The fixture of the stale-id tests: `n` ids whose coroutines (at
/// `level`) have finished, and `n` new coroutines that took their slots,
/// blocked for good and counting their polls in `polls`. A wake by one of
/// the old ids must reach none of them.
pub async fn stale_ids_with_new_occupants(
    n: usize,
    level: u8,
    polls: &'static core::sync::atomic::AtomicU64,
) -> (
    alloc::vec::Vec<crate::CoroutineId>,
    alloc::vec::Vec<crate::JoinHandle<()>>,
) {
    let mut stale = alloc::vec::Vec::new();
    for _ in 0..n {
        let h = crate::spawn(async {}, level).unwrap();
        stale.push(h.id());
        h.await.unwrap();
    }
    let occupants = (0..n)
        .map(|_| {
            crate::spawn(
                core::future::poll_fn(|_| {
                    polls.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
                    core::task::Poll::<()>::Pending
                }),
                level,
            )
            .unwrap()
        })
        .collect();
    (stale, occupants)
}

/// Wake records this process's user-interrupt handler has drained
/// (delivered, or rejected as stale), all threads together.
pub fn wake_records() -> u64 {
    use core::sync::atomic::Ordering::Relaxed;
    crate::uintr::STATS.woken.load(Relaxed) + crate::uintr::STATS.rejected.load(Relaxed)
}

/// The wake records drained since `start` (a [`wake_records`] reading),
/// once there are at least `expected` or 1 s has passed. A call that
/// completes before its own poll returns is seen there, and its record
/// may still be queued: yielding lets the runtime drain it between polls.
pub async fn wake_records_since(start: u64, expected: u64) -> u64 {
    let give_up = syscall::ticks() + 10_000_000;
    while wake_records() - start < expected && syscall::ticks() < give_up {
        crate::yield_now().await;
    }
    wake_records() - start
}

/// Read one `usize` a test process wrote to a pipe (`usize::to_le_bytes`).
pub fn read_usize(fd: usize) -> usize {
    let mut b = [0u8; 8];
    assert_eq!(syscall::read(fd, &mut b), Ok(8));
    usize::from_le_bytes(b)
}
