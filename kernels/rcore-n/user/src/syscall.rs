//! Raw system calls (see `rcore_n_abi` for the numbers and conventions).

use rcore_n_abi::{Errno, nr};

#[inline(always)]
fn syscall(id: usize, a0: usize, a1: usize, a2: usize) -> isize {
    let ret: isize;
    // SAFETY: the kernel checks every argument; `ecall` clobbers only a0.
    unsafe {
        core::arch::asm!("ecall", inlateout("a0") a0 => ret, in("a1") a1, in("a2") a2, in("a7") id);
    }
    ret
}

/// Turn a raw return value into `Result`.
pub fn check(ret: isize) -> Result<usize, Errno> {
    if ret < 0 {
        Err(Errno::from_ret(ret).unwrap_or(Errno::Inval))
    } else {
        Ok(ret as usize)
    }
}

/// Raw `syscall(id, a0, a1, a2)`, for tests of bad arguments.
pub fn raw(id: usize, a0: usize, a1: usize, a2: usize) -> isize {
    syscall(id, a0, a1, a2)
}

pub fn write(fd: usize, buf: &[u8]) -> Result<usize, Errno> {
    check(syscall(nr::WRITE, fd, buf.as_ptr() as usize, buf.len()))
}
pub fn read(fd: usize, buf: &mut [u8]) -> Result<usize, Errno> {
    check(syscall(nr::READ, fd, buf.as_mut_ptr() as usize, buf.len()))
}
/// Read until `buf` is full or the stream ends (blocking); the bytes read.
pub fn read_full(fd: usize, buf: &mut [u8]) -> Result<usize, Errno> {
    let mut at = 0;
    while at < buf.len() {
        match read(fd, &mut buf[at..])? {
            0 => break,
            n => at += n,
        }
    }
    Ok(at)
}
pub fn pipe() -> Result<(usize, usize), Errno> {
    let mut fds = [0usize; 2];
    check(syscall(nr::PIPE, fds.as_mut_ptr() as usize, 0, 0))?;
    Ok((fds[0], fds[1]))
}
pub fn close(fd: usize) -> Result<(), Errno> {
    check(syscall(nr::CLOSE, fd, 0, 0)).map(drop)
}
pub fn exit(code: i32) -> ! {
    syscall(nr::EXIT, code as usize, 0, 0);
    unreachable!("exit returned")
}
pub fn sched_yield() {
    syscall(nr::YIELD, 0, 0, 0);
}
pub fn getpid() -> usize {
    syscall(nr::GETPID, 0, 0, 0) as usize
}
pub fn gettid() -> usize {
    syscall(nr::GETTID, 0, 0, 0) as usize
}
/// Nanoseconds since boot.
pub fn clock() -> u64 {
    syscall(nr::CLOCK, 0, 0, 0) as u64
}
/// Block the calling thread for `ns` nanoseconds.
pub fn sleep(ns: u64) {
    syscall(nr::SLEEP, ns as usize, 0, 0);
}
/// Set the priority cap of this process (`pid` 0) or of a child.
pub fn set_process_priority(pid: usize, level: u8) -> Result<(), Errno> {
    check(syscall(nr::SET_PRIORITY, pid, level as usize, 0)).map(drop)
}
/// Start the embedded program `name` at priority `level`; returns its pid.
pub fn spawn(name: &str, level: u8) -> Result<usize, Errno> {
    check(syscall(
        nr::SPAWN,
        name.as_ptr() as usize,
        name.len(),
        level as usize,
    ))
}
/// Wait for child `pid` (`None`: any); returns (pid, exit code). The
/// blocking form of [`crate::call::waitpid`].
pub fn waitpid(pid: Option<usize>) -> Result<(usize, i32), Errno> {
    let mut code = 0i32;
    let pid = crate::call::waitpid(pid, &mut code).wait()?;
    Ok((pid, code))
}
pub fn thread_create(entry: usize, arg: usize) -> Result<usize, Errno> {
    check(syscall(nr::THREAD_CREATE, entry, arg, 0))
}
pub fn thread_exit(code: i32) -> ! {
    syscall(nr::THREAD_EXIT, code as usize, 0, 0);
    unreachable!("thread_exit returned")
}
/// Wait for thread `tid`; returns its exit code. The blocking form of
/// [`crate::call::thread_join`].
pub fn thread_join(tid: usize) -> Result<i32, Errno> {
    let mut code = 0i32;
    crate::call::thread_join(tid, &mut code).wait()?;
    Ok(code)
}
/// Power off (init only).
pub fn shutdown(code: i32) -> ! {
    syscall(nr::SHUTDOWN, code as usize, 0, 0);
    exit(code)
}
/// Harts running the kernel.
pub fn harts() -> usize {
    syscall(nr::HARTS, 0, 0, 0) as usize
}
/// `rdtime` ticks (10 MHz on QEMU `virt`), read without a system call.
pub fn ticks() -> u64 {
    let t: u64;
    // SAFETY: `rdtime` is allowed in U-mode (the firmware sets scounteren).
    unsafe { core::arch::asm!("rdtime {}", out(reg) t) };
    t
}
/// A six-argument system call (the asynchronous form).
pub fn raw6(id: usize, a: [usize; 6]) -> isize {
    let ret: isize;
    // SAFETY: as `syscall`.
    unsafe {
        core::arch::asm!("ecall", inlateout("a0") a[0] => ret, in("a1") a[1], in("a2") a[2],
            in("a3") a[3], in("a4") a[4], in("a5") a[5], in("a7") id);
    }
    ret
}
/// Block until a user interrupt is pending or another thread kicks us.
pub fn uintr_wait() {
    syscall(nr::UINTR_WAIT, 0, 0, 0);
}
/// End one `uintr_wait` of this process.
pub fn uintr_kick() {
    syscall(nr::UINTR_KICK, 0, 0, 0);
}
/// How this process's user interrupts arrive: `true` through the N
/// extension (`Err(NoSys)` without one), `false` by soft upcalls.
pub fn uintr_mode(hardware: bool) -> Result<(), Errno> {
    check(syscall(nr::UINTR_MODE, hardware as usize, 0, 0)).map(drop)
}
/// Serve this process's waiting calls on kernel threads (`true`) or kernel
/// coroutines (`false`, the default): the KT / KC models of COPS §5.1.
pub fn kernel_threads(on: bool) -> Result<(), Errno> {
    check(syscall(nr::KERNEL_MODEL, on as usize, 0, 0)).map(drop)
}
/// One of the kernel's resource counters (`rcore_n_abi::stat`).
pub fn kstat(which: usize) -> Result<usize, Errno> {
    check(syscall(nr::KSTAT, which, 0, 0))
}
/// The number `N` of a `key=N` word on the kernel command line.
pub fn bootarg(key: &str) -> Result<usize, Errno> {
    check(syscall(nr::BOOTARG, key.as_ptr() as usize, key.len(), 0))
}
