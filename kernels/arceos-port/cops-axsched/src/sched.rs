// The adapter: cops-core's priority ready queue behind ArceOS's
// `BaseScheduler`. This one file is compiled twice:
// - by `cops-axsched`, where `crate::BaseScheduler` is the genuine
//   `axsched::BaseScheduler` from crates.io (`axsched = "=0.3.1"`), which
//   proves the signatures match the published trait;
// - by the `axsched` shim (`../axtask-host/axsched-cops`), where
//   `crate::BaseScheduler` is a verbatim copy of that trait, so the shim can
//   replace `axsched` inside the unmodified published `axtask` through
//   `[patch.crates-io]`.
// It must therefore only name `crate::BaseScheduler`, `cops_core`, `spin`,
// `alloc` and `core`.

use alloc::sync::Arc;
use core::marker::PhantomData;
use core::ops::Deref;
use core::sync::atomic::{AtomicU8, Ordering};

use cops_core::ready::{PriorityQueue, QueueHandle};
use cops_core::Priority;

use crate::BaseScheduler;

/// Number of priority levels: cops-core's 64, level 0 the most urgent.
pub const LEVELS: usize = cops_core::ready::LEVELS;

/// The level every new task starts at: the **lowest** (63).
///
/// Not a middle level, on purpose. `axtask`'s gc task busy-yields
/// (`yield_now` in a loop) while an exited task is still referenced, e.g. by a
/// `JoinHandle` held by the task that will join it. Under strict priority a gc
/// task ranked above that holder is re-picked forever: a livelock. With every
/// task (gc included) starting at the lowest level, gc can never out-rank a
/// task that has not explicitly raised itself.
pub const DEFAULT_LEVEL: u8 = LEVELS as u8 - 1;

/// Nice values accepted by [`NicePolicy`]: Linux's `-20..=19`, as for
/// `axsched::CFScheduler`.
pub const NICE_MIN: isize = -20;
/// See [`NICE_MIN`].
pub const NICE_MAX: isize = 19;

/// Map a nice value (`-20..=19`) linearly onto levels `0..=63`
/// (-20 → 0, 0 → 32, 19 → 63); `None` outside the range.
pub const fn nice_to_level(nice: isize) -> Option<u8> {
    if nice < NICE_MIN || nice > NICE_MAX {
        return None;
    }
    let span = NICE_MAX - NICE_MIN; // 39
    let top = (LEVELS - 1) as isize; // 63
    Some((((nice - NICE_MIN) * top + span / 2) / span) as u8)
}

/// A level number `0..=63` as given to `set_priority`; `None` outside.
pub const fn level_from_prio(prio: isize) -> Option<u8> {
    if prio >= 0 && (prio as usize) < LEVELS {
        Some(prio as u8)
    } else {
        None
    }
}

/// What distinguishes the schedulers: whether a tick may preempt, and how a
/// `set_priority` argument maps to a level.
pub trait Policy {
    /// Whether [`BaseScheduler::task_tick`] asks for preemption when a
    /// strictly higher level is ready.
    const PREEMPT: bool;
    /// The name `axtask` logs at boot.
    const NAME: &'static str;
    /// The level for a `set_priority` argument, `None` to refuse it.
    fn level_of(prio: isize) -> Option<u8>;
}

/// Cooperative: priority order at every switch, but a tick never preempts.
/// `set_priority` takes a level `0..=63`.
pub struct Cooperative;
/// Preemptive: like [`Cooperative`], and a tick asks for preemption when a
/// strictly higher level than the running task's is ready.
pub struct Preemptive;
/// [`Preemptive`], but `set_priority` takes a nice value `-20..=19` (mapped
/// by [`nice_to_level`]) as `CFScheduler` callers pass.
pub struct NicePolicy;

impl Policy for Cooperative {
    const PREEMPT: bool = false;
    const NAME: &'static str = "COPS-priority (cooperative)";
    fn level_of(prio: isize) -> Option<u8> {
        level_from_prio(prio)
    }
}

impl Policy for Preemptive {
    const PREEMPT: bool = true;
    const NAME: &'static str = "COPS-priority (preemptive)";
    fn level_of(prio: isize) -> Option<u8> {
        level_from_prio(prio)
    }
}

