//! Identifiers and small value types that cross the vDSO ABI (`#[repr(C)]`).

use core::fmt;

use crate::ready::LEVELS;

/// A coroutine id: slot index, executor salt and slot generation (Hubris
/// style), packed in one `u64` so it crosses system calls, the vDSO and the
/// user-interrupt page as a plain number.
///
/// ```text
///  63                         28 27      20 19             0
/// +-----------------------------+----------+----------------+
/// |   generation (36 bits)      | salt (8) |  index (20)    |
/// +-----------------------------+----------+----------------+
/// ```
///
/// - The **generation** is bumped every time a slot is recycled, so an id
///   kept after its coroutine finished is *stale*: every operation taking an
///   id rejects it with [`Error::Stale`] instead of reaching the slot's next
///   occupant. A slot whose generation reaches [`CoroutineId::MAX_GENERATION`]
///   is retired (never handed out again) rather than wrapped, so no stale id
///   can ever be revived: at one spawn per 60 ns on one slot that is about
///   an hour per slot, and the LIFO free list then moves on to the next slot.
/// - The **salt** names the executor: an id from another executor (another
///   process's, the kernel's) is rejected with [`Error::BadId`]. Salts are
///   8 bits: executors made by [`Executor::leak`](crate::Executor::leak) get
///   distinct salts for the first 255, static ones a hash of their name.
/// - The **index** is the slot: an executor has at most
///   [`CoroutineId::MAX_SLOTS`] slots.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct CoroutineId(u64);

const INDEX_BITS: u32 = 20;
const SALT_BITS: u32 = 8;
const GEN_SHIFT: u32 = INDEX_BITS + SALT_BITS;

impl CoroutineId {
    /// No coroutine. Never returned by spawn (its index is past
    /// [`CoroutineId::MAX_SLOTS`]).
    pub const NONE: CoroutineId = CoroutineId(u64::MAX);
    /// Most slots one executor can have (index `MAX_SLOTS` is never used, so
    /// [`CoroutineId::NONE`] names no slot).
    pub const MAX_SLOTS: usize = (1 << INDEX_BITS) - 1;
    /// The last generation a slot reaches; it is retired after it.
    pub const MAX_GENERATION: u64 = (1 << (64 - GEN_SHIFT)) - 1;

    pub(crate) const fn new(index: u32, salt: u8, generation: u64) -> Self {
        debug_assert!((index as usize) <= Self::MAX_SLOTS);
        debug_assert!(generation <= Self::MAX_GENERATION);
        Self((generation << GEN_SHIFT) | ((salt as u64) << INDEX_BITS) | index as u64)
    }
    /// Slot index.
    pub const fn index(self) -> u32 {
        (self.0 & ((1 << INDEX_BITS) - 1)) as u32
    }
    /// The salt of the executor that issued the id.
    pub const fn salt(self) -> u8 {
        (self.0 >> INDEX_BITS) as u8
    }
    /// Slot generation.
    pub const fn generation(self) -> u64 {
        self.0 >> GEN_SHIFT
    }
    /// The id as one word (for system calls, user-interrupt payloads, the vDSO).
    pub const fn to_raw(self) -> u64 {
        self.0
    }
    /// Rebuild an id from [`CoroutineId::to_raw`]. Any value is accepted: a
    /// forged, foreign or stale id is rejected by the executor, not here.
    pub const fn from_raw(raw: u64) -> Self {
        Self(raw)
    }
}

impl fmt::Debug for CoroutineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cid#{}.{}@{:02x}",
            self.index(),
            self.generation(),
            self.salt()
        )
    }
}

impl fmt::Display for CoroutineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A priority level, `0` (highest) to `63` (lowest).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
#[repr(transparent)]
pub struct Priority(u8);

impl Priority {
    /// Level 0, the most urgent.
    pub const HIGHEST: Priority = Priority(0);
    /// Level 63.
    pub const LOWEST: Priority = Priority(LEVELS as u8 - 1);

    /// `Some` for `0..64`.
    pub const fn new(level: u8) -> Option<Self> {
        if (level as usize) < LEVELS {
            Some(Self(level))
        } else {
            None
        }
    }
    /// Like [`Priority::new`] for untrusted input, with the error an API returns.
    pub const fn try_from_usize(level: usize) -> Result<Self, Error> {
        if level < LEVELS {
            Ok(Self(level as u8))
        } else {
            Err(Error::BadPriority)
        }
    }
    pub(crate) const fn from_level(level: u8) -> Self {
        debug_assert!((level as usize) < LEVELS);
        Self(level)
    }
    /// The level number.
    pub const fn level(self) -> u8 {
        self.0
    }
    /// Whether `self` is more urgent than `other`.
    pub const fn is_higher_than(self, other: Priority) -> bool {
        self.0 < other.0
    }
}

/// What a coroutine is for (the paper's CCB `kind`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum CoroutineKind {
    /// Ordinary work, kernel or user.
    Normal = 0,
    /// The kernel's switching coroutine, which hands the CPU to a process.
    Switching = 1,
    /// A kernel coroutine serving an asynchronous system call.
    Syscall = 2,
}

impl CoroutineKind {
    pub(crate) fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Switching,
            2 => Self::Syscall,
            _ => Self::Normal,
        }
    }
}

/// Why an operation was refused. `#[repr(C)]`-compatible codes for the vDSO.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(i32)]
pub enum Error {
    /// The id's generation is not the slot's: its coroutine is gone and the
    /// slot may hold another one. Nothing was done.
    Stale = -1,
    /// The id names no slot of this executor.
    BadId = -2,
    /// The coroutine has completed or been cancelled.
    Finished = -3,
    /// Every slot is in use.
    NoSlot = -4,
    /// Priority outside `0..64`.
    BadPriority = -5,
    /// The platform does not provide this operation.
    Unsupported = -6,
}

impl Error {
    /// The negative code used across the C ABI.
    pub const fn code(self) -> i32 {
        self as i32
    }
    /// Decode [`Error::code`].
    pub const fn from_code(code: i32) -> Option<Self> {
        Some(match code {
            -1 => Self::Stale,
            -2 => Self::BadId,
            -3 => Self::Finished,
            -4 => Self::NoSlot,
            -5 => Self::BadPriority,
            -6 => Self::Unsupported,
            _ => return None,
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Stale => "stale coroutine id (its slot was recycled)",
            Self::BadId => "no such coroutine slot",
            Self::Finished => "coroutine already finished",
            Self::NoSlot => "no free coroutine slot",
            Self::BadPriority => "priority out of range 0..64",
            Self::Unsupported => "operation not supported by this platform",
        })
    }
}

impl core::error::Error for Error {}
