//! Processes and threads: the kernel's record of each address space, its
//! threads (stacks for user coroutines), its descriptors and its priority.
//!
//! A process is in the global priority view exactly while one of its
//! threads is ready to enter user mode; its priority there is its executor's
//! published highest priority, clamped to the process's cap (so a process
//! that publishes garbage can only lower itself).

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering::*};

use cops_core::{CoroutineId, ExecutorOps, Priority};
use rcore_n_abi::{Errno, MAX_THREADS};

use super::wait::WaitQueue;
use super::{EXEC, view_changed};
use crate::fs::FdTable;
use crate::mm::space::UserSpace;
use crate::trap::UserContext;

/// Process ids are view space ids: `1..MAX_PIDS`.
pub const MAX_PIDS: usize = 4096;

pub struct Thread {
    pub tid: usize,
    pub ctx: spin::Mutex<UserContext>,
    /// The kernel coroutine serving this thread's blocking system call.
    pub pending: spin::Mutex<Option<CoroutineId>>,
    /// The context a user-interrupt upcall interrupted (restored by
    /// `uintr_return`); `Some` while the handler runs.
    pub upcall_saved: spin::Mutex<Option<UserContext>>,
    /// The thread last trapped with a system call: an upcall may be
    /// delivered on its way back (never after a preemption).
    pub at_safe_point: AtomicBool,
}

#[derive(Default)]
struct Threads {
    ready: VecDeque<Arc<Thread>>,
    all: BTreeMap<usize, Arc<Thread>>,
    /// Exit codes of exited threads not joined yet.
    exited: BTreeMap<usize, i32>,
}

pub struct Process {
    pub pid: usize,
    /// Unique for the kernel's lifetime (pids and page-table roots are
    /// reused; this is not).
    pub serial: usize,
    pub name: String,
    pub parent: usize,
    pub space: spin::Mutex<UserSpace>,
    satp: usize,
    /// Physical address of the COPS page (the process writes it).
    cops_page: usize,
    /// Physical address of the user-interrupt page.
    pub(crate) uintr_page: usize,
    /// Threads waiting in `uintr_wait`.
    pub upcall_waiters: WaitQueue,
    /// A `uintr_kick` not yet consumed by a `uintr_wait`.
    pub kicked: AtomicBool,
    /// Serve this process's waiting system calls on kernel threads (the
    /// KT models) instead of kernel coroutines (KC, the default).
    pub kernel_threads: AtomicBool,
    /// Kernel coroutines serving this process's asynchronous calls.
    async_ops: spin::Mutex<alloc::collections::BTreeSet<u64>>,
    threads: spin::Mutex<Threads>,
    /// Priority cap (0 highest): the most urgent this process can be.
    cap: AtomicU8,
    pub fds: spin::Mutex<FdTable>,
    dead: AtomicBool,
    pub exit_code: spin::Mutex<Option<i32>>,
    /// Thread exits of this process (thread_join waits here).
    pub thread_exits: WaitQueue,
}

static PROCS: spin::Mutex<BTreeMap<usize, Arc<Process>>> = spin::Mutex::new(BTreeMap::new());
/// Child exits (waitpid waits here).
pub static CHILD_EXITS: WaitQueue = WaitQueue::new();

static SPAWNED: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Processes started since boot.
pub fn spawned() -> usize {
    SPAWNED.load(Relaxed)
}

/// The live or zombie process `pid`.
pub fn get(pid: usize) -> Option<Arc<Process>> {
    PROCS.lock().get(&pid).cloned()
}

