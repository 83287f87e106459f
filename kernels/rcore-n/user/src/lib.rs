//! # rcore-n user library
//!
//! Every program starts here: `_start` sets up a heap, starts a cops-core
//! executor (the same scheduler the kernel runs) and runs the program's
//! `async fn main` as the *main coroutine* (COPS §4.1). The process exits
//! when `main` returns.
//!
//! The COPS interface: [`spawn`], [`current_id`], [`wake`],
//! [`set_priority`], [`alloc_cpu`] (another thread of this process running
//! the same executor: threads are stacks, coroutines are the tasks).
//! The executor publishes its highest ready priority in the process's COPS
//! page, which the kernel reads (clamped to the process's cap) to place the
//! process in the global view; the executor reads the view (mapped
//! read-only) and gives the CPU back when another process is more urgent
//! than this one's own capped level ([`outranked`]; the kernel writes the
//! cap into the COPS page).
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! use rcore_n_user::*;
//! entry!(main);
//! async fn main() -> i32 {
//!     let h = spawn(async { println!("hello from a coroutine") }, 3).unwrap();
//!     h.await.unwrap();
//!     0
//! }
//! ```
#![no_std]

extern crate alloc;

#[macro_use]
pub mod console;
pub mod call;
pub mod guest_test;
pub mod ring;
pub mod syscall;
pub mod uintr;

use core::ffi::c_void;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicU8, AtomicU64, Ordering::*};

use buddy_system_allocator::LockedHeap;
pub use cops_core::{CoroutineId, Error, JoinHandle, Priority, yield_now};
use cops_core::{ExecutorOps, RunExit};
use cops_vdso::abi::{AbiError, VdsoPlatform};
use cops_vdso::binding::{Vdso, VdsoExecutor};
use rcore_n_abi::{CopsPage, layout};

pub use rcore_n_abi::Errno;

/// Coroutines a process can hold at once, unless its [`entry!`] says
/// otherwise (`coroutines = N`).
pub const DEFAULT_COROUTINES: usize = 512;
/// Bytes of a process's heap, unless its [`entry!`] says otherwise
/// (`heap = BYTES`).
pub const DEFAULT_HEAP: usize = 1 << 20;
/// Priority of the main coroutine: the most urgent level, so a process
/// whose main coroutine is ready runs at its cap (the kernel clamps); main
/// can lower itself with `set_priority(current_id().unwrap(), level)`.
pub const MAIN_PRIORITY: u8 = 0;

#[global_allocator]
static HEAP: LockedHeap<32> = LockedHeap::empty();

static EXEC: spin::Once<&'static VdsoExecutor> = spin::Once::new();
static VDSO: spin::Once<Vdso> = spin::Once::new();

/// The checked vDSO table the kernel mapped (e.g. to build more executors).
pub fn vdso() -> Vdso {
    *VDSO.get().expect("the runtime checks the vDSO before main")
}

/// The process's executor: the scheduler code of the shared vDSO (the same
/// physical copy the kernel and every process run) on this process's data.
pub fn executor() -> &'static VdsoExecutor {
    EXEC.get()
        .expect("the runtime starts the executor before main")
}

fn cops_page() -> &'static CopsPage {
    // SAFETY: the kernel maps this page read-write in every process.
    unsafe { &*(layout::COPS_PAGE as *const CopsPage) }
}

/// The most urgent level ready in the kernel itself (its executor's
/// highest ready coroutine), from the kernel page mapped read-only.
pub fn kernel_highest() -> Option<Priority> {
    // SAFETY: the kernel maps its page read-only here in every process.
    let page = unsafe { &*(layout::KERNEL_PAGE as *const rcore_n_abi::KernelPage) };
    Priority::new(page.highest.load(Acquire))
}

/// The most urgent priority ready in any *other* process (or the kernel's
/// view of them), read from the read-only global view.
pub fn global_highest() -> Option<Priority> {
    // SAFETY: the kernel maps its whole `GlobalPriorityView` (page-aligned,
    // every page of it) read-only here for the process's life; its readers
    // only load atomics, which is all this reference is used for.
    let view = unsafe { &*(layout::GLOBAL_VIEW as *const cops_core::view::GlobalPriorityView) };
    view.highest()
}

/// This process's cap: the most urgent level the kernel lets it have,
/// which the kernel writes into the COPS page (and rewrites when a
/// `set_process_priority` changes it).
pub fn cap() -> Priority {
    Priority::new(cops_page().cap.load(Acquire)).unwrap_or(Priority::LOWEST)
}

