//! [`ProtocolError`]: why bytes are not a valid frame, and the code an
//! error frame carries for each reason.

use core::fmt;

use crate::{MAX_N, PRIORITY_LEVELS};

/// Why bytes are not a valid frame, or a frame cannot be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// The first two bytes are not [`MAGIC`](crate::MAGIC).
    BadMagic,
    /// A version this crate does not speak.
    BadVersion(u8),
    /// A kind byte that is none of request, reply, error.
    BadKind(u8),
    /// A matrix side of 0 or above [`MAX_N`] (or not 0 in an error).
    BadSize(u8),
    /// A priority at or above [`PRIORITY_LEVELS`].
    BadPriority(u8),
    /// A non-zero reserved byte, or an error code where none belongs.
    BadReserved,
    /// An error frame with code 0 or an unknown code.
    BadCode(u8),
    /// A frame of another kind than the reader expects (a reply sent to
    /// the server, say).
    UnexpectedKind(u8),
    /// The frame is longer than the reader's buffer.
    TooLong(usize),
    /// The output buffer is too short for the frame.
    BufferTooSmall { needed: usize },
    /// Cells given do not make an `n × n` matrix.
    CellCount { n: usize, cells: usize },
}

impl ProtocolError {
    /// The code an error frame carries for this error (never 0).
    pub const fn code(self) -> u8 {
        match self {
            ProtocolError::BadMagic => 1,
            ProtocolError::BadVersion(_) => 2,
            ProtocolError::BadKind(_) => 3,
            ProtocolError::BadSize(_) => 4,
            ProtocolError::BadPriority(_) => 5,
            ProtocolError::BadReserved => 6,
            ProtocolError::BadCode(_) => 7,
            ProtocolError::UnexpectedKind(_) => 8,
            ProtocolError::TooLong(_) => 9,
            ProtocolError::BufferTooSmall { .. } => 10,
            ProtocolError::CellCount { .. } => 11,
        }
    }

    /// Whether `code` is one [`ProtocolError::code`] gives.
    pub const fn is_known_code(code: u8) -> bool {
        matches!(code, 1..=11)
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ProtocolError::BadMagic => write!(f, "bad magic"),
            ProtocolError::BadVersion(v) => write!(f, "unknown version {v}"),
            ProtocolError::BadKind(k) => write!(f, "unknown frame kind {k}"),
            ProtocolError::BadSize(n) => write!(f, "matrix size {n} outside 1..={MAX_N}"),
            ProtocolError::BadPriority(p) => {
                write!(f, "priority {p} outside 0..{PRIORITY_LEVELS}")
            }
            ProtocolError::BadReserved => write!(f, "non-zero reserved byte"),
            ProtocolError::BadCode(c) => write!(f, "bad error code {c}"),
            ProtocolError::UnexpectedKind(k) => write!(f, "unexpected frame kind {k}"),
            ProtocolError::TooLong(n) => write!(f, "frame of {n} bytes is too long"),
            ProtocolError::BufferTooSmall { needed } => {
                write!(f, "output buffer too small ({needed} bytes needed)")
            }
            ProtocolError::CellCount { n, cells } => {
                write!(f, "{cells} cells do not make a {n}x{n} matrix")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ProtocolError {}
