//! Processes and threads: the kernel's record of each address space, its
//! threads (stacks for user coroutines), its descriptors and its priority.
//!
//! A process is in the global priority view exactly while one of its
//! threads is ready to enter user mode; its priority there is its executor's
//! published highest priority, clamped to the process's cap (so a process
//! that publishes garbage can only lower itself). The kernel writes the cap
//! into the COPS page, so the executor compares like with like: its own
//! capped level with the view's capped levels. A plain thread runs no
//! coroutine; the runtime marks it running at level 0 (clamped to the cap).
//!
//! Pids are small reusable numbers (they index the view); what identifies a
//! process for good is its `serial`, never reused. Every relation between
//! processes (parenthood, the view entry a process may write) is checked by
//! serial, so a process that receives a dead process's pid inherits none of
//! its power.
//!
//! Exit is one ordered transition: dead (nothing new starts) → out of the
//! view → every call in flight ends → descriptors closed → zombie (reapable)
//! or, for an orphan, gone. A parent's exit orphans its children: its
//! zombies are freed at once, the others when they exit.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering::*};

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use cops_core::Priority;
use rcore_n_abi::{CopsPage, Errno, MAX_THREADS};

use super::call::{Done, SyscallFuture};
use super::quota::{Charge, Quota};
use super::view_changed;
use crate::fs::FdTable;
use crate::mm::space::UserSpace;
use crate::sync::WaitQueue;
use crate::trap::UserContext;

/// Process ids are view space ids: `1..MAX_PIDS`.
pub const MAX_PIDS: usize = cops_core::view::MAX_SPACES;
/// Processes (live and zombie) at most; more spawns get `-EAGAIN`. Memory
/// usually runs out first (`-ENOMEM`).
pub const MAX_PROCESSES: usize = 128;

pub struct Thread {
    pub tid: usize,
    pub ctx: spin::Mutex<UserContext>,
    /// The context a user-interrupt upcall interrupted (restored by
    /// `uintr_return`); `Some` while the handler runs.
    pub upcall_saved: spin::Mutex<Option<UserContext>>,
    /// The thread last trapped with a system call: an upcall may be
    /// delivered on its way back (never after a preemption).
    pub at_safe_point: AtomicBool,
    /// The context the timer or an IPI interrupted mid-poll (restored by
    /// `preempt_return`); `Some` while the process's preemption handler
    /// runs (see `CopsPage::preempt_entry`).
    pub preempt_saved: spin::Mutex<Option<UserContext>>,
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
    /// The serial of the process that started this one (0: the kernel).
    parent_serial: usize,
    /// The parent exited: nobody will reap this process (under `PROCS`).
    orphan: AtomicBool,
    /// This process exited and gave up its children (under `PROCS`): it
    /// may start no more.
    children_orphaned: AtomicBool,
    pub space: spin::Mutex<UserSpace>,
    satp: usize,
    /// The COPS page (shared with the process, which writes it); its
    /// frame belongs to `space`, which lives as long as this record.
    cops_page: &'static CopsPage,
    /// Physical address of the user-interrupt page.
    pub(crate) uintr_page: usize,
    /// Threads waiting in `uintr_wait`.
    pub upcall_waiters: WaitQueue,
    /// `uintr_kick`s not yet consumed by a `uintr_wait`: each ends one
    /// wait. A flag would merge kicks that come together (an executor
    /// spawning three coroutines kicks three parked threads) and leave all
    /// but one of those threads parked with work ready.
    kicks: AtomicUsize,
    /// Serve this process's waiting system calls on kernel threads (the
    /// KT models) instead of kernel coroutines (KC, the default).
    pub kernel_threads: AtomicBool,
    /// What this process's calls in flight hold (see `quota`).
    pub quota: Arc<Quota>,
    /// Every call in flight waits here too: exit wakes them, and each ends
    /// at once, whatever it waited for.
    killed: WaitQueue,
    threads: spin::Mutex<Threads>,
    /// Priority cap (0 highest): the most urgent this process can be.
    cap: AtomicU8,
    pub fds: spin::Mutex<FdTable>,
    dead: AtomicBool,
    pub exit_code: spin::Mutex<Option<i32>>,
    /// Thread exits of this process (thread_join waits here).
    pub thread_exits: WaitQueue,
    /// This process's rank among first entries into user mode since boot
    /// (1 = the first process ever entered; 0 = not entered yet).
    first_entry: AtomicUsize,
}

