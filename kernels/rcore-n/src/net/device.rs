//! The virtio-net device (`virtio-drivers`) as a smoltcp [`Device`]:
//! receive buffers stay queued in the device and are recycled once smoltcp
//! has read them; transmission never waits for the device (a frame is
//! queued, its buffer reclaimed when the device reports it used).

use alloc::vec::Vec;
use core::cell::RefCell;
use core::ptr::NonNull;

use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::time::Instant;
use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
use virtio_drivers::{BufferDirection, Hal, PhysAddr};

use crate::mm::PAGE_SIZE;

/// Descriptors per virtqueue: as many receive buffers, and at most as many
/// frames queued for transmission.
const QUEUE: usize = 32;
/// One frame and its virtio header (the driver wants at least 1526 bytes).
const BUF_LEN: usize = 2048;
/// Ethernet frame without FCS.
const MTU: usize = 1514;

/// `virtio-drivers`' view of the kernel's memory: RAM (heap and frames
/// alike) is identity-mapped, so a buffer's address is its physical
/// address, and the heap gives physically contiguous pages for the rings.
pub struct KernelHal;

fn dma_layout(pages: usize) -> core::alloc::Layout {
    // `pages` comes from the driver's ring sizes: small and non-zero.
    core::alloc::Layout::from_size_align(pages * PAGE_SIZE, PAGE_SIZE)
        .unwrap_or(core::alloc::Layout::new::<u8>())
}

// SAFETY: the heap is identity-mapped RAM, so every pointer we hand out is
// its own physical address, valid and unaliased until `dma_dealloc`.
unsafe impl Hal for KernelHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        // SAFETY: a non-zero, page-aligned layout.
        let p = unsafe { alloc::alloc::alloc_zeroed(dma_layout(pages)) };
        // Only the virtqueues allocate here, once, while the kernel boots;
        // the trait has no way to report a failure.
        let p = NonNull::new(p).expect("no memory for the virtio-net queues at boot");
        (p.as_ptr() as PhysAddr, p)
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, vaddr: NonNull<u8>, pages: usize) -> i32 {
        // SAFETY: allocated by `dma_alloc` with the same layout.
        unsafe { alloc::alloc::dealloc(vaddr.as_ptr(), dma_layout(pages)) };
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        NonNull::new(paddr as *mut u8).expect("MMIO at address 0")
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        buffer.as_ptr() as *mut u8 as PhysAddr
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {}
}

type Raw = VirtIONetRaw<KernelHal, MmioTransport<'static>, QUEUE>;

struct Inner {
    raw: Raw,
    /// Receive buffers the device holds, by descriptor token.
    rx: [Option<Vec<u8>>; QUEUE],
    /// Frames the device is sending, by descriptor token.
    tx: [Option<Vec<u8>>; QUEUE],
    /// Transmit buffers ready for reuse.
    tx_free: Vec<Vec<u8>>,
    /// Where a frame that finds no transmit buffer is written, then dropped.
    discard: Vec<u8>,
}

/// The network device (shared by the tokens smoltcp holds at once).
pub struct NetDevice {
    inner: RefCell<Inner>,
    mac: [u8; 6],
}

// SAFETY: the device lives inside the stack's lock; the `RefCell` is only
// touched by whoever holds it.
unsafe impl Send for NetDevice {}

fn zeroed_buf() -> Option<Vec<u8>> {
    let mut v = Vec::new();
    v.try_reserve_exact(BUF_LEN).ok()?;
    v.resize(BUF_LEN, 0);
    Some(v)
}

