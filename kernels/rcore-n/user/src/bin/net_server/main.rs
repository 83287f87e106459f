//! The COPS papers' TCP matrix server (COPS §5, tcp_test.rs of rCore-N):
//! per connection three components, receive a request, square its
//! matrix, send the reply, handing off through two queues. The wire format
//! is `netbench`'s, shared with the host load generator.
//!
//! The model is chosen at run time from the kernel command line (one
//! kernel, one program):
//! - `net.kt=1`: the kernel serves this process's waiting calls on kernel
//!   threads with their own stacks (KT); otherwise on kernel coroutines (KC).
//! - `net.ut=1`: the components are user threads making blocking calls
//!   (UT); otherwise coroutines on the process's executor (UC), each at the
//!   connection's priority (the priority of its first request), handing off
//!   through queues whose consumer is woken by id (`wake(id)`).
//! - `net.cpus=K`: K threads run the executor (1..=4, `alloc_cpu(K - 1)`).
//! - `net.conns=N`: serve `netbench::TEST_ROUNDS` rounds of N connections;
//!   after each, the kernel must hold no connection socket, and after the
//!   first two (which size the kernel's caches) the kernel heap must stop
//!   growing: a round that ends at most 32 B per connection above the one
//!   before, at least once (a leak grows it every round); then end with
//!   `TEST net_server PASS` (the `cargo xtask test net` step). Without it,
//!   serve until QEMU is killed (the benchmark).
//! - `net.idle=N`: the memory measurement: accept N connections and print
//!   the kernel memory they hold, first as bare sockets, then with every
//!   connection's components started (each waiting in its socket read).
//!
//! In UT the handoff between a connection's threads is a queue in user
//! memory plus a pipe used as a counting semaphore: the producer pushes,
//! then writes one byte; the consumer blocks in a read of one byte, then
//! pops. The blocking is the kernel's, as with the papers' kernel mutexes
//! and condition variables; it costs each connection two pipes (four
//! descriptors) beside its socket.
//!
//! A malformed request gets an error frame, then its connection is closed
//! (its framing is lost); other connections are not affected.
#![no_std]
#![no_main]
extern crate alloc;

mod ucs;
mod uts;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::future::{Future, IntoFuture, poll_fn};
use core::sync::atomic::{AtomicUsize, Ordering::*};
use core::task::Poll;

use netbench::{ERROR_LEN, FrameBuffer, HEADER_LEN, MAX_REQUEST_LEN, ProtocolError, Request};
use rcore_n_abi::stat;
use rcore_n_user::*;

// Room for the capacity run: three coroutines and a few KiB of heap per
// connection, for as many connections as the kernel lets one process hold.
entry!(main, coroutines = 2048, heap = 8 << 20);

const PORT: u16 = 80;
/// Level of a connection's components until its first request says which.
const FIRST_LEVEL: u8 = 0;
/// The longest the test mode waits for the kernel to drop closed sockets
/// (the kernel keeps a closed socket up to 10 s for the peer's last ACK).
const SOCKET_DRAIN_NS: u64 = 30_000_000_000;
/// Items a connection's queue holds before its producer waits (UC). Small:
/// 64 starved connections with 4-deep queues of unboxed requests ran the
/// 1 MiB user heap out under an open-loop overload.
const QUEUE_ROOM: usize = 2;
/// How long a read refused for the process's call quota waits to retry.
const QUOTA_BACKOFF_NS: u64 = 1_000_000;
/// How long the memory mode waits for one more connection.
const IDLE_QUIET_NS: u64 = 3_000_000_000;
/// Kernel heap a round may end with above the round before, per connection.
const HEAP_SLACK_PER_CONN: usize = 32;

/// What the receive component hands to the compute component.
enum Item {
    /// Boxed: a request holds its matrix inline (1 KiB), and a queue
    /// slot should not cost that while empty.
    Request(Box<Request>),
    /// The stream broke the protocol: answer with an error, then close.
    Malformed(ProtocolError),
    /// The peer closed, reset, or the read failed: close.
    End,
}

/// What the compute component hands to the send component.
enum Out {
    /// A reply frame.
    Frame(Vec<u8>),
    /// An error frame, then close.
    Refuse([u8; ERROR_LEN]),
    /// Close.
    End,
}

