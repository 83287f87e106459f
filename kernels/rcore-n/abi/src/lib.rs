//! The rcore-n system-call ABI: numbers, error codes and the fixed user
//! addresses shared by the kernel and the user library. One definition, used
//! by both sides, so they cannot drift apart.
//!
//! Calling convention (RISC-V Linux-like): `a7` = number, `a0..a5` =
//! arguments, `ecall`; the result comes back in `a0` as an `isize`, negative
//! values are `-errno` ([`Errno`]).
#![no_std]

/// System-call numbers.
pub mod nr {
    /// `close(fd)`.
    pub const CLOSE: usize = 57;
    /// `pipe(fds: *mut [usize; 2])`: `fds[0]` read end, `fds[1]` write end.
    pub const PIPE: usize = 59;
    /// `read(fd, buf, len) -> bytes` (blocks the thread until >= 1 byte or EOF).
    pub const READ: usize = 63;
    /// `write(fd, buf, len) -> bytes`.
    pub const WRITE: usize = 64;
    /// `exit(code)`: ends the calling thread's whole process.
    pub const EXIT: usize = 93;
    /// `sleep(nanoseconds)`.
    pub const SLEEP: usize = 101;
    /// `clock() -> nanoseconds since boot` (from `rdtime`).
    pub const CLOCK: usize = 113;
    /// `yield()`: give the CPU back to the kernel's scheduler.
    pub const YIELD: usize = 124;
    /// `listen(port) -> fd`: a TCP listening socket on `port` of the
    /// kernel's network interface (`-EADDRINUSE` if taken, `-ENODEV`
    /// without a network device). Its descriptor is closed with `close`.
    pub const LISTEN: usize = 201;
    /// `accept(fd) -> fd`: wait for the next connection on listening
    /// socket `fd`; the new descriptor is read, written and closed like a
    /// pipe end (a read returns 0 at the peer's end of stream; a reset
    /// connection gives `-ECONNRESET`).
    pub const ACCEPT: usize = 202;
    /// `set_priority(pid, priority)`: the process's priority cap (0 highest, 0..64).
    pub const SET_PRIORITY: usize = 140;
    /// `getpid()`.
    pub const GETPID: usize = 172;
    /// `gettid()`: thread id, unique within the process (main thread is 0).
    pub const GETTID: usize = 178;
    /// `waitpid(pid, exit_code: *mut i32) -> pid` (`pid = usize::MAX`: any child).
    pub const WAITPID: usize = 260;
    /// `spawn(name, name_len, priority) -> pid`: start an embedded program.
    pub const SPAWN: usize = 400;
    /// `thread_create(entry, arg) -> tid`: a new thread of this process that
    /// calls `entry(arg)` on a fresh user stack.
    pub const THREAD_CREATE: usize = 460;
    /// `thread_exit(code)`: ends the calling thread only.
    pub const THREAD_EXIT: usize = 461;
    /// `thread_join(tid, exit_code: *mut i32) -> tid`: wait for thread
    /// `tid` of this process to exit and reap it (the code is stored, not
    /// returned, so a negative exit code is not read as an error;
    /// `exit_code = 0`: not stored).
    pub const THREAD_JOIN: usize = 462;
    /// `shutdown(code)`: power off (only the init process may call it).
    pub const SHUTDOWN: usize = 500;
    /// `harts() -> n`: harts running the kernel.
    pub const HARTS: usize = 501;
    /// `kernel_model(m)`: serve this process's waiting system calls on
    /// kernel coroutines (`m = 0`, the default) or kernel threads (`m = 1`).
    pub const KERNEL_MODEL: usize = 502;
    /// `kstat(which) -> value`: one of the kernel's resource counters
    /// ([`super::stat`]), for tests asserting that everything a process
    /// used is reclaimed. Read-only and system-wide (but
    /// [`super::stat::FIRST_ENTRY`], which is the caller's).
    pub const KSTAT: usize = 503;
    /// `bootarg(key, key_len) -> value`: the number `N` of a `key=N` word
    /// on the kernel command line (how `cargo xtask fuzz` passes the
    /// fuzzer its seed and length); `-ENOENT` if there is none.
    pub const BOOTARG: usize = 504;
    /// `async(nr, a0, a1, a2, slot: *mut AsyncSlot, cid) -> result`: run
    /// system call `nr` without blocking the thread. Returns its result if
    /// it is ready at once; otherwise `-EINPROGRESS`, and when it completes
    /// the kernel stores the result in `slot` and posts a user-interrupt
    /// record waking coroutine `cid` (see [`super::AsyncSlot`]).
    pub const ASYNC: usize = 600;
    /// `uintr_return()`: leave the user-interrupt handler; the interrupted
    /// context resumes (the `uret` of the soft backend).
    pub const UINTR_RETURN: usize = 601;
    /// `uintr_wait()`: block this thread until a user interrupt is pending
    /// or another thread calls `uintr_kick` (an executor's idle).
    pub const UINTR_WAIT: usize = 602;
    /// `uintr_kick()`: end one `uintr_wait` of this process (an executor's
    /// notify: a coroutine became ready while a thread was parked).
    pub const UINTR_KICK: usize = 603;
    /// `uintr_mode(mode)`: how this process's user interrupts are
    /// delivered: 1 through the RISC-V N extension (each thread enters its
    /// `utvec`; `-ENOSYS` when the machine has no usable N), 0 by soft
    /// upcalls on the return from a system call (the default).
    pub const UINTR_MODE: usize = 604;
    /// `preempt_return()`: leave the preemption handler (see
    /// [`super::CopsPage::preempt_entry`]); the interrupted context resumes.
    pub const PREEMPT_RETURN: usize = 605;
}

