//! Resource bombs end in clean errors and the kernel goes on (issue 14,
//! items 1 and 2): asynchronous 64 KiB writes into a full pipe (each one a
//! kernel buffer) from one process and then from eleven, asynchronous
//! sleeps on kernel threads (16 KiB stacks each), a thread bomb and a
//! process bomb. Each is refused with -EAGAIN (the process's quota) or
//! -ENOMEM (the kernel-wide pool, or memory); the kernel never panics, and
//! afterwards spawn, pipes, sleep and threads still work and the calls in
//! flight are back at zero.
#![no_std]
#![no_main]
extern crate alloc;
use alloc::vec::Vec;
use rcore_n_abi::stat;
use rcore_n_user::*;

entry!(main);

/// The kernel still works: spawn and reap, a pipe, a sleep, a thread.
fn healthy(when: &str) {
    let pid = syscall::spawn("exit_child", 20)
        .unwrap_or_else(|e| panic!("{when}: spawn failed with {e:?}"));
    assert_eq!(syscall::waitpid(Some(pid)), Ok((pid, 7)), "{when}");
    let (r, w) = syscall::pipe().unwrap_or_else(|e| panic!("{when}: pipe: {e:?}"));
    assert_eq!(syscall::write(w, b"ok"), Ok(2), "{when}");
    let mut b = [0u8; 2];
    assert_eq!(syscall::read(r, &mut b), Ok(2), "{when}");
    syscall::close(r).unwrap();
    syscall::close(w).unwrap();
    syscall::sleep(1_000_000);
    let t = spawn_thread(|a| a as i32, 5).unwrap_or_else(|e| panic!("{when}: thread: {e:?}"));
    assert_eq!(syscall::thread_join(t), Ok(5), "{when}");
}

fn start(mode: u8, n: usize) -> Vec<usize> {
    (0..n)
        .map(|_| {
            syscall::write(8, &[mode]).unwrap();
            syscall::spawn("leaky_child", 20).unwrap()
        })
        .collect()
}

/// Let `pids` (blocked reading fd 3) go, and reap them.
fn release(pids: Vec<usize>) {
    syscall::write(4, &alloc::vec![0u8; pids.len()]).unwrap();
    for pid in pids {
        assert_eq!(syscall::waitpid(Some(pid)), Ok((pid, 0)));
    }
}

fn settled(when: &str) {
    let stats =
        || [stat::CALLS, stat::CALL_BYTES, stat::PROCESSES].map(|s| syscall::kstat(s).unwrap());
    let mut now = stats();
    for _ in 0..200 {
        if now == [1, 0, 1] {
            break; // our own blocking waitpid aside, nothing is in flight
        }
        syscall::sleep(5_000_000);
        now = stats();
    }
    // (calls, bytes, processes): none left but ours.
    assert!(
        now[1] == 0 && now[2] == 1 && now[0] <= 1,
        "{when}: left {now:?}"
    );
}

fn sleeper(_: usize) -> i32 {
    syscall::sleep(50_000_000);
    0
}

async fn main() -> i32 {
    // (3, 4): go bytes for blocked children; (5, 6): a pipe nobody reads;
    // (7, 8): leaky_child's mode.
    assert_eq!(syscall::pipe(), Ok((3, 4)));
    assert_eq!(syscall::pipe(), Ok((5, 6)));
    assert_eq!(syscall::pipe(), Ok((7, 8)));

    // 1. One process: its quota refuses it (-EAGAIN) well before the heap.
    // (Each holds its writes for a second, then exits.)
    let one = start(5, 1);
    syscall::sleep(50_000_000);
    healthy("one process holding its write quota");
    // 2. Eleven at once: the kernel-wide pool refuses some (-ENOMEM).
    let many = start(5, 10);
    syscall::sleep(300_000_000);
    let bytes = syscall::kstat(stat::CALL_BYTES).unwrap();
    println!("11 processes flooding: {bytes} bytes of kernel buffers charged");
    // At most the 6 MiB pool plus each process's own 32 KiB.
    assert!(
        bytes <= (6 << 20) + 12 * (32 << 10),
        "past the kernel-wide pool"
    );
    healthy("eleven processes holding write buffers");
    // Exit code 1: refused by the kernel-wide pool (-ENOMEM), 0: by its quota.
    let mut by_pool = 0;
    for pid in one.into_iter().chain(many) {
        let (p, code) = syscall::waitpid(Some(pid)).unwrap();
        assert!(
            p == pid && (code == 0 || code == 1),
            "child {pid} exited with {code}"
        );
        by_pool += code;
    }
    println!("{by_pool} of 11 flooding processes refused by the kernel-wide pool (-ENOMEM)");
    assert!(by_pool > 0, "11 MiB of buffers passed a 6 MiB pool");
    settled("write floods");
    // 3. Kernel threads: 16 KiB stacks until the quota refuses.
    let kt = start(6, 1);
    for pid in kt {
        assert_eq!(syscall::waitpid(Some(pid)), Ok((pid, 0)));
    }
    settled("kernel-thread sleeps");
    // 4. Thread bomb.
    let mut threads = Vec::new();
    let err = loop {
        match spawn_thread(sleeper, 0) {
            Ok(t) => threads.push(t),
            Err(e) => break e,
        }
    };
    println!("thread bomb: {} threads, then {err:?}", threads.len());
    assert!(
        matches!(err, Errno::Again | Errno::NoMem),
        "thread bomb: {err:?}"
    );
    for t in threads {
        assert_eq!(syscall::thread_join(t), Ok(0));
    }
    healthy("after the thread bomb");
    // 5. Process bomb: children that wait on fd 3, until refused.
    let mut kids = Vec::new();
    let err = loop {
        match syscall::spawn("pid_child", 20) {
            Ok(p) => kids.push(p),
            Err(e) => break e,
        }
    };
    println!("process bomb: {} processes, then {err:?}", kids.len());
    assert!(
        matches!(err, Errno::Again | Errno::NoMem),
        "process bomb: {err:?}"
    );
    release(kids);
    healthy("after the process bomb");
    settled("process bomb");
    guest_test::pass("test_exhaust");
    0
}
