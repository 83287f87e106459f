//! The pipe ring of seed 003 §4, as `test_pipe_ring`, `bench` and the
//! `ring_node` program share it. Fds 3/4: a config pipe carrying each
//! node's index; ring pipe `k`: fds `(5 + 2k, 6 + 2k)`. Node `i` reads pipe
//! `i` and writes pipe `i + 1` (adding one to the token); the starter
//! writes pipe 0 and reads pipe `nodes`.

use alloc::vec::Vec;

use crate::syscall;

/// The token that makes every node forward it once more and exit.
pub const STOP: u64 = u64::MAX;

const CONFIG_READ: usize = 3;

fn pipe_fds(k: usize) -> (usize, usize) {
    (5 + 2 * k, 6 + 2 * k)
}

fn send(fd: usize, token: u64) {
    assert_eq!(syscall::write(fd, &token.to_le_bytes()), Ok(8));
}

fn receive(fd: usize) -> Option<u64> {
    let mut buf = [0u8; 8];
    (syscall::read(fd, &mut buf) == Ok(8)).then(|| u64::from_le_bytes(buf))
}

/// The starter's side of a running ring.
pub struct Ring {
    nodes: usize,
}

impl Ring {
    /// Open the ring's pipes (they must be the first this process opens)
    /// and start `nodes` `ring_node` processes at priority `level`.
    pub fn start(nodes: usize, level: u8) -> Ring {
        assert_eq!(syscall::pipe(), Ok((CONFIG_READ, CONFIG_READ + 1)));
        for k in 0..=nodes {
            assert_eq!(syscall::pipe(), Ok(pipe_fds(k)));
        }
        // One write: every node reads exactly its 8 bytes.
        let config: Vec<u8> = (0..nodes as u64).flat_map(u64::to_le_bytes).collect();
        assert_eq!(syscall::write(CONFIG_READ + 1, &config), Ok(config.len()));
        for _ in 0..nodes {
            syscall::spawn("ring_node", level).unwrap();
        }
        Ring { nodes }
    }

    /// Send `token` round the ring; what comes back.
    pub fn round(&self, token: u64) -> u64 {
        send(pipe_fds(0).1, token);
        receive(pipe_fds(self.nodes).0).expect("the ring closed")
    }

    /// Stop every node and reap it; each must exit with 0.
    pub fn stop(self) {
        assert_eq!(self.round(STOP), STOP);
        for _ in 0..self.nodes {
            assert_eq!(syscall::waitpid(None).map(|(_, code)| code), Ok(0));
        }
    }
}

/// The node's side: forward tokens, one more each time, until [`STOP`].
pub fn serve_as_node() -> i32 {
    let index = receive(CONFIG_READ).expect("ring config") as usize;
    let (from, to) = (pipe_fds(index).0, pipe_fds(index + 1).1);
    loop {
        let Some(token) = receive(from) else { return 1 };
        send(to, if token == STOP { STOP } else { token + 1 });
        if token == STOP {
            return 0;
        }
    }
}
