//! Map an image into the calling Linux process the way a kernel maps it
//! into an address space: lay it out for the mapping's address, apply its
//! relocations, then make the text read-execute and everything else
//! read-only.

use crate::binding::Vdso;
use crate::loader::Image;

/// Where a mapped image is.
pub struct Mapped {
    pub base: usize,
    pub span: usize,
    pub entry: usize,
}

/// Map `bytes` (an image) at a fresh address chosen by the system.
pub fn map(bytes: &[u8]) -> Result<Mapped, String> {
    let image = Image::parse(bytes).map_err(|e| format!("image refused: {e:?}"))?;
    let span = image.span();
    // SAFETY: a fresh private anonymous mapping, ours alone.
    let base = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            span,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return Err("mmap failed".into());
    }
    // SAFETY: `span` writable bytes at `base`, ours.
    let dst = unsafe { core::slice::from_raw_parts_mut(base as *mut u8, span) };
    image
        .load(dst, base as usize)
        .map_err(|e| format!("load: {e:?}"))?;
    for seg in image.segments() {
        let prot = if seg.exec {
            libc::PROT_READ | libc::PROT_EXEC
        } else {
            libc::PROT_READ
        };
        // SAFETY: a page range inside our mapping.
        let r = unsafe {
            libc::mprotect(
                (base as usize + seg.range.start) as *mut libc::c_void,
                seg.range.len(),
                prot,
            )
        };
        if r != 0 {
            return Err("mprotect failed".into());
        }
    }
    Ok(Mapped {
        base: base as usize,
        span,
        entry: base as usize + image.entry(),
    })
}

/// Map `bytes` and check its table.
pub fn load(bytes: &[u8]) -> Result<(Mapped, Vdso), String> {
    let m = map(bytes)?;
    // SAFETY: just mapped and relocated for its address; never unmapped.
    let vdso = unsafe { Vdso::from_entry(m.entry) }.map_err(|e| e.to_string())?;
    Ok((m, vdso))
}