static PROCS: spin::Mutex<BTreeMap<usize, Arc<Process>>> = spin::Mutex::new(BTreeMap::new());
/// Child exits (waitpid waits here).
pub static CHILD_EXITS: WaitQueue = WaitQueue::new();

static SPAWNED: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Waiting calls served on kernel coroutines since boot (the KC models;
/// the KT models serve them on kernel threads).
static CALLS_ON_COROUTINES: AtomicUsize = AtomicUsize::new(0);

/// Waiting calls served on kernel coroutines since boot.
pub fn calls_on_coroutines() -> usize {
    CALLS_ON_COROUTINES.load(Relaxed)
}

/// Waiting system calls that blocked their thread since boot (the
/// synchronous form; an executor's idle `uintr_wait` is not counted).
static THREAD_WAITS: AtomicUsize = AtomicUsize::new(0);

/// Waiting system calls that blocked their thread since boot.
pub fn thread_waits() -> usize {
    THREAD_WAITS.load(Relaxed)
}

pub fn count_thread_wait() {
    THREAD_WAITS.fetch_add(1, Relaxed);
}

/// Order of processes' first entries into user mode (see
/// [`Process::entered`]).
static ENTRIES: AtomicUsize = AtomicUsize::new(0);

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
    parent: Option<&Arc<Process>>,
    cap: Priority,
    fds: FdTable,
) -> Result<Arc<Process>, Errno> {
    let elf = crate::programs::find(name).ok_or(Errno::NoEnt)?;
    let (view_pa, view_len) = super::view_pages();
    let shared = [
        (rcore_n_abi::layout::GLOBAL_VIEW, view_pa, view_len),
        (
            rcore_n_abi::layout::KERNEL_PAGE,
            super::kernel_view::page_pa(),
            crate::mm::PAGE_SIZE,
        ),
    ];
    let (mut space, entry) = UserSpace::from_elf(elf, &shared)?;
    let sp = space.map_stack(0)?;
    let satp = space.table().satp();
    // Until its executor publishes, the process is as urgent as its cap
    // (its main coroutine is about to start).
    let cops_page = space.cops_page();
    cops_page.highest.store(cap.level(), Relaxed);
    cops_page.cap.store(cap.level(), Relaxed);
    let uintr_page = space.uintr_page_pa();
    static SERIAL: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(1);
    let serial = SERIAL.fetch_add(1, Relaxed);
    let mut procs = PROCS.lock();
    // Under the same lock as the pid's insertion (two spawns on two harts
    // must not pick the same free pid), and as the parent's exit (a child
    // started after its parent gave up its children would never be reaped).
    if parent.is_some_and(|p| p.children_orphaned.load(Relaxed)) {
        return Err(Errno::Srch);
    }
    if procs.len() >= MAX_PROCESSES {
        return Err(Errno::Again);
    }
    let pid = (1..MAX_PIDS)
        .find(|p| !procs.contains_key(p))
        .ok_or(Errno::Again)?;
    let p = Arc::new(Process {
        pid,
        serial,
        name: String::from(name),
        parent_serial: parent.map_or(0, |p| p.serial),
        orphan: AtomicBool::new(false),
        children_orphaned: AtomicBool::new(false),
        space: spin::Mutex::new(space),
        satp,
        cops_page,
        uintr_page,
        upcall_waiters: WaitQueue::new(),
        kicks: AtomicUsize::new(0),
        kernel_threads: AtomicBool::new(false),
        quota: Arc::new(Quota::default()),
        killed: WaitQueue::new(),
        threads: spin::Mutex::new(Threads::default()),
        cap: AtomicU8::new(cap.level()),
        fds: spin::Mutex::new(fds),
        dead: AtomicBool::new(false),
        exit_code: spin::Mutex::new(None),
        thread_exits: WaitQueue::new(),
        first_entry: AtomicUsize::new(0),
    });
    procs.insert(pid, p.clone());
    drop(procs);
    // From here on only this process may write the pid's view entry (a
    // dead process with the same pid may still be finishing on another hart).
    super::claim_view(pid, serial);
    SPAWNED.fetch_add(1, Relaxed);
    let t = p
        .reserve_thread(0, UserContext::new(entry, sp, 0, 0))
        .ok_or(Errno::Again)?;
    p.make_ready(t);
    Ok(p)
}

