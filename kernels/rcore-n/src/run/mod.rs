//! Running processes: the switching coroutine's side (enter the chosen
//! thread in user mode, then deal with the trap that brought it back:
//! system calls, preemption, faults) and the soft upcalls delivered on the
//! way back. The top of the kernel below `boot`: it uses the system calls,
//! which use the tasks.

mod switcher;
mod upcall;

/// Boot hart: the kernel executor, a switching coroutine per hart, init.
pub fn init(harts: usize) {
    crate::task::init_executor();
    crate::task::spawn_switchers(&switcher::SWITCHER, harts);
    crate::task::spawn_init();
}
