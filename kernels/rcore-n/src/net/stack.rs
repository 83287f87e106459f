//! smoltcp's socket set and its owners ([`Pool`]), the listeners' pools of
//! sockets ([`Listener`]), and the network coroutine's rounds ([`Stack`]).

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering::*;
use core::task::Waker;

use rcore_n_abi::Errno;
use smoltcp::iface::{Interface, PollIngressSingleResult, PollResult, SocketHandle, SocketSet};
use smoltcp::socket::tcp::{self, State};

use super::device::NetDevice;
use super::socket::Shared;
use super::{
    BACKLOG, INTERRUPTS, LINGER_MS, LISTEN_POOL, MAX_SOCKETS, MAX_SOCKETS_PER_PROCESS,
    PACKETS_PER_ROUND, RX_BUFFER, SOCKETS, TX_BUFFER, TX_FULL_RETRY_NS, now, ticks_at,
};
use crate::timer;

/// smoltcp's sockets and who holds them.
pub(super) struct Pool {
    pub(super) set: SocketSet<'static>,
    /// The process (serial) each socket is charged to.
    pub(super) owners: BTreeMap<SocketHandle, usize>,
    pub(super) per_owner: BTreeMap<usize, usize>,
}

fn zeroed(n: usize) -> Result<Vec<u8>, Errno> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| Errno::NoMem)?;
    v.resize(n, 0);
    Ok(v)
}

impl Pool {
    /// A new TCP socket charged to `owner`: `-EMFILE` past the kernel's or
    /// the process's limit, `-ENOMEM` without room for its buffers.
    pub(super) fn add(&mut self, owner: usize) -> Result<SocketHandle, Errno> {
        let held = self.per_owner.get(&owner).copied().unwrap_or(0);
        if SOCKETS.load(Relaxed) >= MAX_SOCKETS || held >= MAX_SOCKETS_PER_PROCESS {
            return Err(Errno::MFile);
        }
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(zeroed(RX_BUFFER)?),
            tcp::SocketBuffer::new(zeroed(TX_BUFFER)?),
        );
        // Replies go out as soon as they are written (request/response).
        s.set_nagle_enabled(false);
        let h = self.set.add(s);
        self.owners.insert(h, owner);
        *self.per_owner.entry(owner).or_default() += 1;
        SOCKETS.fetch_add(1, Relaxed);
        Ok(h)
    }

    pub(super) fn remove(&mut self, h: SocketHandle) {
        self.set.remove(h);
        SOCKETS.fetch_sub(1, Relaxed);
        if let Some(owner) = self.owners.remove(&h)
            && let Some(n) = self.per_owner.get_mut(&owner)
        {
            *n -= 1;
            if *n == 0 {
                self.per_owner.remove(&owner);
            }
        }
        // An emptied map keeps its root node: let it go, so the heap comes
        // back to where it was once the last socket has gone.
        if self.owners.is_empty() {
            self.owners = BTreeMap::new();
            self.per_owner = BTreeMap::new();
        }
    }

    pub(super) fn tcp(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.set.get_mut(h)
    }
}

pub(super) struct Listener {
    pub(super) shared: Arc<Shared>,
    pub(super) owner: usize,
    /// Sockets in LISTEN or SYN-RECEIVED.
    pub(super) pending: Vec<SocketHandle>,
    /// Connections waiting for `accept`, oldest first.
    pub(super) ready: VecDeque<SocketHandle>,
}

pub(super) struct Stack {
    pub(super) iface: Interface,
    pub(super) dev: NetDevice,
    pub(super) pool: Pool,
    pub(super) listeners: BTreeMap<u16, Listener>,
    /// Sockets whose descriptors are gone, until they finish (deadline in
    /// ticks, then aborted).
    pub(super) closing: Vec<(SocketHandle, u64)>,
}

