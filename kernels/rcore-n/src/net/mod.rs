//! The network: the virtio-net device found in the device tree, its
//! interrupt routed through the PLIC, smoltcp's IPv4/TCP, and TCP sockets
//! as file descriptors.
//!
//! All protocol work happens in ONE kernel coroutine, the *network
//! coroutine*: it polls the smoltcp interface and then sleeps until the
//! device interrupts, a socket call has something to send (or room it
//! freed to announce), or smoltcp's next timer is due ([`kick`], the
//! interrupt and the kernel's sleep queue wake it; it never spins).
//! System calls only move bytes between user buffers and smoltcp's socket
//! buffers under the stack lock, and wait on the socket's [`WaitQueue`],
//! which smoltcp's wakers notify.
//!
//! Listening: smoltcp has no accept queue, so a listener owns a pool of
//! sockets on its port: [`LISTEN_POOL`] of them in LISTEN at any time,
//! refilled after every received packet that changed a socket's state (a
//! burst of SYNs finds a fresh listening socket for each), and the
//! connections they became, waiting for `accept`, in arrival order. The
//! backlog, [`BACKLOG`] sockets per listener (listening, half-open and not
//! yet accepted together), bounds that pool: past it a SYN is answered
//! with a reset, as by a full Linux backlog with `tcp_abort_on_overflow`.
//!
//! Closing: when the last descriptor of a connection goes, it is closed
//! gracefully (FIN) or, if the process holding it exited, aborted (RST);
//! the socket stays in the set until the exchange ends or [`LINGER_MS`]
//! passes (then it is aborted), and is removed at once when it reaches
//! TIME-WAIT: the kernel keeps no TIME-WAIT state (a peer's retransmitted
//! FIN then gets a reset; clients use fresh ephemeral ports, so no new
//! connection can be confused with the old one in practice).

mod device;
mod plic;

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use alloc::task::Wake;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use core::task::{Context, Poll, Waker};

use rcore_n_abi::Errno;
use smoltcp::iface::{
    Config, Interface, PollIngressSingleResult, PollResult, SocketHandle, SocketSet,
};
use smoltcp::socket::tcp::{self, State};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, Ipv4Address};

use crate::sync::WaitQueue;
use crate::timer;
use device::NetDevice;
use plic::Plic;

/// Sockets at most, all processes together (each holds [`RX_BUFFER`] +
/// [`TX_BUFFER`] bytes of kernel heap and smoltcp's state, about 7 KiB).
pub const MAX_SOCKETS: usize = 512;
/// Sockets one process may hold (its listeners' pools included).
pub const MAX_SOCKETS_PER_PROCESS: usize = 448;
/// Sockets of a listener kept in LISTEN.
pub const LISTEN_POOL: usize = 4;
/// Sockets of a listener not yet accepted (listening, half-open and
/// established together).
pub const BACKLOG: usize = 64;
/// Receive buffer of a connection: a request of about 1.5 KiB.
pub const RX_BUFFER: usize = 2048;
/// Send buffer of a connection: a reply of about 4 KiB in one write.
pub const TX_BUFFER: usize = 4096;
/// How long a closed connection may take to finish before it is aborted.
pub const LINGER_MS: u64 = 10_000;
/// Packets taken in per round of the network coroutine before it lets
/// other coroutines run.
const PACKETS_PER_ROUND: usize = 64;
/// With the transmit queue full, the next round at the latest after this.
const TX_FULL_RETRY_NS: u64 = 10_000_000;

const ADDRESS: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
const PREFIX: u8 = 24;
const GATEWAY: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);

/// The virtio-mmio device id of a network card.
const VIRTIO_NET: u32 = 1;
const VIRTIO_MAGIC: u32 = 0x7472_6976;

static NET: spin::Once<Net> = spin::Once::new();
/// The device, its coroutine and its interrupt are all set up.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Sockets in the set (`kstat(SOCKETS)`).
static SOCKETS: AtomicUsize = AtomicUsize::new(0);
/// Device interrupts handled (printed in the shutdown summary).
static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);
/// Work for the network coroutine since its last round.
static KICKED: AtomicBool = AtomicBool::new(false);
/// The network coroutine's waker while it sleeps.
static POLLER: spin::Mutex<Option<Waker>> = spin::Mutex::new(None);