#[derive(Clone, Copy)]
struct Options {
    kernel_threads: bool,
    user_threads: bool,
    cpus: usize,
    conns: Option<usize>,
    idle: Option<usize>,
}

impl Options {
    fn model(&self) -> &'static str {
        match (self.kernel_threads, self.user_threads) {
            (false, false) => "KCUC",
            (false, true) => "KCUT",
            (true, false) => "KTUC",
            (true, true) => "KTUT",
        }
    }
}

fn flag(key: &str) -> Result<bool, &'static str> {
    match syscall::bootarg(key) {
        Ok(0) | Err(Errno::NoEnt) => Ok(false),
        Ok(1) => Ok(true),
        _ => Err("a net.kt / net.ut flag is 0 or 1"),
    }
}

fn count(key: &str) -> Option<usize> {
    syscall::bootarg(key).ok().filter(|&n| n > 0)
}

fn options() -> Result<Options, &'static str> {
    let cpus = count("net.cpus").unwrap_or(1);
    if !(1..=4).contains(&cpus) {
        return Err("net.cpus is 1..=4");
    }
    Ok(Options {
        kernel_threads: flag("net.kt")?,
        user_threads: flag("net.ut")?,
        cpus,
        conns: count("net.conns"),
        idle: count("net.idle"),
    })
}

fn heap() -> usize {
    syscall::kstat(stat::HEAP_USED).unwrap_or(0)
}
fn frames() -> usize {
    syscall::kstat(stat::FRAMES_USED).unwrap_or(0)
}
fn sockets() -> usize {
    syscall::kstat(stat::SOCKETS).unwrap_or(0)
}

/// Connections whose three components have all ended.
static FINISHED: AtomicUsize = AtomicUsize::new(0);

async fn main() -> i32 {
    let opts = match options() {
        Ok(o) => o,
        Err(e) => {
            println!("net_server: bad command line: {e}");
            return 2;
        }
    };
    if let Err(e) = syscall::kernel_threads(opts.kernel_threads) {
        println!("net_server: kernel_threads: {e:?}");
        return 1;
    }
    if opts.cpus > 1 {
        match alloc_cpu(opts.cpus - 1) {
            Ok(n) if n == opts.cpus - 1 => {}
            other => {
                println!("net_server: alloc_cpu({}) gave {other:?}", opts.cpus - 1);
                return 1;
            }
        }
    }
    let (sockets0, heap0) = (sockets(), heap());
    let listener = match call::listen(PORT).await {
        Ok(fd) => fd,
        Err(e) => {
            println!("net_server: listen({PORT}): {e:?}");
            return 1;
        }
    };
    println!(
        "net_server: listening on port {PORT} ({}, {} executor threads)",
        opts.model(),
        opts.cpus
    );
    if let Some(n) = opts.idle {
        return idle(opts, listener, n).await;
    }
    let Some(per_round) = opts.conns else {
        loop {
            serve(opts, listener, usize::MAX).await;
        }
    };
    // Test mode: TEST_ROUNDS rounds of `per_round` connections. After each
    // the kernel must hold no connection socket; the first two rounds bring
    // the kernel's caches (socket slots, descriptor and thread tables) to
    // their size, so a later round that ends with more heap leaked it.
    let sockets_listening = sockets();
    let mut heap_after = Vec::new();
    for round in 1..=netbench::TEST_ROUNDS {
        serve(opts, listener, per_round).await;
        let t0 = syscall::clock();
        while sockets() != sockets_listening && syscall::clock() - t0 < SOCKET_DRAIN_NS {
            let _ = call::sleep(10_000_000).await;
        }
        let (now, h) = (sockets(), heap());
        println!(
            "net_server: round {round}: {per_round} connections served; sockets {now} ({sockets_listening} listening), kernel heap {h} B"
        );
        assert_eq!(
            now, sockets_listening,
            "the kernel still holds connection sockets"
        );
        heap_after.push(h);
    }
    syscall::close(listener).expect("close the listening socket");
    let t0 = syscall::clock();
    while sockets() != sockets0 && syscall::clock() - t0 < SOCKET_DRAIN_NS {
        let _ = call::sleep(10_000_000).await;
    }
    let (sockets1, heap1) = (sockets(), heap());
    println!(
        "net_server: closed; sockets {sockets0} -> {sockets1}, kernel heap {heap0} -> {heap1} B (after each round: {heap_after:?})"
    );
    assert_eq!(sockets1, sockets0, "the kernel still holds sockets");
    // A leak (a socket and its buffers: 6 KiB; a kernel coroutine's
    // future; a descriptor) grows the heap in every round. A cache sized by
    // the peak concurrency of a round (a wait queue's vector that doubled)
    // may grow in one round, by timing, but not in every one: so some round
    // after the first two must end within the allowance of the one before.
    let allowance = HEAP_SLACK_PER_CONN * per_round;
    let growth: Vec<isize> = heap_after
        .windows(2)
        .skip(1)
        .map(|w| w[1] as isize - w[0] as isize)
        .collect();
    assert!(
        growth.iter().any(|&g| g <= allowance as isize),
        "the kernel heap grew in every round after the second: {growth:?} B ({allowance} B allowed)"
    );
    guest_test::pass("net_server");
    0
}

