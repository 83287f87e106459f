//! User address spaces: ELF loading, stacks, the COPS page, the read-only
//! global view, and checked access to user memory.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use rcore_n_abi::{CopsPage, Errno, layout};
use xmas_elf::program::Type;

use super::{Frame, PAGE_SIZE, PageTable, PteFlags, alloc_frame};

/// One process's address space.
pub struct UserSpace {
    table: PageTable,
    /// Frames owned by this space, by virtual page number.
    pages: BTreeMap<usize, Frame>,
}

type Result<T> = core::result::Result<T, Errno>;

/// User address spaces alive (`kstat(SPACES)`).
static SPACES: AtomicUsize = AtomicUsize::new(0);

/// User address spaces alive.
pub fn spaces() -> usize {
    SPACES.load(Relaxed)
}

impl Drop for UserSpace {
    fn drop(&mut self) {
        SPACES.fetch_sub(1, Relaxed);
    }
}

impl UserSpace {
    /// A space holding `elf`'s loadable segments, the COPS page, the
    /// user-interrupt page, and the kernel's `shared` regions (`(va, pa,
    /// len)`: the global view, the kernel page), mapped read-only.
    /// Returns the space and the entry point.
    pub fn from_elf(elf: &[u8], shared: &[(usize, usize, usize)]) -> Result<(Self, usize)> {
        let file = xmas_elf::ElfFile::new(elf).map_err(|_| Errno::Inval)?;
        let table = PageTable::try_new().ok_or(Errno::NoMem)?;
        let mut space = Self {
            table,
            pages: BTreeMap::new(),
        };
        SPACES.fetch_add(1, Relaxed);
        for ph in file.program_iter() {
            if ph.get_type() != Ok(Type::Load) || ph.mem_size() == 0 {
                continue;
            }
            let (va, memsz) = (ph.virtual_addr() as usize, ph.mem_size() as usize);
            let (off, filesz) = (ph.offset() as usize, ph.file_size() as usize);
            if va < PAGE_SIZE
                || va
                    .checked_add(memsz)
                    .is_none_or(|end| end > layout::COPS_PAGE)
            {
                return Err(Errno::Inval);
            }
            let data = elf.get(off..off + filesz).ok_or(Errno::Inval)?;
            let mut flags = PteFlags::U;
            let f = ph.flags();
            flags.set(PteFlags::R, f.is_read());
            flags.set(PteFlags::W, f.is_write());
            flags.set(PteFlags::X, f.is_execute());
            for page in (va / PAGE_SIZE)..(va + memsz).div_ceil(PAGE_SIZE) {
                space.map_new(page, flags)?;
            }
            space.copy_out_unchecked(va, data);
        }
        space.map_new(
            layout::COPS_PAGE / PAGE_SIZE,
            PteFlags::U | PteFlags::R | PteFlags::W,
        )?;
        let page = space.cops_page();
        // Nothing ready or running yet; the cap is set by the spawn.
        page.highest.store(rcore_n_abi::NO_PRIORITY, Relaxed);
        page.cap.store(rcore_n_abi::NO_PRIORITY, Relaxed);
        for running in &page.running {
            running.store(rcore_n_abi::NO_PRIORITY, Relaxed);
        }
        super::vdso::map_user(&mut space.table).map_err(|_| Errno::NoMem)?;
        page.vdso_entry
            .store(super::vdso::user_entry() as u64, Relaxed);
        // A zeroed page is an empty user-interrupt queue, delivery disabled.
        space.map_new(
            layout::UINTR_PAGE / PAGE_SIZE,
            PteFlags::U | PteFlags::R | PteFlags::W,
        )?;
        for &(va, pa, len) in shared {
            for i in 0..len.div_ceil(PAGE_SIZE) {
                space
                    .table
                    .map(
                        va + i * PAGE_SIZE,
                        pa + i * PAGE_SIZE,
                        PteFlags::U | PteFlags::R,
                    )
                    .map_err(|_| Errno::NoMem)?;
            }
        }
        Ok((space, file.header.pt2.entry_point() as usize))
    }

    /// Map a fresh zeroed page at virtual page `vpn` (or widen the flags
    /// of the page already there).
    fn map_new(&mut self, vpn: usize, flags: PteFlags) -> Result<()> {
        let pa = match self.pages.get(&vpn) {
            Some(f) => f.pa(),
            None => {
                let f = alloc_frame().ok_or(Errno::NoMem)?;
                let pa = f.pa();
                self.pages.insert(vpn, f);
                pa
            }
        };
        let old = self
            .table
            .translate(vpn * PAGE_SIZE)
            .map_or(PteFlags::empty(), |(_, f)| f);
        let keep = old & (PteFlags::R | PteFlags::W | PteFlags::X);
        self.table
            .map(vpn * PAGE_SIZE, pa, flags | keep)
            .map_err(|_| Errno::NoMem)
    }

