//! The executor against a reference model: random sequences of spawn /
//! wake (by id and by `Waker`) / wake-stale / set_priority / poll-next /
//! cancel / complete. The model is the specification in a few lines:
//! highest priority first, FIFO within a level, a queued coroutine is queued
//! once, a wake is never lost, a finished coroutine's id is rejected.
#![cfg(not(loom))]

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use cops_core::{CoroutineId, CoroutineState, Error, Executor, NoPlatform, Outcome, Priority};
use proptest::prelude::*;

const CAPACITY: usize = 6;
/// Few levels, so that ties (FIFO within a level) are common.
const LEVELS: u8 = 4;

#[derive(Clone, Debug)]
enum Op {
    Spawn(u8),
    /// Wake the `n`-th coroutine ever spawned; through its `Waker` if it
    /// has been polled and `via_waker`.
    Wake(usize, bool),
    SetPriority(usize, u8),
    PollNext,
    Cancel(usize),
    /// Let it finish at its next poll, and wake it.
    Complete(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let n = 0..12usize;
    let level = 0..LEVELS;
    prop_oneof![
        2 => level.clone().prop_map(Op::Spawn),
        3 => (n.clone(), any::<bool>()).prop_map(|(i, w)| Op::Wake(i, w)),
        2 => (n.clone(), level).prop_map(|(i, l)| Op::SetPriority(i, l)),
        4 => Just(Op::PollNext),
        1 => n.clone().prop_map(Op::Cancel),
        2 => n.prop_map(Op::Complete),
    ]
}

/// What the test shares with one coroutine.
#[derive(Default)]
struct Control {
    finish: bool,
    waker: Option<Waker>,
    polls: usize,
}

struct Controlled(Arc<Mutex<Control>>);

impl Future for Controlled {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut c = self.0.lock().unwrap();
        c.polls += 1;
        if c.finish {
            return Poll::Ready(());
        }
        c.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Life {
    Queued,
    Blocked,
    Done,
}

/// The reference model of one coroutine.
struct Model {
    id: CoroutineId,
    level: u8,
    life: Life,
    cancel: bool,
    control: Arc<Mutex<Control>>,
}

struct Harness {
    exec: &'static Executor,
    all: Vec<Model>,
    /// Per-level FIFO of indices into `all`.
    queues: Vec<VecDeque<usize>>,
}

impl Harness {
    fn new() -> Self {
        Self {
            exec: Executor::leak(CAPACITY, NoPlatform),
            all: Vec::new(),
            queues: (0..LEVELS).map(|_| VecDeque::new()).collect(),
        }
    }

    fn live(&self) -> usize {
        self.all.iter().filter(|m| m.life != Life::Done).count()
    }

    fn enqueue(&mut self, i: usize) {
        self.all[i].life = Life::Queued;
        self.queues[self.all[i].level as usize].push_back(i);
    }