/// Accept and serve `n` connections, and wait until all have ended.
async fn serve(opts: Options, listener: usize, n: usize) {
    FINISHED.store(0, SeqCst);
    let mut threads = Vec::new();
    let mut served = 0;
    while served < n {
        if opts.user_threads {
            reap(&mut threads);
        }
        let fd = match accept(opts, listener).await {
            Ok(fd) => fd,
            Err(e) => {
                println!("net_server: accept: {e:?}");
                continue;
            }
        };
        served += 1;
        match start(opts, fd) {
            Ok(mut tids) => threads.append(&mut tids),
            // Out of threads, descriptors or memory: this connection is
            // refused (and closed by `start`), the others go on.
            Err(e) => println!("net_server: cannot serve connection {served}: {e:?}"),
        }
    }
    for t in threads {
        if let Err(e) = syscall::thread_join(t) {
            println!("net_server: join: {e:?}");
        }
    }
    ENDED.lock().clear(); // all joined above
    while FINISHED.load(SeqCst) < served {
        let _ = call::sleep(1_000_000).await;
    }
}

/// UT threads whose component has returned, for the accepting thread to
/// join: a thread's slot (64 per process) is free only once joined, so a
/// server that never joined ran out after 20 connections in all.
static ENDED: spin::Mutex<Vec<usize>> = spin::Mutex::new(Vec::new());

/// Join the threads that have ended and forget them.
fn reap(threads: &mut Vec<usize>) {
    let ended = core::mem::take(&mut *ENDED.lock());
    for t in ended {
        if let Err(e) = syscall::thread_join(t) {
            println!("net_server: join {t}: {e:?}");
        }
        threads.retain(|&x| x != t);
    }
}

async fn accept(opts: Options, listener: usize) -> Result<usize, Errno> {
    if opts.user_threads {
        call::accept(listener).wait()
    } else {
        call::accept(listener).await
    }
}

/// Start connection `fd`'s components; returns the threads to join (UT).
/// On failure the connection is closed and counted as finished: by its
/// send component if that one started (it owns the socket from then on),
/// else here.
fn start(opts: Options, fd: usize) -> Result<Vec<usize>, Errno> {
    let started = if opts.user_threads {
        uts::start(fd)
    } else {
        ucs::start(fd).map(|()| Vec::new())
    };
    if let Err((e, sender_started)) = started {
        if !sender_started {
            let _ = syscall::close(fd);
            FINISHED.fetch_add(1, SeqCst);
        }
        return Err(e);
    }
    started.map_err(|(e, _)| e)
}