impl Policy for NicePolicy {
    const PREEMPT: bool = true;
    const NAME: &'static str = "COPS-priority (preemptive, nice)";
    fn level_of(prio: isize) -> Option<u8> {
        nice_to_level(prio)
    }
}

/// A task as the scheduler sees it: the caller's task (`axtask`'s
/// `TaskInner`) plus its level and, while queued, its queue handle.
pub struct PrioTask<T> {
    inner: T,
    level: AtomicU8,
    /// The handle of the queue entry while the task is queued. Only touched
    /// by the scheduler holding the task (axtask calls it with IRQs and
    /// preemption off under the run queue lock), so never contended.
    slot: spin::Mutex<Option<QueueHandle>>,
}

impl<T> PrioTask<T> {
    /// Wrap `inner` at [`DEFAULT_LEVEL`] (what `axtask`'s `AxTask::new` calls).
    pub const fn new(inner: T) -> Self {
        Self::with_level(inner, DEFAULT_LEVEL)
    }

    /// Wrap `inner` at `level` (clamped to the lowest level).
    pub const fn with_level(inner: T, level: u8) -> Self {
        let level = if (level as usize) < LEVELS { level } else { DEFAULT_LEVEL };
        Self {
            inner,
            level: AtomicU8::new(level),
            slot: spin::Mutex::new(None),
        }
    }

    /// The wrapped task.
    pub const fn inner(&self) -> &T {
        &self.inner
    }

    /// The task's level, 0 the most urgent.
    pub fn level(&self) -> u8 {
        self.level.load(Ordering::Relaxed)
    }

    fn priority(&self) -> Priority {
        Priority::new(self.level()).unwrap_or(Priority::LOWEST)
    }
}

impl<T> Deref for PrioTask<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

/// One run queue: cops-core's [`PriorityQueue`] (a 64-bit non-empty-level
/// bitmap plus one FIFO per level), so pick, put and remove are O(1) whatever
/// the number of tasks.
pub struct PrioScheduler<T, P> {
    queue: PriorityQueue<Arc<PrioTask<T>>>,
    _policy: PhantomData<fn() -> P>,
}

/// The cooperative priority scheduler.
pub type CoopScheduler<T> = PrioScheduler<T, Cooperative>;
/// The preemptive priority scheduler (levels).
pub type PreemptScheduler<T> = PrioScheduler<T, Preemptive>;
/// The preemptive priority scheduler taking nice values.
pub type NiceScheduler<T> = PrioScheduler<T, NicePolicy>;

impl<T, P: Policy> PrioScheduler<T, P> {
    /// An empty run queue.
    pub const fn new() -> Self {
        Self {
            queue: PriorityQueue::new(),
            _policy: PhantomData,
        }
    }

    /// The name `axtask` logs at boot.
    pub fn scheduler_name() -> &'static str {
        P::NAME
    }

    /// Number of queued tasks.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether no task is queued.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The most urgent non-empty level.
    pub fn highest_level(&self) -> Option<u8> {
        self.queue.highest().map(Priority::level)
    }

    fn enqueue(&mut self, task: Arc<PrioTask<T>>, front: bool) {
        let level = task.priority();
        let handle = if front {
            self.queue.push_front(task, level)
        } else {
            self.queue.push_back(task, level)
        };
        if let Some(t) = self.queue.get(handle) {
            *t.slot.lock() = Some(handle);
        }
    }

    /// The handle of `task` if it is queued *in this run queue*.
    fn handle_of(&self, task: &Arc<PrioTask<T>>) -> Option<QueueHandle> {
        let handle = (*task.slot.lock())?;
        let queued = self.queue.get(handle)?;
        Arc::ptr_eq(queued, task).then_some(handle)
    }
}

impl<T, P: Policy> Default for PrioScheduler<T, P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, P: Policy> BaseScheduler for PrioScheduler<T, P> {
    type SchedItem = Arc<PrioTask<T>>;

    fn init(&mut self) {}

    fn add_task(&mut self, task: Self::SchedItem) {
        self.enqueue(task, false);
    }

