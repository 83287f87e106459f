//! The cops vDSO image: the entry point returns the table.
#![no_std]
#![no_main]

use cops_vdso::abi::VdsoTable;

/// The image's entry point (ELF `e_entry`): where the table is, computed
/// PC-relatively, so it is right at whatever address the image was loaded.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> *const VdsoTable {
    &cops_vdso::image::TABLE
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // No formatting, no globals: trap, so the caller's kernel kills the
    // offending process (or reports a kernel bug).
    loop {
        // SAFETY: deliberately traps.
        unsafe {
            #[cfg(target_arch = "riscv64")]
            core::arch::asm!("unimp");
            #[cfg(target_arch = "x86_64")]
            core::arch::asm!("ud2");
        }
    }
}

/// The host build (for tests) links no libc: the few symbols the
/// prebuilt `core` of a hosted target expects, written out.
#[cfg(target_os = "linux")]
mod host_shims {
    /// Never called: the image aborts on panic.
    #[unsafe(no_mangle)]
    extern "C" fn rust_eh_personality() {}

    /// # Safety
    /// As C's `memset`. Volatile stores keep the compiler from turning the
    /// loop back into a call to `memset`.
    #[unsafe(no_mangle)]
    unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
        for i in 0..n {
            // SAFETY: the caller gives `n` writable bytes at `dst`.
            unsafe { dst.add(i).write_volatile(c as u8) };
        }
        dst
    }

    /// # Safety
    /// As C's `memcpy` (no overlap).
    #[unsafe(no_mangle)]
    unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
        for i in 0..n {
            // SAFETY: the caller gives `n` bytes at each, not overlapping.
            unsafe { dst.add(i).write_volatile(src.add(i).read()) };
        }
        dst
    }

    /// # Safety
    /// As C's `memmove`.
    #[unsafe(no_mangle)]
    unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
        if (dst as usize) < (src as usize) {
            // SAFETY: as `memcpy`, front to back is safe when dst < src.
            unsafe { memcpy(dst, src, n) }
        } else {
            for i in (0..n).rev() {
                // SAFETY: the caller gives `n` bytes at each.
                unsafe { dst.add(i).write_volatile(src.add(i).read()) };
            }
            dst
        }
    }

    /// # Safety
    /// As C's `memcmp`.
    #[unsafe(no_mangle)]
    unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
        for i in 0..n {
            // SAFETY: the caller gives `n` readable bytes at each.
            let (x, y) = unsafe { (a.add(i).read(), b.add(i).read()) };
            if x != y {
                return x as i32 - y as i32;
            }
        }
        0
    }

    /// # Safety
    /// As C's `bcmp`.
    #[unsafe(no_mangle)]
    unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
        // SAFETY: same contract.
        unsafe { memcmp(a, b, n) }
    }
}
