//! What of the x86 UINTR backend can run on a CPU without UINTR.
// Not under Miri: CPUID is inline assembly.
#![cfg(all(not(loom), not(miri), target_arch = "x86_64", target_os = "linux"))]

use cops_uintr::x86_uintr::{
    Error, SyscallTable, Vector, cpu_has_uintr, create_fd, register_handler,
};

#[test]
fn cpuid_detection_agrees_with_proc_cpuinfo() {
    let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else {
        return;
    };
    let flag = info
        .lines()
        .filter(|l| l.starts_with("flags"))
        .any(|l| l.split_whitespace().any(|f| f == "uintr"));
    // The kernel may hide the flag it does not support; it never invents it.
    if flag {
        assert!(cpu_has_uintr());
    }
    eprintln!("uintr: cpuid={} cpuinfo={flag}", cpu_has_uintr());
}

#[test]
fn syscalls_are_not_issued_without_uintr() {
    if cpu_has_uintr() {
        return; // would reach the kernel: only meaningful on a UINTR kernel
    }
    // On mainline Linux 449 is futex_waitv and 451 cachestat: the guard
    // must refuse before the syscall instruction.
    for table in [SyscallTable::RFC_2021_09, SyscallTable::INTEL_BRANCH] {
        // SAFETY: the wrapper refuses (CPU has no UINTR), nothing is issued.
        assert_eq!(
            unsafe { register_handler(&table, 0x1000, 0) },
            Err(Error::Unsupported)
        );
        // SAFETY: as above.
        assert_eq!(
            unsafe { create_fd(&table, Vector::new(3).unwrap(), 0) },
            Err(Error::Unsupported)
        );
    }
}
