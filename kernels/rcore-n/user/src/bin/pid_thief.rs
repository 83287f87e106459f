//! For test_pid_reuse: started with the recycled pid of `pid_parent`, it
//! tries to act as the parent of `pid_parent`'s child (pid read from fd 7):
//! change its priority while it lives, reap it once it exited. Both must be
//! refused. Exit code: 0 when both were refused, 1 or 2 otherwise.
#![no_std]
#![no_main]
use rcore_n_user::*;

entry!(main);

async fn main() -> i32 {
    let victim = guest_test::read_usize(7);
    let prio = syscall::set_process_priority(victim, 30);
    syscall::write(6, &[1]).unwrap();
    let _go = guest_test::read_usize(7); // the victim has exited by now
    let reaped = syscall::waitpid(Some(victim));
    println!(
        "pid {} (recycled): set_priority(victim {victim}) = {prio:?}, waitpid = {reaped:?}",
        syscall::getpid()
    );
    if !matches!(prio, Err(Errno::Perm | Errno::Srch)) {
        return 1;
    }
    if reaped != Err(Errno::Child) {
        return 2;
    }
    0
}
