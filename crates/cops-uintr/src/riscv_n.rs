//! `riscv-n` backend: the RISC-V **N extension** (user-level interrupts).
//!
//! **Not tested on hardware.** The extension was never ratified; stock
//! QEMU (7.2 here) has no N CSRs (`csrr sideleg` is an illegal
//! instruction). The wrappers below run in rcore-n on the `duskmoon314/qemu`
//! `rvN` fork (its kernel saves and restores them per thread, its user
//! runtime's `utvec` vector calls [`on_user_soft_interrupt`]); the pure bit
//! logic is unit-tested on the host.
//!
//! LLVM >= 17 rejects the CSR names (`ustatus`, ...) and `uret`, so CSRs are
//! accessed by number and `uret` is emitted as `.word 0x00200073`.
//!
//! Use with the shared page: the kernel posts into the
//! `UintrPage` and sets `uip.USIP` (via `sip`, delegated
//! by `sideleg`) as the doorbell; the user trap vector (in `utvec`) saves
//! registers, calls `on_user_soft_interrupt`, restores and executes
//! `hw::uret` (both exist on riscv64 only).

#[cfg(target_arch = "riscv64")]
use crate::{DrainReport, UintrPage, WakeById};

/// CSR numbers (N extension draft, `spec_N.md`).
pub mod csr {
    /// `ustatus`: UIE bit 0, UPIE bit 4.
    pub const USTATUS: u16 = 0x000;
    /// `uie`: USIE bit 0, UTIE bit 4, UEIE bit 8.
    pub const UIE: u16 = 0x004;
    /// `utvec`: BASE | MODE.
    pub const UTVEC: u16 = 0x005;
    /// `uscratch`.
    pub const USCRATCH: u16 = 0x040;
    /// `uepc`.
    pub const UEPC: u16 = 0x041;
    /// `ucause`.
    pub const UCAUSE: u16 = 0x042;
    /// `utval`.
    pub const UTVAL: u16 = 0x043;
    /// `uip`: USIP bit 0, UTIP bit 4, UEIP bit 8.
    pub const UIP: u16 = 0x044;
    /// `sedeleg` (S-mode): exceptions delegated to U-mode.
    pub const SEDELEG: u16 = 0x102;
    /// `sideleg` (S-mode): interrupts delegated to U-mode.
    pub const SIDELEG: u16 = 0x103;
}

/// The `uret` instruction word (pc <- uepc, UIE <- UPIE).
pub const URET_WORD: u32 = 0x0020_0073;

/// `ustatus` / `uie` / `uip` / `sideleg` bit positions.
pub mod bits {
    /// `ustatus.UIE`.
    pub const USTATUS_UIE: u64 = 1 << 0;
    /// `ustatus.UPIE`.
    pub const USTATUS_UPIE: u64 = 1 << 4;
    /// User software interrupt (USIE / USIP / sideleg bit).
    pub const USER_SOFT: u64 = 1 << 0;
    /// User timer interrupt.
    pub const USER_TIMER: u64 = 1 << 4;
    /// User external interrupt.
    pub const USER_EXT: u64 = 1 << 8;
    /// All three user interrupts (what `sideleg` must delegate; the
    /// firmware must also set `mideleg` 0x111 or `sideleg` reads back 0).
    pub const ALL_USER: u64 = USER_SOFT | USER_TIMER | USER_EXT;
}

/// A decoded `ucause`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UCause {
    /// An interrupt with its code (0 soft, 4 timer, 8 external).
    Interrupt(u64),
    /// A delegated exception with its code.
    Exception(u64),
}

impl UCause {
    /// Decode a raw `ucause` value (XLEN = 64).
    pub const fn decode(raw: u64) -> Self {
        if raw >> 63 != 0 {
            UCause::Interrupt(raw & !(1 << 63))
        } else {
            UCause::Exception(raw)
        }
    }

    /// Whether this is the user software interrupt the backend uses.
    pub const fn is_user_soft(self) -> bool {
        matches!(self, UCause::Interrupt(0))
    }
}

