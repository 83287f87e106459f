//! Sv39 page tables.

use alloc::vec::Vec;

use bitflags::bitflags;

use super::{Frame, PAGE_SIZE, alloc_frame};

bitflags! {
    /// Sv39 PTE flags.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct PteFlags: usize {
        const V = 1 << 0;
        const R = 1 << 1;
        const W = 1 << 2;
        const X = 1 << 3;
        const U = 1 << 4;
        const G = 1 << 5;
        const A = 1 << 6;
        const D = 1 << 7;
    }
}

const GIGA: usize = 1 << 30;

/// Roots of dead address spaces, user half cleared, kernel half intact.
/// Roots are recycled, never freed: a hart may still have a dead space's
/// root in `satp` (it switches lazily), and the kernel keeps running on the
/// root's kernel gigapages until it does.
static FREE_ROOTS: spin::Mutex<Vec<Frame>> = spin::Mutex::new(Vec::new());

impl Drop for PageTable {
    fn drop(&mut self) {
        let e = entries(self.root.pa());
        for (i, pte) in e.iter_mut().enumerate() {
            let kernel = crate::board::MMIO_GIGAPAGES
                .iter()
                .chain([0x8000_0000usize, super::vdso::KERNEL_BASE].iter())
                .any(|b| b / GIGA == i);
            if !kernel {
                *pte = 0;
            }
        }
        // `tables` (user levels only) are freed with the struct; the root
        // is kept for the next space.
        let root = core::mem::replace(&mut self.root, Frame::placeholder());
        FREE_ROOTS.lock().push(root);
    }
}

/// A page table and the frames of its intermediate levels.
pub struct PageTable {
    root: Frame,
    tables: Vec<Frame>,
}

fn entries(pa: usize) -> &'static mut [usize; 512] {
    // SAFETY: page-table frames are owned by their `PageTable` and
    // identity-mapped; callers hold `&mut PageTable` (or only read).
    unsafe { &mut *(pa as *mut [usize; 512]) }
}

fn pte_pa(pte: usize) -> usize {
    (pte >> 10) << 12
}

impl PageTable {
    /// A root holding only the kernel's identity gigapages.
    pub fn new_kernel() -> Self {
        Self::try_new().expect("no memory for a page table")
    }

    /// A root holding only the kernel's identity gigapages; a recycled root
    /// when one is free.
    pub fn try_new() -> Option<Self> {
        if let Some(root) = FREE_ROOTS.lock().pop() {
            return Some(Self {
                root,
                tables: Vec::new(),
            });
        }
        let root = alloc_frame()?;
        let e = entries(root.pa());
        let kernel = PteFlags::V
            | PteFlags::R
            | PteFlags::W
            | PteFlags::X
            | PteFlags::G
            | PteFlags::A
            | PteFlags::D;
        let ram = 0x8000_0000usize;
        for &base in crate::board::MMIO_GIGAPAGES.iter().chain([ram].iter()) {
            e[base / GIGA] = ((base >> 12) << 10) | kernel.bits();
        }
        if let Some(vdso) = super::vdso::kernel_root_entry() {
            e[super::vdso::KERNEL_BASE / GIGA] = vdso;
        }
        Some(Self {
            root,
            tables: Vec::new(),
        })
    }

    /// `satp` value for this table.
    pub fn satp(&self) -> usize {
        (8 << 60) | self.root.ppn()
    }

    /// Make this the calling hart's address space.
    pub fn activate(&self) {
        // SAFETY: every table maps the kernel identically, so execution
        // continues; the fence drops stale translations.
        unsafe {
            core::arch::asm!("csrw satp, {}", "sfence.vma", in(reg) self.satp());
        }
    }

    /// Map the 4 KiB page at `va` to `pa`. Fails when out of memory.
    pub fn map(&mut self, va: usize, pa: usize, flags: PteFlags) -> Result<(), ()> {
        let mut table = self.root.pa();
        for level in [2, 1] {
            let idx = (va >> (12 + 9 * level)) & 511;
            let e = &mut entries(table)[idx];
            if *e & PteFlags::V.bits() == 0 {
                let f = alloc_frame().ok_or(())?;
                *e = (f.ppn() << 10) | PteFlags::V.bits();
                self.tables.push(f);
            }
            table = pte_pa(*e);
        }
        entries(table)[(va >> 12) & 511] =
            ((pa >> 12) << 10) | (flags | PteFlags::V | PteFlags::A | PteFlags::D).bits();
        Ok(())
    }

    /// The physical address and flags `va` maps to (4 KiB leaves only: user
    /// memory never uses superpages).
    pub fn translate(&self, va: usize) -> Option<(usize, PteFlags)> {
        if va >= 1 << 38 {
            return None;
        }
        let mut table = self.root.pa();
        for level in [2, 1] {
            let e = entries(table)[(va >> (12 + 9 * level)) & 511];
            let flags = PteFlags::from_bits_truncate(e);
            if !flags.contains(PteFlags::V) || flags.intersects(PteFlags::R | PteFlags::X) {
                return None; // invalid, or a (kernel) superpage
            }
            table = pte_pa(e);
        }
        let e = entries(table)[(va >> 12) & 511];
        let flags = PteFlags::from_bits_truncate(e);
        flags
            .contains(PteFlags::V)
            .then(|| (pte_pa(e) + va % PAGE_SIZE, flags))
    }
}
