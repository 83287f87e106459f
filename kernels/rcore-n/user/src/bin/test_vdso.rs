//! The scheduler is one shared copy: this process runs the vDSO the kernel
//! mapped (and checks its table); writing to it kills the writer only; a
//! program built for another vDSO ABI is refused at start.
#![no_std]
#![no_main]
use rcore_n_user::*;

entry!(main);

async fn main() -> i32 {
    // We are running on the vDSO executor: this coroutine's id came from it.
    let me = current_id().unwrap();
    println!(
        "main coroutine {me:?} runs on the vDSO executor (ABI {VDSO_ABI}) at {:#x}",
        rcore_n_abi::layout::VDSO_BASE
    );

    // Several processes at once, all on the same copy.
    let mut pids = [0; 4];
    for p in &mut pids {
        *p = syscall::spawn("hello", 10).unwrap();
    }
    for p in pids {
        assert_eq!(syscall::waitpid(Some(p)), Ok((p, 0)));
    }

    // Writing to the shared code is a page fault: the writer is killed.
    assert_eq!(syscall::pipe(), Ok((3, 4))); // unused here; fault_child reads fd 7
    assert_eq!(syscall::pipe(), Ok((5, 6)));
    assert_eq!(syscall::pipe(), Ok((7, 8)));
    assert_eq!(syscall::write(8, &[4]), Ok(1));
    let pid = syscall::spawn("fault_child", 12).unwrap();
    assert_eq!(
        syscall::waitpid(Some(pid)),
        Ok((pid, -11)),
        "a write to the vDSO was not stopped"
    );

    // A program built against another ABI version is refused.
    let pid = syscall::spawn("vdso_old_abi", 12).unwrap();
    assert_eq!(syscall::waitpid(Some(pid)), Ok((pid, EXIT_VDSO_REFUSED)));

    // And the shared copy still works for everyone: run one more program.
    let pid = syscall::spawn("hello", 10).unwrap();
    assert_eq!(syscall::waitpid(Some(pid)), Ok((pid, 0)));
    guest_test::pass("test_vdso");
    0
}