/// Error codes (returned negated).
#[repr(isize)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Errno {
    /// No such file or program.
    NoEnt = 2,
    /// No such process or thread.
    Srch = 3,
    /// Bad file descriptor.
    BadF = 9,
    /// No child to wait for.
    Child = 10,
    /// Try again (resource temporarily unavailable).
    Again = 11,
    /// Out of memory.
    NoMem = 12,
    /// Not allowed.
    Perm = 1,
    /// Bad user address.
    Fault = 14,
    /// Invalid argument.
    Inval = 22,
    /// Too many open files / processes / threads.
    MFile = 24,
    /// Write to a pipe with no reader.
    Pipe = 32,
    /// Unknown system call.
    NoSys = 38,
    /// No such device (no network interface).
    NoDev = 19,
    /// Port already in use.
    AddrInUse = 98,
    /// Connection reset by the peer.
    ConnReset = 104,
    /// The socket is not connected (or not listening).
    NotConn = 107,
    /// Asynchronous call accepted; completion comes by user interrupt.
    InProgress = 115,
}

impl Errno {
    /// The value a system call returns for this error.
    pub const fn ret(self) -> isize {
        -(self as isize)
    }

    /// Decode a negative return value.
    pub const fn from_ret(ret: isize) -> Option<Errno> {
        Some(match -ret {
            1 => Errno::Perm,
            2 => Errno::NoEnt,
            3 => Errno::Srch,
            9 => Errno::BadF,
            10 => Errno::Child,
            11 => Errno::Again,
            12 => Errno::NoMem,
            14 => Errno::Fault,
            22 => Errno::Inval,
            24 => Errno::MFile,
            32 => Errno::Pipe,
            19 => Errno::NoDev,
            38 => Errno::NoSys,
            98 => Errno::AddrInUse,
            104 => Errno::ConnReset,
            107 => Errno::NotConn,
            115 => Errno::InProgress,
            _ => return None,
        })
    }
}

