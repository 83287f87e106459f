//! `x86-uintr` backend: Intel User Interrupts (Sapphire Rapids and later).
//!
//! **Untested on hardware.** This machine's CPU has no `uintr` flag, and the
//! Linux support exists only as an unmerged RFC, so the instruction wrappers
//! are compile-checked for x86_64 and only the pure parts (vectors, syscall
//! tables, CPUID detection, the refusal to issue syscalls without UINTR)
//! are tested.
//!
//! - Instructions are emitted as raw bytes (`core::arch` has no intrinsics):
//!   `senduipi rax` `f3 0f c7 f0`, `clui` `f3 0f 01 ee`, `stui` `f3 0f 01 ef`,
//!   `testui` `f3 0f 01 ed` (UIF in CF), `uiret` `f3 0f 01 ec`.
//! - The shared page is used as on every backend: the sender posts into the
//!   receiver's [`UintrPage`](crate::UintrPage) (mapped into both, e.g. a
//!   memfd), then rings with [`SendUipi`] if the post says `notify`. The
//!   receiver's `interrupt` handler calls `UintrPage::handle` and `uiret`s.
//!
//! # System call numbers: pick the kernel branch explicitly
//! The RFC (Sohil Mehta, "x86 User Interrupts support", 2021-09-13, base
//! v5.14) used 449..=454; later `intel/uintr-linux-kernel` branches use
//! 471..=476. **On mainline Linux 449..=454 are other calls** (`futex_waitv`,
//! `set_mempolicy_home_node`, `cachestat`, `fchmodat2`, `map_shadow_stack`,
//! `futex_wake`), so the wrappers take a [`SyscallTable`] argument and refuse
//! to run (`Err(Unsupported)`) unless CPUID reports UINTR.

/// A UINTR vector (0..=63), one bit in the receiver's posted-interrupt word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Vector(u8);

impl Vector {
    /// `None` unless `v < 64`.
    pub const fn new(v: u8) -> Option<Self> {
        if v < 64 { Some(Self(v)) } else { None }
    }
    /// The vector number.
    pub const fn get(self) -> u8 {
        self.0
    }
    /// Its bit in the 64-bit pending-interrupt requests word (PIR).
    pub const fn bit(self) -> u64 {
        1 << self.0
    }
}

/// The frame the CPU pushes on user-interrupt delivery (below it: the
/// vector). The handler must preserve all registers and end with `uiret`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UintrFrame {
    /// Interrupted instruction pointer.
    pub rip: u64,
    /// Interrupted flags.
    pub rflags: u64,
    /// Interrupted stack pointer.
    pub rsp: u64,
}

/// The six UINTR system calls of one kernel branch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyscallTable {
    /// `uintr_register_handler(handler, flags)`.
    pub register_handler: u64,
    /// `uintr_unregister_handler(flags)`.
    pub unregister_handler: u64,
    /// `uintr_create_fd(vector, flags)` -> fd.
    pub create_fd: u64,
    /// `uintr_register_sender(uintr_fd, flags)` -> UITT index.
    pub register_sender: u64,
    /// `uintr_unregister_sender(uintr_fd, flags)`.
    pub unregister_sender: u64,
    /// `uintr_wait(flags)` (placeholder in the RFC).
    pub wait: u64,
}

impl SyscallTable {
    const fn from(base: u64) -> Self {
        Self {
            register_handler: base,
            unregister_handler: base + 1,
            create_fd: base + 2,
            register_sender: base + 3,
            unregister_sender: base + 4,
            wait: base + 5,
        }
    }
    /// RFC v1 (2021-09-13, base v5.14), `syscall_64.tbl`: 449..=454.
    pub const RFC_2021_09: Self = Self::from(449);
    /// Later `intel/uintr-linux-kernel` branches: 471..=476.
    pub const INTEL_BRANCH: Self = Self::from(471);
}

/// Errors of the system-call wrappers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// CPUID does not report UINTR: the call was not issued.
    Unsupported,
    /// The kernel returned `-errno`.
    Errno(i32),
}

