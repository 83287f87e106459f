//! The handler's wakes delivered to a cops-core executor (feature
//! `cops-core`).
//!
//! A record's payload is a `CoroutineId::to_raw()`; the handler hands it to
//! [`cops_core::Executor::wake`], the same function a `Waker` calls, so a
//! user interrupt and an ordinary wake cannot behave differently. Stale ids
//! (the coroutine finished, was cancelled and its slot reused) come back as
//! `Err(Error::Stale)` / `Err(Error::Finished)` and are counted as rejected
//! by the handler: never delivered to another coroutine.

use cops_core::{CoroutineId, Error, Executor, Platform};

use crate::handler::WakeById;

/// A [`WakeById`] sink for one executor. `on_resync` runs when records were
/// refused because the queue was full: it must wake every coroutine that may
/// be waiting for one (e.g. all coroutines with an async call in flight).
pub struct ExecutorSink<'a, P: Platform, R: Fn(&Executor<P>) = fn(&Executor<P>)> {
    executor: &'a Executor<P>,
    on_resync: R,
}

impl<'a, P: Platform, R: Fn(&Executor<P>)> ExecutorSink<'a, P, R> {
    /// Deliver wakes to `executor`; call `on_resync(executor)` after an
    /// overflow.
    pub fn new(executor: &'a Executor<P>, on_resync: R) -> Self {
        Self {
            executor,
            on_resync,
        }
    }

    /// The executor this sink wakes.
    pub fn executor(&self) -> &'a Executor<P> {
        self.executor
    }
}

impl<P: Platform, R: Fn(&Executor<P>)> WakeById for ExecutorSink<'_, P, R> {
    type Error = Error;

    fn wake(&self, id: u64) -> Result<(), Error> {
        self.executor.wake(CoroutineId::from_raw(id))
    }

    fn resync(&self) {
        (self.on_resync)(self.executor)
    }
}