    fn apply(&mut self, op: &Op) {
        let exec = self.exec;
        match *op {
            Op::Spawn(level) => {
                let control = Arc::new(Mutex::new(Control::default()));
                let r = exec.spawn(Controlled(control.clone()), Priority::new(level).unwrap());
                if self.live() == CAPACITY {
                    assert_eq!(r.err(), Some(Error::NoSlot));
                    return;
                }
                let id = r.expect("spawn with a free slot").id();
                assert!(
                    self.all.iter().all(|m| m.id != id),
                    "an id was handed out twice"
                );
                self.all.push(Model {
                    id,
                    level,
                    life: Life::Blocked,
                    cancel: false,
                    control,
                });
                self.enqueue(self.all.len() - 1);
            }
            Op::Wake(n, via_waker) => {
                let Some(i) = self.pick(n) else { return };
                let waker = self.all[i].control.lock().unwrap().waker.clone();
                match (via_waker, waker) {
                    (true, Some(w)) => w.wake(),
                    _ => {
                        let r = exec.wake(self.all[i].id);
                        let want = if self.all[i].life == Life::Done {
                            Err(Error::Stale)
                        } else {
                            Ok(())
                        };
                        assert_eq!(r, want, "wake of {:?}", self.all[i].life);
                    }
                }
                if self.all[i].life == Life::Blocked {
                    self.enqueue(i);
                }
            }
            Op::SetPriority(n, level) => {
                let Some(i) = self.pick(n) else { return };
                let r = exec.set_priority(self.all[i].id, Priority::new(level).unwrap());
                let m = &mut self.all[i];
                if m.life == Life::Done {
                    assert_eq!(r, Err(Error::Stale));
                    return;
                }
                assert_eq!(r, Ok(()));
                let old = m.level;
                m.level = level;
                if m.life == Life::Queued && old != level {
                    self.queues[old as usize].retain(|&j| j != i);
                    self.queues[level as usize].push_back(i);
                }
            }
            Op::Cancel(n) => {
                let Some(i) = self.pick(n) else { return };
                let r = exec.cancel(self.all[i].id);
                match self.all[i].life {
                    Life::Done => assert_eq!(r, Err(Error::Stale)),
                    Life::Queued => {
                        assert_eq!(r, Ok(()));
                        self.all[i].cancel = true;
                    }
                    Life::Blocked => {
                        assert_eq!(r, Ok(()));
                        self.all[i].cancel = true;
                        self.enqueue(i);
                    }
                }
            }
            Op::Complete(n) => {
                let Some(i) = self.pick(n) else { return };
                self.all[i].control.lock().unwrap().finish = true;
                self.apply(&Op::Wake(n, false));
            }
            Op::PollNext => {
                let expected = self.queues.iter_mut().find_map(|q| q.pop_front());
                let got = exec.poll_next();
                let Some(i) = expected else {
                    assert_eq!(got, None, "picked from empty queues");
                    return;
                };
                let got = got.expect("a coroutine is queued but none was picked");
                let m = &mut self.all[i];
                assert_eq!(
                    (got.id, got.priority.level()),
                    (m.id, m.level),
                    "wrong pick"
                );
                let finish = m.control.lock().unwrap().finish;
                let outcome = if m.cancel {
                    Outcome::Cancelled
                } else if finish {
                    Outcome::Completed
                } else {
                    Outcome::Pending
                };
                assert_eq!(got.outcome, outcome);
                if outcome == Outcome::Pending {
                    m.life = Life::Blocked;
                } else {
                    m.life = Life::Done;
                    // The test's copy of the waker is the last reference:
                    // dropping it recycles the slot.
                    m.control.lock().unwrap().waker = None;
                }
            }
        }
        self.check();
    }

    fn pick(&self, n: usize) -> Option<usize> {
        (!self.all.is_empty()).then(|| n % self.all.len())
    }

    /// Everything observable agrees with the model after every step.
    fn check(&self) {
        let exec = self.exec;
        let highest = self.queues.iter().position(|q| !q.is_empty());
        assert_eq!(exec.highest_ready().map(|p| p.level() as usize), highest);
        assert_eq!(exec.live(), self.live());
        for m in &self.all {
            let want = match m.life {
                Life::Queued => Ok(CoroutineState::Ready),
                Life::Blocked => Ok(CoroutineState::Blocked),
                Life::Done => Err(Error::Stale),
            };
            assert_eq!(exec.state(m.id), want, "state of {:?}", m.id);
            if m.life != Life::Done {
                assert_eq!(exec.priority(m.id).map(|p| p.level()), Ok(m.level));
            }
            let polls = m.control.lock().unwrap().polls;
            assert!(polls <= 64, "polled without reason");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        // Miri interprets every step: a handful of cases there.
        cases: if cfg!(miri) { 4 } else { 512 },
        // Shrunk failures are kept (and committed) here and replayed first.
        // (Miri's isolation forbids the file access.)
        failure_persistence: if cfg!(miri) {
            None
        } else {
            Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct(
                "tests/proptest-regressions/model.txt",
            )))
        },
        ..ProptestConfig::default()
    })]

    #[test]
    fn executor_matches_reference_model(ops in prop::collection::vec(op(), 1..80)) {
        let mut h = Harness::new();
        for op in &ops {
            h.apply(op);
        }
        // Drain: finish everyone; every wake so far must have been kept.
        for n in 0..h.all.len() {
            if h.all[n].life != Life::Done {
                h.apply(&Op::Complete(n));
            }
        }
        while h.queues.iter().any(|q| !q.is_empty()) {
            h.apply(&Op::PollNext);
        }
        prop_assert_eq!(h.exec.live(), 0);
        prop_assert!(h.exec.poll_next().is_none());
    }
}
