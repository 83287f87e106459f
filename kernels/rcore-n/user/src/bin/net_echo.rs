//! A TCP echo server for host-driven network checks (not a `test_`
//! program: it needs a peer on the host). Listens on port 80, prints
//! `net_echo: listening`, accepts `net.conns=N` connections (bootarg,
//! default 1) and echoes each on its own coroutine until the peer closes
//! or resets it; then checks the kernel's socket count is back at its
//! baseline and passes. `net.kt=1` serves its calls on kernel threads (KT)
//! instead of kernel coroutines; `net.cpus=N` runs the executor on N
//! threads; `net.first=1` closes each connection after its first echo.
#![no_std]
#![no_main]
extern crate alloc;

use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use rcore_n_abi::stat;
use rcore_n_user::*;

entry!(main);

static RESETS: AtomicUsize = AtomicUsize::new(0);

async fn main() -> i32 {
    let conns = syscall::bootarg("net.conns").unwrap_or(1);
    if syscall::bootarg("net.kt") == Ok(1) {
        syscall::kernel_threads(true).expect("kernel threads");
    }
    let cpus = syscall::bootarg("net.cpus").unwrap_or(1).max(1);
    // The executor threads stay parked in the kernel (a waiting call each)
    // until the process exits: measure what they hold before the network
    // is used, and let `pass` allow exactly that.
    let parked = [
        stat::KERNEL_COROUTINES,
        stat::CALLS,
        stat::CALL_BYTES,
        stat::WAITERS,
    ];
    let snapshot = || parked.map(|w| syscall::kstat(w).expect("kstat"));
    let before = snapshot();
    if cpus > 1 {
        alloc_cpu(cpus - 1).expect("executor threads");
        let mut last = snapshot();
        loop {
            syscall::sleep(50_000_000);
            let now = snapshot();
            if now == last {
                break;
            }
            last = now;
        }
    }
    let after = snapshot();
    let held: Vec<(usize, usize)> = (0..parked.len())
        .map(|i| (parked[i], after[i].saturating_sub(before[i])))
        .collect();
    let base = syscall::kstat(stat::SOCKETS).expect("kstat");
    let heap = syscall::kstat(stat::HEAP_USED).expect("kstat");
    let listener = call::listen(80).await.expect("listen on port 80");
    println!("net_echo: listening");
    // `net.first=1`: the server closes each connection after its first
    // echo (the closing side goes through FIN-WAIT and TIME-WAIT).
    let first = syscall::bootarg("net.first") == Ok(1);
    let mut echoes = Vec::new();
    for _ in 0..conns {
        let fd = call::accept(listener).await.expect("accept");
        echoes.push(spawn(echo(fd, first), 8).expect("spawn an echo coroutine"));
    }
    // What the open connections cost the kernel (with an idle peer, each
    // has a read waiting): smoltcp's buffers and everything else.
    call::sleep(500_000_000).await.expect("sleep");
    let open = syscall::kstat(stat::HEAP_USED).expect("kstat") as isize - heap as isize;
    println!(
        "net_echo: {conns} connections open: kernel heap +{open} bytes, {} per connection",
        open / conns.max(1) as isize
    );
    let mut bytes = 0;
    for e in echoes {
        bytes += e.await.expect("echo coroutine");
    }
    syscall::close(listener).expect("close the listener");
    // Closed connections finish their exchange with the peer first.
    let mut left = syscall::kstat(stat::SOCKETS).expect("kstat");
    for _ in 0..1200 {
        if left == base {
            break;
        }
        syscall::sleep(10_000_000);
        left = syscall::kstat(stat::SOCKETS).expect("kstat");
    }
    assert_eq!(left, base, "net_echo: sockets left behind");
    let heap_now = syscall::kstat(stat::HEAP_USED).expect("kstat");
    println!("net_echo: kernel heap {heap} -> {heap_now} bytes");
    println!(
        "net_echo: {conns} connections, {bytes} bytes echoed, {} reset by the peer",
        RESETS.load(Relaxed)
    );
    guest_test::pass_holding("net_echo", &held);
    0
}

/// Echo `fd` until end of stream or reset; the bytes echoed.
async fn echo(fd: usize, close_first: bool) -> usize {
    let mut buf = [0u8; 2048];
    let mut total = 0;
    loop {
        let n = match call::read(fd, &mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(Errno::ConnReset) => {
                RESETS.fetch_add(1, Relaxed);
                break;
            }
            Err(e) => panic!("net_echo: read: {e:?}"),
        };
        let mut sent = 0;
        while sent < n {
            match call::write(fd, &buf[sent..n]).await {
                Ok(k) => sent += k,
                Err(Errno::ConnReset) | Err(Errno::Pipe) => {
                    RESETS.fetch_add(1, Relaxed);
                    syscall::close(fd).expect("close");
                    return total;
                }
                Err(e) => panic!("net_echo: write: {e:?}"),
            }
        }
        total += n;
        if close_first {
            break;
        }
    }
    syscall::close(fd).expect("close");
    total
}