/// `utvec` modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TvecMode {
    /// All traps to BASE.
    Direct = 0,
    /// Interrupts to BASE + 4 * code.
    Vectored = 1,
}

/// Encode `utvec`; `None` if `base` is not 4-byte aligned.
pub const fn utvec_value(base: u64, mode: TvecMode) -> Option<u64> {
    if base & 3 != 0 {
        None
    } else {
        Some(base | mode as u64)
    }
}

/// `ustatus` after `uret`: UIE <- UPIE, UPIE <- 1 (what the hardware does;
/// used by software that emulates the return).
pub const fn ustatus_after_uret(ustatus: u64) -> u64 {
    let upie = ustatus & bits::USTATUS_UPIE != 0;
    let cleared = ustatus & !bits::USTATUS_UIE;
    (if upie {
        cleared | bits::USTATUS_UIE
    } else {
        cleared
    }) | bits::USTATUS_UPIE
}

/// `ustatus` on trap entry: UPIE <- UIE, UIE <- 0.
pub const fn ustatus_on_trap(ustatus: u64) -> u64 {
    let uie = ustatus & bits::USTATUS_UIE != 0;
    let cleared = ustatus & !(bits::USTATUS_UIE | bits::USTATUS_UPIE);
    if uie {
        cleared | bits::USTATUS_UPIE
    } else {
        cleared
    }
}

/// Handler body for a user software interrupt: clear `uip.USIP` (so a post
/// during the drain re-raises it), then run the shared-page handler. Call it
/// from the `utvec` trap vector after checking [`UCause::is_user_soft`].
#[cfg(target_arch = "riscv64")]
pub fn on_user_soft_interrupt<const N: usize, W: WakeById + ?Sized>(
    page: &UintrPage<N>,
    sink: &W,
) -> DrainReport {
    // SAFETY: clearing USIP in uip only acknowledges the interrupt being
    // handled; on hardware without N this traps (documented: N required).
    unsafe { hw::csr_clear_uip(bits::USER_SOFT) };
    page.handle(sink)
}

/// Instruction wrappers (run on the N-extension QEMU fork; see module docs).
#[cfg(target_arch = "riscv64")]
pub mod hw {
    use core::arch::asm;

    macro_rules! csr_rw {
        ($read:ident, $write:ident, $num:literal) => {
            /// Read the CSR.
            ///
            /// # Safety
            /// The hart must implement the N extension (else: illegal
            /// instruction trap).
            #[inline(never)]
            pub unsafe fn $read() -> u64 {
                let v: u64;
                // SAFETY: reading a CSR has no memory effects; the caller
                // guarantees the CSR exists.
                unsafe { asm!(concat!("csrr {0}, ", $num), out(reg) v, options(nomem, nostack)) };
                v
            }
            /// Write the CSR.
            ///
            /// # Safety
            /// The hart must implement the N extension, and the value must
            /// be valid for the CSR (e.g. a mapped trap vector).
            #[inline(never)]
            pub unsafe fn $write(v: u64) {
                // SAFETY: caller contract above; no Rust-visible memory is
                // touched.
                unsafe { asm!(concat!("csrw ", $num, ", {0}"), in(reg) v, options(nostack)) };
            }
        };
    }

    csr_rw!(read_ustatus, write_ustatus, "0x000");
    csr_rw!(read_uie, write_uie, "0x004");
    csr_rw!(read_utvec, write_utvec, "0x005");
    csr_rw!(read_uscratch, write_uscratch, "0x040");
    csr_rw!(read_uepc, write_uepc, "0x041");
    csr_rw!(read_ucause, write_ucause, "0x042");
    csr_rw!(read_utval, write_utval, "0x043");
    csr_rw!(read_uip, write_uip, "0x044");
    csr_rw!(read_sedeleg, write_sedeleg, "0x102");
    csr_rw!(read_sideleg, write_sideleg, "0x103");

