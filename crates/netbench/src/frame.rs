//! The frames: encoding requests, replies and errors, checking a header
//! byte by byte, and decoding a whole frame.

use crate::{
    ERROR_LEN, HEADER_LEN, KIND_ERROR, KIND_REPLY, KIND_REQUEST, MAGIC, MAX_N, Matrix,
    PRIORITY_LEVELS, ProtocolError, VERSION,
};

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
pub(crate) fn check_header(buf: &[u8]) -> Result<Option<usize>, ProtocolError> {
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
