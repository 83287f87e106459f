//! The image side (feature `image`): the table and the functions behind
//! it. Compiled only into `cops-vdso-image`, a position-independent binary
//! with no writable data: every function works on the state it is given.

use core::ffi::c_void;
use core::mem::{align_of, size_of};

use cops_core::raw::{CoroutineCell, CoroutineVTable, RawCoroutine, SchedSlot};
use cops_core::{
    CoroutineId, CoroutineKind, CoroutineState, Executor, Outcome, Platform, Priority, RunExit,
    Worker,
};

use crate::abi::{MAGIC, PolledRepr, State, VERSION, VdsoPlatform, VdsoTable};

const NONE: u8 = u8::MAX;

fn level(p: Option<Priority>) -> u8 {
    p.map_or(NONE, Priority::level)
}

impl Platform for VdsoPlatform {
    fn cpu_id(&self) -> usize {
        (self.cpu_id)(self.ctx)
    }
    fn idle(&self) {
        (self.idle)(self.ctx)
    }
    fn notify(&self) {
        (self.notify)(self.ctx)
    }
    fn publish_priority(&self, highest: Option<Priority>) {
        (self.publish_priority)(self.ctx, level(highest))
    }
    fn running_priority(&self, p: Option<Priority>) {
        (self.running_priority)(self.ctx, level(p))
    }
    fn should_yield(&self, local: Option<Priority>) -> bool {
        (self.should_yield)(self.ctx, level(local))
    }
    fn alloc_cpu(&self, _worker: &'static dyn Worker, n: usize) -> Result<usize, cops_core::Error> {
        // The binding's CPUs call the table's `run` on this same state.
        let r = (self.alloc_cpu)(self.ctx, n);
        if r >= 0 {
            Ok(r as usize)
        } else {
            Err(cops_core::Error::from_code(r as i32).unwrap_or(cops_core::Error::Unsupported))
        }
    }
}

type Exec = Executor<VdsoPlatform>;

/// Bytes of one coroutine slot after the header.
const SLOT_SIZE: usize = size_of::<SchedSlot>() + size_of::<CoroutineCell>();

/// # Safety
/// `state` came from `init` and its area lives for the rest of the program.
unsafe fn exec(state: *const State) -> &'static Exec {
    // SAFETY: per the contract.
    unsafe { &*(state as *const Exec) }
}

fn code(r: Result<(), cops_core::Error>) -> i32 {
    r.map_or_else(cops_core::Error::code, |()| 0)
}

unsafe extern "C" fn init(area: *mut u8, len: usize, platform: &VdsoPlatform) -> *const State {
    let header = size_of::<Exec>()
        .next_multiple_of(align_of::<SchedSlot>().max(align_of::<CoroutineCell>()));
    if (area as usize) % align_of::<Exec>() != 0 || len < header + SLOT_SIZE {
        return core::ptr::null();
    }
    let n = ((len - header) / SLOT_SIZE).min(CoroutineId::MAX_SLOTS);
    // SAFETY: the caller gives us `len` writable bytes for the rest of the
    // program; the layout (header, n SchedSlots, n CoroutineCells) fits in
    // them and respects every alignment (SchedSlot's size is a multiple of
    // the cells' alignment, checked below).
    unsafe {
        let slots = area.add(header) as *mut SchedSlot;
        let cells = slots.add(n) as *mut CoroutineCell;
        if (cells as usize) % align_of::<CoroutineCell>() != 0 {
            return core::ptr::null();
        }
        for i in 0..n {
            slots.add(i).write(SchedSlot::new());
            cells.add(i).write(CoroutineCell::new());
        }
        // The slots were just made fresh and this area serves only this
        // executor. Its ids are salted with the area's page number, so ids
        // of another address space's executor (another area) are refused.
        let exec = Exec::from_parts(
            core::slice::from_raw_parts(slots, n),
            core::slice::from_raw_parts(cells, n),
            *platform,
        )
        .with_salt((area as usize >> 12) as u8);
        (area as *mut Exec).write(exec);
    }
    area as *const State
}

