//! # netbench: the TCP matrix benchmark of the COPS papers
//!
//! A client sends an `n × n` matrix of small integers; the server squares
//! it and sends the product back (COPS §5: receive the request, compute,
//! send the reply). This crate is the one definition of that exchange,
//! used by the rcore-n server (`no_std`, no allocation) and by the host
//! load generator ([`load`], feature `std`).
//!
//! ## Wire format
//! Every frame is a 16-byte header, then a body whose length the header
//! fixes:
//!
//! | bytes | field |
//! |---|---|
//! | 0..2 | magic `b"NB"` |
//! | 2 | version ([`VERSION`]) |
//! | 3 | kind: 1 request, 2 reply, 3 error |
//! | 4 | `n`, the matrix size (1..=[`MAX_N`]; 0 in an error) |
//! | 5 | priority (0 most urgent, < [`PRIORITY_LEVELS`]) |
//! | 6 | error code (an error frame only, else 0) |
//! | 7 | reserved, 0 |
//! | 8..16 | sequence number, little endian |
//!
//! A request's body is the `n²` cells (`i8`, row major); a reply's body is
//! the `n²` cells of the square (`i32` little endian); an error has none.
//! Each header byte is checked as soon as it arrives, so garbage is
//! refused after its first wrong byte instead of waiting for 16.
#![cfg_attr(not(feature = "std"), no_std)]

#[cfg(feature = "std")]
pub mod load;

mod buffer;
mod error;
mod frame;
mod matrix;
#[cfg(test)]
mod tests;

pub use buffer::FrameBuffer;
pub use error::ProtocolError;
pub use frame::{Frame, Reply, Request, decode, encode_error, encode_reply};
pub use matrix::{CellSource, Matrix};

/// First two bytes of every frame.
pub const MAGIC: [u8; 2] = *b"NB";
/// Protocol version this crate speaks.
pub const VERSION: u8 = 1;
/// Bytes of the header.
pub const HEADER_LEN: usize = 16;
/// Largest matrix side (the papers use 15 and 20).
pub const MAX_N: usize = 32;
/// Cells of the largest matrix.
pub const MAX_CELLS: usize = MAX_N * MAX_N;
/// Priorities a request may carry (cops-core's levels).
pub const PRIORITY_LEVELS: u8 = 64;
/// The longest request frame.
pub const MAX_REQUEST_LEN: usize = HEADER_LEN + MAX_CELLS;
/// The longest reply frame (the longest frame of all).
pub const MAX_REPLY_LEN: usize = HEADER_LEN + 4 * MAX_CELLS;
/// The length of an error frame.
pub const ERROR_LEN: usize = HEADER_LEN;
/// Rounds of connections in the server's test mode (`net_server
/// net.conns=N`, driven by `cargo xtask test net`): two that size the
/// kernel's caches, then rounds in which a leak shows as growth.
pub const TEST_ROUNDS: usize = 5;

const KIND_REQUEST: u8 = 1;
const KIND_REPLY: u8 = 2;
const KIND_ERROR: u8 = 3;