/// Start the embedded program `name` as a child of `parent` at priority
/// `cap`, inheriting `fds`.
pub fn spawn(
    name: &str,
    parent: usize,
    cap: Priority,
    fds: FdTable,
) -> Result<Arc<Process>, Errno> {
    let elf = crate::loader::find(name).ok_or(Errno::NoEnt)?;
    let (view_pa, view_len) = super::view_pages();
    let (mut space, entry) = UserSpace::from_elf(elf, view_pa, view_len)?;
    let sp = space.map_stack(0)?;
    let satp = space.table().satp();
    // Until its executor publishes, the process is as urgent as its cap
    // (its main coroutine is about to start).
    space.cops_page()[0] = cap.level();
    let cops_page = space.cops_page().as_ptr() as usize;
    let uintr_page = space.uintr_page_pa();
    let pid = {
        let procs = PROCS.lock();
        (1..MAX_PIDS)
            .find(|p| !procs.contains_key(p))
            .ok_or(Errno::Again)?
    };
    static SERIAL: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(1);
    let p = Arc::new(Process {
        pid,
        serial: SERIAL.fetch_add(1, Relaxed),
        name: String::from(name),
        parent,
        space: spin::Mutex::new(space),
        satp,
        cops_page,
        uintr_page,
        upcall_waiters: WaitQueue::new(),
        kicked: AtomicBool::new(false),
        kernel_threads: AtomicBool::new(false),
        async_ops: spin::Mutex::new(alloc::collections::BTreeSet::new()),
        threads: spin::Mutex::new(Threads::default()),
        cap: AtomicU8::new(cap.level()),
        fds: spin::Mutex::new(fds),
        dead: AtomicBool::new(false),
        exit_code: spin::Mutex::new(None),
        thread_exits: WaitQueue::new(),
    });
    PROCS.lock().insert(pid, p.clone());
    SPAWNED.fetch_add(1, Relaxed);
    p.add_thread(0, UserContext::new(entry, sp, 0, 0));
    Ok(p)
}

impl Process {
    pub fn satp(&self) -> usize {
        self.satp
    }

    pub fn is_dead(&self) -> bool {
        self.dead.load(Acquire)
    }

    pub fn cap(&self) -> Priority {
        Priority::new(self.cap.load(Relaxed)).unwrap_or(Priority::LOWEST)
    }

    pub fn set_cap(&self, p: Priority) {
        self.cap.store(p.level(), Relaxed);
        self.refresh_view();
    }

    /// How urgent this process is when threads `tids` are ready: the most
    /// urgent of its executor's ready coroutines and of the coroutines those
    /// threads were running, never more urgent than the cap. Read from the
    /// COPS page, which only the process writes: garbage there is clamped
    /// and only lowers (or, within its cap, raises) the process itself.
    pub fn priority_with(&self, tids: impl Iterator<Item = usize>) -> Priority {
        let page = self.cops_page as *const u8;
        // SAFETY: the COPS page frame lives as long as the space; the
        // process may write it concurrently, hence volatile byte reads.
        let read = |off: usize| unsafe { core::ptr::read_volatile(page.add(off)) };
        let mut best = read(0);
        for tid in tids.filter(|&t| t < MAX_THREADS) {
            best = best.min(read(
                core::mem::offset_of!(rcore_n_abi::CopsPage, running) + tid,
            ));
        }
        let level = if best as usize >= cops_core::ready::LEVELS {
            Priority::LOWEST.level()
        } else {
            best
        };
        Priority::new(level.max(self.cap.load(Relaxed))).unwrap_or(Priority::LOWEST)
    }

    fn add_thread(&self, tid: usize, ctx: UserContext) {
        let t = Arc::new(Thread {
            tid,
            ctx: spin::Mutex::new(ctx),
            pending: spin::Mutex::new(None),
            upcall_saved: spin::Mutex::new(None),
            at_safe_point: AtomicBool::new(false),
        });
        self.threads.lock().all.insert(tid, t.clone());
        self.make_ready(t);
    }

    /// A new thread running `entry(arg)` on its own stack.
    pub fn create_thread(&self, entry: usize, arg: usize) -> Result<usize, Errno> {
        let tid = {
            let th = self.threads.lock();
            (1..MAX_THREADS)
                .find(|t| !th.all.contains_key(t) && !th.exited.contains_key(t))
                .ok_or(Errno::Again)?
        };
        let sp = self.space.lock().map_stack(tid)?;
        self.add_thread(tid, UserContext::new(entry, sp, tid, arg));
        Ok(tid)
    }

    /// `thread` may enter user mode again.
    pub fn make_ready(&self, thread: Arc<Thread>) {
        if self.is_dead() {
            return;
        }
        self.threads.lock().ready.push_back(thread);
        self.refresh_view();
    }

    /// Take a ready thread to run (the switching coroutine's side).
    pub fn take_ready(&self) -> Option<Arc<Thread>> {
        let t = self.threads.lock().ready.pop_front();
        self.refresh_view();
        t
    }

