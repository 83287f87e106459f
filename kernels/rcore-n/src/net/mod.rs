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
//! buffers under the stack lock, and wait on the socket's
//! [`WaitQueue`](crate::sync::WaitQueue), which smoltcp's wakers notify.
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
mod socket;
mod stack;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use core::task::{Context, Poll, Waker};

use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, Ipv4Address};

use crate::timer;
use device::NetDevice;
use plic::Plic;
pub use socket::{Socket, listen};
use stack::{Pool, Stack};

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
