//! The worker side of an executor: one scheduling step (pick, poll, end)
//! and the loops that repeat it (`run`, `serve`, `run_until_idle`).

use core::mem::ManuallyDrop;
use core::task::{Context, Poll};

use super::{Executor, Outcome, Polled, RunExit};
use crate::raw::scheduler::{Look, Requeued};
use crate::raw::{RawCoroutine, waker};
use crate::{CoroutineId, Platform, Worker};

impl<P: Platform> Executor<P> {
    /// One scheduling step on the calling CPU: pick the most urgent ready
    /// coroutine and poll it (or drop it if cancelled). O(1) pick.
    ///
    /// May be nested (a coroutine may drive the executor): the calling
    /// coroutine's `current_id` and running priority are restored after.
    /// A panicking coroutine releases its slot: with feature `std` the
    /// panic is caught and reported as [`Outcome::Panicked`]; without it,
    /// the executor is left consistent and the unwind goes on.
    ///
    /// A worker loop should prefer [`Executor::run`], [`Executor::serve`]
    /// or [`Executor::run_until_idle`]: they hand a coroutine that woke
    /// itself during its poll (a yield) straight to the next pick, which
    /// links and pops in one lock hold, or polls it again without linking
    /// it when nothing ready is as urgent; `poll_next` links it at once,
    /// since nothing says its caller steps again.
    pub fn poll_next(&'static self) -> Option<Polled> {
        let cpu = self.platform.cpu_id();
        let (polled, requeued) = self.step(cpu, None, false)?;
        if let Some(requeued) = requeued {
            self.link_held(cpu, requeued);
        }
        Some(polled)
    }

    /// Link the coroutine this CPU held after its poll (see `Step::end`);
    /// the platform then sees only what the CPU still polls (the caller of
    /// a nested step, or nothing).
    fn link_held(&self, cpu: usize, requeued: Requeued) {
        self.sched.link_requeued(&self.platform, cpu, requeued);
        let polling = self.sched.current(cpu);
        self.platform
            .running_priority(polling.and_then(|id| self.priority(id).ok()));
    }

    /// `poll_next` for a loop that steps again: a coroutine woken during
    /// its poll is handed back instead of linked, for the next step's pick
    /// to link and pop in one lock hold (or to poll again at once).
    fn step(
        &'static self,
        cpu: usize,
        requeued: Option<Requeued>,
        spare_handoffs: bool,
    ) -> Option<(Polled, Option<Requeued>)> {
        let picked = self
            .sched
            .pick(&self.platform, cpu, requeued, spare_handoffs)?;
        let step = Step {
            exec: self,
            cpu,
            index: picked.id.index(),
            outer: self.sched.swap_current(cpu, Some(picked.id)),
        };
        let outcome = if picked.cancelled {
            Outcome::Cancelled
        } else {
            let cell = &self.cells[step.index as usize];
            let waker = waker::borrowed(cell);
            let mut cx = Context::from_waker(&waker);
            self.platform.running_priority(Some(picked.priority));
            // SAFETY: `pick` moved the slot QUEUED → RUNNING for this step.
            match catch_unwind(|| unsafe { cell.poll(&mut cx) }) {
                Ok(Poll::Pending) => Outcome::Pending,
                Ok(Poll::Ready(())) => Outcome::Completed,
                Err(()) => Outcome::Panicked,
            }
        };
        let (outcome, requeued) = ManuallyDrop::new(step).end(outcome);
        let polled = Polled {
            id: picked.id,
            priority: picked.priority,
            outcome,
        };
        Some((polled, requeued))
    }

    /// Poll until nothing is ready. Returns the number of steps.
    pub fn run_until_idle(&'static self) -> usize {
        let cpu = self.platform.cpu_id();
        let mut requeued = None;
        let mut n = 0;
        // `pick` never returns `None` while it has a re-queued coroutine
        // to link, so none is left when the loop ends.
        while let Some((_, next)) = self.step(cpu, requeued.take(), false) {
            requeued = next;
            n += 1;
        }
        n
    }