/// Whether another process or the kernel is more urgent than this
/// process, comparing like with like: the view holds capped levels, so this
/// process's level is capped too (a main coroutine at level 0 in a process
/// capped at 30 is at 30, and yields to a process at 10). The calling
/// coroutine counts (it runs, so it is not in the ready bitmap). Nothing
/// ready here: anyone ready elsewhere is more urgent.
pub fn outranked() -> bool {
    outranked_with(|| current_id().and_then(|id| executor().priority(id).ok()))
}

/// [`outranked`] for a process whose ready coroutines are those in its
/// ready bitmap and one more outside it, at `unlisted()` (the one running,
/// or the one the worker holds after a yield); the view ranks the process
/// at `max(most urgent of them, cap)`.
fn outranked_with(unlisted: impl FnOnce() -> Option<Priority>) -> bool {
    // Nothing ready elsewhere (the common case): two loads, no table call.
    let Some(elsewhere) = global_highest().into_iter().chain(kernel_highest()).min() else {
        return false;
    };
    let here = unlisted()
        .into_iter()
        .chain(executor().highest_ready())
        .min();
    here.map(|h| h.max(cap()))
        .is_none_or(|here| elsewhere.is_higher_than(here))
}

static PREEMPTIONS: AtomicU64 = AtomicU64::new(0);

/// Times the timer or an IPI took a hart from a thread of this process in
/// the middle of a poll (entries of the preemption handler).
pub fn preemptions() -> u64 {
    PREEMPTIONS.load(Relaxed)
}

/// The preemption handler (COPS §3.3's running-suspended state): the
/// kernel enters it on the preempted thread, `sp` below the interrupted
/// frame, when the timer or an IPI took the hart mid-poll. The coroutine
/// stays running-suspended while the thread waits for a hart, and its poll
/// resumes where it was (it is not polled again). Lock-free and without
/// allocation: the interrupted poll may hold the heap's or the executor's
/// locks.
extern "C" fn preempted() -> ! {
    PREEMPTIONS.fetch_add(1, Relaxed);
    let exec = EXEC.get();
    if let Some(exec) = exec {
        exec.set_preempted(true);
    }
    syscall::sched_yield();
    if let Some(exec) = exec {
        exec.set_preempted(false);
    }
    syscall::raw(rcore_n_abi::nr::PREEMPT_RETURN, 0, 0, 0);
    // Only reached if the kernel lost the saved context: nothing to go on.
    syscall::exit(-6)
}

/// [`cooperative_yields`] per thread (by tid).
static COOPERATIVE_YIELDS: [AtomicU64; rcore_n_abi::MAX_THREADS] =
    [const { AtomicU64::new(0) }; rcore_n_abi::MAX_THREADS];

/// Times a thread of this process gave its CPU back because another
/// process was more urgent ([`outranked`] after a poll), without the timer.
pub fn cooperative_yields() -> u64 {
    COOPERATIVE_YIELDS.iter().map(|y| y.load(Relaxed)).sum()
}

/// [`cooperative_yields`] of the calling thread alone: a coroutine that
/// reads it before and after an `await` learns whether its thread gave
/// the CPU back in between.
pub fn cooperative_yields_here() -> u64 {
    COOPERATIVE_YIELDS
        .get(platform::this_thread())
        .map_or(0, |y| y.load(Relaxed))
}

/// This process's threads as the executor's CPUs: the vDSO calls these.
mod platform {
    use super::*;

    /// The calling thread's tid.
    pub(super) fn this_thread() -> usize {
        let tp: usize;
        // SAFETY: reads a register; the kernel starts thread `t` with tp = t.
        unsafe { core::arch::asm!("mv {}, tp", out(reg) tp) };
        tp
    }
    extern "C" fn cpu_id(_: *const c_void) -> usize {
        this_thread()
    }
    extern "C" fn idle(_: *const c_void) {
        // Nothing ready: sleep in the kernel until a user interrupt (an
        // async call completed) or a kick from another of our threads.
        syscall::uintr_wait();
    }
    extern "C" fn notify(_: *const c_void) {
        syscall::uintr_kick();
    }
    extern "C" fn publish_priority(_: *const c_void, level: u8) {
        cops_page().highest.store(level, Release);
    }
    extern "C" fn running_priority(ctx: *const c_void, level: u8) {
        if let Some(slot) = cops_page().running.get(cpu_id(ctx)) {
            slot.store(level, Release);
        }
    }
    extern "C" fn should_yield(_: *const c_void, local: u8) -> bool {
        // `local` counts the coroutine that just yielded, which the worker
        // holds aside (not in the ready bitmap) while it asks: without it,
        // a process with one busy coroutine would look idle and give its
        // hart to anything less urgent. Draining may make a more urgent
        // coroutine ready, hence the second look.
        uintr::drain_if_pending();
        outranked_with(|| Priority::new(local))
    }
    extern "C" fn alloc_cpu(_: *const c_void, n: usize) -> isize {
        match super::start_workers(n) {
            Ok(n) => n as isize,
            Err(e) => e.code() as isize,
        }
    }

