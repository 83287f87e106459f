//! Typed spawning on top of [`Executor::spawn_raw`]: boxed coroutines with a
//! [`JoinHandle`] (feature `alloc`) and coroutines in caller-provided static
//! storage ([`CoroutineStorage`], no allocator).

use core::future::Future;
use core::mem::MaybeUninit;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::loom::{AtomicBool, Ordering::*, UnsafeCell};
use crate::raw::{CoroutineVTable, RawCoroutine};
use crate::{CoroutineId, CoroutineKind, Error, Executor, Platform, Priority};

/// Storage for one coroutine of type `F`, for spawning without an
/// allocator. Reusable once its coroutine has finished.
pub struct CoroutineStorage<F> {
    taken: AtomicBool,
    future: UnsafeCell<MaybeUninit<F>>,
}

// SAFETY: the future is accessed only by the spawner (before publication)
// and by the one worker that owns the RUNNING slot; `F: Send` makes moving
// it between CPUs sound.
unsafe impl<F: Send> Sync for CoroutineStorage<F> {}

impl<F> Default for CoroutineStorage<F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F> CoroutineStorage<F> {
    /// Empty storage.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self {
            taken: AtomicBool::new(false),
            future: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }
    /// Empty storage.
    #[cfg(loom)]
    pub fn new() -> Self {
        Self {
            taken: AtomicBool::new(false),
            future: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }
}

impl<F: Future<Output = ()> + Send + 'static> CoroutineStorage<F> {
    const VTABLE: CoroutineVTable = CoroutineVTable {
        poll: Self::poll,
        drop: Self::drop,
    };

    unsafe fn poll(data: *mut (), cx: &mut Context<'_>) -> Poll<()> {
        let this = data as *const Self;
        // SAFETY: `data` is the `&'static Self` given to `spawn_in`; the
        // future was written there and is never moved (static storage).
        unsafe {
            (*this)
                .future
                .with_mut(|f| Pin::new_unchecked((*f).assume_init_mut()).poll(cx))
        }
    }

    unsafe fn drop(data: *mut ()) {
        let this = data as *const Self;
        // SAFETY: as in `poll`; dropped once, then the storage is released.
        unsafe {
            (*this).future.with_mut(|f| (*f).assume_init_drop());
            (*this).taken.store(false, Release);
        }
    }
}

/// What generic code needs of an executor: take a type-erased coroutine,
/// and wake, re-prioritise or cancel by id. Implemented by [`Executor`] and
/// by bindings that reach an executor through the vDSO table, so boxed
/// spawning ([`spawn_boxed`]), the switching coroutine and user-interrupt
/// sinks are written once for both.
pub trait ExecutorOps: Sync {
    /// As [`Executor::spawn_raw`].
    fn spawn_raw(
        &'static self,
        coroutine: RawCoroutine,
        priority: Priority,
        kind: CoroutineKind,
    ) -> Result<CoroutineId, (Error, RawCoroutine)>;
    /// As [`Executor::wake`].
    fn wake(&self, id: CoroutineId) -> Result<(), Error>;
    /// As [`Executor::set_priority`].
    fn set_priority(&self, id: CoroutineId, priority: Priority) -> Result<(), Error>;
    /// As [`Executor::cancel`].
    fn cancel(&self, id: CoroutineId) -> Result<(), Error>;

    /// Box `future` and spawn it at `priority` (as [`Executor::spawn`]).
    #[cfg(feature = "alloc")]
    fn spawn<F>(
        &'static self,
        future: F,
        priority: Priority,
    ) -> Result<JoinHandle<F::Output>, Error>
    where
        Self: Sized,
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        spawn_boxed(self, future, priority, CoroutineKind::Normal)
    }

    /// Box `future` and spawn it as a `kind` coroutine.
    #[cfg(feature = "alloc")]
    fn spawn_kind<F>(
        &'static self,
        future: F,
        priority: Priority,
        kind: CoroutineKind,
    ) -> Result<JoinHandle<F::Output>, Error>
    where
        Self: Sized,
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        spawn_boxed(self, future, priority, kind)
    }
}