    /// The worker loop: poll in priority order, idle when nothing is ready;
    /// return when no coroutine is left or the platform wants the CPU back.
    pub fn run(&'static self) -> RunExit {
        self.work(true)
    }

    /// The worker loop of a CPU that serves this executor for good (a
    /// kernel's idle loop, a server's worker thread): like
    /// [`Executor::run`], but with no coroutine left it idles until one is
    /// spawned instead of returning. Returns only when
    /// [`Platform::should_yield`] asks for the CPU back.
    pub fn serve(&'static self) -> RunExit {
        self.work(false)
    }

    fn work(&'static self, until_all_done: bool) -> RunExit {
        let mut requeued: Option<Requeued> = None;
        // Consecutive looks that saw nothing but another CPU's handoff: it
        // is spared (not stolen) for the first `HANDOFF_PATIENCE`.
        let mut handoff_looks = 0;
        loop {
            // A re-queued coroutine is live: no need to look.
            if until_all_done && requeued.is_none() && self.live() == 0 {
                return RunExit::AllDone;
            }
            let cpu = self.platform.cpu_id();
            let spare_handoffs = handoff_looks < HANDOFF_PATIENCE;
            if let Some((_, next)) = self.step(cpu, requeued.take(), spare_handoffs) {
                handoff_looks = 0;
                requeued = next;
                // The platform sees the re-queued coroutine as ready.
                let highest = match &requeued {
                    Some(r) => {
                        let level = self.sched.requeued_priority(r);
                        Some(self.highest_ready().map_or(level, |h| h.min(level)))
                    }
                    None => self.highest_ready(),
                };
                if self.platform.should_yield(highest) {
                    if let Some(r) = requeued.take() {
                        self.link_held(cpu, r);
                    }
                    return RunExit::Yield;
                }
                continue;
            }
            if self.spin(cpu, &mut handoff_looks) {
                continue;
            }
            if self.sched.park(until_all_done) {
                self.platform.idle();
            }
            self.sched.unpark();
        }
    }

    /// Before paying for `idle` (a futex round trip on the host, an IPI on
    /// a kernel), look at the ready bitmaps a while longer: a handoff
    /// between workers usually lands within a microsecond or two. Returns
    /// whether a step may start something now.
    ///
    /// The looks back off (0, 1, 3 … 63 spin hints apart): a worker that
    /// keeps reading the lines a busy worker writes on every poll slows it
    /// down more than anything else two workers share (`benches/scaling.rs`,
    /// `ping_pong_workers`: 640-1 300 ns per round trip on two workers
    /// looking after every hint, 175-263 ns backing off).
    fn spin(&self, cpu: usize, handoff_looks: &mut u32) -> bool {
        for round in 0..SPIN_ROUNDS {
            for _ in 1..1u32 << round.min(SPIN_BACKOFF_MAX) {
                core::hint::spin_loop();
            }
            match self.sched.look(cpu) {
                Look::Work => return true,
                Look::HandoffOnly => {
                    *handoff_looks += 1;
                    if *handoff_looks >= HANDOFF_PATIENCE {
                        return true;
                    }
                }
                Look::Nothing => *handoff_looks = 0,
            }
        }
        false
    }

    /// Drop the picked coroutine at `index`, give its slot back, then
    /// release it (free its memory, resolve its join handle). Returns
    /// whether its destructor panicked.
    fn end_coroutine(&self, index: u32) -> bool {
        /// Runs after the destructor, also if it unwinds.
        struct Release<'a, P: Platform> {
            exec: &'a Executor<P>,
            index: u32,
            raw: RawCoroutine,
        }
        impl<P: Platform> Drop for Release<'_, P> {
            fn drop(&mut self) {
                // SAFETY: still RUNNING for this step; the slot is recycled
                // only here, after the future was dropped.
                unsafe { self.exec.sched.complete(self.index) };
                // SAFETY: `drop` ran (or unwound); `release` comes once, after.
                unsafe { (self.raw.vtable.release)(self.raw.data) };
                if self.exec.live() == 0 {
                    // Every parked worker must see "all done", not just one.
                    for _ in 0..self.exec.sched.parked_now() {
                        self.exec.platform.notify();
                    }
                }
            }
        }
        // SAFETY: RUNNING for this step; the coroutine is taken exactly once.
        let raw = unsafe { self.cells[index as usize].take() };
        let release = Release {
            exec: self,
            index,
            raw,
        };
        let raw = &release.raw;
        // SAFETY: `RawCoroutine::new`'s contract; dropped exactly once.
        let panicked = catch_unwind(|| unsafe { (raw.vtable.drop)(raw.data) }).is_err();
        drop(release);
        panicked
    }
}

