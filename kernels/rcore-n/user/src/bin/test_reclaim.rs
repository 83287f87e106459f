//! Everything a process leaves in flight is reclaimed when it exits (issue
//! 14, items 2, 6, 7): asynchronous sleeps that never end, asynchronous
//! reads of a pipe that outlives the reader, threads blocked for good,
//! the same on kernel threads, and an exit racing calls that start on other
//! threads. After four generations of each, the kernel's counters (heap in
//! use, live kernel coroutines, sleep queue, wait queues, calls in flight,
//! processes, frames) are back at their baseline, asserted.
#![no_std]
#![no_main]
use rcore_n_abi::stat;
use rcore_n_user::*;

entry!(main);

const COUNTERS: [(&str, usize); 9] = [
    ("heap bytes", stat::HEAP_USED),
    ("kernel coroutines", stat::KERNEL_COROUTINES),
    ("processes", stat::PROCESSES),
    ("frames", stat::FRAMES_USED),
    ("sleepers", stat::SLEEPERS),
    ("calls", stat::CALLS),
    ("call bytes", stat::CALL_BYTES),
    ("waiters", stat::WAITERS),
    ("address spaces", stat::SPACES),
];

const MODES: [&str; 5] = [
    "async sleeps of u64::MAX",
    "async reads of a pipe that outlives the reader",
    "threads blocked in sleeps",
    "async sleeps on kernel threads",
    "exit racing calls on other threads",
];

fn counters() -> [usize; 9] {
    COUNTERS.map(|(_, which)| syscall::kstat(which).unwrap())
}

/// Run `leaky_child` in `mode` once; returns its exit code.
fn generation(mode: u8) -> i32 {
    syscall::write(8, &[mode]).unwrap();
    let pid = syscall::spawn("leaky_child", 20).unwrap();
    let (p, code) = syscall::waitpid(Some(pid)).unwrap();
    assert_eq!(p, pid);
    code
}

async fn main() -> i32 {
    // (3, 4): nobody writes; (5, 6): nobody reads; (7, 8): the mode.
    assert_eq!(syscall::pipe(), Ok((3, 4)));
    assert_eq!(syscall::pipe(), Ok((5, 6)));
    assert_eq!(syscall::pipe(), Ok((7, 8)));
    // Warm up: every path once, so lazily built kernel structures (maps,
    // recycled page-table roots) exist before the baseline.
    for mode in 0..MODES.len() as u8 {
        assert_eq!(generation(mode), 0);
    }
    let settle = |want: &[usize; 9]| {
        let mut now = counters();
        for _ in 0..200 {
            if &now == want {
                break;
            }
            syscall::sleep(5_000_000);
            now = counters();
        }
        now
    };
    // The warm-up's last child may still be ending (its calls, or a hart
    // still running its thread until its time slice ends): wait until only
    // our own process and space are left and no call is in flight.
    let quiet = |c: &[usize; 9]| c[2] == 1 && c[8] == 1 && c[5] == 0;
    let mut baseline = counters();
    for _ in 0..400 {
        if quiet(&baseline) {
            break;
        }
        syscall::sleep(5_000_000);
        baseline = counters();
    }
    assert!(quiet(&baseline), "the warm-up left {baseline:?}");
    // Its frames and heap go back a little after its space stops counting
    // (the last hart that ran it lets go later): wait until the counters
    // hold still for 100 ms.
    let mut still = 0;
    for _ in 0..400 {
        syscall::sleep(5_000_000);
        let now = counters();
        still = if now == baseline { still + 1 } else { 0 };
        baseline = now;
        if still == 20 {
            break;
        }
    }
    assert_eq!(still, 20, "the counters never held still: {baseline:?}");
    println!(
        "baseline: {:?}",
        COUNTERS
            .iter()
            .zip(baseline)
            .map(|((n, _), v)| (*n, v))
            .collect::<alloc::vec::Vec<_>>()
    );
    for (mode, what) in MODES.iter().enumerate() {
        let gens = if mode == 4 { 20 } else { 4 };
        let mut now = baseline;
        for _ in 0..gens {
            assert_eq!(generation(mode as u8), 0, "{what}");
            // A dead child's last calls end on kernel coroutines at its
            // priority, below ours: let them finish before the next child,
            // so each generation starts from the same state (same pid, the
            // same recycled page-table root).
            now = settle(&baseline);
        }
        for (i, (name, _)) in COUNTERS.iter().enumerate() {
            if now[i] != baseline[i] {
                println!(
                    "{what}: {name} {} -> {} after {gens} generations",
                    baseline[i], now[i]
                );
            }
        }
        assert_eq!(now, baseline, "{what}: not everything was reclaimed");
        println!("{what}: {gens} generations, everything reclaimed");
    }
    guest_test::pass("test_reclaim");
    0
}
extern crate alloc;
