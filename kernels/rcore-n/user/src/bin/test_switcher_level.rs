//! The switching coroutines' priority follows the view (COPS §3.3): with
//! nothing else ready every hart's switching coroutine is at the lowest
//! level; with processes capped at 20 ready (one more than the other harts
//! can run), every one is at 20, the view's most urgent level, while this
//! process (cap 8) runs. Read from the kernel (`kstat(SWITCHER_LEVELS)`)
//! between two reads of the view that agree (the view may move meanwhile:
//! a sample is retried, for at most 3 s).
#![no_std]
#![no_main]
extern crate alloc;
use alloc::vec::Vec;
use rcore_n_abi::stat;
use rcore_n_user::*;

entry!(main);

const CHILD_CAP: u8 = 20;
/// Three seconds of `rdtime`.
const PATIENCE: u64 = 30_000_000;

/// Each existing hart's switching-coroutine level, sampled while the view
/// showed `expected` before and after.
fn sample_while_view_is(expected: Option<Priority>, harts: usize) -> Option<Vec<u8>> {
    let view = global_highest();
    let packed = syscall::kstat(stat::SWITCHER_LEVELS).unwrap();
    (view == expected && global_highest() == expected)
        .then(|| (0..harts).map(|h| (packed >> (8 * h)) as u8).collect())
}

/// Sample until every hart's switching coroutine is at `level` while the
/// view is at `view`; the last sample taken otherwise.
fn wait_for(view: Option<Priority>, level: u8, harts: usize) -> Result<(), Option<Vec<u8>>> {
    let deadline = syscall::ticks() + PATIENCE;
    let mut last = None;
    while syscall::ticks() < deadline {
        if let Some(levels) = sample_while_view_is(view, harts) {
            if levels.iter().all(|&l| l == level) {
                return Ok(());
            }
            last = Some(levels);
        }
    }
    Err(last)
}

async fn main() -> i32 {
    let harts = syscall::harts().min(8);
    let lowest = Priority::LOWEST.level();
    if let Err(last) = wait_for(None, lowest, harts) {
        panic!("with nothing else ready, switchers not all at {lowest}: last sample {last:?}");
    }
    let children: Vec<usize> = (0..harts + 1)
        .map(|_| syscall::spawn("cap_spinner", CHILD_CAP).expect("spawn cap_spinner"))
        .collect();
    let result = wait_for(Priority::new(CHILD_CAP), CHILD_CAP, harts);
    for _ in &children {
        syscall::waitpid(None).unwrap();
    }
    if let Err(last) = result {
        panic!(
            "with cap-{CHILD_CAP} processes ready, switchers not all at {CHILD_CAP}: last sample {last:?}"
        );
    }
    println!(
        "test_switcher_level: {harts} switching coroutine(s) at {lowest} with nothing ready, at {CHILD_CAP} with cap-{CHILD_CAP} processes ready"
    );
    guest_test::pass("test_switcher_level");
    0
}
