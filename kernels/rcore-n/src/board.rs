//! What differs between boards: console, power-off, memory-mapped devices.
//! QEMU `virt` by default; `--features board-fpga` selects the papers' FPGA
//! system (rocket-chip, 4 cores, 100 MHz, Zynq UltraScale+), which is built
//! but not tested on hardware.

/// Most harts the kernel brings up.
pub const MAX_HARTS: usize = 4;

/// Physical ranges the kernel maps (identity, supervisor-only) besides RAM:
/// 1 GiB-aligned gigapages. On QEMU `virt` the first GiB holds every
/// device the kernel drives: the PLIC (0x0c00_0000), the UART
/// (0x1000_0000), the virtio-mmio slots (0x1000_1000..0x1000_8fff); the
/// network checks its devices lie in one of these before touching them.
pub const MMIO_GIGAPAGES: &[usize] = &[0x0];

#[cfg(not(feature = "board-fpga"))]
mod imp {
    use core::ptr::{read_volatile, write_volatile};

    /// ns16550a UART of QEMU `virt`.
    const UART: usize = 0x1000_0000;
    /// sifive_test finisher: `0x5555` pass, `(code << 16) | 0x3333` fail.
    const FINISHER: usize = 0x10_0000;

    pub fn putchar(b: u8) {
        // SAFETY: the UART is identity-mapped in every address space (kernel
        // gigapage) and is only touched under the console lock.
        unsafe {
            while read_volatile((UART + 5) as *const u8) & 0x20 == 0 {}
            write_volatile(UART as *mut u8, b);
        }
    }

    pub fn shutdown(failure: bool, code: u32) -> ! {
        let word = if failure {
            (code << 16) | 0x3333
        } else {
            0x5555
        };
        // SAFETY: the finisher is identity-mapped; writing it stops QEMU.
        unsafe { write_volatile(FINISHER as *mut u32, word) };
        loop {
            core::hint::spin_loop();
        }
    }
}

#[cfg(feature = "board-fpga")]
mod imp {
    /// The FPGA's console is the SBI firmware's.
    pub fn putchar(b: u8) {
        #[allow(deprecated)]
        sbi_rt::legacy::console_putchar(b as usize);
    }

    pub fn shutdown(failure: bool, _code: u32) -> ! {
        use sbi_rt::{NoReason, Shutdown, SystemFailure};
        if failure {
            sbi_rt::system_reset(Shutdown, SystemFailure);
        } else {
            sbi_rt::system_reset(Shutdown, NoReason);
        }
        loop {
            core::hint::spin_loop();
        }
    }
}

pub use imp::{putchar, shutdown};