struct Net {
    stack: spin::Mutex<Stack>,
    plic: Plic,
    irq: usize,
    /// The device's virtio-mmio registers (for acknowledging interrupts).
    mmio: usize,
}

fn active() -> bool {
    ACTIVE.load(Acquire)
}

/// Sockets in the kernel (`kstat(SOCKETS)`).
pub fn sockets() -> usize {
    SOCKETS.load(Relaxed)
}

/// The network coroutine, for its caller to spawn (at the most urgent level).
pub type NetworkCoroutine = core::pin::Pin<alloc::boxed::Box<dyn Future<Output = ()> + Send>>;

/// Find the network card and the PLIC in the device tree, start the
/// device, and have `spawn` start the network coroutine (false: it could
/// not; boot hart, after the executor exists). Without a card the kernel
/// runs on, and `listen` says `-ENODEV`.
pub fn init(fdt: &fdt::Fdt, spawn: impl FnOnce(NetworkCoroutine) -> bool) {
    let Some((mmio, size, irq)) = find_virtio_net(fdt) else {
        println!("[net] no virtio-net device: no network");
        return;
    };
    let Some(plic) = Plic::discover(fdt) else {
        println!("[net] virtio-net at {mmio:#x} but no PLIC in the device tree: no network");
        return;
    };
    // Both must lie in the MMIO the kernel maps in every space (a trap in
    // S-mode is fatal).
    for (what, addr) in [("virtio-net", mmio), ("PLIC", plic.base())] {
        if !crate::board::MMIO_GIGAPAGES
            .iter()
            .any(|g| g >> 30 == addr >> 30)
        {
            println!("[net] {what} at {addr:#x} is outside the mapped MMIO: no network");
            return;
        }
    }
    // SAFETY: the device tree says a virtio-net device is there; MMIO is
    // identity-mapped (board gigapages) and nothing else drives it.
    let mut dev = match unsafe { NetDevice::new(mmio, size) } {
        Ok(d) => d,
        Err(e) => {
            println!("[net] virtio-net at {mmio:#x}: {e}: no network");
            return;
        }
    };
    let mac = dev.mac();
    let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
    config.random_seed = timer::now() ^ 0x9e37_79b9_7f4a_7c15;
    let mut iface = Interface::new(config, &mut dev, now());
    iface.update_ip_addrs(|a| {
        let _ = a.push(IpCidr::new(IpAddress::Ipv4(ADDRESS), PREFIX));
    });
    if iface.routes_mut().add_default_ipv4_route(GATEWAY).is_err() {
        println!("[net] no room for the default route");
    }
    NET.call_once(|| Net {
        stack: spin::Mutex::new(Stack {
            iface,
            dev,
            pool: Pool {
                // Its room for every socket the kernel may hold, reserved
                // now: the set never grows (no reallocation under the lock,
                // no allocation that could fail later).
                set: SocketSet::new(Vec::with_capacity(MAX_SOCKETS)),
                owners: BTreeMap::new(),
                per_owner: BTreeMap::new(),
            },
            listeners: BTreeMap::new(),
            closing: Vec::new(),
        }),
        plic,
        irq,
        mmio,
    });
    let net = NET.get().expect("just set");
    if !spawn(alloc::boxed::Box::pin(network_coroutine())) {
        println!("[net] cannot spawn the network coroutine: no network");
        return;
    }
    if !net.plic.enable_everywhere(irq) {
        println!("[net] interrupt {irq} is not a PLIC source: no network");
        return;
    }
    // This (boot) hart now; the others enable it as they start (after this).
    ACTIVE.store(true, Release);
    crate::trap::claim_external(handle_interrupts);
    let contexts: heapless::Vec<(usize, usize), { crate::board::MAX_HARTS }> = (0
        ..crate::board::MAX_HARTS)
        .filter_map(|h| net.plic.context_of(h).map(|c| (h, c)))
        .collect();
    println!(
        "[net] virtio-net at {mmio:#x} irq {irq} mac {:02x?}: {ADDRESS}/{PREFIX} via {GATEWAY}; PLIC at {:#x}, S contexts (hart, context) {contexts:?}",
        mac,
        net.plic.base(),
    );
    println!(
        "[net] a TCP socket: {} B of smoltcp state (its slot in the set) + {RX_BUFFER} + {TX_BUFFER} B of buffers; at most {MAX_SOCKETS}, {MAX_SOCKETS_PER_PROCESS} per process",
        core::mem::size_of::<smoltcp::iface::SocketStorage>(),
    );
}

