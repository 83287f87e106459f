//! The record a sender posts and the handler drains: two `u64`s, `repr(C)`,
//! identical in the kernel, in every process and on every backend.

/// One user-interrupt record: why (`cause`) and for whom (`payload`).
///
/// For [`Cause::WAKE`] the payload is a coroutine id as produced by the
/// receiver's executor (e.g. `CoroutineId::to_raw()` in cops-core); this
/// crate never interprets it, it only hands it to [`crate::WakeById::wake`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Record {
    /// What happened; see [`Cause`].
    pub cause: u64,
    /// Cause-specific data (a coroutine id for [`Cause::WAKE`]).
    pub payload: u64,
}

impl Record {
    /// A record that wakes coroutine `id`.
    pub const fn wake(id: u64) -> Self {
        Self {
            cause: Cause::WAKE,
            payload: id,
        }
    }
}

/// Well-known values of [`Record::cause`]. Other values are passed through
/// to the caller of [`crate::UintrPage::handle_with`] untouched.
#[derive(Clone, Copy, Debug)]
pub struct Cause;

impl Cause {
    /// Zero is never a valid cause, so a zeroed slot can never be mistaken
    /// for a record (the queue does not rely on it, but debugging does).
    pub const NONE: u64 = 0;
    /// Wake the coroutine whose id is the payload (e.g. an async system call
    /// completed; its result is already stored where the caller looks).
    pub const WAKE: u64 = 1;
    /// A timer set by the receiver expired; the payload is the timer's token.
    pub const TIMER: u64 = 2;
    /// A message from another process; the payload is sender-defined.
    pub const MESSAGE: u64 = 3;
    /// First value free for applications.
    pub const USER_BASE: u64 = 0x1000;
}