    /// Clear `mask` bits of `uip`.
    ///
    /// # Safety
    /// The hart must implement the N extension.
    #[inline(never)]
    pub unsafe fn csr_clear_uip(mask: u64) {
        // SAFETY: caller guarantees the CSR exists; csrc only clears bits.
        unsafe { asm!("csrc 0x044, {0}", in(reg) mask, options(nostack)) };
    }

    /// Set `ustatus.UIE` (enable user interrupts).
    ///
    /// # Safety
    /// As [`csr_clear_uip`]; `utvec` must point at a valid vector.
    #[inline(never)]
    pub unsafe fn enable() {
        // SAFETY: caller contract above.
        unsafe { asm!("csrs 0x000, {0}", in(reg) super::bits::USTATUS_UIE, options(nostack)) };
    }

    /// Clear `ustatus.UIE`.
    ///
    /// # Safety
    /// The hart must implement the N extension.
    #[inline(never)]
    pub unsafe fn disable() {
        // SAFETY: caller guarantees the CSR exists; only masks delivery.
        unsafe { asm!("csrc 0x000, {0}", in(reg) super::bits::USTATUS_UIE, options(nostack)) };
    }

    /// `uret`: return from a user trap to `uepc`.
    ///
    /// # Safety
    /// Only at the end of a user trap vector, with every register restored
    /// except those the vector clobbers by contract; never returns here.
    #[inline(never)]
    pub unsafe fn uret() -> ! {
        // SAFETY: caller contract above; control continues at uepc.
        unsafe { asm!(".word 0x00200073", options(noreturn)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ucause_decode() {
        assert_eq!(UCause::decode(1 << 63), UCause::Interrupt(0));
        assert!(UCause::decode(1 << 63).is_user_soft());
        assert_eq!(UCause::decode((1 << 63) | 4), UCause::Interrupt(4));
        assert!(!UCause::decode((1 << 63) | 4).is_user_soft());
        assert_eq!(UCause::decode(8), UCause::Exception(8));
        assert!(!UCause::decode(0).is_user_soft());
    }

    #[test]
    fn utvec_encoding() {
        assert_eq!(
            utvec_value(0x8000_1000, TvecMode::Direct),
            Some(0x8000_1000)
        );
        assert_eq!(
            utvec_value(0x8000_1000, TvecMode::Vectored),
            Some(0x8000_1001)
        );
        assert_eq!(utvec_value(0x8000_1002, TvecMode::Direct), None);
    }

    #[test]
    fn ustatus_trap_and_uret_round_trip() {
        let enabled = bits::USTATUS_UIE;
        let in_trap = ustatus_on_trap(enabled);
        assert_eq!(in_trap & bits::USTATUS_UIE, 0, "trap entry masks");
        assert_ne!(in_trap & bits::USTATUS_UPIE, 0, "UPIE remembers UIE");
        assert_eq!(
            ustatus_after_uret(in_trap) & bits::USTATUS_UIE,
            bits::USTATUS_UIE
        );
        // Disabled before the trap stays disabled after uret.
        let in_trap = ustatus_on_trap(0);
        assert_eq!(ustatus_after_uret(in_trap) & bits::USTATUS_UIE, 0);
    }

    #[test]
    fn csr_numbers_match_the_draft() {
        assert_eq!(
            [csr::USTATUS, csr::UIE, csr::UTVEC, csr::USCRATCH, csr::UEPC],
            [0x000, 0x004, 0x005, 0x040, 0x041]
        );
        assert_eq!([csr::UCAUSE, csr::UTVAL, csr::UIP], [0x042, 0x043, 0x044]);
        assert_eq!([csr::SEDELEG, csr::SIDELEG], [0x102, 0x103]);
        assert_eq!(bits::ALL_USER, 0x111);
        // uret = SYSTEM opcode, funct12 0x002.
        assert_eq!(URET_WORD & 0x7f, 0x73);
        assert_eq!(URET_WORD >> 20, 0x002);
    }
}