/// The first virtio-mmio slot holding a network card: (base, size, irq).
fn find_virtio_net(fdt: &fdt::Fdt) -> Option<(usize, usize, usize)> {
    fdt.all_nodes()
        .filter(|n| {
            n.compatible()
                .is_some_and(|c| c.all().any(|s| s == "virtio,mmio"))
        })
        .find_map(|n| {
            let reg = n.reg()?.next()?;
            let base = reg.starting_address as usize;
            let size = reg.size.unwrap_or(0x200);
            // SAFETY: a virtio-mmio slot from the device tree, identity-mapped;
            // reading its magic and device id has no side effect.
            let (magic, id) = unsafe {
                (
                    core::ptr::read_volatile(base as *const u32),
                    core::ptr::read_volatile((base + 8) as *const u32),
                )
            };
            // Device id 0 is an empty slot.
            (magic == VIRTIO_MAGIC && id == VIRTIO_NET)
                .then(|| Some((base, size, n.interrupts()?.next()?)))
                .flatten()
        })
}

/// Claim and serve this hart's pending external interrupts (from a trap
/// taken in user mode, or after `wfi` in the idle loop).
fn handle_interrupts() {
    let Some(net) = NET.get() else { return };
    let Some(ctx) = net.plic.context_of(crate::hart::hart_id()) else {
        return;
    };
    // Bounded: a source that keeps asserting cannot hold the hart here.
    for _ in 0..8 {
        let irq = net.plic.claim(ctx);
        if irq == 0 {
            break;
        }
        if irq == net.irq {
            // SAFETY: InterruptStatus (0x60) and InterruptACK (0x64) of our
            // device, identity-mapped; they are independent of the queue
            // registers the driver uses under the stack lock.
            unsafe {
                let status = core::ptr::read_volatile((net.mmio + 0x60) as *const u32);
                core::ptr::write_volatile((net.mmio + 0x64) as *mut u32, status);
            }
            INTERRUPTS.fetch_add(1, Relaxed);
            kick();
        }
        net.plic.complete(ctx, irq);
    }
}

/// The closing summary's line: interrupts taken, sockets left.
pub fn print_summary() {
    if NET.get().is_some() {
        println!(
            "[net] {} device interrupts, {} sockets left",
            INTERRUPTS.load(Relaxed),
            sockets()
        );
    }
}

/// Ask the network coroutine for a round (something to send, or state to
/// look at).
pub fn kick() {
    KICKED.store(true, Release);
    if let Some(w) = POLLER.lock().take() {
        w.wake();
    }
}

fn now() -> Instant {
    Instant::from_micros((timer::ticks_to_ns(timer::now()) / 1000) as i64)
}

fn ticks_at(i: Instant) -> u64 {
    timer::ns_to_ticks(i.total_micros().max(0) as u64 * 1000)
}

async fn network_coroutine() {
    let net = NET.get().expect("network coroutine without a network");
    // `net.debug=1` on the command line: the stack's state once a second.
    let debug = crate::hart::bootarg("net.debug").is_some_and(|d| d > 0);
    device::TRACE.store(crate::hart::bootarg("net.debug") == Some(2), Relaxed);
    let second = timer::ns_to_ticks(1_000_000_000);
    let mut next_dump = timer::now() + second;
    loop {
        let (mut deadline, more) = net.stack.lock().round();
        if debug {
            if timer::now() >= next_dump {
                net.stack.lock().dump();
                next_dump = timer::now() + second;
            }
            deadline = Some(deadline.map_or(next_dump, |d| d.min(next_dump)));
        }
        Idle {
            deadline,
            more,
            yielded: false,
            sleep: None,
        }
        .await;
    }
}

/// The network coroutine between rounds: until kicked or `deadline`
/// (ticks). With `more` work already waiting, or the deadline already
/// passed, it yields once, so a flood of packets does not starve other
/// coroutines.
struct Idle {
    deadline: Option<u64>,
    more: bool,
    /// Has given way once already.
    yielded: bool,
    sleep: Option<timer::Sleep>,
}

