//! Load an image: check that it is position independent and has no
//! writable data, lay its segments out for a base address, and apply its
//! relative relocations (which all lie in the RELRO range: the only pages
//! that differ between two bases).

use core::ops::Range;

use xmas_elf::ElfFile;
use xmas_elf::header::Type;
use xmas_elf::program::Type as PType;
use xmas_elf::sections::SectionData;

/// `R_RISCV_RELATIVE` and `R_X86_64_RELATIVE`.
const RELATIVE: [u32; 2] = [3, 8];
const MAX_SEGMENTS: usize = 8;
const PAGE: usize = 4096;

/// Why an image was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// Not an ELF file, or truncated.
    Malformed(&'static str),
    /// Not position independent (`ET_DYN`).
    NotPie,
    /// A writable segment outside RELRO: the image would have mutable
    /// globals shared by every address space.
    WritableData,
    /// A relocation this loader does not apply (symbolic, or outside RELRO).
    Relocation(u32),
    /// The destination buffer is smaller than [`Image::span`].
    TooSmall,
}

/// Permissions of a loaded segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Offset from the base (page aligned) and length (rounded to pages).
    pub range: Range<usize>,
    pub exec: bool,
    /// Inside RELRO: relocated per base, read-only once loaded.
    pub relro: bool,
}

/// A parsed, checked image.
pub struct Image<'a> {
    elf: ElfFile<'a>,
    segments: [Option<Segment>; MAX_SEGMENTS],
    relro: Range<usize>,
    span: usize,
}

fn page_range(start: usize, len: usize) -> Range<usize> {
    (start / PAGE * PAGE)..(start + len).next_multiple_of(PAGE)
}

impl<'a> Image<'a> {
    /// Parse and check `bytes`.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, LoadError> {
        let elf = ElfFile::new(bytes).map_err(LoadError::Malformed)?;
        if elf.header.pt2.type_().as_type() != Type::SharedObject {
            return Err(LoadError::NotPie);
        }
        let mut relro = 0..0;
        for ph in elf.program_iter() {
            if ph.get_type() == Ok(PType::GnuRelro) {
                relro = page_range(ph.virtual_addr() as usize, ph.mem_size() as usize);
            }
        }
        let mut segments = [const { None }; MAX_SEGMENTS];
        let (mut n, mut span) = (0, 0);
        for ph in elf.program_iter() {
            match ph.get_type() {
                Ok(PType::Load) => {}
                Ok(PType::Tls) | Ok(PType::Interp) => {
                    return Err(LoadError::Malformed("TLS or interpreter"));
                }
                _ => continue,
            }
            let range = page_range(ph.virtual_addr() as usize, ph.mem_size() as usize);
            let inside_relro = relro.start <= range.start && range.end <= relro.end;
            if ph.flags().is_write() && !inside_relro {
                return Err(LoadError::WritableData);
            }
            if n == MAX_SEGMENTS {
                return Err(LoadError::Malformed("too many segments"));
            }
            span = span.max(range.end);
            segments[n] = Some(Segment {
                range,
                exec: ph.flags().is_execute(),
                relro: inside_relro,
            });
            n += 1;
        }
        let image = Self {
            elf,
            segments,
            relro,
            span,
        };
        image.for_each_relocation(|_, _| Ok(()))?;
        Ok(image)
    }

    /// Bytes the image occupies from its base (page multiple).
    pub fn span(&self) -> usize {
        self.span
    }

    /// Offset of the entry point (returns the table) from the base.
    pub fn entry(&self) -> usize {
        self.elf.header.pt2.entry_point() as usize
    }

    /// The loadable segments.
    pub fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.segments.iter().flatten()
    }

    /// The pages that differ between two bases.
    pub fn relro(&self) -> Range<usize> {
        self.relro.clone()
    }

    /// Visit every relocation as (offset, addend), checking that it is
    /// relative and lands in RELRO.
    fn for_each_relocation(
        &self,
        mut f: impl FnMut(usize, i64) -> Result<(), LoadError>,
    ) -> Result<(), LoadError> {
        for section in self.elf.section_iter() {
            match section.get_data(&self.elf) {
                Ok(SectionData::Rela64(relas)) => {
                    for r in relas {
                        let (offset, kind) = (r.get_offset() as usize, r.get_type());
                        if !RELATIVE.contains(&kind) || r.get_symbol_table_index() != 0 {
                            return Err(LoadError::Relocation(kind));
                        }
                        if !(self.relro.start <= offset && offset + 8 <= self.relro.end) {
                            return Err(LoadError::Relocation(kind));
                        }
                        f(offset, r.get_addend() as i64)?;
                    }
                }
                Ok(SectionData::Rel64(_))
                | Ok(SectionData::Rel32(_))
                | Ok(SectionData::Rela32(_)) => {
                    return Err(LoadError::Relocation(0));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Lay the image out in `dst` (its first [`span`](Self::span) bytes)
    /// as it must appear at virtual address `base`.
    pub fn load(&self, dst: &mut [u8], base: usize) -> Result<(), LoadError> {
        let dst = dst.get_mut(..self.span).ok_or(LoadError::TooSmall)?;
        dst.fill(0);
        let file = self.elf.input;
        for ph in self
            .elf
            .program_iter()
            .filter(|ph| ph.get_type() == Ok(PType::Load))
        {
            let (va, off, len) = (
                ph.virtual_addr() as usize,
                ph.offset() as usize,
                ph.file_size() as usize,
            );
            let src = file
                .get(off..off + len)
                .ok_or(LoadError::Malformed("segment past end of file"))?;
            dst[va..va + len].copy_from_slice(src);
        }
        self.for_each_relocation(|offset, addend| {
            let value = (base as i64).wrapping_add(addend) as u64;
            dst[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
            Ok(())
        })
    }
}