/// The next connection on `listener`, or `None` if none comes within
/// `quiet_ns` (the accept is then abandoned).
async fn accept_within(listener: usize, quiet_ns: u64) -> Option<Result<usize, Errno>> {
    let mut accept = core::pin::pin!(call::accept(listener).into_future());
    let mut timer = core::pin::pin!(call::sleep(quiet_ns).into_future());
    poll_fn(|cx| {
        if let Poll::Ready(r) = accept.as_mut().poll(cx) {
            return Poll::Ready(Some(r));
        }
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

/// `net.idle=N`: the kernel memory N connections hold, bare and waiting.
async fn idle(opts: Options, listener: usize, n: usize) -> i32 {
    let (heap0, frames0, calls0) = (heap(), frames(), syscall::kstat(stat::CALLS).unwrap_or(0));
    let mut fds = Vec::with_capacity(n);
    // Up to `n`, or as many as the kernel lets in: stop once none came
    // for IDLE_QUIET_NS (the host opened all it will).
    while fds.len() < n {
        match accept_within(listener, IDLE_QUIET_NS).await {
            Some(Ok(fd)) => fds.push(fd),
            Some(Err(e)) => {
                println!("net_server: accept after {} connections: {e:?}", fds.len());
                break;
            }
            None => {
                println!("net_server: no more connections after {}", fds.len());
                break;
            }
        }
    }
    let held = fds.len();
    // An abandoned accept or timer may still be finishing in the kernel
    // (a kernel thread in KT): measure once nothing is in flight.
    let t0 = syscall::clock();
    while syscall::kstat(stat::CALLS).unwrap_or(0) > calls0
        && syscall::clock() - t0 < 10_000_000_000
    {
        let _ = call::sleep(10_000_000).await;
    }
    let (heap1, frames1) = (heap(), frames());
    println!(
        "NETMEM sockets conns={held} heap={} frames={}",
        heap1 - heap0,
        frames1.saturating_sub(frames0)
    );
    let mut started = 0;
    for &fd in &fds {
        match start(opts, fd) {
            Ok(_) => started += 1,
            Err(e) => {
                println!("net_server: components of connection {started}: {e:?}");
                break;
            }
        }
    }
    // Each connection's receive component waits in a read (UT: its compute
    // and send threads in a pipe read too): wait until all are in flight.
    let per_conn = if opts.user_threads { 3 } else { 1 };
    let t0 = syscall::clock();
    while syscall::kstat(stat::CALLS).unwrap_or(0) < calls0 + per_conn * started
        && syscall::clock() - t0 < 10_000_000_000
    {
        let _ = call::sleep(10_000_000).await;
    }
    let calls = syscall::kstat(stat::CALLS).unwrap_or(0) - calls0;
    println!(
        "NETMEM waiting conns={started} heap={} frames={} calls={calls} call_bytes={} kernel_coroutines={}",
        heap() - heap1,
        frames().saturating_sub(frames1),
        syscall::kstat(stat::CALL_BYTES).unwrap_or(0),
        syscall::kstat(stat::KERNEL_COROUTINES).unwrap_or(0),
    );
    // Hold them until the host ends the run.
    loop {
        let _ = call::sleep(1_000_000_000).await;
    }
}

/// Read from `fd` into `buf`, parse every whole request, hand each on;
/// returns once the stream ends (`End`) or breaks the protocol
/// (`Malformed`), which is handed on last.
fn receive_step(
    buf: &mut FrameBuffer<MAX_REQUEST_LEN>,
    read: Result<usize, Errno>,
    mut push: impl FnMut(Item),
) -> bool {
    match read {
        // The process's quota of calls in flight is spent (many kernel
        // threads at once): not this connection's fault, read again.
        Err(Errno::Again) => return true,
        Ok(0) | Err(_) => {
            push(Item::End);
            return false;
        }
        Ok(n) => buf.filled(n),
    }
    loop {
        match buf.next_request() {
            Ok(Some(r)) => push(Item::Request(Box::new(r))),
            Ok(None) => return true,
            Err(e) => {
                push(Item::Malformed(e));
                return false;
            }
        }
    }
}

/// The compute step: the reply (the square of the matrix) or the error.
fn compute(item: Item) -> Out {
    match item {
        Item::Request(r) => {
            let n = r.matrix.n();
            let mut frame = vec![0u8; HEADER_LEN + 4 * n * n];
            match netbench::encode_reply(&r, &mut frame) {
                Ok(_) => Out::Frame(frame),
                Err(e) => refuse(r.seq, e),
            }
        }
        Item::Malformed(e) => refuse(0, e),
        Item::End => Out::End,
    }
}

fn refuse(seq: u64, e: ProtocolError) -> Out {
    let mut frame = [0u8; ERROR_LEN];
    netbench::encode_error(seq, e, &mut frame).expect("an error frame fits ERROR_LEN");
    Out::Refuse(frame)
}