impl Future for Idle {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Work waiting already (packets, or a timer already due): let the
        // other coroutines run once first.
        let due = self.deadline.is_some_and(|d| d <= timer::now());
        if self.more || due {
            if core::mem::replace(&mut self.yielded, true) {
                return Poll::Ready(());
            }
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if KICKED.swap(false, AcqRel) {
            return Poll::Ready(());
        }
        *POLLER.lock() = Some(cx.waker().clone());
        // Re-check after registering: a kick in between found no waker.
        if KICKED.swap(false, AcqRel) {
            return Poll::Ready(());
        }
        if let Some(d) = self.deadline {
            let sleep = self.sleep.get_or_insert_with(|| timer::sleep_until(d));
            if Pin::new(sleep).poll(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    }
}

impl Drop for Idle {
    fn drop(&mut self) {
        POLLER.lock().take();
    }
}

/// smoltcp's sockets and who holds them.
struct Pool {
    set: SocketSet<'static>,
    /// The process (serial) each socket is charged to.
    owners: BTreeMap<SocketHandle, usize>,
    per_owner: BTreeMap<usize, usize>,
}

fn zeroed(n: usize) -> Result<Vec<u8>, Errno> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| Errno::NoMem)?;
    v.resize(n, 0);
    Ok(v)
}

impl Pool {
    /// A new TCP socket charged to `owner`: `-EMFILE` past the kernel's or
    /// the process's limit, `-ENOMEM` without room for its buffers.
    fn add(&mut self, owner: usize) -> Result<SocketHandle, Errno> {
        let held = self.per_owner.get(&owner).copied().unwrap_or(0);
        if SOCKETS.load(Relaxed) >= MAX_SOCKETS || held >= MAX_SOCKETS_PER_PROCESS {
            return Err(Errno::MFile);
        }
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(zeroed(RX_BUFFER)?),
            tcp::SocketBuffer::new(zeroed(TX_BUFFER)?),
        );
        // Replies go out as soon as they are written (request/response).
        s.set_nagle_enabled(false);
        let h = self.set.add(s);
        self.owners.insert(h, owner);
        *self.per_owner.entry(owner).or_default() += 1;
        SOCKETS.fetch_add(1, Relaxed);
        Ok(h)
    }

    fn remove(&mut self, h: SocketHandle) {
        self.set.remove(h);
        SOCKETS.fetch_sub(1, Relaxed);
        if let Some(owner) = self.owners.remove(&h)
            && let Some(n) = self.per_owner.get_mut(&owner)
        {
            *n -= 1;
            if *n == 0 {
                self.per_owner.remove(&owner);
            }
        }
        // An emptied map keeps its root node: let it go, so the heap comes
        // back to where it was once the last socket has gone.
        if self.owners.is_empty() {
            self.owners = BTreeMap::new();
            self.per_owner = BTreeMap::new();
        }
    }

    fn tcp(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.set.get_mut(h)
    }
}

struct Listener {
    shared: Arc<Shared>,
    owner: usize,
    /// Sockets in LISTEN or SYN-RECEIVED.
    pending: Vec<SocketHandle>,
    /// Connections waiting for `accept`, oldest first.
    ready: VecDeque<SocketHandle>,
}

struct Stack {
    iface: Interface,
    dev: NetDevice,
    pool: Pool,
    listeners: BTreeMap<u16, Listener>,
    /// Sockets whose descriptors are gone, until they finish (deadline in
    /// ticks, then aborted).
    closing: Vec<(SocketHandle, u64)>,
}

