//! The seeded system-call fuzzer (issue 14): `fuzz_child` processes make
//! random calls with nasty arguments, three at a time, each cut short at a
//! random moment; then the kernel must be healthy: every process and call
//! gone, the view empty, and spawn, pipes, sleeps (blocking and
//! asynchronous) working. `fuzz.calls=N fuzz.seed=S` on the kernel command
//! line (`cargo xtask fuzz --calls N --seed S`) set the run; by default
//! 20 000 calls with a seed from the clock, printed first.
#![no_std]
#![no_main]
use rcore_n_abi::stat;
use rcore_n_user::*;

entry!(main);

const PER_CHILD: usize = 512;
const WORKERS: usize = 3;
/// `fuzz_child`'s exit code when kernel memory was too short to start it.
const STARVED: i32 = 75;

fn settle(which: usize, want: usize) -> usize {
    let mut v = syscall::kstat(which).unwrap();
    for _ in 0..400 {
        if v == want {
            break;
        }
        syscall::sleep(5_000_000);
        v = syscall::kstat(which).unwrap();
    }
    v
}

async fn main() -> i32 {
    let calls = syscall::bootarg("fuzz.calls").unwrap_or(20_000);
    let seed = syscall::bootarg("fuzz.seed").map_or_else(
        |_| syscall::ticks().wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 16,
        |s| s as u64,
    );
    println!(
        "fuzz: seed {seed}, {calls} calls (rerun: cargo xtask fuzz --calls {calls} --seed {seed})"
    );
    // (3, 4): each child's seed and length; (5, 6): progress reports.
    assert_eq!(syscall::pipe(), Ok((3, 4)));
    assert_eq!(syscall::pipe(), Ok((5, 6)));
    let t0 = syscall::clock();
    let (mut live, mut reported, mut children) = (0, 0, 0);
    // Children that could not start (kernel memory short), in all and in
    // a row.
    let (mut starved, mut starved_in_a_row) = (0, 0);
    let mut ends = [0usize; 4]; // finished, cut short, killed by a fault, exited by a fuzzed exit
    // Children until `calls` calls were made (a child cut short makes fewer
    // than it was given).
    while reported < calls || live > 0 {
        assert!(children - starved <= calls / 4 + 100, "fuzz: no progress");
        let mut settled = false;
        while live < WORKERS && reported < calls {
            let n = PER_CHILD;
            let mut p = [0u8; 16];
            p[..8].copy_from_slice(
                &(seed ^ (children as u64).wrapping_mul(0x2545_f491_4f6c_dd1d)).to_le_bytes(),
            );
            p[8..].copy_from_slice(&(n as u64).to_le_bytes());
            match syscall::spawn("fuzz_child", 20 + (children % 8) as u8) {
                Ok(_) => {
                    syscall::write(4, &p).unwrap();
                    live += 1;
                    children += 1;
                }
                // Its children's children may hold memory for a moment.
                Err(Errno::NoMem | Errno::Again) if live > 0 => break,
                // None of ours is left, but their orphans may be: less
                // urgent than every fuzz_child, they run (and exit) only
                // when nothing else is ready, which on one hart can take
                // the whole run. Wait for them once, then spawn again.
                Err(e @ (Errno::NoMem | Errno::Again)) if !settled => {
                    settled = true;
                    let held = syscall::kstat(stat::PROCESSES).unwrap();
                    settle(stat::PROCESSES, 1);
                    println!(
                        "fuzz: spawn got {e:?} with none of ours live: waited for {} orphans",
                        held - 1
                    );
                }
                Err(e) => panic!(
                    "fuzz: spawn failed with {e:?} ({} processes held)",
                    syscall::kstat(stat::PROCESSES).unwrap()
                ),
            }
        }
        let (_, code) = syscall::waitpid(None).unwrap();
        live -= 1;
        if code == STARVED {
            // Orphans of earlier children hold the memory: less urgent
            // than every fuzz_child, they run only when nothing else is
            // ready, so spawning more children that die at once would
            // starve them further (on one hart, thousands of children).
            // Let them go first.
            starved += 1;
            starved_in_a_row += 1;
            assert!(
                starved_in_a_row <= 20,
                "fuzz: kernel memory did not come back ({} processes held)",
                syscall::kstat(stat::PROCESSES).unwrap()
            );
            settle(stat::PROCESSES, live + 1);
        } else {
            starved_in_a_row = 0;
            ends[match code {
                0 => 0,
                99 => 1,
                -11 => 2,
                _ => 3,
            }] += 1;
        }
        // Drain the reports: up to our own marker.
        syscall::write(6, b"E").unwrap();
        let mut b = [0u8; 256];
        'drain: loop {
            let n = syscall::read(5, &mut b).unwrap();
            for &c in &b[..n] {
                if c == b'E' {
                    break 'drain;
                }
                reported += 16;
            }
        }
    }
    let ms = (syscall::clock() - t0) / 1_000_000;
    println!(
        "fuzz: seed {seed}: {children} processes in {ms} ms, at least {reported} calls made; \
         {} finished, {} cut short, {} killed by a fault, {} exited by a fuzzed exit, \
         {starved} could not start (kernel memory short)",
        ends[0], ends[1], ends[2], ends[3]
    );
    // The kernel is healthy: nothing left of the children, the view empty.
    assert_eq!(settle(stat::PROCESSES, 1), 1, "processes left behind");
    assert_eq!(settle(stat::CALLS, 0), 0, "calls left in flight");
    assert!(
        global_highest().is_none(),
        "the view holds a process that is gone"
    );
    let pid = syscall::spawn("exit_child", 20).unwrap();
    assert_eq!(syscall::waitpid(Some(pid)), Ok((pid, 7)));
    let (r, w) = syscall::pipe().unwrap();
    assert_eq!(syscall::write(w, b"ok"), Ok(2));
    let mut b = [0u8; 2];
    assert_eq!(call::read(r, &mut b).await, Ok(2));
    syscall::sleep(1_000_000);
    assert_eq!(call::sleep(1_000_000).await, Ok(0));
    println!("fuzz: seed {seed}: kernel healthy (spawn, pipe, sleep, async call, empty view)");
    guest_test::pass("test_fuzz");
    0
}