    /// Publish this process's current priority (or absence) in the view.
    /// The thread lock is held across the update, so concurrent refreshes
    /// on different harts land in the order of the states they saw (else a
    /// stale "nothing ready" could overwrite a newer "ready").
    pub fn refresh_view(&self) {
        let th = self.threads.lock();
        let ready = !self.is_dead() && !th.ready.is_empty();
        view_changed(
            self.pid,
            ready.then(|| self.priority_with(th.ready.iter().map(|t| t.tid))),
        );
    }

    /// The calling thread ends; the process ends with it if it was the last.
    pub fn exit_thread(self: &Arc<Self>, tid: usize, code: i32) {
        let last = {
            let mut th = self.threads.lock();
            th.all.remove(&tid);
            th.exited.insert(tid, code);
            th.all.is_empty()
        };
        self.thread_exits.notify_all();
        if last {
            self.exit(code);
        }
    }

    /// How this process's waiting system calls are served: on a kernel
    /// coroutine (the call's own future) or on a kernel thread.
    pub fn served(&self, call: crate::syscall::SyscallFuture) -> crate::syscall::SyscallFuture {
        if self.kernel_threads.load(Relaxed) {
            super::kthread::spawn(call)
        } else {
            call
        }
    }

    /// Remember a kernel coroutine serving an asynchronous call (cancelled
    /// if the process dies first). Finished ones are pruned as we go.
    pub fn track_async(&self, id: CoroutineId) {
        let exec = EXEC.get().unwrap();
        let mut ops = self.async_ops.lock();
        ops.retain(|&raw| exec.state(CoroutineId::from_raw(raw)).is_ok());
        ops.insert(id.to_raw());
    }

    /// Exit code of thread `tid` once it exits (reaps it).
    pub fn take_thread_exit(&self, tid: usize) -> Option<Result<i32, Errno>> {
        let mut th = self.threads.lock();
        if let Some(code) = th.exited.remove(&tid) {
            return Some(Ok(code));
        }
        if !th.all.contains_key(&tid) {
            return Some(Err(Errno::Srch));
        }
        None
    }

    pub fn has_thread(&self, tid: usize) -> bool {
        let th = self.threads.lock();
        th.all.contains_key(&tid) || th.exited.contains_key(&tid)
    }

    /// End the whole process: leave the view, cancel its blocked system
    /// calls, close its descriptors, and tell the parent.
    pub fn exit(self: &Arc<Self>, code: i32) {
        if self.dead.swap(true, AcqRel) {
            return;
        }
        *self.exit_code.lock() = Some(code);
        let threads: Vec<_> = {
            let mut th = self.threads.lock();
            th.ready.clear();
            core::mem::take(&mut th.all).into_values().collect()
        };
        let exec = EXEC.get().unwrap();
        for t in threads {
            if let Some(id) = t.pending.lock().take() {
                let _ = exec.cancel(id);
            }
        }
        for raw in core::mem::take(&mut *self.async_ops.lock()) {
            let _ = exec.cancel(CoroutineId::from_raw(raw));
        }
        self.refresh_view(); // dead: leaves the view
        self.fds.lock().close_all();
        if self.pid == super::INIT_PID {
            super::init_exited(code);
        }
        // Orphans are adopted by nobody: reap their zombies when they exit.
        CHILD_EXITS.notify_all();
    }
}

/// Reap an exited child of `parent` (`pid = None`: any child). `Ok(None)`:
/// children exist but none exited yet.
pub fn reap_child(parent: usize, pid: Option<usize>) -> Result<Option<(usize, i32)>, Errno> {
    let mut procs = PROCS.lock();
    let mut any = false;
    let mut found = None;
    for (&p, proc) in procs.iter() {
        if proc.parent != parent || pid.is_some_and(|want| want != p) {
            continue;
        }
        any = true;
        if let Some(code) = *proc.exit_code.lock() {
            found = Some((p, code));
            break;
        }
    }
    match found {
        Some((p, code)) => {
            procs.remove(&p);
            Ok(Some((p, code)))
        }
        None if any => Ok(None),
        None => Err(Errno::Child),
    }
}
