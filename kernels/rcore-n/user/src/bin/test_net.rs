//! The socket calls' error paths and their cleanup, with a network card
//! but no peer (issue 10): a port taken twice, port 0 and ports past
//! 65535, accept/read/write on bad descriptors and bad buffers, accept on
//! a pipe, the socket limit, a listener closed under a waiting accept
//! (blocking and asynchronous), an asynchronous accept abandoned by
//! dropping its future, and children that exit (or die) with listeners and
//! accepts in flight: the kernel's sockets, heap and frames come back to
//! their baseline.
#![no_std]
#![no_main]
extern crate alloc;

use alloc::vec::Vec;
use core::future::{Future, IntoFuture};
use core::pin::Pin;
use core::task::Poll;

use rcore_n_abi::{nr, stat};
use rcore_n_user::*;

entry!(main);

fn sockets() -> usize {
    syscall::kstat(stat::SOCKETS).expect("kstat")
}

/// `listen` with any port number (the typed call takes a `u16`).
fn listen_raw(port: usize) -> Result<usize, Errno> {
    syscall::check(syscall::raw(nr::LISTEN, port, 0, 0))
}

/// Heap, sockets, calls in flight, processes: what a child's exit must give
/// back (frames are test_reclaim's: the kernel caches page-table roots).
const RECLAIMED: [(&str, usize); 4] = [
    ("heap bytes", stat::HEAP_USED),
    ("sockets", stat::SOCKETS),
    ("calls", stat::CALLS),
    ("processes", stat::PROCESSES),
];

fn reclaimed() -> [usize; 4] {
    RECLAIMED.map(|(_, w)| syscall::kstat(w).expect("kstat"))
}

/// Wait (up to 4 s) until the counters hold still for 100 ms.
fn settled() -> [usize; 4] {
    let mut last = reclaimed();
    let mut still = 0;
    for _ in 0..800 {
        syscall::sleep(5_000_000);
        let now = reclaimed();
        still = if now == last { still + 1 } else { 0 };
        last = now;
        if still == 20 {
            break;
        }
    }
    last
}

/// Run `net_child` in `mode` (0: exit, 1: fault); its exit code.
fn child(mode_w: usize, mode: u8) -> i32 {
    syscall::write(mode_w, &[mode]).expect("mode");
    let pid = syscall::spawn("net_child", 20).expect("spawn net_child");
    let (p, code) = syscall::waitpid(Some(pid)).expect("waitpid");
    assert_eq!(p, pid);
    code
}

fn accept_blocking(fd: usize) -> i32 {
    match call::accept(fd).wait() {
        Err(Errno::BadF) => 0,
        other => panic!("accept on a listener closed under it: {other:?}"),
    }
}