/// Whether the CPU implements UINTR: CPUID.(EAX=7,ECX=0):`EDX[5]`.
#[cfg(target_arch = "x86_64")]
pub fn cpu_has_uintr() -> bool {
    #[allow(unused_unsafe)]
    // SAFETY: CPUID exists on every x86_64 CPU and has no side effects.
    let leaf = unsafe { core::arch::x86_64::__cpuid_count(7, 0) };
    leaf.edx & (1 << 5) != 0
}

/// Interpret a raw syscall return (`-4095..=-1` is `-errno`).
pub const fn syscall_result(ret: i64) -> Result<u64, Error> {
    if ret < 0 && ret >= -4095 {
        Err(Error::Errno(-ret as i32))
    } else {
        Ok(ret as u64)
    }
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod linux {
    use super::{Error, SyscallTable, Vector, cpu_has_uintr, syscall_result};
    use core::arch::asm;

    /// # Safety
    /// `nr` with these arguments must be a call with no memory effects on
    /// this process beyond what the caller accounts for.
    unsafe fn syscall2(nr: u64, a0: u64, a1: u64) -> i64 {
        let ret: i64;
        // SAFETY: the Linux x86_64 syscall ABI: rax = nr, rdi/rsi args, rcx
        // and r11 clobbered; the caller vouches for the call's effects.
        unsafe {
            asm!("syscall", inlateout("rax") nr as i64 => ret, in("rdi") a0, in("rsi") a1,
                 lateout("rcx") _, lateout("r11") _, options(nostack));
        }
        ret
    }

    fn guarded(table: &SyscallTable, nr: u64, a0: u64, a1: u64) -> Result<u64, Error> {
        if !cpu_has_uintr() {
            return Err(Error::Unsupported);
        }
        let _ = table;
        // SAFETY: only reached on a UINTR CPU; the caller of the public
        // wrapper guarantees `table` matches the running kernel (module docs).
        syscall_result(unsafe { syscall2(nr, a0, a1) })
    }

    /// `uintr_register_handler(handler, flags)`.
    ///
    /// # Safety
    /// The running kernel must implement `table`'s branch, and `handler` must
    /// be an `interrupt`-ABI routine that saves every register and ends in
    /// `uiret`.
    pub unsafe fn register_handler(
        table: &SyscallTable,
        handler: usize,
        flags: u64,
    ) -> Result<(), Error> {
        guarded(table, table.register_handler, handler as u64, flags).map(|_| ())
    }

    /// `uintr_unregister_handler(flags)`.
    ///
    /// # Safety
    /// The running kernel must implement `table`'s branch.
    pub unsafe fn unregister_handler(table: &SyscallTable, flags: u64) -> Result<(), Error> {
        guarded(table, table.unregister_handler, flags, 0).map(|_| ())
    }

    /// `uintr_create_fd(vector, flags)` -> file descriptor for senders.
    ///
    /// # Safety
    /// The running kernel must implement `table`'s branch.
    pub unsafe fn create_fd(
        table: &SyscallTable,
        vector: Vector,
        flags: u64,
    ) -> Result<i32, Error> {
        guarded(table, table.create_fd, vector.get() as u64, flags).map(|fd| fd as i32)
    }

    /// `uintr_register_sender(uintr_fd, flags)` -> UITT index for `senduipi`.
    ///
    /// # Safety
    /// The running kernel must implement `table`'s branch.
    pub unsafe fn register_sender(
        table: &SyscallTable,
        uintr_fd: i32,
        flags: u64,
    ) -> Result<u64, Error> {
        guarded(table, table.register_sender, uintr_fd as u64, flags)
    }

    /// `uintr_unregister_sender(uintr_fd, flags)`.
    ///
    /// # Safety
    /// The running kernel must implement `table`'s branch.
    pub unsafe fn unregister_sender(
        table: &SyscallTable,
        uintr_fd: i32,
        flags: u64,
    ) -> Result<(), Error> {
        guarded(table, table.unregister_sender, uintr_fd as u64, flags).map(|_| ())
    }
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
pub use linux::{
    create_fd, register_handler, register_sender, unregister_handler, unregister_sender,
};

/// Raw instructions. Executing them without kernel set-up faults (#UD/#GP).
#[cfg(target_arch = "x86_64")]
pub mod hw {
    use core::arch::asm;

    /// `senduipi` with the UITT index in rax.
    ///
    /// # Safety
    /// UINTR must be enabled for this thread as a sender and `index` must be
    /// a UITT index returned by `register_sender`.
    #[inline(never)]
    pub unsafe fn senduipi(index: u64) {
        // SAFETY: caller contract; the instruction only posts an interrupt.
        unsafe { asm!(".byte 0xf3, 0x0f, 0xc7, 0xf0", in("rax") index, options(nostack)) };
    }

    /// `clui`: clear UIF (mask user interrupts).
    ///
    /// # Safety
    /// The CPU must implement UINTR.
    #[inline(never)]
    pub unsafe fn clui() {
        // SAFETY: caller contract; only clears the user-interrupt flag.
        unsafe { asm!(".byte 0xf3, 0x0f, 0x01, 0xee", options(nomem, nostack)) };
    }

    /// `stui`: set UIF (unmask user interrupts).
    ///
    /// # Safety
    /// The CPU must implement UINTR and a handler must be registered.
    #[inline(never)]
    pub unsafe fn stui() {
        // SAFETY: caller contract; delivery may now run the handler.
        unsafe { asm!(".byte 0xf3, 0x0f, 0x01, 0xef", options(nostack)) };
    }

    /// `testui`: read UIF.
    ///
    /// # Safety
    /// The CPU must implement UINTR.
    #[inline(never)]
    pub unsafe fn testui() -> bool {
        let cf: u8;
        // SAFETY: caller contract; testui only writes CF, read by setc.
        unsafe {
            asm!(".byte 0xf3, 0x0f, 0x01, 0xed", "setc {0}", out(reg_byte) cf, options(nomem, nostack))
        };
        cf != 0
    }

    /// `uiret`: return from a user-interrupt handler.
    ///
    /// # Safety
    /// Only as the last instruction of a handler, with the stack pointing at
    /// the [`UintrFrame`](super::UintrFrame) the CPU pushed.
    #[inline(never)]
    pub unsafe fn uiret() -> ! {
        // SAFETY: caller contract; control continues at the frame's rip.
        unsafe { asm!(".byte 0xf3, 0x0f, 0x01, 0xec", options(noreturn)) }
    }
}

/// Doorbell that interrupts the receiver with `senduipi`.
#[cfg(target_arch = "x86_64")]
pub struct SendUipi {
    index: u64,
}

#[cfg(target_arch = "x86_64")]
impl SendUipi {
    /// # Safety
    /// `index` must come from `register_sender` on the thread(s) that will
    /// ring, and stay registered while this value lives.
    pub unsafe fn new(index: u64) -> Self {
        Self { index }
    }
}

#[cfg(target_arch = "x86_64")]
impl crate::Doorbell for SendUipi {
    fn ring(&self) {
        // SAFETY: `new`'s contract: a registered UITT index for this thread.
        unsafe { hw::senduipi(self.index) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_0_to_63() {
        assert_eq!(Vector::new(0).map(Vector::bit), Some(1));
        assert_eq!(Vector::new(63).map(Vector::bit), Some(1 << 63));
        assert_eq!(Vector::new(64), None);
    }

    #[test]
    fn tables_are_consecutive_from_the_documented_base() {
        let t = SyscallTable::RFC_2021_09;
        assert_eq!((t.register_handler, t.create_fd, t.wait), (449, 451, 454));
        let t = SyscallTable::INTEL_BRANCH;
        assert_eq!((t.register_sender, t.unregister_sender), (474, 475));
    }

    #[test]
    fn errno_decoding() {
        assert_eq!(syscall_result(-38), Err(Error::Errno(38)));
        assert_eq!(syscall_result(3), Ok(3));
        assert_eq!(syscall_result(-4096), Ok((-4096i64) as u64));
    }

    #[test]
    fn frame_is_three_words() {
        assert_eq!(core::mem::size_of::<UintrFrame>(), 24);
    }
}
