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
//! Layers: each module uses only the modules below it
//! (`scripts/check-layers.sh` checks every `crate::` path):
//!
//! ```text
//!   boot      entry, device tree, starting the harts
//!   run       the switching coroutine's side: enter a thread, handle its
//!             trap (system call, preemption, fault), soft upcalls
//!   syscall   decode and check each call, answer it or hand back a future
//!   task      the kernel executor, the view, processes and threads,
//!             kernel threads, quotas, user-interrupt pages, the summary
//!   fs        descriptors, pipes (sockets are descriptors too)
//!   net       virtio-net, the PLIC, smoltcp TCP, the network coroutine
//!   mm        frames, heap, Sv39 spaces, checked user copies, the vDSO
//!   sync timer trap          wait queue; sleeps, time slice; trap entry,
//!                            `run_user`, the N extension's CSRs
//!   hart console programs    hart id, harts, timebase, command line;
//!                            printing; the embedded user programs
//!   board     the machine (UART, shutdown, MAX_HARTS)
//! ```
//!
//! Where a lower layer must reach up, it takes a function from above
//! instead: `net::init` gets the spawner of its coroutine from `boot`, the
//! network claims external interrupts through `trap::claim_external`, and
//! `task` enters processes through the `SpaceSwitcher` that `run` gives it.
#![no_std]
#![no_main]

extern crate alloc;

#[macro_use]
mod console;
mod board;
mod boot;
mod fs;
mod hart;
mod mm;
mod net;
mod programs;
mod run;
mod sync;
mod syscall;
mod task;
mod timer;
mod trap;

use core::panic::PanicInfo;

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    println!("[kernel] hart {} panicked: {}", hart::hart_id(), info);
    board::shutdown(true, 101)
}