impl<P: Platform> ExecutorOps for Executor<P> {
    fn spawn_raw(
        &'static self,
        coroutine: RawCoroutine,
        priority: Priority,
        kind: CoroutineKind,
    ) -> Result<CoroutineId, (Error, RawCoroutine)> {
        Executor::spawn_raw(self, coroutine, priority, kind)
    }
    fn wake(&self, id: CoroutineId) -> Result<(), Error> {
        Executor::wake(self, id)
    }
    fn set_priority(&self, id: CoroutineId, priority: Priority) -> Result<(), Error> {
        Executor::set_priority(self, id, priority)
    }
    fn cancel(&self, id: CoroutineId) -> Result<(), Error> {
        Executor::cancel(self, id)
    }
}

impl<P: Platform> Executor<P> {
    /// Spawn `future` into `storage` without allocating. Fails with
    /// [`Error::NoSlot`] if `storage` still holds a live coroutine.
    pub fn spawn_in<F>(
        &'static self,
        storage: &'static CoroutineStorage<F>,
        future: F,
        priority: Priority,
    ) -> Result<CoroutineId, Error>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if storage.taken.swap(true, Acquire) {
            return Err(Error::NoSlot);
        }
        // SAFETY: `taken` gives us the storage exclusively.
        storage.future.with_mut(|f| unsafe { (*f).write(future) });
        let data = storage as *const CoroutineStorage<F> as *mut ();
        // SAFETY: `data` is `'static` and initialised; `F: Send`.
        let raw = unsafe { RawCoroutine::new(data, &CoroutineStorage::<F>::VTABLE) };
        self.spawn_raw(raw, priority, CoroutineKind::Normal)
            .map_err(|(e, raw)| {
                // SAFETY: never published, so we still own it; drops and releases.
                unsafe { (raw.vtable.drop)(raw.data) };
                e
            })
    }
}

#[cfg(feature = "alloc")]
pub use boxed::{Cancelled, JoinHandle, spawn_boxed};

#[cfg(feature = "alloc")]
mod boxed {
    use super::*;
    use alloc::boxed::Box;
    use alloc::sync::Arc;
    use core::task::Waker;

    /// The coroutine was cancelled before it produced its output.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Cancelled;

    enum Slot<T> {
        Running(Option<Waker>),
        Done(T),
        Taken,
        Cancelled,
    }

    struct JoinState<T>(spin::Mutex<Slot<T>>);

    impl<T> JoinState<T> {
        fn finish(&self, s: Slot<T>) {
            let prev = core::mem::replace(&mut *self.0.lock(), s);
            if let Slot::Running(Some(w)) = prev {
                w.wake();
            }
        }
    }

    struct Boxed<F: Future> {
        future: F,
        join: Arc<JoinState<F::Output>>,
        done: bool,
    }

    impl<F: Future> Drop for Boxed<F> {
        fn drop(&mut self) {
            if !self.done {
                self.join.finish(Slot::Cancelled);
            }
        }
    }

    impl<F: Future + Send + 'static> Boxed<F>
    where
        F::Output: Send,
    {
        const VTABLE: CoroutineVTable = CoroutineVTable {
            poll: Self::poll,
            drop: Self::drop,
        };

        unsafe fn poll(data: *mut (), cx: &mut Context<'_>) -> Poll<()> {
            // SAFETY: `data` is the leaked `Box<Self>`; boxes do not move, so
            // pinning its future is sound.
            let this = unsafe { &mut *(data as *mut Self) };
            match unsafe { Pin::new_unchecked(&mut this.future) }.poll(cx) {
                Poll::Ready(out) => {
                    this.done = true;
                    this.join.finish(Slot::Done(out));
                    Poll::Ready(())
                }
                Poll::Pending => Poll::Pending,
            }
        }

        unsafe fn drop(data: *mut ()) {
            // SAFETY: reclaims the box leaked in `spawn_kind`, exactly once.
            drop(unsafe { Box::from_raw(data as *mut Self) });
        }
    }

