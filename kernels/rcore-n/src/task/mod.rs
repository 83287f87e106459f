//! Tasks: the kernel executor every hart runs, the global priority view,
//! the switching coroutines, processes and threads.

pub mod call;
mod executor_platform;
pub mod kernel_view;
pub mod kthread;
pub mod process;
pub mod quota;
pub mod summary;
pub mod uintr;

use core::sync::atomic::{AtomicBool, Ordering::*};

use cops_core::Priority;
use cops_core::switching::{SpaceSwitcher, Switching};
use cops_core::view::GlobalPriorityView;
use cops_vdso::binding::{Vdso, VdsoExecutor};

pub use executor_platform::idle_harts;
pub use process::{Process, Thread};
pub use summary::preempt_handler_entries;

/// Kernel coroutines at most (syscall servers, sleepers, switchers): room
/// for eight processes' full quotas of calls in flight
/// (`quota::MAX_CALLS`), so no single process can take them all.
const KERNEL_COROUTINES: usize = 4096;
/// The init process's pid.
pub const INIT_PID: usize = 1;

/// The one executor all harts run: the vDSO's scheduler code (the same
/// physical copy every process runs), on the kernel's own data area.
pub static KERNEL_EXECUTOR: spin::Once<&'static VdsoExecutor> = spin::Once::new();

/// The view, alone in its own pages so it can be mapped read-only into
/// every process without exposing anything else.
#[repr(C, align(4096))]
struct PageAligned<T>(T);
static VIEW: PageAligned<GlobalPriorityView> = PageAligned(GlobalPriorityView::new());
static SWITCHING: Switching = Switching::new(&VIEW.0);
/// Serialises view updates with the switching coroutines following them,
/// so their priorities are never left behind by a race between harts.
static VIEW_LOCK: spin::Mutex<()> = spin::Mutex::new(());
/// The serial of the process that owns each pid's view entry (written under
/// `VIEW_LOCK`). Pids are reused: a dead process still finishing on some
/// hart must not erase the entry of the new process that got its pid.
static VIEW_OWNERS: [core::sync::atomic::AtomicUsize; process::MAX_PIDS] =
    [const { core::sync::atomic::AtomicUsize::new(0) }; process::MAX_PIDS];

static TRACE: AtomicBool = AtomicBool::new(false);
/// Whether `trace` was on the command line (a line per scheduling decision).
pub fn tracing() -> bool {
    TRACE.load(Relaxed)
}

/// The kernel executor.
pub fn kernel_executor() -> &'static VdsoExecutor {
    KERNEL_EXECUTOR.get().expect("task::init first")
}

/// The global priority view (processes' levels; the kernel's own level is
/// in [`kernel_view`]).
pub fn view() -> &'static GlobalPriorityView {
    &VIEW.0
}

/// Physical address and length of the view's pages.
pub fn view_pages() -> (usize, usize) {
    (
        &raw const VIEW as usize,
        core::mem::size_of::<PageAligned<GlobalPriorityView>>(),
    )
}

/// Process `pid` (the one with `serial`) is now ready at `prio` (or not
/// ready at all). Ignored if the pid has passed to another process.
pub fn view_changed(pid: usize, serial: usize, prio: Option<Priority>) {
    let _g = VIEW_LOCK.lock();
    if VIEW_OWNERS
        .get(pid)
        .is_none_or(|o| o.load(Relaxed) != serial)
    {
        return;
    }
    if let Ok(Some(_)) = VIEW.0.update(pid as u16, prio) {
        SWITCHING.follow(kernel_executor(), VIEW.0.highest());
    }
}

/// Process `serial` now owns pid `pid`'s view entry (empty until it has a
/// ready thread).
pub fn claim_view(pid: usize, serial: usize) {
    let _g = VIEW_LOCK.lock();
    if let Some(o) = VIEW_OWNERS.get(pid) {
        o.store(serial, Relaxed);
        if let Ok(Some(_)) = VIEW.0.update(pid as u16, None) {
            SWITCHING.follow(kernel_executor(), VIEW.0.highest());
        }
    }
}

/// Each hart's switching coroutine's level, hart `h` in byte `h` (255: no
/// such hart): the view sets them (see `cops_core::switching`).
pub fn switcher_levels() -> usize {
    // The top byte stays clear: `kstat` returns a non-negative `isize`.
    const _: () = assert!(crate::board::MAX_HARTS < 8);
    let mut levels = 0;
    for hart in 0..crate::board::MAX_HARTS {
        let level = SWITCHING
            .id(hart)
            .and_then(|id| kernel_executor().priority(id).ok())
            .map_or(rcore_n_abi::NO_PRIORITY, |p| p.level());
        levels |= (level as usize) << (8 * hart);
    }
    levels
}

/// Boot hart: build the kernel executor (before anything spawns on it).
pub fn init_executor() {
    // SAFETY: the kernel mapping of the image is in every root, for good.
    let vdso = unsafe { Vdso::from_entry(crate::mm::vdso::kernel_entry()) }
        .unwrap_or_else(|e| panic!("the kernel's vDSO binding refused the image: {e}"));
    let exec = VdsoExecutor::leak(vdso, KERNEL_COROUTINES, &executor_platform::VDSO_PLATFORM)
        .expect("kernel executor");
    KERNEL_EXECUTOR.call_once(|| exec);
    if crate::hart::bootargs()
        .split_whitespace()
        .any(|w| w == "trace")
    {
        TRACE.store(true, Relaxed);
    }
}

/// Boot hart: one switching coroutine per hart, entering processes through
/// `switcher` (the layer above: it runs them and deals with their traps).
pub fn spawn_switchers<S: SpaceSwitcher>(switcher: &'static S, harts: usize) {
    SWITCHING
        .spawn(kernel_executor(), switcher, harts)
        .expect("switching coroutines");
}

/// Boot hart: start pid 1, the program `init=NAME` names (the demo by
/// default); shut down if it cannot start.
pub fn spawn_init() {
    let init = crate::hart::bootargs()
        .split_whitespace()
        .find_map(|w| w.strip_prefix("init="))
        .unwrap_or("demo");
    match process::spawn(
        init,
        None,
        Priority::new(8).unwrap(),
        crate::fs::FdTable::new(),
    ) {
        Ok(p) => assert_eq!(p.pid, INIT_PID),
        Err(e) => {
            println!(
                "[kernel] cannot start init {init:?}: {e:?}; programs: {:?}",
                crate::programs::names()
            );
            crate::board::shutdown(true, 2);
        }
    }
}

/// Every hart ends here: run kernel coroutines (switchers included) forever.
pub fn hart_loop() -> ! {
    loop {
        kernel_executor().run();
    }
}

/// pid 1 exited: the system's work is done.
pub fn init_exited(code: i32) {
    summary::print_summary();
    crate::net::print_summary();
    println!("rcore-n: init exited with code {code}");
    crate::board::shutdown(code != 0, code as u32)
}
