//! A ring of processes joined by pipes (seed 003 §4): a token goes round
//! the ring and comes back incremented once per node, every round.
#![no_std]
#![no_main]
use rcore_n_user::*;

entry!(main);

const NODES: usize = 4;
const ROUNDS: u64 = 50;

async fn main() -> i32 {
    let ring = ring::Ring::start(NODES, 10);
    let t0 = syscall::clock();
    let mut token = 0u64;
    for _ in 0..ROUNDS {
        let back = ring.round(token);
        assert_eq!(
            back,
            token + NODES as u64,
            "a node lost or duplicated the token"
        );
        token = back;
    }
    let ns = syscall::clock() - t0;
    ring.stop();
    println!(
        "{} hops in {} us ({} ns per hop)",
        ROUNDS * NODES as u64,
        ns / 1000,
        ns / (ROUNDS * NODES as u64)
    );
    guest_test::pass("test_pipe_ring");
    0
}