/// Counters `kstat` reads.
pub mod stat {
    /// Bytes of kernel heap in use.
    pub const HEAP_USED: usize = 0;
    /// Kernel coroutines spawned and not finished (switchers included).
    pub const KERNEL_COROUTINES: usize = 1;
    /// Processes the kernel holds (live and zombie).
    pub const PROCESSES: usize = 2;
    /// Physical frames in use.
    pub const FRAMES_USED: usize = 3;
    /// Entries in the sleep queue.
    pub const SLEEPERS: usize = 4;
    /// System calls being served on kernel coroutines or threads, all
    /// processes together.
    pub const CALLS: usize = 5;
    /// Bytes charged to in-flight calls (buffers, kernel-thread stacks).
    pub const CALL_BYTES: usize = 6;
    /// Wakers held in the kernel's wait queues (pipes, waitpid, joins,
    /// upcall waits, exits of processes' calls): each pins a kernel
    /// coroutine's slot until it is dropped.
    pub const WAITERS: usize = 7;
    /// User address spaces alive (a dead process's space lives until the
    /// last hart that ran it comes back to the kernel).
    pub const SPACES: usize = 8;
    /// TCP sockets the kernel holds (listening and connected, all
    /// processes together).
    pub const SOCKETS: usize = 9;
    /// Kernel threads started since boot (the KT models: each waiting
    /// call served on its own kernel stack). Cumulative.
    pub const KERNEL_THREADS_STARTED: usize = 16;
    /// Waiting calls served on kernel coroutines since boot (the KC
    /// models). Cumulative.
    pub const COROUTINE_CALLS: usize = 17;
    /// Waiting calls that blocked their thread since boot (the UT models;
    /// an executor's idle `uintr_wait` is not counted). Cumulative.
    pub const THREAD_WAITS: usize = 18;
    /// The *calling* process's rank among first entries into user mode
    /// since boot (1 = first process ever entered): the order in which
    /// the kernel chose processes, for the priority test.
    pub const FIRST_ENTRY: usize = 19;
    /// IPIs sent since boot to make a hart running less urgent user code
    /// come back for more urgent kernel work. Cumulative.
    pub const KERNEL_WORK_IPIS: usize = 20;
    /// Times the timer or an IPI took a hart from a thread polling a
    /// coroutine and sent it into its process's preemption handler (see
    /// `CopsPage::preempt_entry`). Cumulative.
    pub const PREEMPT_HANDLER_ENTRIES: usize = 21;
    /// Each hart's switching-coroutine level, hart `h` in byte `h` (255:
    /// no such hart; bytes past the kernel's most harts are 0): the view's
    /// most urgent level.
    pub const SWITCHER_LEVELS: usize = 22;
}

/// Fixed user-space addresses (Sv39, user half below `0x40_0000_0000`).
pub mod layout {
    /// Read-only mapping of the kernel's `cops_core::view::GlobalPriorityView`.
    pub const GLOBAL_VIEW: usize = 0x3f_0000_0000;
    /// This process's COPS page (read-write, private): see [`super::CopsPage`].
    pub const COPS_PAGE: usize = 0x3e_ffff_f000;
    /// Where the cops vDSO (the scheduler image) is mapped, read-execute
    /// and read-only, in every process.
    pub const VDSO_BASE: usize = 0x3f_8000_0000;
    /// This process's user-interrupt page (read-write, private): a
    /// `cops_uintr::PageSized` the kernel posts wake records to.
    pub const UINTR_PAGE: usize = 0x3e_ffff_e000;
    /// The kernel's own page (read-only, shared by every process): see
    /// [`super::KernelPage`].
    pub const KERNEL_PAGE: usize = 0x3e_ffff_d000;
    /// Top of the main thread's stack; thread `t` gets the stack ending at
    /// `USER_STACK_TOP - t * USER_STACK_STRIDE`.
    pub const USER_STACK_TOP: usize = 0x3e_0000_0000;
    /// Bytes between two threads' stack tops (a guard page included).
    pub const USER_STACK_STRIDE: usize = 0x10_0000;
    /// Bytes of each user stack.
    pub const USER_STACK_SIZE: usize = 64 * 1024;
}

/// The per-process page shared between a process and the kernel. The process
/// writes `highest` and `running`; the kernel only reads them, and clamps
/// what it reads to the process's priority cap, so garbage there only hurts
/// the process itself. The kernel writes `cap` and `vdso_entry`.
#[repr(C)]
pub struct CopsPage {
    /// Highest ready coroutine priority of the process's executor
    /// (0..64), or 255 when nothing is ready.
    pub highest: core::sync::atomic::AtomicU8,
    /// The process's priority cap (0..64), written by the kernel whenever
    /// it changes: the view holds the process at `max(its level, cap)`, so
    /// the executor compares that, not its uncapped level, with the view
    /// when it decides whether another process is more urgent.
    pub cap: core::sync::atomic::AtomicU8,
    _reserved: [u8; 6],
    /// Address of the vDSO's entry point (returns its table), written by
    /// the kernel when it maps the image.
    pub vdso_entry: core::sync::atomic::AtomicU64,
    /// Priority of the coroutine each thread (by tid) is polling, 255
    /// ([`NO_PRIORITY`]) when it polls none, or [`PLAIN_THREAD`]. A thread
    /// that traps mid-poll (system call, preemption) is as urgent as the
    /// coroutine it is running.
    pub running: [core::sync::atomic::AtomicU8; MAX_THREADS],
    /// The process's preemption handler (0: none). When the timer or an
    /// IPI takes the hart from a thread polling a coroutine (its `running`
    /// is a level), the kernel enters this handler on the same thread at
    /// once, `sp` below the interrupted frame: it marks the coroutine
    /// running-suspended, gives the hart up (`yield`), marks it running
    /// again, and leaves by `preempt_return`, which resumes the poll.
    pub preempt_entry: core::sync::atomic::AtomicU64,
}

