//! [`FrameBuffer`]: a connection's receive buffer, taking whole frames out
//! of a stream however it was split into reads.

use crate::frame::check_header;
use crate::{Frame, KIND_ERROR, KIND_REPLY, ProtocolError, Request, decode};

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
