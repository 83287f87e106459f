//! Physical frames (buddy allocator over the RAM after the kernel image) and
//! the kernel heap (a static arena).

use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use buddy_system_allocator::{FrameAllocator, LockedHeap};

use super::PAGE_SIZE;

/// Room for the worst case of every limit together (see `task::quota`).
/// Not more: the rest of the 128 MiB is frames for processes.
const HEAP_SIZE: usize = 20 << 20;

#[global_allocator]
static HEAP: LockedHeap<32> = LockedHeap::empty();

static mut HEAP_SPACE: [u8; HEAP_SIZE] = [0; HEAP_SIZE];

static FRAMES: spin::Mutex<FrameAllocator<32>> = spin::Mutex::new(FrameAllocator::new());
/// Frames handed out and not freed.
static FRAMES_USED: AtomicUsize = AtomicUsize::new(0);

/// Bytes of kernel heap in use (as the allocator rounds them).
pub fn heap_used() -> usize {
    HEAP.lock().stats_alloc_actual()
}

/// Frames in use.
pub fn frames_used() -> usize {
    FRAMES_USED.load(Relaxed)
}

pub(super) fn init_heap() {
    // SAFETY: called once, on the boot hart, before any allocation; the
    // arena is used by nothing else.
    unsafe { HEAP.lock().init(&raw mut HEAP_SPACE as usize, HEAP_SIZE) };
}

pub(super) fn init_frames(start: usize, end: usize) {
    let first = start.div_ceil(PAGE_SIZE);
    FRAMES.lock().add_frame(first, end / PAGE_SIZE);
}

/// One owned, zeroed physical page, freed on drop.
#[derive(Debug)]
pub struct Frame(usize);

impl Frame {
    /// Physical address (also the kernel's address for it: identity map).
    pub fn pa(&self) -> usize {
        self.0 * PAGE_SIZE
    }
    /// Physical page number.
    pub fn ppn(&self) -> usize {
        self.0
    }
    /// The page's bytes.
    pub fn bytes(&self) -> &'static mut [u8; PAGE_SIZE] {
        // SAFETY: the frame is owned by `self` and identity-mapped.
        unsafe { &mut *(self.pa() as *mut [u8; PAGE_SIZE]) }
    }
}

impl Frame {
    /// A frame that owns nothing (frame 0 is firmware memory, never
    /// handed out): what a moved-out frame leaves behind.
    pub(super) fn placeholder() -> Self {
        Frame(0)
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        if self.0 != 0 {
            FRAMES.lock().dealloc(self.0, 1);
            FRAMES_USED.fetch_sub(1, Relaxed);
        }
    }
}

/// A zeroed frame, or `None` when memory is exhausted.
pub fn alloc_frame() -> Option<Frame> {
    let ppn = FRAMES.lock().alloc(1)?;
    FRAMES_USED.fetch_add(1, Relaxed);
    let f = Frame(ppn);
    f.bytes().fill(0);
    Some(f)
}
