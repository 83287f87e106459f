//! A ring of processes joined by pipes (seed 003 §4): a token goes round
//! the ring and comes back incremented once per node, every round.
#![no_std]
#![no_main]
use rcore_n_user::*;

entry!(main);

const NODES: usize = 4;
const ROUNDS: u64 = 50;

async fn main() -> i32 {
    // fds 3,4: config pipe; ring pipe k: fds 5+2k (read), 6+2k (write).
    let (cfg_r, cfg_w) = syscall::pipe().unwrap();
    assert_eq!((cfg_r, cfg_w), (3, 4));
    for k in 0..=NODES {
        assert_eq!(syscall::pipe().unwrap(), (5 + 2 * k, 6 + 2 * k));
    }
    let mut cfg = [0u8; 16 * NODES];
    for i in 0..NODES {
        cfg[16 * i..16 * i + 8].copy_from_slice(&i.to_le_bytes());
        cfg[16 * i + 8..16 * i + 16].copy_from_slice(&NODES.to_le_bytes());
    }
    assert_eq!(syscall::write(cfg_w, &cfg), Ok(cfg.len()));
    for _ in 0..NODES {
        syscall::spawn("ring_node", 10).unwrap();
    }
    let t0 = syscall::clock();
    let mut token = 0u64;
    for _ in 0..ROUNDS {
        syscall::write(6, &token.to_le_bytes()).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(syscall::read(5 + 2 * NODES, &mut buf), Ok(8));
        let back = u64::from_le_bytes(buf);
        assert_eq!(
            back,
            token + NODES as u64,
            "a node lost or duplicated the token"
        );
        token = back;
    }
    let ns = syscall::clock() - t0;
    syscall::write(6, &u64::MAX.to_le_bytes()).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(syscall::read(5 + 2 * NODES, &mut buf), Ok(8));
    for _ in 0..NODES {
        let (_, code) = syscall::waitpid(None).unwrap();
        assert_eq!(code, 0);
    }
    println!(
        "{} hops in {} us ({} ns per hop)",
        ROUNDS * NODES as u64,
        ns / 1000,
        ns / (ROUNDS * NODES as u64)
    );
    println!("TEST test_pipe_ring PASS");
    0
}
