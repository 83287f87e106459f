//! TCP sockets as descriptors refer to them: [`listen`], and a [`Socket`]'s
//! accept, read, write and close.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use alloc::task::Wake;
use alloc::vec::Vec;
use core::future::Future;
use core::sync::atomic::{AtomicBool, Ordering::*};
use core::task::Waker;

use rcore_n_abi::Errno;
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::{self, State};

use super::stack::Listener;
use super::{NET, Net, active, kick};
use crate::sync::WaitQueue;

enum Kind {
    Listener(u16),
    Stream(SocketHandle),
}

/// What a socket's descriptor and its calls in flight share.
pub(super) struct Shared {
    kind: Kind,
    /// Callers waiting for the socket to change (smoltcp's wakers notify).
    pub(super) changed: WaitQueue,
    /// The descriptor is gone (written under the stack lock): calls still
    /// waiting end with `-EBADF`, and the handle is no longer ours.
    closed: AtomicBool,
}

impl Wake for Shared {
    fn wake(self: Arc<Self>) {
        self.changed.notify_all();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.changed.notify_all();
    }
}

/// A TCP socket as a descriptor refers to it: a listener or a connection.
/// Dropping the last one closes it.
pub struct Socket {
    shared: Arc<Shared>,
    /// Its last holder exited: reset the connection instead of closing it.
    abort_on_drop: AtomicBool,
}

fn net() -> Result<&'static Net, Errno> {
    NET.get().filter(|_| active()).ok_or(Errno::NoDev)
}

/// A socket listening on `port`, charged to process `owner` (its serial).
pub fn listen(owner: usize, port: usize) -> Result<Socket, Errno> {
    let net = net()?;
    let port = u16::try_from(port)
        .ok()
        .filter(|&p| p != 0)
        .ok_or(Errno::Inval)?;
    let mut st = net.stack.lock();
    if st.listeners.contains_key(&port) {
        return Err(Errno::AddrInUse);
    }
    let shared = Arc::new(Shared {
        kind: Kind::Listener(port),
        changed: WaitQueue::new(),
        closed: AtomicBool::new(false),
    });
    // At least one listening socket now, or the call fails.
    let h = st.pool.add(owner)?;
    let s = st.pool.tcp(h);
    s.register_recv_waker(&Waker::from(shared.clone()));
    if s.listen(port).is_err() {
        st.pool.remove(h);
        return Err(Errno::Inval);
    }
    st.listeners.insert(
        port,
        Listener {
            shared: shared.clone(),
            owner,
            pending: alloc::vec![h],
            ready: VecDeque::new(),
        },
    );
    st.tend_listeners();
    drop(st);
    kick();
    Ok(Socket {
        shared,
        abort_on_drop: AtomicBool::new(false),
    })
}

impl Socket {
    /// This descriptor's holder exited and no one else holds it: reset the
    /// connection when it goes.
    pub fn abort_on_drop(&self) {
        self.abort_on_drop.store(true, Relaxed);
    }

