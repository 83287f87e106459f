//! Waiting inside the kernel: the wait queue every blocking object (pipes,
//! sockets, exits, joins, upcall waits) parks its kernel coroutines on.

mod wait;

pub use wait::{WaitQueue, waiters};
