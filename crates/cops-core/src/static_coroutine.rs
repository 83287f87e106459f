//! Allocation-free spawning of an `async fn` on stable Rust.
//!
//! [`CoroutineStorage<F>`](crate::CoroutineStorage) needs the future's type
//! in a `static`, and the future of an `async fn` cannot be named on stable
//! Rust. [`coroutine!`](crate::coroutine) gets around that the way
//! embassy's `#[task]` does: the static is a byte array whose size and
//! alignment are computed at compile time from the function item (whose
//! type *can* be inferred), and it is viewed as the storage at run time.

use core::cell::UnsafeCell;
use core::future::Future;
use core::mem::{align_of, size_of};

use crate::CoroutineStorage;

/// Raw room for one [`CoroutineStorage`], zero-initialised. Aligned to 64
/// bytes; a future needing more is refused at compile time.
#[doc(hidden)]
#[repr(C, align(64))]
pub struct __CoroutineSlot<const SIZE: usize>(UnsafeCell<[u8; SIZE]>);

// SAFETY: only ever accessed as the `CoroutineStorage` it holds, which is
// `Sync` (its own `taken` flag arbitrates the future).
unsafe impl<const SIZE: usize> Sync for __CoroutineSlot<SIZE> {}

impl<const SIZE: usize> __CoroutineSlot<SIZE> {
    #[doc(hidden)]
    pub const fn new() -> Self {
        Self(UnsafeCell::new([0; SIZE]))
    }
}

/// An `async fn` whose arguments are `Args`: what [`coroutine!`] needs to
/// name its future. Implemented for functions of up to six arguments.
#[doc(hidden)]
pub trait __CoroutineFn<Args> {
    type Fut: Future<Output = ()> + Send + 'static;
}

macro_rules! coroutine_fn {
    ($($arg:ident),*) => {
        impl<Func, Fut, $($arg),*> __CoroutineFn<($($arg,)*)> for Func
        where
            Func: Fn($($arg),*) -> Fut,
            Fut: Future<Output = ()> + Send + 'static,
        {
            type Fut = Fut;
        }
    };
}
coroutine_fn!();
coroutine_fn!(A);
coroutine_fn!(A, B);
coroutine_fn!(A, B, C);
coroutine_fn!(A, B, C, D);
coroutine_fn!(A, B, C, D, E);
coroutine_fn!(A, B, C, D, E, G);

/// Bytes the storage of `f`'s future needs.
#[doc(hidden)]
pub const fn __storage_size<F: __CoroutineFn<Args>, Args>(_: &F) -> usize {
    size_of::<CoroutineStorage<F::Fut>>()
}

/// The storage of `f`'s future, in `slot`.
///
/// # Safety
/// `slot` is used for `f`'s future only (the macro gives each function its
/// own static).
#[doc(hidden)]
pub unsafe fn __storage<F: __CoroutineFn<Args>, Args, const SIZE: usize>(
    slot: &'static __CoroutineSlot<SIZE>,
    _: &F,
) -> &'static CoroutineStorage<F::Fut> {
    const {
        assert!(size_of::<CoroutineStorage<F::Fut>>() <= SIZE);
        assert!(
            align_of::<CoroutineStorage<F::Fut>>() <= 64,
            "cops: a coroutine! future aligned to more than 64 bytes"
        );
    }
    // SAFETY: size and alignment checked above; all-zero bytes are an empty
    // `CoroutineStorage` (`taken` = false, the future uninitialised), and
    // per the contract no other type is ever viewed in this slot.
    unsafe { &*(slot.0.get() as *const CoroutineStorage<F::Fut>) }
}

/// Turn an `async fn` into a spawner that needs no allocator: its future
/// lives in a `static` of exactly the right size, declared by the macro.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use cops_core::{Executor, NoPlatform, Priority};
///
/// cops_core::static_executor! {
///     static EXEC: Executor<NoPlatform> = (4, NoPlatform);
/// }
/// static TICKS: AtomicUsize = AtomicUsize::new(0);
///
/// cops_core::coroutine! {
///     /// Counts `n` ticks, yielding between them.
///     async fn ticker(count: &'static AtomicUsize, n: usize) {
///         for _ in 0..n {
///             count.fetch_add(1, Ordering::Relaxed);
///             cops_core::yield_now().await;
///         }
///     }
/// }
///
/// // `ticker(executor, priority, args…)` spawns it: no box, no heap.
/// let id = ticker(&EXEC, Priority::new(2).unwrap(), &TICKS, 3).unwrap();
/// // One instance at a time: its storage is still in use.
/// assert_eq!(ticker(&EXEC, Priority::HIGHEST, &TICKS, 1), Err(cops_core::Error::NoSlot));
/// EXEC.run_until_idle();
/// assert_eq!(TICKS.load(Ordering::Relaxed), 3);
/// assert!(EXEC.state(id).is_err(), "finished");
/// // Finished: the storage can be used again.
/// ticker(&EXEC, Priority::HIGHEST, &TICKS, 1).unwrap();
/// ```
///
/// The generated function is generic over the executor's platform and
/// returns the coroutine's id, or [`Error::NoSlot`](crate::Error::NoSlot)
/// while the previous instance still runs or the executor is full. The
/// arguments must be `'static` and the future `Send` (up to six arguments).
#[macro_export]
macro_rules! coroutine {
    ($(#[$meta:meta])* $vis:vis async fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        $vis fn $name<P: $crate::Platform>(
            executor: &'static $crate::Executor<P>,
            priority: $crate::Priority,
            $($arg: $ty),*
        ) -> ::core::result::Result<$crate::CoroutineId, $crate::Error> {
            async fn body($($arg: $ty),*) $body
            static SLOT: $crate::__CoroutineSlot<{ $crate::__storage_size(&body) }> =
                $crate::__CoroutineSlot::new();
            // SAFETY: `SLOT` is declared here, for `body`'s future only.
            let storage = unsafe { $crate::__storage(&SLOT, &body) };
            executor.spawn_in(storage, body($($arg),*), priority)
        }
    };
}
