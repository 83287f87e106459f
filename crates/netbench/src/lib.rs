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

use core::fmt;

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

/// Why bytes are not a valid frame, or a frame cannot be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// The first two bytes are not [`MAGIC`].
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

/// A square matrix of `i8` cells, at most [`MAX_N`] on a side (kept in a
/// fixed array: the server decodes without allocating).
#[derive(Clone, PartialEq, Eq)]
pub struct Matrix {
    n: u8,
    cells: [i8; MAX_CELLS],
}

impl fmt::Debug for Matrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Matrix")
            .field("n", &self.n)
            .field("cells", &self.cells())
            .finish()
    }
}

impl Matrix {
    /// The `n × n` matrix whose cell `(i, j)` is `cell(i, j)`.
    pub fn from_fn(
        n: usize,
        mut cell: impl FnMut(usize, usize) -> i8,
    ) -> Result<Self, ProtocolError> {
        let side = check_size(n)?;
        let mut cells = [0; MAX_CELLS];
        for i in 0..n {
            for j in 0..n {
                cells[i * n + j] = cell(i, j);
            }
        }
        Ok(Matrix { n: side, cells })
    }

    /// The `n × n` matrix of `cells` (row major).
    pub fn from_cells(n: usize, cells: &[i8]) -> Result<Self, ProtocolError> {
        check_size(n)?;
        if cells.len() != n * n {
            return Err(ProtocolError::CellCount {
                n,
                cells: cells.len(),
            });
        }
        Matrix::from_fn(n, |i, j| cells[i * n + j])
    }

    /// The side.
    pub fn n(&self) -> usize {
        self.n as usize
    }

    /// The cells, row major.
    pub fn cells(&self) -> &[i8] {
        &self.cells[..self.n() * self.n()]
    }

    /// Cell `(i, j)`.
    pub fn get(&self, i: usize, j: usize) -> i8 {
        self.cells[i * self.n() + j]
    }

    /// Cell `(i, j)` of the square `self · self`. Cannot overflow:
    /// `|sum| <= MAX_N · 128² = 2^19`.
    pub fn square_cell(&self, i: usize, j: usize) -> i32 {
        (0..self.n())
            .map(|k| i32::from(self.get(i, k)) * i32::from(self.get(k, j)))
            .sum()
    }
}

fn check_size(n: usize) -> Result<u8, ProtocolError> {
    match u8::try_from(n) {
        Ok(side) if (1..=MAX_N).contains(&n) => Ok(side),
        _ => Err(ProtocolError::BadSize(u8::try_from(n).unwrap_or(u8::MAX))),
    }
}

/// A request: square `matrix`, at `priority`, numbered `seq`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub seq: u64,
    pub priority: u8,
    pub matrix: Matrix,
}

impl Request {
    /// Bytes of its frame.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.matrix.n() * self.matrix.n()
    }

    /// Write its frame to the front of `out`; returns the length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, ProtocolError> {
        if self.priority >= PRIORITY_LEVELS {
            return Err(ProtocolError::BadPriority(self.priority));
        }
        let len = self.encoded_len();
        let out = out
            .get_mut(..len)
            .ok_or(ProtocolError::BufferTooSmall { needed: len })?;
        let (head, body) = out.split_at_mut(HEADER_LEN);
        write_header(
            head,
            KIND_REQUEST,
            self.matrix.n,
            self.priority,
            0,
            self.seq,
        );
        for (byte, &cell) in body.iter_mut().zip(self.matrix.cells()) {
            *byte = cell as u8;
        }
        Ok(len)
    }
}

/// Write the reply to `request` (the square of its matrix, computed here:
/// the server's "compute" step) to the front of `out`; returns the length.
pub fn encode_reply(request: &Request, out: &mut [u8]) -> Result<usize, ProtocolError> {
    let n = request.matrix.n();
    let len = HEADER_LEN + 4 * n * n;
    let out = out
        .get_mut(..len)
        .ok_or(ProtocolError::BufferTooSmall { needed: len })?;
    let (head, body) = out.split_at_mut(HEADER_LEN);
    write_header(
        head,
        KIND_REPLY,
        request.matrix.n,
        request.priority,
        0,
        request.seq,
    );
    for (k, cell) in body.chunks_exact_mut(4).enumerate() {
        cell.copy_from_slice(&request.matrix.square_cell(k / n, k % n).to_le_bytes());
    }
    Ok(len)
}