/// The kernel as one more process in the global priority view (COPS §3.3:
/// a process yields when a more urgent coroutine is ready "in the operating
/// system or in another process"). The kernel writes it; every process maps
/// it read-only at [`layout::KERNEL_PAGE`].
#[repr(C)]
pub struct KernelPage {
    /// The kernel executor's most urgent ready level (0..64), or
    /// [`NO_PRIORITY`]. A ready switching coroutine counts too: it stands
    /// for a waiting process at the view's own highest level.
    pub highest: core::sync::atomic::AtomicU8,
}

/// Most threads per process (a thread's tid indexes [`CopsPage::running`]).
pub const MAX_THREADS: usize = 64;

// The page's layout is ABI: user programs built earlier still read it.
const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(offset_of!(CopsPage, highest) == 0);
    assert!(offset_of!(CopsPage, cap) == 1);
    assert!(offset_of!(CopsPage, vdso_entry) == 8);
    assert!(offset_of!(CopsPage, running) == 16);
    assert!(offset_of!(CopsPage, preempt_entry) == 16 + MAX_THREADS);
    assert!(size_of::<CopsPage>() == 16 + MAX_THREADS + 8);
    assert!(size_of::<CopsPage>() <= 4096);
    assert!(offset_of!(KernelPage, highest) == 0);
    assert!(size_of::<KernelPage>() <= 4096);
};

/// Priority value meaning "nothing ready" in [`CopsPage::highest`].
pub const NO_PRIORITY: u8 = 255;

/// In [`CopsPage::running`]: the thread runs no coroutine (a plain thread,
/// the thread model). The kernel ranks it at the process's cap, as urgent
/// as the process may be, and never sends it through the preemption
/// handler (there is no poll to suspend).
pub const PLAIN_THREAD: u8 = 254;

/// Where an asynchronous system call's result lands (user memory, 8-byte
/// aligned, inside one page). The user allocates it `WAITING`; the kernel
/// moves it `WAITING → BUSY`, copies any output into the caller's buffer,
/// stores `result`, then sets `DONE` and posts the wake. A caller that
/// gives up moves it `WAITING → ABANDONED`; the kernel then writes nothing
/// (and frees the slot). A caller that finds `BUSY` waits for `DONE`
/// before releasing its buffer. 32-byte aligned, so a slot never straddles
/// a page.
///
/// Both sides go through the methods below, never the state word itself:
/// the user side [`claim`](Self::claim)s, [`release`](Self::release)s,
/// [`take_result`](Self::take_result)s or [`abandon`](Self::abandon)s; the
/// kernel [`begin_completion`](Self::begin_completion)s, then
/// [`finish`](Self::finish)es.
#[repr(C, align(32))]
pub struct AsyncSlot {
    state: core::sync::atomic::AtomicU32,
    _pad: u32,
    result: core::sync::atomic::AtomicI64,
    /// The waiting coroutine (user bookkeeping; the kernel ignores it).
    pub owner: core::sync::atomic::AtomicU64,
    /// `rdtime` when the kernel posted the wake (for latency figures).
    posted_at: core::sync::atomic::AtomicU64,
}

const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(offset_of!(AsyncSlot, state) == 0);
    assert!(offset_of!(AsyncSlot, result) == 8);
    assert!(offset_of!(AsyncSlot, owner) == 16);
    assert!(offset_of!(AsyncSlot, posted_at) == 24);
    assert!(size_of::<AsyncSlot>() == 32 && align_of::<AsyncSlot>() == 32);
};