impl Stack {
    /// One round of the network coroutine: take in packets, keep the
    /// listeners' pools full, send what is queued, let finished sockets go.
    /// Returns when the next round is due (ticks) and whether packets are
    /// still waiting.
    fn round(&mut self) -> (Option<u64>, bool) {
        let t = now();
        self.iface.poll_maintenance(t);
        let mut more = false;
        let mut packets = 0;
        loop {
            if packets == PACKETS_PER_ROUND {
                more = true;
                break;
            }
            match self
                .iface
                .poll_ingress_single(t, &mut self.dev, &mut self.pool.set)
            {
                PollIngressSingleResult::None => break,
                PollIngressSingleResult::PacketProcessed => {}
                // A SYN may have taken a listening socket: refill before the
                // next packet, which may be another SYN.
                PollIngressSingleResult::SocketStateChanged => self.tend_listeners(),
            }
            packets += 1;
        }
        self.tend_listeners();
        let ticks = timer::now();
        for &(h, deadline) in &self.closing {
            if deadline <= ticks {
                self.pool.tcp(h).abort();
            }
        }
        while self.iface.poll_egress(t, &mut self.dev, &mut self.pool.set) != PollResult::None {}
        self.drop_finished(ticks);
        let timers = self.iface.poll_at(t, &self.pool.set).map(ticks_at);
        let lingering = self.closing.iter().map(|&(_, d)| d).min();
        let mut deadline = match (timers, lingering) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // smoltcp asks to be polled now when a socket has something to send;
        // with every transmit buffer in the device that would be a busy
        // loop: the device's completion interrupt kicks us instead (the
        // timer only as a fallback).
        if self.dev.transmit_full() && deadline.is_some_and(|d| d <= ticks) {
            deadline = Some(ticks + timer::ns_to_ticks(TX_FULL_RETRY_NS));
        }
        (deadline, more)
    }

    /// One line of state (`net.debug=1`).
    fn dump(&mut self) {
        let mut states = BTreeMap::new();
        for (_, s) in self.pool.set.iter() {
            let smoltcp::socket::Socket::Tcp(t) = s;
            *states
                .entry(alloc::format!("{}", t.state()))
                .or_insert(0usize) += 1;
        }
        let listeners: Vec<(u16, usize, usize)> = self
            .listeners
            .iter()
            .map(|(p, l)| (*p, l.pending.len(), l.ready.len()))
            .collect();
        println!(
            "[net] sockets {states:?}; listeners (port, pending, ready) {listeners:?}; closing {}; {}; interrupts {}",
            self.closing.len(),
            self.dev.debug(),
            INTERRUPTS.load(Relaxed),
        );
    }

    /// Move new connections to the accept queues, refill the listening
    /// pools, wake accepts.
    fn tend_listeners(&mut self) {
        for (&port, l) in self.listeners.iter_mut() {
            let mut arrived = false;
            let mut listening = 0;
            let mut i = 0;
            while i < l.pending.len() {
                let h = l.pending[i];
                match self.pool.tcp(h).state() {
                    State::Listen => {
                        listening += 1;
                        i += 1;
                    }
                    State::SynReceived => i += 1,
                    State::TimeWait => {
                        l.pending.swap_remove(i);
                        self.pool.remove(h);
                    }
                    // Established (or established and already reset: a
                    // SYN-RECEIVED socket that is reset goes back to LISTEN,
                    // so CLOSED here was a connection): accept returns it,
                    // as Linux does, and its first read says what happened.
                    _ => {
                        l.pending.remove(i);
                        l.ready.push_back(h);
                        arrived = true;
                    }
                }
            }
            while listening < LISTEN_POOL && l.pending.len() + l.ready.len() < BACKLOG {
                let Ok(h) = self.pool.add(l.owner) else { break };
                let s = self.pool.tcp(h);
                s.register_recv_waker(&Waker::from(l.shared.clone()));
                if s.listen(port).is_err() {
                    self.pool.remove(h);
                    break;
                }
                l.pending.push(h);
                listening += 1;
            }
            if arrived {
                l.shared.changed.notify_all();
            }
        }
    }

    /// Let closed sockets go: done (CLOSED, with any reset sent), in
    /// TIME-WAIT (see the module docs), or well past their deadline.
    fn drop_finished(&mut self, ticks: u64) {
        let grace = timer::ns_to_ticks(1_000_000_000);
        let mut i = 0;
        while i < self.closing.len() {
            let (h, deadline) = self.closing[i];
            let s = self.pool.tcp(h);
            let done = match s.state() {
                State::TimeWait => true,
                State::Closed => s.local_endpoint().is_none() || deadline + grace <= ticks,
                _ => false,
            };
            if done {
                self.closing.swap_remove(i);
                self.pool.remove(h);
            } else {
                i += 1;
            }
        }
        if self.closing.is_empty() {
            // Give back the room a burst of closes took.
            self.closing = Vec::new();
        }
    }