/// Write an error frame for `error` (sequence number `seq`, 0 when
/// unknown) to the front of `out`; returns the length.
pub fn encode_error(
    seq: u64,
    error: ProtocolError,
    out: &mut [u8],
) -> Result<usize, ProtocolError> {
    let out = out
        .get_mut(..ERROR_LEN)
        .ok_or(ProtocolError::BufferTooSmall { needed: ERROR_LEN })?;
    write_header(out, KIND_ERROR, 0, 0, error.code(), seq);
    Ok(ERROR_LEN)
}

fn write_header(out: &mut [u8], kind: u8, n: u8, priority: u8, code: u8, seq: u64) {
    out[..2].copy_from_slice(&MAGIC);
    out[2] = VERSION;
    out[3] = kind;
    out[4] = n;
    out[5] = priority;
    out[6] = code;
    out[7] = 0;
    out[8..16].copy_from_slice(&seq.to_le_bytes());
}

/// A reply as received, borrowing its cells from the reader's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply<'a> {
    pub seq: u64,
    pub priority: u8,
    n: usize,
    cells: &'a [u8],
}

impl Reply<'_> {
    /// The side of the product.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Cell `(i, j)` of the product.
    pub fn get(&self, i: usize, j: usize) -> i32 {
        let k = 4 * (i * self.n + j);
        i32::from_le_bytes([
            self.cells[k],
            self.cells[k + 1],
            self.cells[k + 2],
            self.cells[k + 3],
        ])
    }

    /// Whether this is the right answer to `request`: same number, same
    /// priority, and every cell the square of its matrix.
    pub fn answers(&self, request: &Request) -> bool {
        let n = request.matrix.n();
        self.seq == request.seq
            && self.priority == request.priority
            && self.n == n
            && (0..n).all(|i| (0..n).all(|j| self.get(i, j) == request.matrix.square_cell(i, j)))
    }
}

/// One decoded frame.
// A request holds its matrix inline (the server decodes without an
// allocator); frames are short-lived, so the size gap does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    Request(Request),
    Reply(Reply<'a>),
    /// The peer refused a frame: `code` is a [`ProtocolError::code`].
    Error {
        seq: u64,
        code: u8,
    },
}

/// Check the header bytes present in `buf` (any prefix of it); with the
/// whole header, return the frame's total length.
fn check_header(buf: &[u8]) -> Result<Option<usize>, ProtocolError> {
    let byte = |i: usize| buf.get(i).copied();
    if let Some(b) = byte(0) {
        if b != MAGIC[0] {
            return Err(ProtocolError::BadMagic);
        }
    }
    if let Some(b) = byte(1) {
        if b != MAGIC[1] {
            return Err(ProtocolError::BadMagic);
        }
    }
    if let Some(v) = byte(2) {
        if v != VERSION {
            return Err(ProtocolError::BadVersion(v));
        }
    }
    let Some(kind) = byte(3) else { return Ok(None) };
    if !matches!(kind, KIND_REQUEST | KIND_REPLY | KIND_ERROR) {
        return Err(ProtocolError::BadKind(kind));
    }
    if let Some(n) = byte(4) {
        let ok = if kind == KIND_ERROR {
            n == 0
        } else {
            (1..=MAX_N).contains(&(n as usize))
        };
        if !ok {
            return Err(ProtocolError::BadSize(n));
        }
    }
    if let Some(p) = byte(5) {
        if p >= PRIORITY_LEVELS {
            return Err(ProtocolError::BadPriority(p));
        }
    }
    if let Some(code) = byte(6) {
        let ok = if kind == KIND_ERROR {
            ProtocolError::is_known_code(code)
        } else {
            code == 0
        };
        if !ok {
            return Err(if kind == KIND_ERROR {
                ProtocolError::BadCode(code)
            } else {
                ProtocolError::BadReserved
            });
        }
    }
    if byte(7).is_some_and(|r| r != 0) {
        return Err(ProtocolError::BadReserved);
    }
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let n = buf[4] as usize;
    Ok(Some(match kind {
        KIND_REQUEST => HEADER_LEN + n * n,
        KIND_REPLY => HEADER_LEN + 4 * n * n,
        _ => ERROR_LEN,
    }))
}