async fn main() -> i32 {
    // First, so the children find their mode on fd 3.
    let (pr, pw) = syscall::pipe().expect("pipe");
    assert_eq!(pr, 3);
    let base = sockets();
    // Ports.
    let l = call::listen(80).await.expect("listen 80");
    assert_eq!(
        call::listen(80).wait(),
        Err(Errno::AddrInUse),
        "port 80 twice"
    );
    assert_eq!(listen_raw(0), Err(Errno::Inval), "port 0");
    assert_eq!(listen_raw(65536), Err(Errno::Inval), "port 65536");
    assert_eq!(listen_raw(usize::MAX), Err(Errno::Inval), "port usize::MAX");
    assert!(sockets() > base, "a listener holds sockets");

    // Descriptors that are not listeners, buffers that are not ours.
    for fd in [usize::MAX, 999, 0, 1, pr, pw] {
        assert_eq!(call::accept(fd).wait(), Err(Errno::BadF), "accept({fd})");
    }
    let mut buf = [0u8; 16];
    for fd in [usize::MAX, 999] {
        assert_eq!(
            call::read(fd, &mut buf).wait(),
            Err(Errno::BadF),
            "read({fd})"
        );
        assert_eq!(
            call::write(fd, b"x").wait(),
            Err(Errno::BadF),
            "write({fd})"
        );
        assert_eq!(syscall::close(fd), Err(Errno::BadF), "close({fd})");
    }
    assert_eq!(
        call::read(l, &mut buf).wait(),
        Err(Errno::NotConn),
        "read a listener"
    );
    assert_eq!(
        call::write(l, b"x").wait(),
        Err(Errno::NotConn),
        "write a listener"
    );
    let bad = 0x10usize; // unmapped
    let kernel = 0x8020_0000usize; // mapped, but not for the user
    for addr in [bad, kernel, usize::MAX - 4] {
        assert_eq!(
            syscall::check(syscall::raw(nr::READ, l, addr, 64)),
            Err(Errno::Fault),
            "read into {addr:#x}"
        );
        assert_eq!(
            syscall::check(syscall::raw(nr::WRITE, l, addr, 64)),
            Err(Errno::Fault),
            "write from {addr:#x}"
        );
    }

    // A listener closed under a waiting accept: blocking, on a thread...
    let l2 = call::listen(81).await.expect("listen 81");
    let calls = syscall::kstat(stat::CALLS).expect("kstat");
    let t = spawn_thread(accept_blocking, l2).expect("thread");
    while syscall::kstat(stat::CALLS).expect("kstat") == calls {
        call::sleep(1_000_000).await.expect("sleep");
    }
    syscall::close(l2).expect("close 81");
    assert_eq!(syscall::thread_join(t), Ok(0), "the blocked accept ended");
    // ...and asynchronous.
    let l3 = call::listen(82).await.expect("listen 82");
    let waiting = spawn(async move { call::accept(l3).await }, 8).expect("spawn");
    call::sleep(5_000_000).await.expect("sleep");
    syscall::close(l3).expect("close 82");
    assert_eq!(waiting.await.expect("join"), Err(Errno::BadF));

    // An asynchronous accept abandoned by dropping its future: closing the
    // listener then ends the kernel's side (`pass` checks no call, waiter
    // or coroutine is left).
    let l4 = call::listen(83).await.expect("listen 83");
    let mut fut = call::accept(l4).into_future();
    let first = core::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut fut).poll(cx))).await;
    assert!(first.is_pending(), "no peer: the accept waits");
    drop(fut);
    syscall::close(l4).expect("close 83");

    // The limit: listeners until the kernel refuses (each holds a pool of
    // sockets), then all of them closed.
    let mut many = Vec::new();
    let err = loop {
        match listen_raw(10_000 + many.len()) {
            Ok(fd) => many.push(fd),
            Err(e) => break e,
        }
        assert!(many.len() < 2000, "no socket limit");
    };
    assert_eq!(err, Errno::MFile, "past the socket limit");
    println!(
        "test_net: {} listeners, {} sockets, then {err:?}",
        many.len(),
        sockets()
    );
    for fd in many.drain(..) {
        syscall::close(fd).expect("close");
    }
    syscall::close(l).expect("close 80");
    assert_eq!(sockets(), base, "every listener's sockets released");

    // Children that exit, or die, holding listeners and waiting accepts.
    // The first of each warms the kernel's caches (socket set, maps).
    for mode in [0u8, 1] {
        let want = if mode == 0 { 0 } else { -11 };
        assert_eq!(child(pw, mode), want);
        let baseline = settled();
        for _ in 0..3 {
            assert_eq!(child(pw, mode), want);
        }
        let now = settled();
        for (i, (what, _)) in RECLAIMED.iter().enumerate() {
            if now[i] != baseline[i] {
                println!(
                    "test_net: mode {mode}: {what} {} -> {}",
                    baseline[i], now[i]
                );
            }
        }
        assert_eq!(now, baseline, "a child's sockets were not all reclaimed");
    }
    syscall::close(pr).expect("close");
    syscall::close(pw).expect("close");
    guest_test::pass("test_net");
    0
}
