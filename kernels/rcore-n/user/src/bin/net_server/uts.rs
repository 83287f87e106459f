//! User threads (UT): three per connection, blocking calls, handing off
//! through queues with a pipe as the semaphore.

use super::*;

/// A queue whose consumer thread blocks in the kernel (a one-byte pipe
/// read per item) until a producer pushes.
pub struct Handoff<T> {
    items: spin::Mutex<VecDeque<T>>,
    rd: usize,
    wr: usize,
}

impl<T> Handoff<T> {
    fn new() -> Result<Self, Errno> {
        let (rd, wr) = syscall::pipe()?;
        Ok(Handoff {
            items: spin::Mutex::new(VecDeque::new()),
            rd,
            wr,
        })
    }

    fn push(&self, item: T) {
        self.items.lock().push_back(item);
        // The item is in before its byte: a consumer that got the byte
        // finds it.
        let _ = call::write(self.wr, &[1]).wait();
    }

    fn pop(&self) -> Option<T> {
        let mut byte = [0u8; 1];
        match call::read(self.rd, &mut byte).wait() {
            Ok(1) => self.items.lock().pop_front(),
            _ => None, // the pipe broke: treat as the end
        }
    }
}

impl<T> Drop for Handoff<T> {
    fn drop(&mut self) {
        let _ = syscall::close(self.rd);
        let _ = syscall::close(self.wr);
    }
}

pub struct Conn {
    fd: usize,
    requests: Handoff<Item>,
    replies: Handoff<Out>,
}

type Component = fn(&Conn);

fn run(arg: usize) -> i32 {
    // SAFETY: `start` leaked one `Arc<Conn>` and the component for
    // this thread into `arg`, which only this thread takes back.
    let (conn, component) = *unsafe { Box::from_raw(arg as *mut (Arc<Conn>, Component)) };
    component(&conn);
    drop(conn);
    ENDED.lock().push(syscall::gettid());
    0
}

fn thread(conn: &Arc<Conn>, component: Component) -> Result<usize, Errno> {
    let arg = Box::into_raw(Box::new((conn.clone(), component))) as usize;
    spawn_thread(run, arg).inspect_err(|_| {
        // SAFETY: the thread did not start: the box is still ours.
        drop(unsafe { Box::from_raw(arg as *mut (Arc<Conn>, Component)) });
    })
}

/// Errors say whether the send thread started (it then owns `fd`).
pub fn start(fd: usize) -> Result<Vec<usize>, (Errno, bool)> {
    let conn = Arc::new(Conn {
        fd,
        requests: Handoff::new().map_err(|e| (e, false))?,
        replies: Handoff::new().map_err(|e| (e, false))?,
    });
    let mut tids = Vec::new();
    tids.push(thread(&conn, send).map_err(|e| (e, false))?);
    match thread(&conn, compute_loop) {
        Ok(t) => tids.push(t),
        Err(e) => {
            conn.replies.push(Out::End); // the sender closes the socket
            return Err((e, true));
        }
    }
    match thread(&conn, receive) {
        Ok(t) => tids.push(t),
        Err(e) => {
            conn.requests.push(Item::End);
            return Err((e, true));
        }
    }
    Ok(tids)
}

fn receive(conn: &Conn) {
    let mut buf = FrameBuffer::<MAX_REQUEST_LEN>::new();
    loop {
        let read = call::read(conn.fd, buf.spare()).wait();
        if read == Err(Errno::Again) {
            syscall::sleep(QUOTA_BACKOFF_NS);
        }
        if !receive_step(&mut buf, read, |item| conn.requests.push(item)) {
            return;
        }
    }
}

fn compute_loop(conn: &Conn) {
    loop {
        let out = compute(conn.requests.pop().unwrap_or(Item::End));
        let last = !matches!(out, Out::Frame(_));
        conn.replies.push(out);
        if last {
            return;
        }
    }
}

fn write_all(fd: usize, mut bytes: &[u8]) -> Result<(), Errno> {
    while !bytes.is_empty() {
        match call::write(fd, bytes).wait() {
            Err(Errno::Again) => syscall::sleep(QUOTA_BACKOFF_NS),
            Err(e) => return Err(e),
            Ok(0) => return Err(Errno::Pipe),
            Ok(n) => bytes = &bytes[n..],
        }
    }
    Ok(())
}

fn send(conn: &Conn) {
    let mut broken = false;
    loop {
        match conn.replies.pop().unwrap_or(Out::End) {
            Out::Frame(f) if !broken => broken = write_all(conn.fd, &f).is_err(),
            Out::Frame(_) => {}
            Out::Refuse(f) => {
                let _ = write_all(conn.fd, &f);
                break;
            }
            Out::End => break,
        }
    }
    let _ = syscall::close(conn.fd);
    FINISHED.fetch_add(1, SeqCst);
}
