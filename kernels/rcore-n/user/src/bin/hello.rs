#![no_std]
#![no_main]
use rcore_n_user::*;

entry!(main);

async fn main() -> i32 {
    println!("hello from pid {}", syscall::getpid());
    let h = spawn(async { 6 * 7 }, 3).unwrap();
    let v = h.await.unwrap();
    println!("coroutine answered {v}");
    0
}
