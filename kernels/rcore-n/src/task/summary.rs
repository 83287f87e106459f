//! The closing summary: what each process did (entries into user mode,
//! time there, system calls, upcalls, exit), printed when init exits.

use alloc::collections::BTreeMap;
use alloc::string::String;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use super::process::{self, Process};

/// Per-process figures for the closing summary.
#[derive(Default, Clone)]
struct ProcessRecord {
    name: String,
    cap: u8,
    entries: u64,
    ticks: u64,
    syscalls: u64,
    upcalls: u64,
    exit: Option<i32>,
}

/// Times a thread was sent into its process's preemption handler.
static PREEMPT_HANDLER_ENTRIES: AtomicUsize = AtomicUsize::new(0);

/// Times a thread was sent into its process's preemption handler.
pub fn preempt_handler_entries() -> usize {
    PREEMPT_HANDLER_ENTRIES.load(Relaxed)
}

/// A thread was sent into its process's preemption handler.
pub fn count_preempt_handler_entry() {
    PREEMPT_HANDLER_ENTRIES.fetch_add(1, Relaxed);
}

static RECORDS: spin::Mutex<BTreeMap<usize, ProcessRecord>> = spin::Mutex::new(BTreeMap::new());

/// `proc` came back from user mode after `ticks` there, by a system call
/// or not.
pub fn record_entry(proc: &Process, ticks: u64, syscall: bool) {
    let mut records = RECORDS.lock();
    let s = records.entry(proc.pid).or_default();
    if s.name != proc.name {
        *s = ProcessRecord {
            name: proc.name.clone(),
            ..ProcessRecord::default()
        };
    }
    s.cap = proc.cap().level();
    s.entries += 1;
    s.ticks += ticks;
    s.syscalls += syscall as u64;
}

/// Process `pid` exited with `code`.
pub fn record_exit(pid: usize, code: i32) {
    RECORDS.lock().entry(pid).or_default().exit = Some(code);
}

/// An upcall was delivered to `pid`.
pub fn record_upcall(pid: usize) {
    RECORDS.lock().entry(pid).or_default().upcalls += 1;
}

/// The table printed at shutdown.
pub fn print_summary() {
    let processes = process::spawned();
    let kib = crate::mm::vdso::size() / 1024;
    println!(
        "[kernel] vdso: one copy of the scheduler ({kib} KiB) run by the kernel and {processes} processes ({} KiB not duplicated)",
        kib * processes
    );
    super::uintr::print_summary();
    println!("[kernel] summary (time in microseconds of user mode):");
    println!("  pid  program            cap  entries  syscalls  upcalls   user-us  exit");
    let tb = crate::hart::timebase().max(1);
    for (pid, s) in RECORDS.lock().iter() {
        let exit = s.exit.map_or(String::from("-"), |c| alloc::format!("{c}"));
        println!(
            "  {pid:<4} {:<18} {:<4} {:<8} {:<9} {:<9} {:<9} {exit}",
            s.name,
            s.cap,
            s.entries,
            s.syscalls,
            s.upcalls,
            s.ticks * 1_000_000 / tb
        );
    }
}