/// What the kernel found when it came to complete a call
/// ([`AsyncSlot::begin_completion`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Completion {
    /// The caller still waits: the slot is the kernel's (`BUSY`) until
    /// [`AsyncSlot::finish`].
    Deliver,
    /// The caller gave up: the slot is free again; write nothing.
    Abandoned,
    /// Not a state the protocol allows (the process wrote garbage): leave
    /// it, only the process suffers.
    Garbage,
}

/// What a caller giving up found ([`AsyncSlot::abandon`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Abandon {
    /// Given up (the kernel will write nothing), or already over.
    Done,
    /// The kernel is copying into the caller's buffers right now: try
    /// again once it finished (they must outlive the copy).
    KernelBusy,
}

impl AsyncSlot {
    const FREE: u32 = 0;
    const WAITING: u32 = 1;
    const BUSY: u32 = 2;
    const DONE: u32 = 3;
    const ABANDONED: u32 = 4;

    /// User: take a free slot for a call (`FREE → WAITING`).
    pub fn claim(&self) -> bool {
        use core::sync::atomic::Ordering::*;
        self.state
            .compare_exchange(Self::FREE, Self::WAITING, Acquire, Relaxed)
            .is_ok()
    }

    /// User: give back a claimed slot the kernel never took (the call
    /// completed at once or was refused).
    pub fn release(&self) {
        self.state
            .store(Self::FREE, core::sync::atomic::Ordering::Release);
    }

    /// User: the call's result and when the kernel posted it, freeing the
    /// slot, once the kernel finished; `None` while it runs.
    pub fn take_result(&self) -> Option<(i64, u64)> {
        use core::sync::atomic::Ordering::*;
        if self.state.load(Acquire) != Self::DONE {
            return None;
        }
        let r = (self.result.load(Relaxed), self.posted_at.load(Relaxed));
        self.state.store(Self::FREE, Release);
        Some(r)
    }

    /// User: give the call up (`WAITING → ABANDONED`, or free a finished
    /// slot).
    pub fn abandon(&self) -> Abandon {
        use core::sync::atomic::Ordering::*;
        match self
            .state
            .compare_exchange(Self::WAITING, Self::ABANDONED, AcqRel, Acquire)
        {
            Ok(_) => Abandon::Done,
            Err(Self::BUSY) => Abandon::KernelBusy,
            Err(_) => {
                self.state.store(Self::FREE, Release);
                Abandon::Done
            }
        }
    }

    /// User: whether a call is in flight or finished and not yet taken (its
    /// owner must look at it after lost wake records).
    pub fn in_use(&self) -> bool {
        matches!(
            self.state.load(core::sync::atomic::Ordering::Acquire),
            Self::WAITING | Self::BUSY | Self::DONE
        )
    }

    /// Kernel: come to complete the call (`WAITING → BUSY`; an abandoned
    /// slot is freed).
    pub fn begin_completion(&self) -> Completion {
        use core::sync::atomic::Ordering::*;
        match self
            .state
            .compare_exchange(Self::WAITING, Self::BUSY, AcqRel, Acquire)
        {
            Ok(_) => Completion::Deliver,
            Err(Self::ABANDONED) => {
                self.state.store(Self::FREE, Release);
                Completion::Abandoned
            }
            Err(_) => Completion::Garbage,
        }
    }

    /// Kernel, after [`Completion::Deliver`] and the copy of any output:
    /// publish the result (`BUSY → DONE`).
    pub fn finish(&self, result: i64, posted_at: u64) {
        use core::sync::atomic::Ordering::*;
        self.result.store(result, Relaxed);
        self.posted_at.store(posted_at, Relaxed);
        self.state.store(Self::DONE, Release);
    }

    /// A free slot.
    pub const fn new() -> Self {
        Self {
            state: core::sync::atomic::AtomicU32::new(Self::FREE),
            _pad: 0,
            result: core::sync::atomic::AtomicI64::new(0),
            owner: core::sync::atomic::AtomicU64::new(0),
            posted_at: core::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl Default for AsyncSlot {
    fn default() -> Self {
        Self::new()
    }
}
