//! Bad system-call arguments get error codes; the kernel never panics.
#![no_std]
#![no_main]
use rcore_n_abi::{layout, nr};
use rcore_n_user::*;

entry!(main);

const KERNEL: usize = 0x8020_0000;

async fn main() -> i32 {
    let e = |r: isize| Errno::from_ret(r);
    let ok = [0u8; 8];
    let cases: &[(&str, isize, Errno)] = &[
        (
            "write from NULL",
            syscall::raw(nr::WRITE, 1, 0, 8),
            Errno::Fault,
        ),
        (
            "write from kernel memory",
            syscall::raw(nr::WRITE, 1, KERNEL, 8),
            Errno::Fault,
        ),
        (
            "write wrapping the address space",
            syscall::raw(nr::WRITE, 1, usize::MAX - 3, 8),
            Errno::Fault,
        ),
        (
            "write to a bad fd",
            syscall::raw(nr::WRITE, 99, ok.as_ptr() as usize, 8),
            Errno::BadF,
        ),
        (
            "read into kernel memory",
            syscall::raw(nr::READ, 0, KERNEL, 8),
            Errno::Fault,
        ),
        (
            "read into the read-only view",
            syscall::raw(nr::READ, 0, layout::GLOBAL_VIEW, 8),
            Errno::Fault,
        ),
        (
            "read from stdout",
            syscall::raw(nr::READ, 1, ok.as_ptr() as usize, 0),
            Errno::BadF,
        ),
        (
            "pipe into NULL",
            syscall::raw(nr::PIPE, 0, 0, 0),
            Errno::Fault,
        ),
        (
            "close a bad fd",
            syscall::raw(nr::CLOSE, 1000, 0, 0),
            Errno::BadF,
        ),
        (
            "spawn a missing program",
            syscall::raw(nr::SPAWN, b"nope".as_ptr() as usize, 4, 10),
            Errno::NoEnt,
        ),
        (
            "spawn with a huge name",
            syscall::raw(nr::SPAWN, b"nope".as_ptr() as usize, 1 << 40, 10),
            Errno::Inval,
        ),
        (
            "spawn at priority 64",
            syscall::raw(nr::SPAWN, b"hello".as_ptr() as usize, 5, 64),
            Errno::Inval,
        ),
        (
            "spawn above our own cap",
            syscall::raw(nr::SPAWN, b"hello".as_ptr() as usize, 5, 0),
            Errno::Perm,
        ),
        (
            "set priority 200",
            syscall::raw(nr::SET_PRIORITY, 0, 200, 0),
            Errno::Inval,
        ),
        (
            "set priority of a stranger",
            syscall::raw(nr::SET_PRIORITY, 4000, 20, 0),
            Errno::Srch,
        ),
        (
            "waitpid without children",
            syscall::raw(nr::WAITPID, usize::MAX, 0, 0),
            Errno::Child,
        ),
        (
            "join a missing thread",
            syscall::raw(nr::THREAD_JOIN, 63, 0, 0),
            Errno::Srch,
        ),
        (
            "join myself",
            syscall::raw(nr::THREAD_JOIN, 0, 0, 0),
            Errno::Inval,
        ),
        (
            "thread at NULL",
            syscall::raw(nr::THREAD_CREATE, 0, 0, 0),
            Errno::Inval,
        ),
        (
            "unknown system call",
            syscall::raw(9999, 0, 0, 0),
            Errno::NoSys,
        ),
    ];
    for (what, got, want) in cases {
        println!("{what}: {:?}", e(*got));
        assert_eq!(e(*got), Some(*want), "{what}");
    }
    // A child may not shut the system down.
    let pid = syscall::spawn("try_shutdown", 10).unwrap();
    assert_eq!(
        syscall::waitpid(Some(pid)),
        Ok((pid, Errno::Perm.ret() as i32))
    );
    // Still alive and well: a good call works.
    assert_eq!(syscall::write(1, b"good write still works\n"), Ok(23));
    guest_test::pass("test_bad_args");
    0
}
