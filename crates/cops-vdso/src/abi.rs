//! The versioned C ABI between the image and its users. Everything here is
//! `#[repr(C)]`; a binding checks [`VdsoTable::check`] before any call.

use core::ffi::c_void;

/// `b"COPSVDSO"` as a little-endian `u64`.
pub const MAGIC: u64 = u64::from_le_bytes(*b"COPSVDSO");
/// Bumped on any change to the table, the platform callbacks or the layout
/// of what crosses the boundary.
pub const VERSION: u32 = 3;

/// The platform hooks of an executor living in a data area, as C callbacks
/// (`ctx` is the binding's). See `cops_core::Platform` for each one's
/// contract; levels are `0..64`, `255` means none.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct VdsoPlatform {
    pub ctx: *const c_void,
    pub cpu_id: extern "C" fn(ctx: *const c_void) -> usize,
    pub idle: extern "C" fn(ctx: *const c_void),
    pub notify: extern "C" fn(ctx: *const c_void),
    pub publish_priority: extern "C" fn(ctx: *const c_void, level: u8),
    pub running_priority: extern "C" fn(ctx: *const c_void, level: u8),
    pub should_yield: extern "C" fn(ctx: *const c_void, local_level: u8) -> bool,
    /// Start `n` CPUs that call the table's `run` on the same state;
    /// returns how many started, or a negative `cops_core::Error` code.
    pub alloc_cpu: extern "C" fn(ctx: *const c_void, n: usize) -> isize,
}

extern "C" fn cpu_zero(_: *const c_void) -> usize {
    0
}
extern "C" fn spin(_: *const c_void) {
    core::hint::spin_loop();
}
extern "C" fn nothing(_: *const c_void) {}
extern "C" fn ignore_level(_: *const c_void, _: u8) {}
extern "C" fn never_yield(_: *const c_void, _: u8) -> bool {
    false
}
extern "C" fn no_cpus(_: *const c_void, _: usize) -> isize {
    cops_core::Error::Unsupported.code() as isize
}

impl VdsoPlatform {
    /// One CPU and every default (the vDSO's `cops_core::NoPlatform`):
    /// for executors driven by `poll_next` loops (tests, benchmarks).
    pub const SINGLE_CPU: VdsoPlatform = VdsoPlatform {
        ctx: core::ptr::null(),
        cpu_id: cpu_zero,
        idle: spin,
        notify: nothing,
        publish_priority: ignore_level,
        running_priority: ignore_level,
        should_yield: never_yield,
        alloc_cpu: no_cpus,
    };
}

// SAFETY: the callbacks' contract (as `cops_core::Platform`'s) makes them
// callable from any CPU; `ctx` is the binding's shared, `Sync` state.
unsafe impl Send for VdsoPlatform {}
// SAFETY: as above.
unsafe impl Sync for VdsoPlatform {}

/// One scheduling step's result (`cops_core::Polled`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PolledRepr {
    pub id: u64,
    pub level: u8,
    /// 0 pending, 1 completed, 2 cancelled.
    pub outcome: u8,
}

/// An executor's state inside a data area (opaque to bindings).
pub type State = c_void;

/// The table the image exports: a header a binding checks, then the
/// operations. Results: `0` or a negative `cops_core::Error` code; ids are
/// `CoroutineId::to_raw()`; `u64::MAX` is "none".
#[repr(C)]
pub struct VdsoTable {
    pub magic: u64,
    pub version: u32,
    /// `size_of::<VdsoTable>()` in the image.
    pub table_size: u32,
    /// `size_of` / `align_of` of the executor header at the start of a data
    /// area, and the bytes each coroutine slot takes after it.
    pub state_size: u32,
    pub state_align: u32,
    pub slot_size: u32,
    /// `size_of::<VdsoPlatform>()` and `size_of::<cops_core::raw::RawCoroutine>()`.
    pub platform_size: u32,
    pub coroutine_size: u32,
    pub _reserved: u32,
    /// Build an executor in `area` (`len` bytes, `state_align`-aligned) with
    /// as many slots as fit; null if it is too small.
    pub init:
        unsafe extern "C" fn(area: *mut u8, len: usize, platform: &VdsoPlatform) -> *const State,
    /// Spawn a type-erased coroutine (`data`, `vtable` as in
    /// `RawCoroutine`); returns its id, or a negative error code (the
    /// coroutine was not taken).
    pub spawn: unsafe extern "C" fn(
        state: *const State,
        data: *mut c_void,
        vtable: *const c_void,
        level: u8,
        kind: u8,
    ) -> i64,
    /// One scheduling step on the calling CPU; false if nothing was ready.
    pub poll_next: unsafe extern "C" fn(state: *const State, out: &mut PolledRepr) -> bool,
    /// Worker loop: 0 all done, 1 the platform asked to yield.
    pub run: unsafe extern "C" fn(state: *const State) -> u8,
    pub wake: unsafe extern "C" fn(state: *const State, id: u64) -> i32,
    pub set_priority: unsafe extern "C" fn(state: *const State, id: u64, level: u8) -> i32,
    pub cancel: unsafe extern "C" fn(state: *const State, id: u64) -> i32,
    /// Level of `id` (`0..64`) or a negative error code.
    pub priority: unsafe extern "C" fn(state: *const State, id: u64) -> i32,
    /// 0 ready, 1 running, 2 running-suspended, 3 blocked, or an error code.
    pub coroutine_state: unsafe extern "C" fn(state: *const State, id: u64) -> i32,
    pub current_id: unsafe extern "C" fn(state: *const State) -> u64,
    /// Highest ready level, 255 if none.
    pub highest_ready: unsafe extern "C" fn(state: *const State) -> u8,
    pub live: unsafe extern "C" fn(state: *const State) -> usize,
    /// The calling CPU was preempted mid-poll (1) or resumed (0): its
    /// running coroutine is running-suspended meanwhile
    /// (`Executor::set_preempted`; for the CPU's own preemption handler).
    pub set_preempted: unsafe extern "C" fn(state: *const State, preempted: u8),
}

/// Why a binding refused a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AbiError {
    /// Not a cops vDSO table.
    BadMagic(u64),
    /// Built for another ABI version.
    Version { image: u32, binding: u32 },
    /// Same version, different layout (built from different sources).
    Layout(&'static str),
}

impl core::fmt::Display for AbiError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BadMagic(m) => write!(f, "not a cops vDSO (magic {m:#x})"),
            Self::Version { image, binding } => {
                write!(
                    f,
                    "cops vDSO ABI version {image}, but this program was built for version {binding}"
                )
            }
            Self::Layout(what) => write!(f, "cops vDSO layout mismatch: {what}"),
        }
    }
}

impl VdsoTable {
    /// Check the header against what this build of the ABI expects.
    pub fn check(&self) -> Result<(), AbiError> {
        if self.magic != MAGIC {
            return Err(AbiError::BadMagic(self.magic));
        }
        if self.version != VERSION {
            return Err(AbiError::Version {
                image: self.version,
                binding: VERSION,
            });
        }
        let expect = |ok: bool, what| {
            if ok {
                Ok(())
            } else {
                Err(AbiError::Layout(what))
            }
        };
        expect(
            self.table_size as usize == size_of::<VdsoTable>(),
            "table size",
        )?;
        expect(
            self.platform_size as usize == size_of::<VdsoPlatform>(),
            "platform size",
        )?;
        expect(
            self.coroutine_size as usize == size_of::<cops_core::raw::RawCoroutine>(),
            "coroutine size",
        )
    }
}
