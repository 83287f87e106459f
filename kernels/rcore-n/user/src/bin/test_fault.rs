//! A process that faults is killed; its siblings and parent go on.
#![no_std]
#![no_main]
use rcore_n_user::*;

entry!(main);

async fn main() -> i32 {
    // busy_child's pipes: start (3, 4) and result (5, 6).
    assert_eq!(syscall::pipe(), Ok((3, 4)));
    assert_eq!(syscall::pipe(), Ok((5, 6)));
    let sibling = syscall::spawn("busy_child", 12).unwrap();
    assert_eq!(syscall::write(4, &[0]), Ok(1));
    // fault_child reads how to fault from the pipe (7, 8).
    assert_eq!(syscall::pipe(), Ok((7, 8)));
    for (mode, what) in [
        "store to the read-only view",
        "load from NULL",
        "illegal instruction",
        "floating point",
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(syscall::write(8, &[mode as u8]), Ok(1));
        let pid = syscall::spawn("fault_child", 12).unwrap();
        let (p, code) = syscall::waitpid(Some(pid)).unwrap();
        println!("{what}: pid {p} exited with {code}");
        assert_eq!((p, code), (pid, -11), "{what}: not killed");
    }
    let mut buf = [0u8; 8];
    assert_eq!(syscall::read(5, &mut buf), Ok(8));
    assert_eq!(
        usize::from_le_bytes(buf),
        sibling,
        "the sibling finished its work"
    );
    assert_eq!(syscall::waitpid(Some(sibling)), Ok((sibling, 0)));
    guest_test::pass("test_fault");
    0
}