    pub static VDSO_PLATFORM: VdsoPlatform = VdsoPlatform {
        ctx: core::ptr::null(),
        cpu_id,
        idle,
        notify,
        publish_priority,
        running_priority,
        should_yield,
        alloc_cpu,
    };
}

/// Start `n` threads running the executor.
fn start_workers(n: usize) -> Result<usize, Error> {
    let mut started = 0;
    for _ in 0..n {
        if syscall::thread_create(worker_thread as *const () as usize, 0).is_err() {
            break;
        }
        started += 1;
    }
    if started == 0 && n > 0 {
        Err(Error::Unsupported)
    } else {
        Ok(started)
    }
}

/// Run the executor on this thread until it has nothing left.
fn run_executor() {
    let exec = executor();
    while exec.run() == RunExit::Yield {
        if let Some(count) = COOPERATIVE_YIELDS.get(platform::this_thread()) {
            count.fetch_add(1, Relaxed);
        }
        syscall::sched_yield();
    }
}

extern "C" fn worker_thread(_: usize) -> ! {
    uintr::init_thread();
    run_executor();
    syscall::thread_exit(0)
}

/// Spawn a coroutine at priority `level` (0 most urgent).
pub fn spawn<F>(future: F, level: u8) -> Result<JoinHandle<F::Output>, Error>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    executor().spawn(future, Priority::new(level).ok_or(Error::BadPriority)?)
}

/// The running coroutine's id (getcid).
pub fn current_id() -> Option<CoroutineId> {
    executor().current_id()
}

/// Wake coroutine `id`.
pub fn wake(id: CoroutineId) -> Result<(), Error> {
    executor().wake(id)
}

/// Change coroutine `id`'s priority.
pub fn set_priority(id: CoroutineId, level: u8) -> Result<(), Error> {
    executor().set_priority(id, Priority::new(level).ok_or(Error::BadPriority)?)
}

/// Add `n` threads running this process's executor.
pub fn alloc_cpu(n: usize) -> Result<usize, Error> {
    start_workers(n)
}

/// Start a plain thread running `f(arg)` (the thread model, for KTUT-style
/// programs); its return value is the thread's exit code.
pub fn spawn_thread(f: fn(usize) -> i32, arg: usize) -> Result<usize, Errno> {
    let packed = Box::into_raw(Box::new((f, arg))) as usize;
    syscall::thread_create(plain_thread as *const () as usize, packed).inspect_err(|_| {
        // SAFETY: not created: we still own it.
        drop(unsafe { Box::from_raw(packed as *mut (fn(usize) -> i32, usize)) });
    })
}

extern "C" fn plain_thread(packed: usize) -> ! {
    // SAFETY: `spawn_thread` boxed `(f, arg)` for this thread.
    let (f, arg) = *unsafe { Box::from_raw(packed as *mut (fn(usize) -> i32, usize)) };
    uintr::init_thread();
    // A plain thread runs no coroutine, so nothing would say how urgent it
    // is and the kernel would rank it at the lowest level, below every
    // process. The marker ranks it at the process's cap, and keeps it out
    // of the preemption handler (a level there would send it through it).
    if let Some(running) = cops_page().running.get(platform::this_thread()) {
        running.store(rcore_n_abi::PLAIN_THREAD, Release);
    }
    syscall::thread_exit(f(arg))
}

type MainFuture = Pin<Box<dyn Future<Output = i32> + Send>>;