/// Decode the frame at the front of `buf`: `Ok(None)` while it is
/// incomplete (read more), `Err` as soon as the bytes cannot start a valid
/// frame. On success, also the frame's length (the bytes to drop).
pub fn decode(buf: &[u8]) -> Result<Option<(Frame<'_>, usize)>, ProtocolError> {
    let Some(len) = check_header(buf)? else {
        return Ok(None);
    };
    let Some(frame) = buf.get(..len) else {
        return Ok(None);
    };
    let (head, body) = frame.split_at(HEADER_LEN);
    let seq = u64::from_le_bytes(head[8..16].try_into().expect("8 bytes"));
    let (n, priority) = (head[4] as usize, head[5]);
    let decoded = match head[3] {
        KIND_REQUEST => {
            let matrix = Matrix::from_fn(n, |i, j| body[i * n + j] as i8)?;
            Frame::Request(Request {
                seq,
                priority,
                matrix,
            })
        }
        KIND_REPLY => Frame::Reply(Reply {
            seq,
            priority,
            n,
            cells: body,
        }),
        _ => Frame::Error { seq, code: head[6] },
    };
    Ok(Some((decoded, len)))
}

/// A connection's receive buffer: read into [`FrameBuffer::spare`], report
/// the bytes with [`FrameBuffer::filled`], take whole frames with
/// [`FrameBuffer::next_frame`]. Frames may arrive split across reads or
/// several in one read. `CAP` bounds the longest frame accepted.
pub struct FrameBuffer<const CAP: usize> {
    buf: [u8; CAP],
    start: usize,
    end: usize,
}

impl<const CAP: usize> Default for FrameBuffer<CAP> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const CAP: usize> FrameBuffer<CAP> {
    /// An empty buffer.
    pub const fn new() -> Self {
        FrameBuffer {
            buf: [0; CAP],
            start: 0,
            end: 0,
        }
    }

    /// Free space to read into (the unread bytes first move to the front).
    /// Empty only when a frame longer than `CAP` is pending, which
    /// [`FrameBuffer::next_frame`] reports as [`ProtocolError::TooLong`].
    pub fn spare(&mut self) -> &mut [u8] {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut self.buf[self.end..]
    }

    /// `n` bytes were read into the front of [`FrameBuffer::spare`].
    pub fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(CAP);
    }

    /// Bytes received and not yet taken as a frame (non-zero at the end of
    /// a stream: it stopped mid-frame).
    pub fn pending(&self) -> usize {
        self.end - self.start
    }

    /// The next whole frame, if one has arrived (and drop it from the
    /// buffer); an error once the bytes cannot be a frame. After an error
    /// the stream has lost its framing: the caller should close it.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, ProtocolError> {
        let bytes = &self.buf[self.start..self.end];
        match check_header(bytes)? {
            Some(len) if len > CAP => return Err(ProtocolError::TooLong(len)),
            Some(len) if len <= bytes.len() => {}
            _ => return Ok(None),
        }
        let at = self.start;
        let (frame, len) = decode(&self.buf[at..self.end])?.expect("a whole frame is buffered");
        self.start += len;
        Ok(Some(frame))
    }

    /// The next whole request; any other kind of frame is an error.
    pub fn next_request(&mut self) -> Result<Option<Request>, ProtocolError> {
        match self.next_frame()? {
            None => Ok(None),
            Some(Frame::Request(r)) => Ok(Some(r)),
            Some(Frame::Reply(_)) => Err(ProtocolError::UnexpectedKind(KIND_REPLY)),
            Some(Frame::Error { .. }) => Err(ProtocolError::UnexpectedKind(KIND_ERROR)),
        }
    }
}

/// A deterministic generator of request matrices (xorshift64*), so runs are
/// reproducible without a dependency.
#[derive(Clone, Debug)]
pub struct CellSource(u64);

