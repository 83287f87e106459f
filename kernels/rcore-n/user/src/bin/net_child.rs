//! For test_net: listens on ports 7001..=7003, leaves an asynchronous
//! accept and a thread's blocking accept waiting on them, and exits without
//! closing anything (or, with a byte 1 on fd 3, dies of a fault): the
//! kernel must release the sockets, the calls and their memory.
#![no_std]
#![no_main]
use rcore_n_user::*;

entry!(main);

fn blocked_accept(fd: usize) -> i32 {
    // Never returns: the process exits under it.
    let _ = call::accept(fd).wait();
    0
}

async fn main() -> i32 {
    let mut mode = [0u8; 1];
    let _ = syscall::read(3, &mut mode);
    let calls = syscall::kstat(rcore_n_abi::stat::CALLS).expect("kstat");
    let a = call::listen(7001).await.expect("listen 7001");
    let b = call::listen(7002).await.expect("listen 7002");
    let _c = call::listen(7003).await.expect("listen 7003");
    spawn(async move { call::accept(a).await }, 20).expect("spawn");
    spawn_thread(blocked_accept, b).expect("thread");
    // Until both calls wait in the kernel.
    while syscall::kstat(rcore_n_abi::stat::CALLS).expect("kstat") < calls + 2 {
        call::sleep(1_000_000).await.expect("sleep");
    }
    if mode[0] == 1 {
        // SAFETY: deliberately faults (the kernel kills the process).
        unsafe { core::ptr::write_volatile(8 as *mut u8, 1) };
    }
    0
}
