//! The one place that chooses between loom's model-checked primitives and the
//! real ones. Every concurrent structure in this crate imports its atomics and
//! cells from here, so the same code runs under `--cfg loom` and plain builds.
//!
//! Under `cfg(loom)` the shared-page layout guarantees (`repr(C)`, all-zero is
//! a valid empty page, size fits a 4 KiB page) do not hold: loom's types carry
//! model state. Layout assertions are therefore `cfg(not(loom))`.

#[cfg(loom)]
pub(crate) use ::loom::{
    cell::UnsafeCell,
    sync::atomic::{AtomicU32, AtomicU64, Ordering},
};

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// `UnsafeCell` with loom's closure API, so callers are written once.
/// `repr(transparent)`, so it has the layout of `T` inside the shared page.
#[cfg(not(loom))]
#[derive(Debug, Default)]
#[repr(transparent)]
pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(v: T) -> Self {
        Self(core::cell::UnsafeCell::new(v))
    }
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}
