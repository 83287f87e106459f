//! Two live threads of one process never share a tid (issue 14, item 5: at
//! -smp 4 concurrent `thread_create` calls used to hand out the same tid,
//! and with it the same user stack). Four threads create threads at the
//! same time, round after round; each tid must be owned by one creator.
#![no_std]
#![no_main]
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use rcore_n_abi::MAX_THREADS;
use rcore_n_user::*;

entry!(main);

const CREATORS: usize = 4;
const ROUNDS: usize = 300;

/// Which creator owns each live tid (0: none).
static OWNER: [AtomicUsize; MAX_THREADS] = [const { AtomicUsize::new(0) }; MAX_THREADS];
/// Creators arrived at the current round (a barrier, so they race).
static ARRIVED: AtomicUsize = AtomicUsize::new(0);
static ONE_HART: AtomicBool = AtomicBool::new(false);

fn child(_: usize) -> i32 {
    // The tid the kernel gave this thread is its stack's slot: check both.
    let sp: usize;
    // SAFETY: reads a register.
    unsafe { core::arch::asm!("mv {}, sp", out(reg) sp) };
    let tid = syscall::gettid();
    let top = rcore_n_abi::layout::USER_STACK_TOP - tid * rcore_n_abi::layout::USER_STACK_STRIDE;
    if sp > top || sp < top - rcore_n_abi::layout::USER_STACK_SIZE {
        println!("thread {tid} runs on another thread's stack (sp {sp:#x})");
        syscall::exit(3);
    }
    tid as i32
}

fn creator(me: usize) -> i32 {
    for round in 0..ROUNDS {
        ARRIVED.fetch_add(1, SeqCst);
        while ARRIVED.load(SeqCst) < (round + 1) * CREATORS {
            // Spin where the creators run on harts of their own (the race
            // needs them to call at once); yield on one hart.
            if ONE_HART.load(SeqCst) {
                syscall::sched_yield();
            } else {
                core::hint::spin_loop();
            }
        }
        let tid = spawn_thread(child, 0).unwrap();
        let prev = OWNER[tid].swap(me, SeqCst);
        if prev != 0 {
            println!("round {round}: tid {tid} given to creators {prev} and {me} at once");
            syscall::exit(2);
        }
        // Release it before joining: once joined the tid may be reused.
        OWNER[tid].store(0, SeqCst);
        assert_eq!(syscall::thread_join(tid), Ok(tid as i32));
    }
    0
}

async fn main() -> i32 {
    ONE_HART.store(syscall::harts() == 1, SeqCst);
    let tids: [usize; CREATORS] = core::array::from_fn(|i| spawn_thread(creator, i + 1).unwrap());
    for t in tids {
        assert_eq!(syscall::thread_join(t), Ok(0));
    }
    println!("{ROUNDS} rounds of {CREATORS} concurrent thread_create: no tid given twice");
    guest_test::pass("test_thread_ids");
    0
}