    /// The next connection (`-EINVAL` on a connection socket, `-EBADF` if
    /// the listener is closed while waiting).
    pub fn accept(
        &self,
    ) -> Result<impl Future<Output = Result<Socket, Errno>> + Send + 'static, Errno> {
        let Kind::Listener(port) = self.shared.kind else {
            return Err(Errno::Inval);
        };
        let shared = self.shared.clone();
        let net = net()?;
        Ok(async move {
            let r = shared
                .changed
                .until(|| {
                    let mut st = net.stack.lock();
                    if shared.closed.load(Relaxed) {
                        return Some(Err(Errno::BadF));
                    }
                    let st = &mut *st;
                    let l = st.listeners.get_mut(&port)?;
                    if let Some(h) = l.ready.pop_front() {
                        let s = st.pool.tcp(h);
                        let conn = Arc::new(Shared {
                            kind: Kind::Stream(h),
                            changed: WaitQueue::new(),
                            closed: AtomicBool::new(false),
                        });
                        let w = Waker::from(conn.clone());
                        s.register_recv_waker(&w);
                        s.register_send_waker(&w);
                        return Some(Ok(Socket {
                            shared: conn,
                            abort_on_drop: AtomicBool::new(false),
                        }));
                    }
                    None
                })
                .await;
            // The pool has room for another connection now.
            kick();
            r
        })
    }

    /// Up to `max` bytes, waiting for at least one; empty at the peer's
    /// end of stream; `-ECONNRESET` after a reset; `-ENOTCONN` on a
    /// listener.
    pub fn read(
        &self,
        max: usize,
    ) -> Result<impl Future<Output = Result<Vec<u8>, Errno>> + Send + 'static, Errno> {
        let Kind::Stream(h) = self.shared.kind else {
            return Err(Errno::NotConn);
        };
        let shared = self.shared.clone();
        let net = net()?;
        Ok(async move {
            // Allocated when data is there: a read waiting on an idle
            // connection holds no buffer.
            let mut out = Vec::new();
            let r = shared
                .changed
                .until(|| {
                    let mut st = net.stack.lock();
                    if shared.closed.load(Relaxed) {
                        return Some(Err(Errno::BadF));
                    }
                    let s = st.pool.tcp(h);
                    let n = s.recv_queue().min(max);
                    if n > 0 {
                        if out.try_reserve_exact(n).is_err() {
                            return Some(Err(Errno::NoMem));
                        }
                        out.resize(n, 0);
                        let got = s.recv_slice(&mut out).unwrap_or(0);
                        out.truncate(got);
                        return Some(Ok(true));
                    }
                    if max == 0 {
                        return Some(Ok(false));
                    }
                    // Nothing buffered: end of stream, reset, or wait.
                    match s.recv_slice(&mut []) {
                        Err(tcp::RecvError::Finished) => Some(Ok(false)),
                        Err(tcp::RecvError::InvalidState) => Some(Err(Errno::ConnReset)),
                        Ok(_) => {
                            s.register_recv_waker(&Waker::from(shared.clone()));
                            None
                        }
                    }
                })
                .await;
            // Room in the window to announce.
            if r == Ok(true) {
                kick();
            }
            r.map(|_| out)
        })
    }

    /// Write all of `data`, waiting for room (fewer bytes only if the
    /// connection fails part-way); `-ECONNRESET` after a reset, `-EPIPE`
    /// once the connection can no longer send, `-ENOTCONN` on a listener.
    pub fn write(
        &self,
        data: Vec<u8>,
    ) -> Result<impl Future<Output = Result<usize, Errno>> + Send + 'static, Errno> {
        let Kind::Stream(h) = self.shared.kind else {
            return Err(Errno::NotConn);
        };
        let shared = self.shared.clone();
        let net = net()?;
        Ok(async move {
            let mut done = 0;
            while done < data.len() {
                let r = shared
                    .changed
                    .until(|| {
                        let mut st = net.stack.lock();
                        if shared.closed.load(Relaxed) {
                            return Some(Err(Errno::BadF));
                        }
                        let s = st.pool.tcp(h);
                        if !s.may_send() {
                            return Some(Err(if s.state() == State::Closed {
                                Errno::ConnReset
                            } else {
                                Errno::Pipe
                            }));
                        }
                        match s.send_slice(&data[done..]) {
                            Ok(0) => {
                                s.register_send_waker(&Waker::from(shared.clone()));
                                None
                            }
                            Ok(n) => Some(Ok(n)),
                            Err(_) => Some(Err(Errno::ConnReset)),
                        }
                    })
                    .await;
                match r {
                    Ok(n) => {
                        done += n;
                        kick();
                    }
                    Err(e) if done == 0 => return Err(e),
                    Err(_) => break,
                }
            }
            Ok(done)
        })
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        let Some(net) = NET.get() else { return };
        let abort = self.abort_on_drop.load(Relaxed);
        {
            let mut st = net.stack.lock();
            self.shared.closed.store(true, Relaxed);
            match self.shared.kind {
                Kind::Listener(port) => {
                    let listener = st.listeners.remove(&port);
                    if st.listeners.is_empty() {
                        st.listeners = BTreeMap::new(); // as in `Pool::remove`
                    }
                    if let Some(l) = listener {
                        // Connections never accepted are reset, as by Linux.
                        for h in l.pending.into_iter().chain(l.ready) {
                            st.close(h, true);
                        }
                    }
                }
                Kind::Stream(h) => st.close(h, abort),
            }
        }
        self.shared.changed.notify_all();
        kick();
    }
}
