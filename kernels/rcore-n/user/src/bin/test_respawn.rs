//! A parent that spawns a child, lets it exit and reaps it, hundreds of
//! times: every round must finish (issue 14, item 4: at -smp 4 the loop used
//! to hang when a late clear of the dead child's view entry erased the entry
//! of the new process that had just received the same pid).
#![no_std]
#![no_main]
use rcore_n_user::*;

entry!(main);

const ROUNDS: usize = 1000;

async fn main() -> i32 {
    let t0 = syscall::clock();
    for round in 0..ROUNDS {
        // Vary the child's cap so it sometimes outranks us, sometimes not.
        let level = [8, 12, 30][round % 3];
        let pid = syscall::spawn("exit_child", level).unwrap();
        assert_eq!(syscall::waitpid(Some(pid)), Ok((pid, 7)), "round {round}");
        if (round + 1) % 100 == 0 {
            println!("{} rounds", round + 1);
        }
    }
    println!(
        "{ROUNDS} spawn/exit/reap rounds in {} ms",
        (syscall::clock() - t0) / 1_000_000
    );
    guest_test::pass("test_respawn");
    0
}