impl NetDevice {
    /// Bring up the virtio-net device whose MMIO header is at `base`.
    ///
    /// # Safety
    /// `base..base + size` must be a virtio-mmio net device, identity-mapped
    /// for the kernel's lifetime, and used by nothing else.
    pub unsafe fn new(base: usize, size: usize) -> Result<Self, &'static str> {
        let header = NonNull::new(base as *mut VirtIOHeader).ok_or("null MMIO base")?;
        // SAFETY: per this function's contract.
        let transport =
            unsafe { MmioTransport::new(header, size) }.map_err(|_| "bad virtio-mmio header")?;
        let mut raw = Raw::new(transport).map_err(|_| "virtio-net initialisation failed")?;
        let mut rx = [const { None }; QUEUE];
        for _ in 0..QUEUE {
            let mut buf = zeroed_buf().ok_or("no memory for receive buffers")?;
            // SAFETY: the buffer is kept in `rx` under its token, untouched
            // until the device gives that token back.
            let token = unsafe { raw.receive_begin(&mut buf) }.map_err(|_| "receive queue")?;
            *rx.get_mut(token as usize).ok_or("receive token")? = Some(buf);
        }
        let mut tx_free = Vec::new();
        for _ in 0..QUEUE {
            tx_free.push(zeroed_buf().ok_or("no memory for transmit buffers")?);
        }
        raw.enable_interrupts();
        let mac = raw.mac_address();
        Ok(Self {
            inner: RefCell::new(Inner {
                raw,
                rx,
                tx: [const { None }; QUEUE],
                tx_free,
                discard: zeroed_buf().ok_or("no memory for transmit buffers")?,
            }),
            mac,
        })
    }

    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// Every transmit buffer is in the device (taking back those it sent).
    pub fn transmit_full(&mut self) -> bool {
        let inner = self.inner.get_mut();
        inner.reap_sent();
        inner.tx_free.is_empty()
    }

    /// Buffers in each state (`net.debug=1`).
    pub fn debug(&self) -> alloc::string::String {
        let i = self.inner.borrow();
        alloc::format!(
            "device: {} receive buffers queued, {} frames sending, {} transmit buffers free",
            i.rx.iter().flatten().count(),
            i.tx.iter().flatten().count(),
            i.tx_free.len()
        )
    }
}

impl Inner {
    /// Take back the buffers of frames the device has sent.
    fn reap_sent(&mut self) {
        while let Some(token) = self.raw.poll_transmit() {
            let Some(buf) = self.tx.get_mut(token as usize).and_then(Option::take) else {
                println!("[net] virtio-net: unknown transmit token {token}");
                return;
            };
            // SAFETY: the same buffer that `transmit_begin` got for `token`.
            let _ = unsafe { self.raw.transmit_complete(token, &buf) };
            let mut buf = buf;
            buf.resize(BUF_LEN, 0);
            self.tx_free.push(buf);
        }
    }
}

