//! A recycled pid gives no power over another process's children (issue 14,
//! item 3): `pid_parent` starts `pid_child` and exits; `pid_thief` then gets
//! `pid_parent`'s pid and must be refused `set_priority` and `waitpid` on
//! the orphan.
#![no_std]
#![no_main]
use rcore_n_user::*;

entry!(main);

async fn main() -> i32 {
    // (3, 4): tells pid_child to exit. (5, 6): children -> us. (7, 8): us -> pid_thief.
    assert_eq!(syscall::pipe(), Ok((3, 4)));
    assert_eq!(syscall::pipe(), Ok((5, 6)));
    assert_eq!(syscall::pipe(), Ok((7, 8)));
    for round in 0..3 {
        let parent = syscall::spawn("pid_parent", 20).unwrap();
        let victim = guest_test::read_usize(5);
        assert_eq!(syscall::waitpid(Some(parent)), Ok((parent, 0)));
        syscall::write(8, &victim.to_le_bytes()).unwrap();
        let thief = syscall::spawn("pid_thief", 20).unwrap();
        assert_eq!(thief, parent, "the test needs pid_parent's pid recycled");
        let mut b = [0u8; 1];
        assert_eq!(syscall::read(5, &mut b), Ok(1));
        syscall::write(4, &[0]).unwrap(); // the victim exits
        syscall::sleep(20_000_000);
        syscall::write(8, &0usize.to_le_bytes()).unwrap();
        let (_, code) = syscall::waitpid(Some(thief)).unwrap();
        assert_eq!(
            code, 0,
            "round {round}: the recycled pid acted as the parent"
        );
    }
    guest_test::pass("test_pid_reuse");
    0
}