    /// Awaits a spawned coroutine's output; can cancel it. Dropping the
    /// handle detaches the coroutine.
    pub struct JoinHandle<T> {
        id: CoroutineId,
        state: Arc<JoinState<T>>,
        executor: &'static dyn ExecutorOps,
    }

    impl<T> JoinHandle<T> {
        /// The coroutine's id.
        pub fn id(&self) -> CoroutineId {
            self.id
        }
        /// Ask for the coroutine to be cancelled (see [`Executor::cancel`]).
        pub fn cancel(&self) -> Result<(), Error> {
            self.executor.cancel(self.id)
        }
        /// Whether the coroutine has finished (completed or cancelled).
        pub fn is_finished(&self) -> bool {
            !matches!(*self.state.0.lock(), Slot::Running(_))
        }
        /// The output, if the coroutine completed and it was not taken yet.
        pub fn try_take(&mut self) -> Option<Result<T, Cancelled>> {
            let mut s = self.state.0.lock();
            match core::mem::replace(&mut *s, Slot::Taken) {
                Slot::Done(v) => Some(Ok(v)),
                Slot::Cancelled => Some(Err(Cancelled)),
                other => {
                    *s = other;
                    None
                }
            }
        }
    }

    impl<T> Future for JoinHandle<T> {
        type Output = Result<T, Cancelled>;
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            let mut s = self.state.0.lock();
            match core::mem::replace(&mut *s, Slot::Taken) {
                Slot::Done(v) => Poll::Ready(Ok(v)),
                Slot::Cancelled => Poll::Ready(Err(Cancelled)),
                Slot::Taken => panic!("JoinHandle polled after completion"),
                Slot::Running(_) => {
                    *s = Slot::Running(Some(cx.waker().clone()));
                    Poll::Pending
                }
            }
        }
    }

    /// Box `future`, spawn it on `spawner`, and return its [`JoinHandle`].
    pub fn spawn_boxed<F, S>(
        spawner: &'static S,
        future: F,
        priority: Priority,
        kind: CoroutineKind,
    ) -> Result<JoinHandle<F::Output>, Error>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
        S: ExecutorOps,
    {
        let state = Arc::new(JoinState(spin::Mutex::new(Slot::Running(None))));
        let boxed = Box::new(Boxed {
            future,
            join: state.clone(),
            done: false,
        });
        let data = Box::into_raw(boxed) as *mut ();
        // SAFETY: `data` is a leaked box reclaimed by `Boxed::drop`; `F: Send`.
        let raw = unsafe { RawCoroutine::new(data, &Boxed::<F>::VTABLE) };
        match spawner.spawn_raw(raw, priority, kind) {
            Ok(id) => Ok(JoinHandle {
                id,
                state,
                executor: spawner,
            }),
            Err((e, raw)) => {
                // SAFETY: never published; reclaim the box.
                unsafe { (raw.vtable.drop)(raw.data) };
                Err(e)
            }
        }
    }

    impl<P: Platform> Executor<P> {
        /// Spawn `future` at `priority`; its output arrives through the
        /// returned [`JoinHandle`].
        pub fn spawn<F>(
            &'static self,
            future: F,
            priority: Priority,
        ) -> Result<JoinHandle<F::Output>, Error>
        where
            F: Future + Send + 'static,
            F::Output: Send + 'static,
        {
            spawn_boxed(self, future, priority, CoroutineKind::Normal)
        }

        /// [`Executor::spawn`] with an explicit [`CoroutineKind`].
        pub fn spawn_kind<F>(
            &'static self,
            future: F,
            priority: Priority,
            kind: CoroutineKind,
        ) -> Result<JoinHandle<F::Output>, Error>
        where
            F: Future + Send + 'static,
            F::Output: Send + 'static,
        {
            spawn_boxed(self, future, priority, kind)
        }
    }
}
