//! Writes 64 eight-byte records (0..64) to fd 4, in bursts.
#![no_std]
#![no_main]
use rcore_n_user::*;

entry!(main);

async fn main() -> i32 {
    for i in 0..64u64 {
        call::write(4, &i.to_le_bytes()).await.unwrap();
        if i % 16 == 15 {
            call::sleep(1_000_000).await.unwrap();
        }
    }
    0
}