    /// Close socket `h`, no longer anyone's: gracefully, or with a reset.
    fn close(&mut self, h: SocketHandle, abort: bool) {
        let s = self.pool.tcp(h);
        if matches!(s.state(), State::Listen | State::Closed) && s.local_endpoint().is_none() {
            self.pool.remove(h);
            return;
        }
        if abort {
            s.abort();
        } else {
            s.close();
        }
        let deadline = timer::now() + timer::ns_to_ticks(LINGER_MS * 1_000_000);
        self.closing.push((h, deadline));
    }
}

enum Kind {
    Listener(u16),
    Stream(SocketHandle),
}

/// What a socket's descriptor and its calls in flight share.
struct Shared {
    kind: Kind,
    /// Callers waiting for the socket to change (smoltcp's wakers notify).
    changed: WaitQueue,
    /// The descriptor is gone (written under the stack lock): calls still
    /// waiting end with `-EBADF`, and the handle is no longer ours.
    closed: AtomicBool,
}

impl Wake for Shared {
    fn wake(self: Arc<Self>) {
        self.changed.notify_all();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.changed.notify_all();
    }
}

/// A TCP socket as a descriptor refers to it: a listener or a connection.
/// Dropping the last one closes it.
pub struct Socket {
    shared: Arc<Shared>,
    /// Its last holder exited: reset the connection instead of closing it.
    abort_on_drop: AtomicBool,
}

fn net() -> Result<&'static Net, Errno> {
    NET.get().filter(|_| active()).ok_or(Errno::NoDev)
}

/// A socket listening on `port`, charged to process `owner` (its serial).
pub fn listen(owner: usize, port: usize) -> Result<Socket, Errno> {
    let net = net()?;
    let port = u16::try_from(port)
        .ok()
        .filter(|&p| p != 0)
        .ok_or(Errno::Inval)?;
    let mut st = net.stack.lock();
    if st.listeners.contains_key(&port) {
        return Err(Errno::AddrInUse);
    }
    let shared = Arc::new(Shared {
        kind: Kind::Listener(port),
        changed: WaitQueue::new(),
        closed: AtomicBool::new(false),
    });
    // At least one listening socket now, or the call fails.
    let h = st.pool.add(owner)?;
    let s = st.pool.tcp(h);
    s.register_recv_waker(&Waker::from(shared.clone()));
    if s.listen(port).is_err() {
        st.pool.remove(h);
        return Err(Errno::Inval);
    }
    st.listeners.insert(
        port,
        Listener {
            shared: shared.clone(),
            owner,
            pending: alloc::vec![h],
            ready: VecDeque::new(),
        },
    );
    st.tend_listeners();
    drop(st);
    kick();
    Ok(Socket {
        shared,
        abort_on_drop: AtomicBool::new(false),
    })
}

impl Socket {
    /// This descriptor's holder exited and no one else holds it: reset the
    /// connection when it goes.
    pub fn abort_on_drop(&self) {
        self.abort_on_drop.store(true, Relaxed);
    }