unsafe extern "Rust" {
    /// Defined by [`entry!`] in the program.
    fn __rcore_n_main() -> MainFuture;
    /// The vDSO ABI version the program was built against (see [`entry!`]).
    fn __rcore_n_vdso_abi() -> u32;
    /// The program's heap arena and coroutine capacity (see [`entry!`]).
    /// Called once, by `_start`.
    fn __rcore_n_arena() -> (&'static mut [u8], usize);
}

/// Declare the program's `async fn main() -> i32`. Options, in this order,
/// each with a default:
/// - `coroutines = N, heap = BYTES`: how many coroutines the process's
///   executor holds ([`DEFAULT_COROUTINES`]) and the bytes of its heap
///   ([`DEFAULT_HEAP`]), e.g. for a server holding hundreds of
///   connections: `entry!(main, coroutines = 2048, heap = 8 << 20);`
/// - `vdso_abi = N` pins the vDSO ABI version the program expects (default:
///   the one this library was built with): a program built for another
///   version is refused at start.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        $crate::entry!($main, vdso_abi = $crate::VDSO_ABI);
    };
    ($main:path, vdso_abi = $abi:expr) => {
        $crate::entry!(
            $main,
            coroutines = $crate::DEFAULT_COROUTINES,
            heap = $crate::DEFAULT_HEAP,
            vdso_abi = $abi
        );
    };
    ($main:path, coroutines = $n:expr, heap = $bytes:expr) => {
        $crate::entry!(
            $main,
            coroutines = $n,
            heap = $bytes,
            vdso_abi = $crate::VDSO_ABI
        );
    };
    ($main:path, coroutines = $n:expr, heap = $bytes:expr, vdso_abi = $abi:expr) => {
        #[unsafe(no_mangle)]
        fn __rcore_n_main()
        -> ::core::pin::Pin<$crate::Box<dyn ::core::future::Future<Output = i32> + Send>> {
            $crate::Box::pin($main())
        }
        #[unsafe(no_mangle)]
        fn __rcore_n_vdso_abi() -> u32 {
            $abi
        }
        #[unsafe(no_mangle)]
        fn __rcore_n_arena() -> (&'static mut [u8], usize) {
            static mut ARENA: [u8; $bytes] = [0; $bytes];
            // SAFETY: the library's `_start` calls this once, before
            // anything else runs, and hands the arena to the allocator: the
            // only reference to it ever made.
            (unsafe { &mut *&raw mut ARENA }, $n)
        }
    };
}

/// The vDSO ABI version this library binds to.
pub const VDSO_ABI: u32 = cops_vdso::abi::VERSION;

/// Exit code of a program whose vDSO was refused.
pub const EXIT_VDSO_REFUSED: i32 = -8;

#[doc(hidden)]
pub use alloc::boxed::Box;

static STARTED: AtomicU8 = AtomicU8::new(0);

/// Find the vDSO the kernel mapped, check it, and build our executor on it,
/// with room for `coroutines`.
fn start_executor(coroutines: usize) -> Result<&'static VdsoExecutor, AbiError> {
    let entry = cops_page().vdso_entry.load(Acquire) as usize;
    // SAFETY: the kernel maps the image (relocated for VDSO_BASE) read-execute
    // and writes its entry point in our COPS page.
    let vdso = unsafe { Vdso::from_entry(entry) }?;
    // SAFETY: `entry!` defines it.
    let built_for = unsafe { __rcore_n_vdso_abi() };
    if built_for != vdso.table().version {
        return Err(AbiError::Version {
            image: vdso.table().version,
            binding: built_for,
        });
    }
    VDSO.call_once(|| vdso);
    Ok(VdsoExecutor::leak(vdso, coroutines, &platform::VDSO_PLATFORM).expect("executor area"))
}

#[unsafe(no_mangle)]
#[unsafe(link_section = ".text.entry")]
extern "C" fn _start() -> ! {
    assert_eq!(STARTED.swap(1, Relaxed), 0);
    // SAFETY: `entry!` defines it; this is its one call (`STARTED`).
    let (arena, coroutines) = unsafe { __rcore_n_arena() };
    // SAFETY: once, before any allocation; the arena is used by nothing else.
    unsafe { HEAP.lock().init(arena.as_mut_ptr() as usize, arena.len()) };
    let exec = match start_executor(coroutines) {
        Ok(exec) => exec,
        Err(e) => {
            println!("[user {}] refusing the vDSO: {e}", syscall::getpid());
            syscall::exit(EXIT_VDSO_REFUSED)
        }
    };
    EXEC.call_once(|| exec);
    cops_page()
        .preempt_entry
        .store(preempted as *const () as u64, Release);
    uintr::init();
    guest_test::record_baseline();
    // SAFETY: `entry!` defines it with this signature.
    let main = unsafe { __rcore_n_main() };
    exec.spawn(
        async move { syscall::exit(main.await) },
        Priority::new(MAIN_PRIORITY).unwrap(),
    )
    .expect("spawn main");
    run_executor();
    syscall::exit(0)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    println!("[user {}] panicked: {}", syscall::getpid(), info);
    syscall::exit(-6)
}
