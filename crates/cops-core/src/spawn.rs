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
        release: Self::release,
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
        // SAFETY: as in `poll`; the executor drops the future exactly once.
        unsafe { (*this).future.with_mut(|f| (*f).assume_init_drop()) }
    }

    unsafe fn release(data: *mut ()) {
        // SAFETY: as in `poll`. The slot is free again: the storage may be
        // reused at once.
        unsafe { (*(data as *const Self)).taken.store(false, Release) }
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
                // Never published, so we still own it.
                raw.discard();
                e
            })
    }
}

#[cfg(feature = "alloc")]
pub use boxed::{JoinError, JoinHandle, spawn_boxed};

/// Sets a flag if dropped, i.e. if the code it guards unwinds (no `std`
/// needed to notice a panic).
#[cfg(feature = "alloc")]
struct SetOnUnwind<'a>(&'a mut bool);

#[cfg(feature = "alloc")]
impl Drop for SetOnUnwind<'_> {
    fn drop(&mut self) {
        *self.0 = true;
    }
}

/// Run `f`; if it unwinds, set `flag` on the way out.
#[cfg(feature = "alloc")]
fn flag_unwind<R>(flag: &mut bool, f: impl FnOnce() -> R) -> R {
    let guard = SetOnUnwind(flag);
    let r = f();
    core::mem::forget(guard);
    r
}

#[cfg(feature = "alloc")]
mod boxed {
    use super::*;
    use alloc::boxed::Box;
    use alloc::sync::Arc;
    use core::fmt;
    use core::mem::ManuallyDrop;
    use core::task::Waker;

    /// Why a [`JoinHandle`] has no output (tokio's `JoinError`, without the
    /// panic payload: `no_std` cannot carry one).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum JoinError {
        /// The coroutine was cancelled before it produced its output.
        Cancelled,
        /// The coroutine panicked in its poll or in its destructor.
        Panicked,
    }

    impl fmt::Display for JoinError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(match self {
                Self::Cancelled => "coroutine cancelled",
                Self::Panicked => "coroutine panicked",
            })
        }
    }

    impl core::error::Error for JoinError {}

    enum Slot<T> {
        Running(Option<Waker>),
        Done(Result<T, JoinError>),
        Taken,
    }

    struct JoinState<T>(spin::Mutex<Slot<T>>);

    /// A boxed coroutine: its future, its output until the slot is free,
    /// and the join state it reports to then.
    struct Boxed<F: Future> {
        future: ManuallyDrop<F>,
        output: Option<F::Output>,
        panicked: bool,
        join: Arc<JoinState<F::Output>>,
    }

    impl<F: Future + Send + 'static> Boxed<F>
    where
        F::Output: Send,
    {
        const VTABLE: CoroutineVTable = CoroutineVTable {
            poll: Self::poll,
            drop: Self::drop_future,
            release: Self::release,
        };

        unsafe fn poll(data: *mut (), cx: &mut Context<'_>) -> Poll<()> {
            // SAFETY: `data` is the leaked `Box<Self>`; boxes do not move, so
            // pinning its future is sound.
            let Self {
                future,
                output,
                panicked,
                ..
            } = unsafe { &mut *(data as *mut Self) };
            let polled = flag_unwind(panicked, || {
                // SAFETY: as above; the future is live until `drop_future`.
                unsafe { Pin::new_unchecked(&mut **future) }.poll(cx)
            });
            match polled {
                Poll::Ready(out) => {
                    // Kept until `release`: the joiner hears of it only
                    // once the future is dropped and the slot is free.
                    *output = Some(out);
                    Poll::Ready(())
                }
                Poll::Pending => Poll::Pending,
            }
        }

        unsafe fn drop_future(data: *mut ()) {
            // SAFETY: the leaked box; the executor calls this exactly once.
            let Self {
                future, panicked, ..
            } = unsafe { &mut *(data as *mut Self) };
            // SAFETY: dropped exactly once, never used after.
            flag_unwind(panicked, || unsafe { ManuallyDrop::drop(future) });
        }

        unsafe fn release(data: *mut ()) {
            // SAFETY: reclaims the box leaked in `spawn_boxed`, exactly once,
            // after `drop_future` (the future is `ManuallyDrop`: not twice).
            let mut this = unsafe { Box::from_raw(data as *mut Self) };
            let result = match (this.panicked, this.output.take()) {
                (true, _) => Err(JoinError::Panicked),
                (false, Some(out)) => Ok(out),
                (false, None) => Err(JoinError::Cancelled),
            };
            let prev = core::mem::replace(&mut *this.join.0.lock(), Slot::Done(result));
            if let Slot::Running(Some(w)) = prev {
                w.wake();
            }
        }
    }

    /// Awaits a spawned coroutine's output; can cancel it. Dropping the
    /// handle detaches the coroutine (and forgets the joiner's waker).
    ///
    /// It resolves only after the coroutine's future has been dropped and
    /// its slot given back, so a joiner may re-spawn into a full executor
    /// at once.
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
        /// Whether the coroutine has finished (completed, cancelled or
        /// panicked) and its slot is free.
        pub fn is_finished(&self) -> bool {
            !matches!(*self.state.0.lock(), Slot::Running(_))
        }
        /// The result, if the coroutine finished and it was not taken yet.
        pub fn try_take(&mut self) -> Option<Result<T, JoinError>> {
            let mut s = self.state.0.lock();
            match core::mem::replace(&mut *s, Slot::Taken) {
                Slot::Done(r) => Some(r),
                other => {
                    *s = other;
                    None
                }
            }
        }
    }

    impl<T> Future for JoinHandle<T> {
        type Output = Result<T, JoinError>;
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            let mut s = self.state.0.lock();
            match core::mem::replace(&mut *s, Slot::Taken) {
                Slot::Done(r) => Poll::Ready(r),
                Slot::Taken => panic!("JoinHandle polled after completion"),
                Slot::Running(_) => {
                    *s = Slot::Running(Some(cx.waker().clone()));
                    Poll::Pending
                }
            }
        }
    }

    impl<T> Drop for JoinHandle<T> {
        fn drop(&mut self) {
            // A handle that lost a `select` must not pin its joiner's slot
            // (the waker holds a ref on it) until the coroutine ends.
            if let Slot::Running(w) = &mut *self.state.0.lock() {
                *w = None;
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
            future: ManuallyDrop::new(future),
            output: None,
            panicked: false,
            join: state.clone(),
        });
        let data = Box::into_raw(boxed) as *mut ();
        // SAFETY: `data` is a leaked box reclaimed by `Boxed::release`; `F: Send`.
        let raw = unsafe { RawCoroutine::new(data, &Boxed::<F>::VTABLE) };
        match spawner.spawn_raw(raw, priority, kind) {
            Ok(id) => Ok(JoinHandle {
                id,
                state,
                executor: spawner,
            }),
            Err((e, raw)) => {
                // Never published: reclaim the box.
                raw.discard();
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
