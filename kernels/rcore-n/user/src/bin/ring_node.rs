//! One node of the pipe ring (see `rcore_n_user::ring`).
#![no_std]
#![no_main]
use rcore_n_user::*;

entry!(main);

async fn main() -> i32 {
    ring::serve_as_node()
}
