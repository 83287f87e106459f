//! # rcore-n: the COPS reference kernel
//!
//! A RISC-V 64 kernel for QEMU `virt` (and, by feature, the papers' FPGA
//! board) whose only unit of scheduling is a cops-core coroutine. The
//! kernel is a special process: every piece of kernel work (system calls
//! that wait, sleepers, process reapers) is a coroutine on one executor
//! shared by all harts, and user processes are entered by *switching
//! coroutines* whose priority follows the most urgent process in the global
//! priority view (COPS §3.3).
//!
//! ```text
//!   hart 0..n:  KERNEL_EXECUTOR.run() ──pick (O(1))──► kernel coroutine (syscall, sleeper…)
//!                                   └─────► switching coroutine ──enter──► user thread
//!                                                 ▲                          │ trap
//!                                                 └──────── run_user returns ┘
//! ```
//!
//! Layout: `boot` (entry, harts), `console`, `board`, `mm` (frames, heap,
//! Sv39 spaces, user-pointer checks), `trap` (context, `run_user`), `task`
//! (processes, threads, the kernel executor and switcher, timers),
//! `syscall`, `fs` (fd table, pipes, sockets), `net` (virtio-net, the PLIC,
//! smoltcp TCP and the network coroutine), `programs` (the embedded user programs).
#![no_std]
#![no_main]

extern crate alloc;

#[macro_use]
mod console;
mod board;
mod boot;
mod fs;
mod programs;
mod mm;
mod net;
mod syscall;
mod task;
mod trap;
mod uintr;

use core::panic::PanicInfo;

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    println!("[kernel] hart {} panicked: {}", boot::hart_id(), info);
    board::shutdown(true, 101)
}
