//! Exits at once with code 7 (for spawn/exit/reap loops).
#![no_std]
#![no_main]
use rcore_n_user::*;

entry!(main);

async fn main() -> i32 {
    7
}
