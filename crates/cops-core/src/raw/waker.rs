//! The `Waker` of a coroutine: data = its [`CoroutineCell`], one static
//! vtable. Clones hold a ref on the slot so it cannot be recycled under a
//! live waker (no misdelivery to the next occupant); `wake` goes through the
//! same `Scheduler::wake` as wake-by-id.

use core::task::{RawWaker, RawWakerVTable, Waker};

use super::cell::CoroutineCell;
use crate::CoroutineId;

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop);

fn cell<'a>(data: *const ()) -> &'a CoroutineCell {
    // SAFETY: every waker built with `VTABLE` carries a pointer to a
    // `CoroutineCell` inside `'static` executor storage.
    unsafe { &*(data as *const CoroutineCell) }
}

unsafe fn clone(data: *const ()) -> RawWaker {
    let cell = cell(data);
    cell.owner().ref_inc(cell);
    RawWaker::new(data, &VTABLE)
}

unsafe fn wake(data: *const ()) {
    // Consumes the waker: its ref goes in the same state transition.
    let cell = cell(data);
    cell.owner().wake_and_unref(cell);
}

unsafe fn wake_by_ref(data: *const ()) {
    let cell = cell(data);
    cell.owner().wake(cell);
}

unsafe fn drop(data: *const ()) {
    let cell = cell(data);
    cell.owner().ref_dec(cell);
}

/// A waker borrowed for one poll: it holds no ref (the RUNNING state pins the
/// slot), so it must not be dropped as an owned waker.
pub(crate) fn borrowed(cell: &CoroutineCell) -> core::mem::ManuallyDrop<Waker> {
    let raw = RawWaker::new(cell as *const CoroutineCell as *const (), &VTABLE);
    // SAFETY: `VTABLE`'s contract holds for `cell` (see `cell()`); wrapping in
    // `ManuallyDrop` keeps the unowned waker from releasing a ref it never took.
    core::mem::ManuallyDrop::new(unsafe { Waker::from_raw(raw) })
}

/// The id of the coroutine a waker belongs to, if it is one of ours.
pub fn id_of(waker: &Waker) -> Option<CoroutineId> {
    if !core::ptr::eq(waker.vtable(), &VTABLE) {
        return None;
    }
    let cell = cell(waker.data());
    Some(cell.owner().id_of(cell))
}
