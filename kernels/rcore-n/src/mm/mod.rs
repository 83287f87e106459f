//! Memory: physical frames, the kernel heap, Sv39 page tables and user
//! address spaces.
//!
//! Every address space shares the kernel's identity gigapages (RAM and
//! MMIO, supervisor-only), so the kernel keeps running across `satp`
//! switches and reaches any frame at its physical address. User memory is
//! never dereferenced through user virtual addresses: [`space::UserSpace`]
//! walks the page table in software and checks the `U`/`R`/`W` bits, so a
//! bad pointer becomes `-EFAULT`, never a kernel fault.

mod frame;
mod page_table;
pub mod space;
pub mod vdso;

pub use frame::{Frame, alloc_frame, frames_used, heap_used};
pub use page_table::{PageTable, PteFlags};

pub const PAGE_SIZE: usize = 4096;

static KERNEL_ROOT: spin::Once<PageTable> = spin::Once::new();

/// Set up the heap, the frame allocator and the kernel's page table, and
/// turn paging on (boot hart).
pub fn init(kernel_end: usize, mem_end: usize) {
    frame::init_heap();
    frame::init_frames(kernel_end, mem_end);
    vdso::init(crate::programs::VDSO_IMAGE);
    KERNEL_ROOT.call_once(PageTable::new_kernel);
    activate_kernel_space();
}

/// Switch the calling hart to the kernel-only page table.
pub fn activate_kernel_space() {
    KERNEL_ROOT.get().expect("mm::init first").activate();
}