    /// Map the stack of thread `tid`; returns its top. Stacks stay mapped
    /// until the process ends and are reused by the next thread with the
    /// same tid: unmapping one while another hart may still hold its
    /// translation in a TLB would need a shootdown (an IPI to every hart
    /// running the process) before the frames could be reused.
    pub fn map_stack(&mut self, tid: usize) -> Result<usize> {
        let top = Self::stack_top(tid);
        let pages = layout::USER_STACK_SIZE / PAGE_SIZE;
        for i in 1..=pages {
            self.map_new(top / PAGE_SIZE - i, PteFlags::U | PteFlags::R | PteFlags::W)?;
        }
        Ok(top)
    }

    /// Top of thread `tid`'s stack.
    pub fn stack_top(tid: usize) -> usize {
        layout::USER_STACK_TOP - tid * layout::USER_STACK_STRIDE
    }

    /// The page table.
    pub fn table(&self) -> &PageTable {
        &self.table
    }

    /// Physical address of the user-interrupt page.
    pub fn uintr_page_pa(&self) -> usize {
        self.pages[&(layout::UINTR_PAGE / PAGE_SIZE)].pa()
    }

    /// Physical address of `len` user-writable bytes at `va`, which must be
    /// `align`-aligned and lie in one page (for atomics the kernel shares
    /// with the process).
    pub fn user_pa(&self, va: usize, len: usize, align: usize) -> Result<usize> {
        if !va.is_multiple_of(align) || va % PAGE_SIZE + len > PAGE_SIZE {
            return Err(Errno::Inval);
        }
        let (pa, flags) = self.table.translate(va).ok_or(Errno::Fault)?;
        if !flags.contains(PteFlags::U | PteFlags::R | PteFlags::W) {
            return Err(Errno::Fault);
        }
        Ok(pa)
    }

    /// The COPS page, shared with the process (which writes it at any time:
    /// every field is an atomic). Lives as long as the space's frames.
    pub fn cops_page(&self) -> &'static CopsPage {
        let bytes = self.pages[&(layout::COPS_PAGE / PAGE_SIZE)].bytes();
        // SAFETY: a page-aligned frame of this space, larger than the page
        // type (the ABI crate asserts it), made only of atomics, so any bit
        // pattern the process writes is a valid value.
        unsafe { &*(bytes.as_ptr() as *const CopsPage) }
    }

    fn copy_out_unchecked(&self, va: usize, data: &[u8]) {
        self.chunks(va, data.len(), PteFlags::empty(), |pa, at, len| {
            // SAFETY: `pa..pa+len` lies inside one mapped frame of this space.
            unsafe { core::ptr::copy_nonoverlapping(data[at..].as_ptr(), pa as *mut u8, len) };
        })
        .expect("segment pages were just mapped");
    }

    /// Visit `va..va+len` page by page as physical ranges, requiring user
    /// pages with `need` permissions. `-EFAULT` if any page fails.
    fn chunks(
        &self,
        va: usize,
        len: usize,
        need: PteFlags,
        mut f: impl FnMut(usize, usize, usize),
    ) -> Result<()> {
        let end = va.checked_add(len).ok_or(Errno::Fault)?;
        let mut ranges: Vec<(usize, usize, usize)> = Vec::new();
        let mut at = va;
        while at < end {
            let (pa, flags) = self.table.translate(at).ok_or(Errno::Fault)?;
            if !flags.contains(PteFlags::U | need) {
                return Err(Errno::Fault);
            }
            let n = (PAGE_SIZE - at % PAGE_SIZE).min(end - at);
            ranges.push((pa, at - va, n));
            at += n;
        }
        // Checked all pages first: a fault copies nothing.
        for (pa, off, n) in ranges {
            f(pa, off, n);
        }
        Ok(())
    }

    /// Copy `len` bytes from user `va` (must be user-readable); `-ENOMEM`
    /// if the kernel heap has no room for them.
    pub fn read(&self, va: usize, len: usize) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        out.try_reserve_exact(len).map_err(|_| Errno::NoMem)?;
        out.resize(len, 0);
        self.chunks(va, len, PteFlags::R, |pa, off, n| {
            // SAFETY: checked user-readable frame range; `out` has room.
            unsafe { core::ptr::copy_nonoverlapping(pa as *const u8, out[off..].as_mut_ptr(), n) };
        })?;
        Ok(out)
    }

    /// Copy `data` to user `va` (must be user-writable).
    pub fn write(&self, va: usize, data: &[u8]) -> Result<()> {
        self.chunks(va, data.len(), PteFlags::W, |pa, off, n| {
            // SAFETY: checked user-writable frame range.
            unsafe { core::ptr::copy_nonoverlapping(data[off..].as_ptr(), pa as *mut u8, n) };
        })
    }

    /// Check that `va..va+len` is user-writable without writing.
    pub fn check_writable(&self, va: usize, len: usize) -> Result<()> {
        self.chunks(va, len, PteFlags::W, |_, _, _| {})
    }
}
