//! Pipes: a bounded byte ring whose readers and writers are coroutines.
//! A read waits for at least one byte (or end-of-file); a write waits for
//! room (or a closed reader, `-EPIPE`).

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use rcore_n_abi::Errno;

use crate::sync::WaitQueue;

/// Bytes a pipe buffers.
pub const CAPACITY: usize = 4096;
/// Pipes at most, all processes together (their buffers are kernel heap):
/// more `pipe` calls get `-EMFILE`.
pub const MAX_PIPES: usize = 256;

static PIPES: AtomicUsize = AtomicUsize::new(0);

pub struct Pipe {
    buf: spin::Mutex<VecDeque<u8>>,
    readers: spin::Mutex<usize>,
    writers: spin::Mutex<usize>,
    changed: WaitQueue,
}

/// One end of a pipe; dropping the last handle of an end closes it.
pub struct PipeEnd {
    pipe: Arc<Pipe>,
    write: bool,
}

impl Pipe {
    /// Open a new pipe: (read end, write end); `-EMFILE` past [`MAX_PIPES`],
    /// `-ENOMEM` without room for its buffer.
    pub fn open() -> Result<(Arc<PipeEnd>, Arc<PipeEnd>), Errno> {
        if PIPES
            .fetch_update(Relaxed, Relaxed, |n| (n < MAX_PIPES).then_some(n + 1))
            .is_err()
        {
            return Err(Errno::MFile);
        }
        let mut buf = VecDeque::new();
        if buf.try_reserve_exact(CAPACITY).is_err() {
            PIPES.fetch_sub(1, Relaxed);
            return Err(Errno::NoMem);
        }
        let pipe = Arc::new(Pipe {
            buf: spin::Mutex::new(buf),
            readers: spin::Mutex::new(1),
            writers: spin::Mutex::new(1),
            changed: WaitQueue::new(),
        });
        Ok((
            Arc::new(PipeEnd {
                pipe: pipe.clone(),
                write: false,
            }),
            Arc::new(PipeEnd { pipe, write: true }),
        ))
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        PIPES.fetch_sub(1, Relaxed);
    }
}

impl PipeEnd {
    pub fn is_write_end(&self) -> bool {
        self.write
    }

    /// Up to `max` bytes, waiting for at least one; empty at end-of-file.
    /// `-ENOMEM` if the kernel heap has no room for them.
    pub async fn read(&self, max: usize) -> Result<Vec<u8>, Errno> {
        let p = &self.pipe;
        // Room for the most a read can return, reserved before waiting.
        let mut out = Vec::new();
        out.try_reserve_exact(max.min(CAPACITY))
            .map_err(|_| Errno::NoMem)?;
        p.changed
            .until(|| {
                let mut buf = p.buf.lock();
                if !buf.is_empty() {
                    let n = max.min(buf.len());
                    out.extend(buf.drain(..n));
                    Some(())
                } else if *p.writers.lock() == 0 {
                    Some(())
                } else {
                    None
                }
            })
            .await;
        p.changed.notify_all();
        Ok(out)
    }

    /// Write all of `data`, waiting for room; `-EPIPE` once no reader is left.
    pub async fn write(&self, data: &[u8]) -> Result<usize, Errno> {
        let p = &self.pipe;
        let mut done = 0;
        while done < data.len() {
            let n = p
                .changed
                .until(|| {
                    if *p.readers.lock() == 0 {
                        return Some(Err(Errno::Pipe));
                    }
                    let mut buf = p.buf.lock();
                    let room = CAPACITY - buf.len();
                    (room > 0).then(|| {
                        let n = room.min(data.len() - done);
                        buf.extend(&data[done..done + n]);
                        Ok(n)
                    })
                })
                .await;
            p.changed.notify_all();
            match n {
                Ok(n) => done += n,
                Err(e) if done == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(done)
    }
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        let count = if self.write {
            &self.pipe.writers
        } else {
            &self.pipe.readers
        };
        *count.lock() -= 1;
        self.pipe.changed.notify_all();
    }
}