/// Consecutive looks that see another CPU's handoff (and nothing else)
/// before a worker loop steals it: tens of microseconds on the host, far
/// longer than a ping-pong's poll, which takes its own handoff as it ends.
/// One under loom, which explores every branch of each look.
#[cfg(not(loom))]
const HANDOFF_PATIENCE: u32 = 32;
#[cfg(loom)]
const HANDOFF_PATIENCE: u32 = 1;

/// Looks at the ready bitmaps before a worker idles, and the most spin
/// hints between two (as a power of two, minus one): about 40 µs in all
/// on the host. One look under loom (with no hint before it), so that the
/// models reach the steal and the park.
#[cfg(not(loom))]
const SPIN_ROUNDS: u32 = 32;
#[cfg(loom)]
const SPIN_ROUNDS: u32 = 1;
const SPIN_BACKOFF_MAX: u32 = 6;

/// One poll in progress. Ends it on every path: `end` on return, `Drop`
/// when the poll unwinds (no `std`: the panic goes on, the executor stays
/// consistent).
struct Step<P: Platform + 'static> {
    exec: &'static Executor<P>,
    cpu: usize,
    index: u32,
    /// The coroutine this CPU was polling before (a nested `poll_next`).
    outer: Option<CoroutineId>,
}

impl<P: Platform> Step<P> {
    /// End the poll; a coroutine woken during it comes back re-queued.
    fn end(&self, outcome: Outcome) -> (Outcome, Option<Requeued>) {
        let exec = self.exec;
        exec.sched.swap_current(self.cpu, self.outer);
        let (outcome, requeued) = if outcome == Outcome::Pending {
            // SAFETY: this step picked `index` and ends its poll once.
            (outcome, unsafe { exec.sched.end_poll_pending(self.index) })
        } else if exec.end_coroutine(self.index) {
            (Outcome::Panicked, None)
        } else {
            (outcome, None)
        };
        // A re-queued coroutine stays with this CPU, outside the ready
        // bitmap, until the next pick: the platform counts it as running
        // here meanwhile, or a kernel ranking the thread between two polls
        // (a timer tick) would not see it anywhere.
        let held = requeued.as_ref().map(|r| exec.sched.requeued_priority(r));
        let outer = self.outer.and_then(|id| exec.priority(id).ok());
        exec.platform
            .running_priority(outer.into_iter().chain(held).min());
        (outcome, requeued)
    }
}

impl<P: Platform> Drop for Step<P> {
    fn drop(&mut self) {
        // Reached only by unwinding out of the poll (`poll_next` ends a
        // step it returns from through `ManuallyDrop`); a panicked
        // coroutine is never re-queued.
        let (_, requeued) = self.end(Outcome::Panicked);
        debug_assert!(requeued.is_none());
    }
}

/// Run `f`, catching a panic when `std` can.
#[cfg(feature = "std")]
fn catch_unwind<R>(f: impl FnOnce() -> R) -> Result<R, ()> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(drop)
}
#[cfg(not(feature = "std"))]
fn catch_unwind<R>(f: impl FnOnce() -> R) -> Result<R, ()> {
    Ok(f())
}

impl<P: Platform> Worker for Executor<P> {
    fn run_worker(&'static self) {
        self.run();
    }
}