unsafe extern "C" fn spawn(
    state: *const State,
    data: *mut c_void,
    vtable: *const c_void,
    level: u8,
    kind: u8,
) -> i64 {
    let Some(p) = Priority::new(level) else {
        return cops_core::Error::BadPriority.code() as i64;
    };
    let kind = match kind {
        1 => CoroutineKind::Switching,
        2 => CoroutineKind::Syscall,
        _ => CoroutineKind::Normal,
    };
    // SAFETY: the binding passes a `RawCoroutine`'s parts, whose contract
    // it upholds; `state` per `exec`.
    unsafe {
        let raw = RawCoroutine::new(data as *mut (), &*(vtable as *const CoroutineVTable));
        match exec(state).spawn_raw(raw, p, kind) {
            Ok(id) => id.to_raw() as i64,
            // Not taken: ownership goes back to the binding, which frees it.
            // (`RawCoroutine` has no destructor: dropping it frees nothing.)
            Err((e, _raw)) => e.code() as i64,
        }
    }
}

unsafe extern "C" fn poll_next(state: *const State, out: &mut PolledRepr) -> bool {
    // SAFETY: see `exec`.
    let Some(p) = unsafe { exec(state) }.poll_next() else {
        return false;
    };
    *out = PolledRepr {
        id: p.id.to_raw(),
        level: p.priority.level(),
        outcome: match p.outcome {
            Outcome::Pending => 0,
            Outcome::Completed => 1,
            Outcome::Cancelled => 2,
            Outcome::Panicked => 3,
        },
    };
    true
}

unsafe extern "C" fn run(state: *const State) -> u8 {
    // SAFETY: see `exec`.
    match unsafe { exec(state) }.run() {
        RunExit::AllDone => 0,
        RunExit::Yield => 1,
    }
}

unsafe extern "C" fn wake(state: *const State, id: u64) -> i32 {
    // SAFETY: see `exec`.
    code(unsafe { exec(state) }.wake(CoroutineId::from_raw(id)))
}

unsafe extern "C" fn set_priority(state: *const State, id: u64, level: u8) -> i32 {
    let Some(p) = Priority::new(level) else {
        return cops_core::Error::BadPriority.code();
    };
    // SAFETY: see `exec`.
    code(unsafe { exec(state) }.set_priority(CoroutineId::from_raw(id), p))
}

unsafe extern "C" fn cancel(state: *const State, id: u64) -> i32 {
    // SAFETY: see `exec`.
    code(unsafe { exec(state) }.cancel(CoroutineId::from_raw(id)))
}

unsafe extern "C" fn priority(state: *const State, id: u64) -> i32 {
    // SAFETY: see `exec`.
    unsafe { exec(state) }
        .priority(CoroutineId::from_raw(id))
        .map_or_else(cops_core::Error::code, |p| p.level() as i32)
}

unsafe extern "C" fn coroutine_state(state: *const State, id: u64) -> i32 {
    // SAFETY: see `exec`.
    match unsafe { exec(state) }.state(CoroutineId::from_raw(id)) {
        Ok(CoroutineState::Ready) => 0,
        Ok(CoroutineState::Running) => 1,
        Ok(CoroutineState::RunningSuspended) => 2,
        Ok(CoroutineState::Blocked) => 3,
        Err(e) => e.code(),
    }
}

unsafe extern "C" fn current_id(state: *const State) -> u64 {
    // SAFETY: see `exec`.
    unsafe { exec(state) }
        .current_id()
        .map_or(u64::MAX, CoroutineId::to_raw)
}

unsafe extern "C" fn highest_ready(state: *const State) -> u8 {
    // SAFETY: see `exec`.
    level(unsafe { exec(state) }.highest_ready())
}

unsafe extern "C" fn live(state: *const State) -> usize {
    // SAFETY: see `exec`.
    unsafe { exec(state) }.live()
}

unsafe extern "C" fn set_preempted(state: *const State, preempted: u8) {
    // SAFETY: see `exec`.
    unsafe { exec(state) }.set_preempted(preempted != 0)
}

/// The table (read-only data; its function pointers are the image's only
/// relocations besides panic locations and the waker vtable).
pub static TABLE: VdsoTable = VdsoTable {
    magic: MAGIC,
    version: VERSION,
    table_size: size_of::<VdsoTable>() as u32,
    state_size: size_of::<Exec>() as u32,
    state_align: align_of::<Exec>() as u32,
    slot_size: SLOT_SIZE as u32,
    platform_size: size_of::<VdsoPlatform>() as u32,
    coroutine_size: size_of::<RawCoroutine>() as u32,
    _reserved: 0,
    init,
    spawn,
    poll_next,
    run,
    wake,
    set_priority,
    cancel,
    priority,
    coroutine_state,
    current_id,
    highest_ready,
    live,
    set_preempted,
};