    fn remove_task(&mut self, task: &Self::SchedItem) -> Option<Self::SchedItem> {
        let handle = self.handle_of(task)?;
        let removed = self.queue.remove(handle)?;
        *removed.slot.lock() = None;
        Some(removed)
    }

    fn pick_next_task(&mut self) -> Option<Self::SchedItem> {
        let (task, _) = self.queue.pop()?;
        *task.slot.lock() = None;
        Some(task)
    }

    fn put_prev_task(&mut self, prev: Self::SchedItem, preempt: bool) {
        // A preempted task keeps its turn at the front of its level; a task
        // that yielded goes to the back.
        self.enqueue(prev, preempt);
    }

    fn task_tick(&mut self, current: &Self::SchedItem) -> bool {
        P::PREEMPT && self.queue.highest().is_some_and(|h| h.level() < current.level())
    }

    fn set_priority(&mut self, task: &Self::SchedItem, prio: isize) -> bool {
        let Some(level) = P::level_of(prio) else {
            return false;
        };
        task.level.store(level, Ordering::Relaxed);
        if let (Some(handle), Some(p)) = (self.handle_of(task), Priority::new(level)) {
            // Queued here: move it to the back of its new level, O(1).
            self.queue.set_level(handle, p);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn task<P: Policy>(s: &mut PrioScheduler<usize, P>, id: usize, prio: isize) -> Arc<PrioTask<usize>> {
        let t = Arc::new(PrioTask::new(id));
        assert!(s.set_priority(&t, prio));
        t
    }

    fn drain<P: Policy>(s: &mut PrioScheduler<usize, P>) -> Vec<usize> {
        core::iter::from_fn(|| s.pick_next_task().map(|t| **t)).collect()
    }

    #[test]
    fn picks_highest_level_first_fifo_within_level() {
        let mut s = CoopScheduler::new();
        for (id, prio) in [(0, 5), (1, 3), (2, 5), (3, 0), (4, 63), (5, 3)] {
            let t = task(&mut s, id, prio);
            s.add_task(t);
        }
        assert_eq!(s.highest_level(), Some(0));
        assert_eq!(drain(&mut s), [3, 1, 5, 0, 2, 4]);
        assert!(s.is_empty());
    }

    /// axsched's own `def_test_sched!` round trip: equal priority ⇒ FIFO.
    #[test]
    fn equal_priority_round_trip_is_fifo() {
        const N: usize = 11;
        let mut s = CoopScheduler::new();
        for i in 0..N {
            s.add_task(Arc::new(PrioTask::new(i)));
        }
        for i in 0..N * 10 - 1 {
            let next = s.pick_next_task().unwrap();
            assert_eq!(*next.inner(), i % N);
            assert!(!s.task_tick(&next));
            s.put_prev_task(next, false);
        }
        assert_eq!(s.len(), N);
    }

    #[test]
    fn new_tasks_start_at_the_lowest_level() {
        let t = PrioTask::new(());
        assert_eq!(t.level(), 63);
        assert_eq!(DEFAULT_LEVEL as usize, LEVELS - 1);
        assert_eq!(PrioTask::with_level((), 200).level(), 63);
    }

    #[test]
    fn preempted_task_goes_to_the_front_yielded_to_the_back() {
        let mut s = PreemptScheduler::new();
        for id in 0..3 {
            let t = task(&mut s, id, 7);
            s.add_task(t);
        }
        let first = s.pick_next_task().unwrap();
        s.put_prev_task(first, true);
        assert_eq!(**s.pick_next_task().unwrap(), 0);
        let mut s2 = PreemptScheduler::new();
        for id in 0..3 {
            let t = task(&mut s2, id, 7);
            s2.add_task(t);
        }
        let first = s2.pick_next_task().unwrap();
        s2.put_prev_task(first, false);
        assert_eq!(drain(&mut s2), [1, 2, 0]);
    }

    #[test]
    fn set_priority_bounds_levels() {
        let mut s = CoopScheduler::<usize>::new();
        let t = Arc::new(PrioTask::new(0));
        assert!(!s.set_priority(&t, -1));
        assert!(!s.set_priority(&t, 64));
        assert!(!s.set_priority(&t, isize::MIN));
        assert!(!s.set_priority(&t, isize::MAX));
        assert_eq!(t.level(), 63, "a refused value leaves the level alone");
        assert!(s.set_priority(&t, 0));
        assert_eq!(t.level(), 0);
        assert!(s.set_priority(&t, 63));
        assert_eq!(t.level(), 63);
    }

    #[test]
    fn set_priority_bounds_nice() {
        let mut s = NiceScheduler::<usize>::new();
        let t = Arc::new(PrioTask::new(0));
        assert!(!s.set_priority(&t, -21));
        assert!(!s.set_priority(&t, 20));
        assert!(s.set_priority(&t, -20));
        assert_eq!(t.level(), 0);
        assert!(s.set_priority(&t, 19));
        assert_eq!(t.level(), 63);
        assert!(s.set_priority(&t, 0));
        assert_eq!(t.level(), 32);
        let levels: Vec<u8> = (NICE_MIN..=NICE_MAX).map(|n| nice_to_level(n).unwrap()).collect();
        assert!(levels.windows(2).all(|w| w[0] < w[1]), "nice → level is strictly increasing");
    }

    #[test]
    fn set_priority_moves_a_queued_task() {
        let mut s = CoopScheduler::new();
        let a = task(&mut s, 0, 10);
        let b = task(&mut s, 1, 10);
        s.add_task(a.clone());
        s.add_task(b.clone());
        assert!(s.set_priority(&b, 2));
        assert_eq!(s.highest_level(), Some(2));
        assert!(s.set_priority(&a, 2));
        assert_eq!(drain(&mut s), [1, 0], "moved to the back of the new level");
    }

    #[test]
    fn preemption_decision() {
        let mut coop = CoopScheduler::new();
        let mut pre = PreemptScheduler::new();
        let cur_c = task(&mut coop, 0, 5);
        let cur_p = task(&mut pre, 0, 5);
        assert!(!pre.task_tick(&cur_p), "nothing ready");
        for (id, prio) in [(1, 5), (2, 9)] {
            let t = task(&mut pre, id, prio);
            pre.add_task(t);
            let t = task(&mut coop, id, prio);
            coop.add_task(t);
        }
        assert!(!pre.task_tick(&cur_p), "equal or lower levels do not preempt");
        let hi = task(&mut pre, 3, 4);
        pre.add_task(hi);
        let hi = task(&mut coop, 3, 0);
        coop.add_task(hi);
        assert!(pre.task_tick(&cur_p), "a strictly higher level preempts");
        assert!(!coop.task_tick(&cur_c), "the cooperative scheduler never preempts");
        // The running task lowering itself makes the next tick preempt.
        let mut pre2 = PreemptScheduler::new();
        let cur = task(&mut pre2, 0, 1);
        let other = task(&mut pre2, 1, 3);
        pre2.add_task(other);
        assert!(!pre2.task_tick(&cur));
        assert!(pre2.set_priority(&cur, 8));
        assert!(pre2.task_tick(&cur));
    }

    #[test]
    fn remove_task_only_finds_its_own_tasks() {
        let mut s = CoopScheduler::new();
        let mut other = CoopScheduler::new();
        let a = task(&mut s, 0, 1);
        let b = task(&mut s, 1, 1);
        let c = task(&mut s, 2, 1);
        s.add_task(a.clone());
        s.add_task(b.clone());
        other.add_task(c.clone());
        assert!(s.remove_task(&c).is_none(), "queued in another run queue");
        assert!(Arc::ptr_eq(&s.remove_task(&a).unwrap(), &a));
        assert!(s.remove_task(&a).is_none(), "already removed");
        assert_eq!(drain(&mut s), [1]);
        let fresh = Arc::new(PrioTask::new(9));
        assert!(s.remove_task(&fresh).is_none(), "never queued");
        assert_eq!(drain(&mut other), [2]);
    }

    #[test]
    fn picked_task_can_be_requeued_elsewhere() {
        let mut s = CoopScheduler::new();
        let mut t = CoopScheduler::new();
        let a = task(&mut s, 0, 3);
        s.add_task(a.clone());
        let a2 = s.pick_next_task().unwrap();
        t.add_task(a2);
        assert!(s.remove_task(&a).is_none());
        assert!(t.remove_task(&a).is_some());
    }
}
