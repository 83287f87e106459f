//! The handler's wakes delivered to a cops-core executor (feature
//! `cops-core`).
//!
//! A record's payload is a `CoroutineId::to_raw()`; the handler hands it to
//! [`cops_core::Executor::wake`], the same function a `Waker` calls, so a
//! user interrupt and an ordinary wake cannot behave differently. Stale ids
//! (the coroutine finished, was cancelled and its slot reused) come back as
//! `Err(Error::Stale)` / `Err(Error::Finished)` and are counted as rejected
//! by the handler: never delivered to another coroutine.

use cops_core::{CoroutineId, Error, ExecutorOps};

use crate::handler::WakeById;

/// A [`WakeById`] sink for one executor (statically linked, or reached
/// through the vDSO: anything implementing [`ExecutorOps`]). `on_resync` runs when records were
/// refused because the queue was full: it must wake every coroutine that may
/// be waiting for one (e.g. all coroutines with an async call in flight).
pub struct ExecutorSink<'a, E: ExecutorOps + ?Sized, R: Fn(&E) = fn(&E)> {
    executor: &'a E,
    on_resync: R,
}

impl<'a, E: ExecutorOps + ?Sized, R: Fn(&E)> ExecutorSink<'a, E, R> {
    /// Deliver wakes to `executor`; call `on_resync(executor)` after an
    /// overflow.
    pub fn new(executor: &'a E, on_resync: R) -> Self {
        Self {
            executor,
            on_resync,
        }
    }

    /// The executor this sink wakes.
    pub fn executor(&self) -> &'a E {
        self.executor
    }
}

impl<E: ExecutorOps + ?Sized, R: Fn(&E)> WakeById for ExecutorSink<'_, E, R> {
    type Error = Error;

    fn wake(&self, id: u64) -> Result<(), Error> {
        self.executor.wake(CoroutineId::from_raw(id))
    }

    fn resync(&self) {
        (self.on_resync)(self.executor)
    }
}
