//! Processes, threads, priorities and time.

use alloc::sync::Arc;

use cops_core::Priority;
use rcore_n_abi::Errno;

use super::{Done, Next, Result, block};
use crate::task::process::{self as procs, CHILD_EXITS};
use crate::task::{Process, Thread};
use crate::timer;

/// Longest program name `spawn` accepts.
const MAX_NAME: usize = 64;

fn priority(level: usize) -> Result<Priority> {
    u8::try_from(level)
        .ok()
        .and_then(Priority::new)
        .ok_or(Errno::Inval)
}

pub fn sleep(ns: u64) -> Next {
    let deadline = timer::now().saturating_add(timer::ns_to_ticks(ns));
    block(async move {
        timer::sleep_until(deadline).await;
        Done::ret(0)
    })
}

/// Set the priority cap of this process (`pid` 0 or its own) or of one of
/// its children. Never more urgent than the caller's own cap.
pub fn set_priority(proc: &Process, pid: usize, level: usize) -> Result<isize> {
    let p = priority(level)?;
    if p.is_higher_than(proc.cap()) {
        return Err(Errno::Perm);
    }
    if pid == 0 || pid == proc.pid {
        proc.set_cap(p);
        return Ok(0);
    }
    let target = procs::get(pid)
        .filter(|t| !t.is_dead())
        .ok_or(Errno::Srch)?;
    if !proc.is_parent_of(&target) {
        return Err(Errno::Perm);
    }
    target.set_cap(p);
    Ok(0)
}

pub fn spawn(proc: &Arc<Process>, name: usize, len: usize, level: usize) -> Result<isize> {
    if len == 0 || len > MAX_NAME {
        return Err(Errno::Inval);
    }
    let p = priority(level)?;
    if p.is_higher_than(proc.cap()) {
        return Err(Errno::Perm);
    }
    let bytes = proc.space.lock().read(name, len)?;
    let name = core::str::from_utf8(&bytes).map_err(|_| Errno::Inval)?;
    let fds = proc.fds.lock().clone();
    let child = procs::spawn(name, Some(proc), p, fds)?;
    Ok(child.pid as isize)
}

pub fn waitpid(proc: &Arc<Process>, pid: usize, code_ptr: usize) -> Next {
    let want = (pid != usize::MAX).then_some(pid);
    if code_ptr != 0
        && let Err(e) = proc.space.lock().check_writable(code_ptr, 4)
    {
        return Next::Return(e.ret());
    }
    let parent = proc.clone();
    let done = move |pid: usize, code: i32| Done {
        ret: pid as isize,
        out: (code_ptr != 0).then(|| (code_ptr, code.to_le_bytes().to_vec())),
        install: None,
    };
    match procs::reap_child(&parent, want) {
        Err(e) => return Next::Return(e.ret()),
        Ok(Some((pid, code))) => return Next::Return(done(pid, code).commit(proc)),
        Ok(None) => {}
    }
    block(async move {
        match CHILD_EXITS
            .until(|| procs::reap_child(&parent, want).transpose())
            .await
        {
            Ok((pid, code)) => done(pid, code),
            Err(e) => Done::ret(e.ret()),
        }
    })
}

pub fn thread_create(proc: &Process, entry: usize, arg: usize) -> Result<isize> {
    if entry == 0 || entry >= rcore_n_abi::layout::COPS_PAGE {
        return Err(Errno::Inval);
    }
    proc.create_thread(entry, arg).map(|t| t as isize)
}

pub fn thread_join(proc: &Arc<Process>, me: &Thread, tid: usize, code_ptr: usize) -> Next {
    if tid == me.tid {
        return Next::Return(Errno::Inval.ret());
    }
    if !proc.has_thread(tid) {
        return Next::Return(Errno::Srch.ret());
    }
    if code_ptr != 0
        && let Err(e) = proc.space.lock().check_writable(code_ptr, 4)
    {
        return Next::Return(e.ret());
    }
    let proc = proc.clone();
    block(async move {
        let p = proc.clone();
        match proc.thread_exits.until(|| p.take_thread_exit(tid)).await {
            Ok(code) => Done {
                out: (code_ptr != 0).then(|| (code_ptr, code.to_le_bytes().to_vec())),
                ..Done::ret(tid as isize)
            },
            Err(e) => Done::ret(e.ret()),
        }
    })
}

pub fn shutdown(proc: &Process, code: i32) -> Result<isize> {
    if proc.pid != crate::task::INIT_PID {
        return Err(Errno::Perm);
    }
    crate::task::init_exited(code);
    Ok(0)
}
