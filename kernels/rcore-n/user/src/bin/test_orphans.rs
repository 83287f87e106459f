//! Orphans are reaped (issue 14, item 7): a process that exits without
//! waiting for its child leaves nothing behind once the child exits too,
//! whichever ends first. Before, every orphan stayed a zombie with its
//! whole address space, and after about 90 the system ran out of memory.
#![no_std]
#![no_main]
use rcore_n_abi::stat;
use rcore_n_user::*;

entry!(main);

const ROUNDS: usize = 200;

async fn main() -> i32 {
    let procs = || syscall::kstat(stat::PROCESSES);
    for round in 0..ROUNDS {
        let maker = match syscall::spawn("orphan_maker", 20) {
            Ok(pid) => pid,
            Err(e) => panic!("round {round}: spawn failed with {e:?}"),
        };
        assert_eq!(syscall::waitpid(Some(maker)), Ok((maker, 0)));
    }
    // The last orphans may still be running: give them a moment.
    let mut left = procs();
    for _ in 0..100 {
        if left == Ok(1) {
            break;
        }
        syscall::sleep(10_000_000);
        left = procs();
    }
    println!("{ROUNDS} orphans later the kernel holds {left:?} processes");
    assert_eq!(left, Ok(1), "orphans were not reaped");
    assert_eq!(
        syscall::waitpid(None),
        Err(Errno::Child),
        "an orphan was given to us"
    );
    guest_test::pass("test_orphans");
    0
}
