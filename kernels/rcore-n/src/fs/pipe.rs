//! Pipes: a bounded byte ring whose readers and writers are coroutines.
//! A read waits for at least one byte (or end-of-file); a write waits for
//! room (or a closed reader, `-EPIPE`).

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;

use rcore_n_abi::Errno;

use crate::task::wait::WaitQueue;

const CAPACITY: usize = 4096;

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
    /// A new pipe: (read end, write end).
    pub fn new() -> (Arc<PipeEnd>, Arc<PipeEnd>) {
        let pipe = Arc::new(Pipe {
            buf: spin::Mutex::new(VecDeque::with_capacity(CAPACITY)),
            readers: spin::Mutex::new(1),
            writers: spin::Mutex::new(1),
            changed: WaitQueue::new(),
        });
        (
            Arc::new(PipeEnd {
                pipe: pipe.clone(),
                write: false,
            }),
            Arc::new(PipeEnd { pipe, write: true }),
        )
    }
}

impl PipeEnd {
    pub fn is_write_end(&self) -> bool {
        self.write
    }

    /// Up to `max` bytes, waiting for at least one; empty at end-of-file.
    pub async fn read(&self, max: usize) -> Vec<u8> {
        let p = &self.pipe;
        let out = p
            .changed
            .until(|| {
                let mut buf = p.buf.lock();
                if !buf.is_empty() {
                    let n = max.min(buf.len());
                    Some(buf.drain(..n).collect::<Vec<u8>>())
                } else if *p.writers.lock() == 0 {
                    Some(Vec::new())
                } else {
                    None
                }
            })
            .await;
        p.changed.notify_all();
        out
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