impl Device for NetDevice {
    type RxToken<'a> = Rx<'a>;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(Rx<'_>, Tx<'_>)> {
        let inner = self.inner.get_mut();
        inner.reap_sent();
        // No frame without a way to answer it (smoltcp may reply at once).
        if inner.tx_free.is_empty() {
            return None;
        }
        let token = inner.raw.poll_receive()?;
        let mut buf = inner.rx.get_mut(token as usize).and_then(Option::take)?;
        // SAFETY: the buffer `receive_begin` got for `token`.
        let (header, len) = match unsafe { inner.raw.receive_complete(token, &mut buf) } {
            Ok(r) => r,
            Err(_) => {
                inner.requeue(buf);
                return None;
            }
        };
        Some((
            Rx {
                dev: &self.inner,
                buf: Some(buf),
                start: header,
                len,
            },
            Tx { dev: &self.inner },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Tx<'_>> {
        let inner = self.inner.get_mut();
        inner.reap_sent();
        (!inner.tx_free.is_empty()).then_some(Tx { dev: &self.inner })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MTU;
        caps.max_burst_size = Some(QUEUE / 2);
        caps
    }
}

/// A received frame; its buffer goes back to the device when dropped.
pub struct Rx<'a> {
    dev: &'a RefCell<Inner>,
    buf: Option<Vec<u8>>,
    start: usize,
    len: usize,
}

/// `net.debug=2`: a line per TCP segment.
pub static TRACE: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

fn trace(dir: &str, f: &[u8]) {
    if !TRACE.load(core::sync::atomic::Ordering::Relaxed) || f.len() < 34 {
        return;
    }
    if f[12..14] != [8, 0] {
        println!(
            "[net] {dir} ethertype {:02x}{:02x} len {}",
            f[12],
            f[13],
            f.len()
        );
        return;
    }
    let ihl = (f[14] & 0xf) as usize * 4;
    if f[23] != 6 || f.len() < 14 + ihl + 20 {
        return;
    }
    let t = &f[14 + ihl..];
    let sp = u16::from_be_bytes([t[0], t[1]]);
    let dp = u16::from_be_bytes([t[2], t[3]]);
    let seq = u32::from_be_bytes([t[4], t[5], t[6], t[7]]);
    let ack = u32::from_be_bytes([t[8], t[9], t[10], t[11]]);
    let fl = t[13];
    let flags: alloc::string::String = [
        (0x02, 'S'),
        (0x10, 'A'),
        (0x01, 'F'),
        (0x04, 'R'),
        (0x08, 'P'),
    ]
    .iter()
    .filter(|(b, _)| fl & b != 0)
    .map(|(_, c)| *c)
    .collect();
    println!(
        "[net] {dir} {sp}->{dp} {flags} seq {seq} ack {ack} len {}",
        f.len() - 14 - ihl - (t[12] >> 4) as usize * 4
    );
}

impl RxToken for Rx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(mut self, f: F) -> R {
        let buf = self.buf.as_deref().unwrap_or(&[]);
        let frame = buf.get(self.start..self.start + self.len).unwrap_or(&[]);
        trace("rx", frame);
        let r = f(frame);
        if let Some(b) = self.buf.take() {
            recycle(self.dev, b);
        }
        r
    }
}

impl Drop for Rx<'_> {
    fn drop(&mut self) {
        if let Some(b) = self.buf.take() {
            recycle(self.dev, b);
        }
    }
}

/// Give a receive buffer back to the device.
fn recycle(dev: &RefCell<Inner>, buf: Vec<u8>) {
    dev.borrow_mut().requeue(buf);
}

impl Inner {
    fn requeue(&mut self, mut buf: Vec<u8>) {
        // SAFETY: the buffer is stored under its token and not touched until
        // the device returns it.
        match unsafe { self.raw.receive_begin(&mut buf) } {
            Ok(token) => {
                if let Some(slot) = self.rx.get_mut(token as usize) {
                    *slot = Some(buf);
                }
            }
            Err(e) => println!("[net] virtio-net: receive buffer not requeued: {e:?}"),
        }
    }
}

/// Room for one frame to send.
pub struct Tx<'a> {
    dev: &'a RefCell<Inner>,
}

impl TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut inner = self.dev.borrow_mut();
        let Some(mut buf) = inner.tx_free.pop() else {
            // `transmit`/`receive` hand out a token only with a free buffer,
            // but a receive token's reply may come after another frame: drop
            // this one (TCP sends it again).
            let n = len.min(BUF_LEN);
            return f(&mut inner.discard[..n]);
        };
        let header = inner.raw.fill_buffer_header(&mut buf).unwrap_or(0);
        let total = (header + len).min(BUF_LEN);
        let r = f(&mut buf[header..total]);
        trace("tx", &buf[header..total]);
        buf.truncate(total);
        // SAFETY: `buf` is kept under its token, untouched until the device
        // reports it sent.
        match unsafe { inner.raw.transmit_begin(&buf) } {
            Ok(token) if (token as usize) < QUEUE => inner.tx[token as usize] = Some(buf),
            _ => {
                buf.resize(BUF_LEN, 0);
                inner.tx_free.push(buf);
            }
        }
        r
    }
}
