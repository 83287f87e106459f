//! The cops vDSO: one copy of the scheduler image, mapped into every
//! address space twice — for user mode at `layout::VDSO_BASE` (U, R/X,
//! never writable) and for the kernel at [`KERNEL_BASE`] (supervisor,
//! through page tables shared by every root, so the kernel can run it under
//! any `satp`). Text and read-only data are the same physical frames for
//! all; only the RELRO pages (relocated pointers) differ between the two
//! bases. The kernel's own executor and every process's run this code.

use alloc::vec::Vec;

use cops_vdso::loader::{Image, Segment};
use rcore_n_abi::layout;

use super::{Frame, PAGE_SIZE, PteFlags, alloc_frame};

/// Where the kernel runs the image (root entry 1, unused by the board).
pub const KERNEL_BASE: usize = 0x4000_0000;

pub struct MappedVdso {
    /// Per page of the image: flags, the frame user spaces map, and the
    /// frame the kernel maps (the same frame outside RELRO).
    pages: Vec<(PteFlags, Frame, Option<Frame>)>,
    entry: usize,
    /// The shared level-1 and level-0 tables of the kernel mapping.
    _kernel_tables: [Frame; 2],
    kernel_root_entry: usize,
}

static VDSO: spin::Once<MappedVdso> = spin::Once::new();

fn segment_flags(seg: &Segment) -> PteFlags {
    if seg.exec {
        PteFlags::R | PteFlags::X
    } else {
        PteFlags::R
    }
}

/// Load the image (boot hart, before any page table is built).
pub fn init(image: &[u8]) {
    VDSO.call_once(|| {
        let image = Image::parse(image).expect("the cops vDSO image was refused");
        let span = image.span();
        assert!(
            span <= 512 * PAGE_SIZE,
            "vDSO image larger than one level-0 table"
        );
        let mut user = alloc::vec![0u8; span];
        let mut kernel = alloc::vec![0u8; span];
        image.load(&mut user, layout::VDSO_BASE).expect("vDSO load");
        image.load(&mut kernel, KERNEL_BASE).expect("vDSO load");
        let relro = image.relro();
        let mut pages = Vec::new();
        for page in 0..span / PAGE_SIZE {
            let at = page * PAGE_SIZE;
            let flags = image
                .segments()
                .find(|s| s.range.contains(&at))
                .map_or(PteFlags::R, segment_flags);
            let copy = |bytes: &[u8]| {
                let f = alloc_frame().expect("no memory for the vDSO");
                f.bytes().copy_from_slice(&bytes[at..at + PAGE_SIZE]);
                f
            };
            let kernel_copy = relro.contains(&at).then(|| copy(&kernel));
            pages.push((flags, copy(&user), kernel_copy));
        }
        // Kernel mapping: root entry 1 -> shared L1 -> shared L0 -> pages.
        let l1 = alloc_frame().expect("no memory for the vDSO");
        let l0 = alloc_frame().expect("no memory for the vDSO");
        let entries = |f: &Frame| f.bytes().as_mut_ptr() as *mut usize;
        // SAFETY: fresh zeroed frames, ours, identity-mapped.
        unsafe {
            entries(&l1).write(((l0.pa() >> 12) << 10) | PteFlags::V.bits());
            for (i, (flags, frame, kernel_frame)) in pages.iter().enumerate() {
                let pa = kernel_frame.as_ref().unwrap_or(frame).pa();
                let leaf = *flags | PteFlags::V | PteFlags::G | PteFlags::A | PteFlags::D;
                entries(&l0).add(i).write(((pa >> 12) << 10) | leaf.bits());
            }
        }
        let kernel_root_entry = ((l1.pa() >> 12) << 10) | PteFlags::V.bits();
        MappedVdso {
            pages,
            entry: image.entry(),
            _kernel_tables: [l1, l0],
            kernel_root_entry,
        }
    });
}

fn get() -> &'static MappedVdso {
    VDSO.get().expect("mm::vdso::init first")
}

/// The root-table entry (index `KERNEL_BASE >> 30`) every root carries.
pub fn kernel_root_entry() -> Option<usize> {
    VDSO.get().map(|v| v.kernel_root_entry)
}

/// Entry point of the kernel's mapping.
pub fn kernel_entry() -> usize {
    KERNEL_BASE + get().entry
}

/// Entry point of the user mapping.
pub fn user_entry() -> usize {
    layout::VDSO_BASE + get().entry
}

/// Bytes of the image (one physical copy).
pub fn size() -> usize {
    get().pages.len() * PAGE_SIZE
}

/// Map the user copy into `table` (read-execute / read-only, never writable).
pub fn map_user(table: &mut super::PageTable) -> Result<(), ()> {
    for (i, (flags, frame, _)) in get().pages.iter().enumerate() {
        table.map(
            layout::VDSO_BASE + i * PAGE_SIZE,
            frame.pa(),
            *flags | PteFlags::U,
        )?;
    }
    Ok(())
}