    /// The next connection (`-EINVAL` on a connection socket, `-EBADF` if
    /// the listener is closed while waiting).
    pub fn accept(
        &self,
    ) -> Result<impl Future<Output = Result<Socket, Errno>> + Send + 'static, Errno> {
        let Kind::Listener(port) = self.shared.kind else {
            return Err(Errno::Inval);
        };
        let shared = self.shared.clone();
        let net = net()?;
        Ok(async move {
            let r = shared
                .changed
                .until(|| {
                    let mut st = net.stack.lock();
                    if shared.closed.load(Relaxed) {
                        return Some(Err(Errno::BadF));
                    }
                    let st = &mut *st;
                    let l = st.listeners.get_mut(&port)?;
                    if let Some(h) = l.ready.pop_front() {
                        let s = st.pool.tcp(h);
                        let conn = Arc::new(Shared {
                            kind: Kind::Stream(h),
                            changed: WaitQueue::new(),
                            closed: AtomicBool::new(false),
                        });
                        let w = Waker::from(conn.clone());
                        s.register_recv_waker(&w);
                        s.register_send_waker(&w);
                        return Some(Ok(Socket {
                            shared: conn,
                            abort_on_drop: AtomicBool::new(false),
                        }));
                    }
                    None
                })
                .await;
            // The pool has room for another connection now.
            kick();
            r
        })
    }

    /// Up to `max` bytes, waiting for at least one; empty at the peer's
    /// end of stream; `-ECONNRESET` after a reset; `-ENOTCONN` on a
    /// listener.
    pub fn read(
        &self,
        max: usize,
    ) -> Result<impl Future<Output = Result<Vec<u8>, Errno>> + Send + 'static, Errno> {
        let Kind::Stream(h) = self.shared.kind else {
            return Err(Errno::NotConn);
        };
        let shared = self.shared.clone();
        let net = net()?;
        Ok(async move {
            // Allocated when data is there: a read waiting on an idle
            // connection holds no buffer.
            let mut out = Vec::new();
            let r = shared
                .changed
                .until(|| {
                    let mut st = net.stack.lock();
                    if shared.closed.load(Relaxed) {
                        return Some(Err(Errno::BadF));
                    }
                    let s = st.pool.tcp(h);
                    let n = s.recv_queue().min(max);
                    if n > 0 {
                        if out.try_reserve_exact(n).is_err() {
                            return Some(Err(Errno::NoMem));
                        }
                        out.resize(n, 0);
                        let got = s.recv_slice(&mut out).unwrap_or(0);
                        out.truncate(got);
                        return Some(Ok(true));
                    }
                    if max == 0 {
                        return Some(Ok(false));
                    }
                    // Nothing buffered: end of stream, reset, or wait.
                    match s.recv_slice(&mut []) {
                        Err(tcp::RecvError::Finished) => Some(Ok(false)),
                        Err(tcp::RecvError::InvalidState) => Some(Err(Errno::ConnReset)),
                        Ok(_) => {
                            s.register_recv_waker(&Waker::from(shared.clone()));
                            None
                        }
                    }
                })
                .await;
            // Room in the window to announce.
            if r == Ok(true) {
                kick();
            }
            r.map(|_| out)
        })
    }

    /// Write all of `data`, waiting for room (fewer bytes only if the
    /// connection fails part-way); `-ECONNRESET` after a reset, `-EPIPE`
    /// once the connection can no longer send, `-ENOTCONN` on a listener.
    pub fn write(
        &self,
        data: Vec<u8>,
    ) -> Result<impl Future<Output = Result<usize, Errno>> + Send + 'static, Errno> {
        let Kind::Stream(h) = self.shared.kind else {
            return Err(Errno::NotConn);
        };
        let shared = self.shared.clone();
        let net = net()?;
        Ok(async move {
            let mut done = 0;
            while done < data.len() {
                let r = shared
                    .changed
                    .until(|| {
                        let mut st = net.stack.lock();
                        if shared.closed.load(Relaxed) {
                            return Some(Err(Errno::BadF));
                        }
                        let s = st.pool.tcp(h);
                        if !s.may_send() {
                            return Some(Err(if s.state() == State::Closed {
                                Errno::ConnReset
                            } else {
                                Errno::Pipe
                            }));
                        }
                        match s.send_slice(&data[done..]) {
                            Ok(0) => {
                                s.register_send_waker(&Waker::from(shared.clone()));
                                None
                            }
                            Ok(n) => Some(Ok(n)),
                            Err(_) => Some(Err(Errno::ConnReset)),
                        }
                    })
                    .await;
                match r {
                    Ok(n) => {
                        done += n;
                        kick();
                    }
                    Err(e) if done == 0 => return Err(e),
                    Err(_) => break,
                }
            }
            Ok(done)
        })
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        let Some(net) = NET.get() else { return };
        let abort = self.abort_on_drop.load(Relaxed);
        {
            let mut st = net.stack.lock();
            self.shared.closed.store(true, Relaxed);
            match self.shared.kind {
                Kind::Listener(port) => {
                    let listener = st.listeners.remove(&port);
                    if st.listeners.is_empty() {
                        st.listeners = BTreeMap::new(); // as in `Pool::remove`
                    }
                    if let Some(l) = listener {
                        // Connections never accepted are reset, as by Linux.
                        for h in l.pending.into_iter().chain(l.ready) {
                            st.close(h, true);
                        }
                    }
                }
                Kind::Stream(h) => st.close(h, abort),
            }
        }
        self.shared.changed.notify_all();
        kick();
    }
}