impl CellSource {
    /// A source from `seed` (any value).
    pub fn new(seed: u64) -> Self {
        CellSource(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// An `n × n` matrix of cells over the whole `i8` range.
    pub fn matrix(&mut self, n: usize) -> Result<Matrix, ProtocolError> {
        Matrix::from_fn(n, |_, _| (self.next_u64() >> 56) as u8 as i8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn request(n: usize, seq: u64, priority: u8) -> Request {
        Request {
            seq,
            priority,
            matrix: CellSource::new(seq).matrix(n).unwrap(),
        }
    }

    #[test]
    fn square_of_a_known_matrix() {
        // [[1, 2], [3, 4]]² = [[7, 10], [15, 22]]
        let m = Matrix::from_cells(2, &[1, 2, 3, 4]).unwrap();
        let r = Request {
            seq: 9,
            priority: 3,
            matrix: m,
        };
        let mut out = [0u8; MAX_REPLY_LEN];
        let len = encode_reply(&r, &mut out).unwrap();
        assert_eq!(len, HEADER_LEN + 16);
        let Some((Frame::Reply(reply), used)) = decode(&out[..len]).unwrap() else {
            panic!("not a reply")
        };
        assert_eq!(used, len);
        assert_eq!(
            [
                reply.get(0, 0),
                reply.get(0, 1),
                reply.get(1, 0),
                reply.get(1, 1)
            ],
            [7, 10, 15, 22]
        );
        assert!(reply.answers(&r));
    }

    #[test]
    fn extreme_cells_do_not_overflow() {
        let m = Matrix::from_fn(MAX_N, |_, _| i8::MIN).unwrap();
        assert_eq!(m.square_cell(0, 0), MAX_N as i32 * 128 * 128);
    }

    #[test]
    fn a_wrong_cell_is_not_an_answer() {
        let r = request(15, 4, 1);
        let mut out = [0u8; MAX_REPLY_LEN];
        let len = encode_reply(&r, &mut out).unwrap();
        out[HEADER_LEN + 4 * 17] ^= 1;
        let Some((Frame::Reply(reply), _)) = decode(&out[..len]).unwrap() else {
            panic!("not a reply")
        };
        assert!(!reply.answers(&r));
        let other = request(15, 5, 1);
        let len = encode_reply(&other, &mut out).unwrap();
        let Some((Frame::Reply(reply), _)) = decode(&out[..len]).unwrap() else {
            panic!("not a reply")
        };
        assert!(!reply.answers(&r), "another sequence number");
    }

    #[test]
    fn garbage_is_refused_at_its_first_byte() {
        assert_eq!(decode(b"G").unwrap_err(), ProtocolError::BadMagic);
        assert_eq!(decode(b"NBX").unwrap_err(), ProtocolError::BadVersion(b'X'));
        assert_eq!(
            decode(b"NB\x01\x01\x00").unwrap_err(),
            ProtocolError::BadSize(0)
        );
        assert_eq!(
            decode(b"NB\x01\x01\x21").unwrap_err(),
            ProtocolError::BadSize(33)
        );
        assert_eq!(
            decode(b"NB\x01\x01\x02\x40").unwrap_err(),
            ProtocolError::BadPriority(64)
        );
        assert_eq!(
            decode(b"NB\x01\x07").unwrap_err(),
            ProtocolError::BadKind(7)
        );
        assert_eq!(
            decode(b"NB\x01\x03\x00\x00\x00").unwrap_err(),
            ProtocolError::BadCode(0)
        );
        assert_eq!(decode(b"NB\x01").unwrap(), None);
    }

    #[test]
    fn error_frames_round_trip() {
        let mut out = [0u8; ERROR_LEN];
        encode_error(7, ProtocolError::BadMagic, &mut out).unwrap();
        assert_eq!(
            decode(&out).unwrap(),
            Some((Frame::Error { seq: 7, code: 1 }, ERROR_LEN))
        );
    }

    #[test]
    fn encoders_refuse_short_buffers() {
        let r = request(20, 1, 0);
        let mut small = [0u8; 100];
        assert_eq!(
            r.encode(&mut small),
            Err(ProtocolError::BufferTooSmall { needed: 416 })
        );
        assert_eq!(
            encode_reply(&r, &mut small),
            Err(ProtocolError::BufferTooSmall { needed: 1616 })
        );
        assert!(Matrix::from_cells(3, &[1, 2]).is_err());
        assert!(Matrix::from_fn(0, |_, _| 0).is_err());
        assert!(Matrix::from_fn(MAX_N + 1, |_, _| 0).is_err());
    }

    #[test]
    fn a_frame_longer_than_the_buffer_is_refused() {
        let r = request(20, 1, 0);
        let mut bytes = [0u8; MAX_REQUEST_LEN];
        let len = r.encode(&mut bytes).unwrap();
        let mut small = FrameBuffer::<64>::new();
        small.spare()[..HEADER_LEN].copy_from_slice(&bytes[..HEADER_LEN]);
        small.filled(HEADER_LEN);
        assert_eq!(small.next_frame().unwrap_err(), ProtocolError::TooLong(len));
    }

    #[test]
    fn the_server_refuses_replies() {
        let r = request(2, 1, 0);
        let mut bytes = [0u8; MAX_REPLY_LEN];
        let len = encode_reply(&r, &mut bytes).unwrap();
        let mut buf = FrameBuffer::<MAX_REPLY_LEN>::new();
        buf.spare()[..len].copy_from_slice(&bytes[..len]);
        buf.filled(len);
        assert_eq!(
            buf.next_request().unwrap_err(),
            ProtocolError::UnexpectedKind(KIND_REPLY)
        );
    }

    proptest! {
        #[test]
        fn requests_round_trip(n in 1..=MAX_N, seq: u64, priority in 0..PRIORITY_LEVELS, seed: u64) {
            let r = Request { seq, priority, matrix: CellSource::new(seed).matrix(n).unwrap() };
            let mut out = [0u8; MAX_REQUEST_LEN];
            let len = r.encode(&mut out).unwrap();
            prop_assert_eq!(len, r.encoded_len());
            prop_assert_eq!(decode(&out[..len]).unwrap(), Some((Frame::Request(r.clone()), len)));
            // Every strict prefix is "incomplete", never an error.
            for cut in 0..len {
                prop_assert_eq!(decode(&out[..cut]).unwrap(), None);
            }
        }

        /// Frames split at arbitrary points, several per read, come out
        /// whole and in order.
        #[test]
        fn frames_survive_any_split(
            sizes in proptest::collection::vec(1..=MAX_N, 1..6),
            chunk in 1usize..700,
        ) {
            let requests: Vec<Request> = sizes
                .iter()
                .enumerate()
                .map(|(i, &n)| request(n, i as u64, (i % 8) as u8))
                .collect();
            let mut stream = Vec::new();
            for r in &requests {
                let mut out = [0u8; MAX_REQUEST_LEN];
                let len = r.encode(&mut out).unwrap();
                stream.extend_from_slice(&out[..len]);
            }
            let mut buf = FrameBuffer::<MAX_REQUEST_LEN>::new();
            let mut got = Vec::new();
            let mut rest = &stream[..];
            while !rest.is_empty() {
                let spare = buf.spare();
                let take = chunk.min(spare.len()).min(rest.len());
                prop_assert!(take > 0, "the buffer filled up without a frame");
                spare[..take].copy_from_slice(&rest[..take]);
                buf.filled(take);
                rest = &rest[take..];
                while let Some(r) = buf.next_request().unwrap() {
                    got.push(r);
                }
            }
            prop_assert_eq!(buf.pending(), 0);
            prop_assert_eq!(got, requests);
        }

        /// Arbitrary bytes never panic, whatever the split.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..3000), chunk in 1usize..500) {
            let _ = decode(&bytes);
            let mut buf = FrameBuffer::<MAX_REPLY_LEN>::new();
            for piece in bytes.chunks(chunk) {
                let spare = buf.spare();
                let take = piece.len().min(spare.len());
                spare[..take].copy_from_slice(&piece[..take]);
                buf.filled(take);
                match buf.next_frame() {
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        }

        /// Bytes that start like a header, with random fields, never panic
        /// and decode only to frames that encode back to the same bytes.
        #[test]
        fn header_like_bytes(kind in 0u8..5, n in 0u8..40, p in 0u8..70, code in 0u8..13, tail in proptest::collection::vec(any::<u8>(), 0..5000)) {
            let mut bytes = vec![b'N', b'B', VERSION, kind, n, p, code, 0];
            bytes.extend_from_slice(&tail);
            if let Ok(Some((frame, len))) = decode(&bytes) {
                let mut out = vec![0u8; MAX_REPLY_LEN];
                match frame {
                    Frame::Request(r) => {
                        prop_assert_eq!(r.encode(&mut out).unwrap(), len);
                        prop_assert_eq!(&out[..len], &bytes[..len]);
                    }
                    Frame::Error { .. } | Frame::Reply(_) => prop_assert!(len >= HEADER_LEN),
                }
            }
        }
    }
}