impl Stack {
    /// One round of the network coroutine: take in packets, keep the
    /// listeners' pools full, send what is queued, let finished sockets go.
    /// Returns when the next round is due (ticks) and whether packets are
    /// still waiting.
    pub(super) fn round(&mut self) -> (Option<u64>, bool) {
        let t = now();
        self.iface.poll_maintenance(t);
        let mut more = false;
        let mut packets = 0;
        loop {
            if packets == PACKETS_PER_ROUND {
                more = true;
                break;
            }
            match self
                .iface
                .poll_ingress_single(t, &mut self.dev, &mut self.pool.set)
            {
                PollIngressSingleResult::None => break,
                PollIngressSingleResult::PacketProcessed => {}
                // A SYN may have taken a listening socket: refill before the
                // next packet, which may be another SYN.
                PollIngressSingleResult::SocketStateChanged => self.tend_listeners(),
            }
            packets += 1;
        }
        self.tend_listeners();
        let ticks = timer::now();
        for &(h, deadline) in &self.closing {
            if deadline <= ticks {
                self.pool.tcp(h).abort();
            }
        }
        while self.iface.poll_egress(t, &mut self.dev, &mut self.pool.set) != PollResult::None {}
        self.drop_finished(ticks);
        let timers = self.iface.poll_at(t, &self.pool.set).map(ticks_at);
        let lingering = self.closing.iter().map(|&(_, d)| d).min();
        let mut deadline = match (timers, lingering) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // smoltcp asks to be polled now when a socket has something to send;
        // with every transmit buffer in the device that would be a busy
        // loop: the device's completion interrupt kicks us instead (the
        // timer only as a fallback).
        if self.dev.transmit_full() && deadline.is_some_and(|d| d <= ticks) {
            deadline = Some(ticks + timer::ns_to_ticks(TX_FULL_RETRY_NS));
        }
        (deadline, more)
    }

    /// One line of state (`net.debug=1`).
    pub(super) fn dump(&mut self) {
        let mut states = BTreeMap::new();
        for (_, s) in self.pool.set.iter() {
            let smoltcp::socket::Socket::Tcp(t) = s;
            *states
                .entry(alloc::format!("{}", t.state()))
                .or_insert(0usize) += 1;
        }
        let listeners: Vec<(u16, usize, usize)> = self
            .listeners
            .iter()
            .map(|(p, l)| (*p, l.pending.len(), l.ready.len()))
            .collect();
        println!(
            "[net] sockets {states:?}; listeners (port, pending, ready) {listeners:?}; closing {}; {}; interrupts {}",
            self.closing.len(),
            self.dev.debug(),
            INTERRUPTS.load(Relaxed),
        );
    }

    /// Move new connections to the accept queues, refill the listening
    /// pools, wake accepts.
    pub(super) fn tend_listeners(&mut self) {
        for (&port, l) in self.listeners.iter_mut() {
            let mut arrived = false;
            let mut listening = 0;
            let mut i = 0;
            while i < l.pending.len() {
                let h = l.pending[i];
                match self.pool.tcp(h).state() {
                    State::Listen => {
                        listening += 1;
                        i += 1;
                    }
                    State::SynReceived => i += 1,
                    State::TimeWait => {
                        l.pending.swap_remove(i);
                        self.pool.remove(h);
                    }
                    // Established (or established and already reset: a
                    // SYN-RECEIVED socket that is reset goes back to LISTEN,
                    // so CLOSED here was a connection): accept returns it,
                    // as Linux does, and its first read says what happened.
                    _ => {
                        l.pending.remove(i);
                        l.ready.push_back(h);
                        arrived = true;
                    }
                }
            }
            while listening < LISTEN_POOL && l.pending.len() + l.ready.len() < BACKLOG {
                let Ok(h) = self.pool.add(l.owner) else { break };
                let s = self.pool.tcp(h);
                s.register_recv_waker(&Waker::from(l.shared.clone()));
                if s.listen(port).is_err() {
                    self.pool.remove(h);
                    break;
                }
                l.pending.push(h);
                listening += 1;
            }
            if arrived {
                l.shared.changed.notify_all();
            }
        }
    }

    /// Let closed sockets go: done (CLOSED, with any reset sent), in
    /// TIME-WAIT (see the module docs), or well past their deadline.
    fn drop_finished(&mut self, ticks: u64) {
        let grace = timer::ns_to_ticks(1_000_000_000);
        let mut i = 0;
        while i < self.closing.len() {
            let (h, deadline) = self.closing[i];
            let s = self.pool.tcp(h);
            let done = match s.state() {
                State::TimeWait => true,
                State::Closed => s.local_endpoint().is_none() || deadline + grace <= ticks,
                _ => false,
            };
            if done {
                self.closing.swap_remove(i);
                self.pool.remove(h);
            } else {
                i += 1;
            }
        }
        if self.closing.is_empty() {
            // Give back the room a burst of closes took.
            self.closing = Vec::new();
        }
    }

    /// Close socket `h`, no longer anyone's: gracefully, or with a reset.
    pub(super) fn close(&mut self, h: SocketHandle, abort: bool) {
        let s = self.pool.tcp(h);
        if matches!(s.state(), State::Listen | State::Closed) && s.local_endpoint().is_none() {
            self.pool.remove(h);
            return;
        }
        if abort {
            s.abort();
        } else {
            s.close();
        }
        let deadline = timer::now() + timer::ns_to_ticks(LINGER_MS * 1_000_000);
        self.closing.push((h, deadline));
    }
}
