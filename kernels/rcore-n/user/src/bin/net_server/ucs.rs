//! User coroutines (UC): three per connection, queues woken by id.

use super::*;

/// A queue between two coroutines: the consumer sleeps until the
/// producer pushes and wakes it by id; the producer may wait for room
/// (woken by id when the consumer pops), so a connection whose
/// components are starved by more urgent ones stops reading instead of
/// queueing requests without bound (TCP then slows its client down).
pub struct Handoff<T> {
    inner: spin::Mutex<Queue<T>>,
}

struct Queue<T> {
    items: VecDeque<T>,
    consumer: Option<CoroutineId>,
    producer: Option<CoroutineId>,
}

impl<T> Handoff<T> {
    fn new() -> Self {
        Handoff {
            inner: spin::Mutex::new(Queue {
                items: VecDeque::new(),
                consumer: None,
                producer: None,
            }),
        }
    }

    pub fn push(&self, item: T) {
        let waiter = {
            let mut q = self.inner.lock();
            q.items.push_back(item);
            q.consumer.take()
        };
        if let Some(id) = waiter {
            // A stale id (the consumer ended) is refused by generation.
            let _ = wake(id);
        }
    }

    /// Wait until fewer than `QUEUE_ROOM` items are queued.
    pub async fn room(&self) {
        poll_fn(|_| {
            let mut q = self.inner.lock();
            if q.items.len() < QUEUE_ROOM {
                Poll::Ready(())
            } else {
                q.producer = current_id();
                Poll::Pending
            }
        })
        .await
    }

    /// The next item; the calling coroutine waits for it.
    pub async fn pop(&self) -> T {
        let (item, producer) = poll_fn(|_| {
            let mut q = self.inner.lock();
            match q.items.pop_front() {
                Some(item) => Poll::Ready((item, q.producer.take())),
                None => {
                    // Registered under the lock a push takes: no lost wake.
                    q.consumer = current_id();
                    Poll::Pending
                }
            }
        })
        .await;
        if let Some(id) = producer {
            let _ = wake(id);
        }
        item
    }
}

pub struct Conn {
    fd: usize,
    requests: Handoff<Item>,
    replies: Handoff<Out>,
    /// The compute and send components, re-prioritised by the receive
    /// component on the first request.
    peers: spin::Once<[CoroutineId; 2]>,
}

/// Errors say whether the send component started (it then owns `fd`).
pub fn start(fd: usize) -> Result<(), (Errno, bool)> {
    let conn = Arc::new(Conn {
        fd,
        requests: Handoff::new(),
        replies: Handoff::new(),
        peers: spin::Once::new(),
    });
    let sender = spawn(send(conn.clone()), FIRST_LEVEL).map_err(|_| (Errno::Again, false))?;
    let computer = match spawn(compute_loop(conn.clone()), FIRST_LEVEL) {
        Ok(h) => h,
        Err(_) => {
            conn.replies.push(Out::End); // the sender closes the socket
            return Err((Errno::Again, true));
        }
    };
    conn.peers.call_once(|| [computer.id(), sender.id()]);
    if spawn(receive(conn.clone()), FIRST_LEVEL).is_err() {
        conn.requests.push(Item::End); // compute and send end, send closes
        return Err((Errno::Again, true));
    }
    Ok(())
}

async fn receive(conn: Arc<Conn>) {
    let mut buf = FrameBuffer::<MAX_REQUEST_LEN>::new();
    let mut level: Option<u8> = None;
    loop {
        conn.requests.room().await;
        let read = call::read(conn.fd, buf.spare()).await;
        if read == Err(Errno::Again) {
            // The sleep may be refused too: yield either way.
            let _ = call::sleep(QUOTA_BACKOFF_NS).await;
            yield_now().await;
        }
        let more = receive_step(&mut buf, read, |item| {
            if let Item::Request(r) = &item
                && level != Some(r.priority)
            {
                level = Some(r.priority);
                prioritise(&conn, r.priority);
            }
            conn.requests.push(item);
        });
        if !more {
            return;
        }
    }
}

/// All three components to `level` (COPS: the connection's priority).
fn prioritise(conn: &Conn, level: u8) {
    if let Some(me) = current_id() {
        let _ = set_priority(me, level);
    }
    for &id in conn.peers.get().into_iter().flatten() {
        let _ = set_priority(id, level);
    }
}

async fn compute_loop(conn: Arc<Conn>) {
    loop {
        let item = conn.requests.pop().await;
        conn.replies.room().await;
        let out = compute(item);
        let last = !matches!(out, Out::Frame(_));
        conn.replies.push(out);
        if last {
            return;
        }
    }
}

async fn write_all(fd: usize, mut bytes: &[u8]) -> Result<(), Errno> {
    while !bytes.is_empty() {
        match call::write(fd, bytes).await {
            // The call quota is spent (see `receive_step`): try again.
            Err(Errno::Again) => {
                let _ = call::sleep(QUOTA_BACKOFF_NS).await;
                yield_now().await;
            }
            Err(e) => return Err(e),
            Ok(0) => return Err(Errno::Pipe),
            Ok(n) => bytes = &bytes[n..],
        }
    }
    Ok(())
}

async fn send(conn: Arc<Conn>) {
    let mut broken = false;
    loop {
        match conn.replies.pop().await {
            Out::Frame(f) if !broken => broken = write_all(conn.fd, &f).await.is_err(),
            Out::Frame(_) => {} // the peer is gone: drain until the end
            Out::Refuse(f) => {
                let _ = write_all(conn.fd, &f).await;
                break;
            }
            Out::End => break,
        }
    }
    let _ = syscall::close(conn.fd);
    FINISHED.fetch_add(1, SeqCst);
}