impl Process {
    /// A `uintr_kick`: one more `uintr_wait` may end. Capped at one per
    /// possible thread, since no more waits can be pending at once.
    pub fn kick(&self) {
        let _ = self
            .kicks
            .fetch_update(AcqRel, Acquire, |k| (k < MAX_THREADS).then_some(k + 1));
    }

    /// Consume a kick, if there is one (a `uintr_wait` ends).
    pub fn take_kick(&self) -> bool {
        self.kicks
            .fetch_update(AcqRel, Acquire, |k| k.checked_sub(1))
            .is_ok()
    }

    /// Whether `self` started `child` (by serial: pids are reused).
    pub fn is_parent_of(&self, child: &Process) -> bool {
        child.parent_serial == self.serial
    }

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
        // The executor compares its capped level with the view.
        self.cops_page.cap.store(p.level(), Release);
        self.refresh_view();
    }

    /// How urgent this process is when threads `tids` are ready: the most
    /// urgent of its executor's ready coroutines and of the coroutines those
    /// threads were running, never more urgent than the cap. Read from the
    /// COPS page, which only the process writes: garbage there is clamped
    /// and only lowers (or, within its cap, raises) the process itself.
    pub fn priority_with(&self, tids: impl Iterator<Item = usize>) -> Priority {
        let page = self.cops_page;
        let mut best = page.highest.load(Acquire);
        for running in tids.filter_map(|t| page.running.get(t)) {
            best = best.min(match running.load(Acquire) {
                // As urgent as the process may be: clamped to the cap below.
                rcore_n_abi::PLAIN_THREAD => 0,
                level => level,
            });
        }
        let level = if best as usize >= cops_core::ready::LEVELS {
            Priority::LOWEST.level()
        } else {
            best
        };
        Priority::new(level.max(self.cap.load(Relaxed))).unwrap_or(Priority::LOWEST)
    }

    /// Where thread `tid` goes when the hart is taken from it: the process's
    /// preemption handler, if it registered one and the thread is polling
    /// a coroutine (its COPS `running` slot holds a level: not
    /// `PLAIN_THREAD`, not `NO_PRIORITY`). User-written:
    /// a bad address only faults the process itself.
    pub fn preempt_entry(&self, tid: usize) -> Option<usize> {
        let page = self.cops_page;
        let polling = page
            .running
            .get(tid)
            .is_some_and(|r| (r.load(Acquire) as usize) < cops_core::ready::LEVELS);
        let entry = page.preempt_entry.load(Acquire) as usize;
        (polling && entry != 0).then_some(entry)
    }

    /// Record thread `tid` (not ready yet), unless the tid is taken.
    fn reserve_thread(&self, tid: usize, ctx: UserContext) -> Option<Arc<Thread>> {
        let mut th = self.threads.lock();
        if th.all.contains_key(&tid) || th.exited.contains_key(&tid) {
            return None;
        }
        let t = Arc::new(Thread {
            tid,
            ctx: spin::Mutex::new(ctx),
            upcall_saved: spin::Mutex::new(None),
            at_safe_point: AtomicBool::new(false),
            preempt_saved: spin::Mutex::new(None),
        });
        th.all.insert(tid, t.clone());
        Some(t)
    }

    /// A new thread running `entry(arg)` on its own stack. The tid is
    /// chosen and taken under one hold of the thread lock, so two threads
    /// creating threads at once never get the same tid (nor stack).
    pub fn create_thread(&self, entry: usize, arg: usize) -> Result<usize, Errno> {
        let t = {
            let th = self.threads.lock();
            let tid = (1..MAX_THREADS)
                .find(|t| !th.all.contains_key(t) && !th.exited.contains_key(t))
                .ok_or(Errno::Again)?;
            drop(th);
            let ctx = UserContext::new(entry, UserSpace::stack_top(tid), tid, arg);
            // Another creator may have taken the tid meanwhile: try again.
            match self.reserve_thread(tid, ctx) {
                Some(t) => t,
                None => return self.create_thread(entry, arg),
            }
        };
        if let Err(e) = self.space.lock().map_stack(t.tid) {
            self.threads.lock().all.remove(&t.tid);
            return Err(e);
        }
        let tid = t.tid;
        self.make_ready(t);
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
        if t.is_some() && self.first_entry.load(Relaxed) == 0 {
            // Ranked here, right after the view's pick, so the order of
            // ranks is the order in which the kernel chose processes (up
            // to the harts picking at the same moment).
            let rank = ENTRIES.fetch_add(1, Relaxed) + 1;
            let _ = self.first_entry.compare_exchange(0, rank, Relaxed, Relaxed);
        }
        t
    }

    /// This process's rank among first entries into user mode (0: never
    /// entered): the kernel's own record of the order it chose processes
    /// in, for the priority test (`kstat(FIRST_ENTRY)`).
    pub fn entered(&self) -> usize {
        self.first_entry.load(Relaxed)
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
            self.serial,
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

    /// A waiting system call of this process, charged to its quota and
    /// served on a kernel coroutine (the call's own future) or, in the KT
    /// models, on a kernel thread. It ends with `None` as soon as the
    /// process dies, whenever it started (even just after the exit).
    pub fn serve(self: &Arc<Self>, call: SyscallFuture) -> Result<Served, Errno> {
        let kt = self.kernel_threads.load(Relaxed);
        let stack = if kt { super::kthread::STACK_SIZE } else { 0 };
        let charge = self.quota.charge(1, stack)?;
        let call = if kt {
            super::kthread::spawn(call)?
        } else {
            CALLS_ON_COROUTINES.fetch_add(1, Relaxed);
            call
        };
        Ok(Served {
            proc: self.clone(),
            call,
            key: WaitQueue::new_key(),
            _charge: charge,
        })
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

    /// End the whole process, in this order: dead (no thread enters user
    /// mode again, no call starts), out of the view, every call in flight
    /// ended, descriptors closed; then, last, a zombie the parent can reap
    /// (or nothing, for an orphan). Nothing of the process is touched after
    /// it became reapable, so a new process given the same pid is safe.
    pub fn exit(self: &Arc<Self>, code: i32) {
        if self.dead.swap(true, AcqRel) {
            return;
        }
        let threads: Vec<_> = {
            let mut th = self.threads.lock();
            th.ready.clear();
            core::mem::take(&mut th.all).into_values().collect()
        };
        drop(threads);
        self.refresh_view(); // dead: leaves the view
        // Each call re-checks `dead` after registering here, so one that
        // starts after this notify ends too.
        self.killed.notify_all();
        self.fds.lock().close_all();
        if self.pid == super::INIT_PID {
            super::init_exited(code);
        }
        {
            let mut procs = PROCS.lock();
            *self.exit_code.lock() = Some(code);
            // Give up the children: zombies go now, the others when they exit.
            self.children_orphaned.store(true, Relaxed);
            let zombies: Vec<usize> = procs
                .values()
                .filter(|c| c.parent_serial == self.serial)
                .filter_map(|c| {
                    c.orphan.store(true, Relaxed);
                    c.exit_code.lock().is_some().then_some(c.pid)
                })
                .collect();
            for pid in zombies {
                procs.remove(&pid);
            }
            if self.orphan.load(Relaxed)
                && procs
                    .get(&self.pid)
                    .is_some_and(|p| p.serial == self.serial)
            {
                procs.remove(&self.pid);
            }
        }
        CHILD_EXITS.notify_all();
    }
}

/// A system call in flight for a process (see [`Process::serve`]).
pub struct Served {
    proc: Arc<Process>,
    call: SyscallFuture,
    /// Our registration in the process's `killed` queue.
    key: u64,
    _charge: Charge,
}

impl Future for Served {
    type Output = Option<Done>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Done>> {
        if self.proc.is_dead() {
            return Poll::Ready(None);
        }
        if let Poll::Ready(done) = self.call.as_mut().poll(cx) {
            return Poll::Ready(Some(done));
        }
        self.proc.killed.register(self.key, cx.waker());
        // Re-check after registering: an exit between the first check and
        // the registration has notified before we were there.
        if self.proc.is_dead() {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.proc.killed.unregister(self.key);
    }
}

/// Processes the kernel holds (live and zombie).
pub fn count() -> usize {
    PROCS.lock().len()
}

/// Reap an exited child of `parent` (`pid = None`: any child). `Ok(None)`:
/// children exist but none exited yet.
pub fn reap_child(parent: &Process, pid: Option<usize>) -> Result<Option<(usize, i32)>, Errno> {
    let mut procs = PROCS.lock();
    let mut any = false;
    let mut found = None;
    for (&p, proc) in procs.iter() {
        if proc.parent_serial != parent.serial || pid.is_some_and(|want| want != p) {
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
