//! The demo `cargo xtask qemu` boots: three processes at different
//! priorities, each with coroutines at different priorities, competing for
//! the harts; the kernel traces every entry into a process (`[sched]`).
#![no_std]
#![no_main]
use rcore_n_user::*;

entry!(main);

async fn main() -> i32 {
    println!(
        "[demo] init (pid {}) on {} harts: spawning three workers",
        syscall::getpid(),
        syscall::harts()
    );
    let workers = [
        ("demo_worker", 30u8),
        ("demo_worker", 10),
        ("demo_worker", 20),
    ];
    for (name, cap) in workers {
        let pid = syscall::spawn(name, cap).unwrap();
        println!("[demo] spawned {name} pid {pid} with priority cap {cap}");
    }
    for _ in workers {
        let (pid, code) = syscall::waitpid(None).unwrap();
        println!("[demo] worker pid {pid} exited with {code}");
    }
    println!("[demo] all workers done");
    0
}
