//! Tasks: the kernel executor every hart runs, the global priority view,
//! the switching coroutines, processes and threads.

mod platform;
pub mod process;
mod switcher;
pub mod timer;
pub mod wait;

use core::sync::atomic::{AtomicBool, Ordering::*};

use cops_core::switching::Switching;
use cops_core::view::GlobalPriorityView;
use cops_core::{Executor, Priority};

pub use platform::KernelPlatform;
pub use process::{Process, Thread};
pub use switcher::stats_upcall;

/// Kernel coroutines at most (syscall servers, sleepers, switchers).
const KERNEL_COROUTINES: usize = 1024;
/// The init process's pid.
pub const INIT_PID: usize = 1;

/// The one executor all harts run.
pub static EXEC: spin::Once<&'static Executor<KernelPlatform>> = spin::Once::new();

/// The view, alone in its own pages so it can be mapped read-only into
/// every process without exposing anything else.
#[repr(C, align(4096))]
struct PageAligned<T>(T);
static VIEW: PageAligned<GlobalPriorityView> = PageAligned(GlobalPriorityView::new());
static SWITCHING: Switching = Switching::new(&VIEW.0);
/// Serialises view updates with the switching coroutines following them,
/// so their priorities are never left behind by a race between harts.
static VIEW_LOCK: spin::Mutex<()> = spin::Mutex::new(());

static TRACE: AtomicBool = AtomicBool::new(false);

/// Whether `trace` was on the command line (a line per scheduling decision).
pub fn tracing() -> bool {
    TRACE.load(Relaxed)
}

/// The kernel executor.
pub fn exec() -> &'static Executor<KernelPlatform> {
    EXEC.get().expect("task::init first")
}

/// Physical address and length of the view's pages.
pub fn view_pages() -> (usize, usize) {
    (&raw const VIEW as usize, core::mem::size_of::<PageAligned<GlobalPriorityView>>())
}

/// Process `pid` is now ready at `prio` (or not ready at all).
pub fn view_changed(pid: usize, prio: Option<Priority>) {
    let _g = VIEW_LOCK.lock();
    if let Ok(Some(_)) = VIEW.0.update(pid as u16, prio) {
        SWITCHING.follow(exec(), VIEW.0.highest());
    }
}

/// Boot hart: build the executor and the switching coroutines, start init.
pub fn init(info: crate::boot::BootInfo) {
    let exec = Executor::leak(KERNEL_COROUTINES, KernelPlatform::new());
    EXEC.call_once(|| exec);
    let mut init = "demo";
    for arg in info.bootargs.split_whitespace() {
        match arg.split_once('=') {
            Some(("init", name)) => init = name,
            _ if arg == "trace" => TRACE.store(true, Relaxed),
            _ => {}
        }
    }
    SWITCHING
        .spawn(exec, &switcher::SWITCHER, info.harts)
        .expect("switching coroutines");
    match process::spawn(init, 0, Priority::new(8).unwrap(), crate::fs::FdTable::new()) {
        Ok(p) => assert_eq!(p.pid, INIT_PID),
        Err(e) => {
            println!("[kernel] cannot start init {init:?}: {e:?}; programs: {:?}", crate::loader::names());
            crate::board::shutdown(true, 2);
        }
    }
}

/// Every hart ends here: run kernel coroutines (switchers included) forever.
pub fn hart_loop() -> ! {
    loop {
        exec().run();
    }
}

/// pid 1 exited: the system's work is done.
pub fn init_exited(code: i32) {
    switcher::print_summary();
    println!("rcore-n: init exited with code {code}");
    crate::board::shutdown(code != 0, code as u32)
}

