//! The unsafe core (embassy's `raw/` split): the state word, the scheduling
//! state, the type-erased coroutine cells and the waker. The safe API in
//! [`crate::Executor`] is built on these.

pub(crate) mod cell;
pub(crate) mod scheduler;
pub(crate) mod state;
pub(crate) mod waker;

pub use cell::{CoroutineCell, CoroutineVTable, RawCoroutine};
pub use scheduler::{CoroutineState, MAX_CPUS, SchedSlot};
pub use waker::id_of;
