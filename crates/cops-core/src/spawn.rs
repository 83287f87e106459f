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

    /// What a joiner sees of its coroutine.
    enum Slot<T> {
        /// Running; the joiner's waker.
        Running(Option<Waker>),
        /// Returned its output, but its future is not dropped or its slot
        /// not free yet: the joiner still waits.
        Returned(T, Option<Waker>),
        Done(Result<T, JoinError>),
        Taken,
    }

    /// One allocation per coroutine: its future, its join state and its
    /// output (in the join state).
    struct Task<F: Future> {
        join: spin::Mutex<Slot<F::Output>>,
        future: UnsafeCell<ManuallyDrop<F>>,
        /// Its poll or its destructor unwound.
        panicked: UnsafeCell<bool>,
    }

    // SAFETY: `future` and `panicked` are touched only by the worker that
    // owns the RUNNING slot (poll, drop) and then by `release`, which runs
    // once after them on that worker; `join` is behind its mutex. `F: Send`
    // and `F::Output: Send` make handing them between CPUs sound.
    unsafe impl<F: Future + Send> Sync for Task<F> where F::Output: Send {}

    /// A joiner's view of a task, whatever its future type.
    trait Joinable<T>: Send + Sync {
        fn join(&self) -> &spin::Mutex<Slot<T>>;
    }

    impl<F: Future + Send> Joinable<F::Output> for Task<F>
    where
        F::Output: Send,
    {
        fn join(&self) -> &spin::Mutex<Slot<F::Output>> {
            &self.join
        }
    }

    impl<F: Future + Send + 'static> Task<F>
    where
        F::Output: Send,
    {
        const VTABLE: CoroutineVTable = CoroutineVTable {
            poll: Self::poll,
            drop: Self::drop_future,
            release: Self::release,
        };

        /// # Safety
        /// `data` is the `Arc<Self>` leaked by `spawn_boxed`, not released.
        unsafe fn from_data<'a>(data: *mut ()) -> &'a Self {
            // SAFETY: per the contract, the Arc keeps it alive.
            unsafe { &*(data as *const Self) }
        }

        unsafe fn poll(data: *mut (), cx: &mut Context<'_>) -> Poll<()> {
            // SAFETY: vtable contract; the worker owning the RUNNING slot is
            // the only one touching `future` and `panicked`.
            let task = unsafe { Self::from_data(data) };
            let polled = task.panicked.with_mut(|panicked| {
                task.future.with_mut(|future| {
                    // SAFETY: as above; the future lives in the Arc's
                    // allocation, which never moves: pinning is sound.
                    flag_unwind(unsafe { &mut *panicked }, || unsafe {
                        Pin::new_unchecked(&mut **future).poll(cx)
                    })
                })
            });
            match polled {
                Poll::Ready(out) => {
                    // Kept until `release`: the joiner hears of it only
                    // once the future is dropped and the slot is free.
                    let mut join = task.join.lock();
                    if let Slot::Running(w) = core::mem::replace(&mut *join, Slot::Taken) {
                        *join = Slot::Returned(out, w);
                    }
                    Poll::Ready(())
                }
                Poll::Pending => Poll::Pending,
            }
        }

        unsafe fn drop_future(data: *mut ()) {
            // SAFETY: as in `poll`; the executor calls this exactly once.
            let task = unsafe { Self::from_data(data) };
            task.panicked.with_mut(|panicked| {
                task.future.with_mut(|future| {
                    // SAFETY: dropped exactly once, never used after.
                    flag_unwind(unsafe { &mut *panicked }, || unsafe {
                        ManuallyDrop::drop(&mut *future)
                    })
                })
            });
        }

        unsafe fn release(data: *mut ()) {
            // SAFETY: takes back the reference leaked in `spawn_boxed`,
            // exactly once, after `drop_future`.
            let task = unsafe { Arc::from_raw(data as *const Self) };
            // SAFETY: `drop_future` is over: nothing else touches the flag.
            let panicked = task.panicked.with(|p| unsafe { *p });
            let mut join = task.join.lock();
            let (result, waker) = match core::mem::replace(&mut *join, Slot::Taken) {
                Slot::Returned(_, w) if panicked => (Err(JoinError::Panicked), w),
                Slot::Returned(out, w) => (Ok(out), w),
                Slot::Running(w) if panicked => (Err(JoinError::Panicked), w),
                Slot::Running(w) => (Err(JoinError::Cancelled), w),
                Slot::Done(_) | Slot::Taken => unreachable!("released twice"),
            };
            *join = Slot::Done(result);
            drop(join);
            if let Some(w) = waker {
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
        task: Arc<dyn Joinable<T>>,
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
            matches!(*self.task.join().lock(), Slot::Done(_) | Slot::Taken)
        }
        /// The result, if the coroutine finished and it was not taken yet.
        pub fn try_take(&mut self) -> Option<Result<T, JoinError>> {
            let mut s = self.task.join().lock();
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
            let mut s = self.task.join().lock();
            match &mut *s {
                Slot::Done(_) => match core::mem::replace(&mut *s, Slot::Taken) {
                    Slot::Done(r) => Poll::Ready(r),
                    _ => unreachable!(),
                },
                Slot::Taken => panic!("JoinHandle polled after completion"),
                Slot::Running(w) | Slot::Returned(_, w) => {
                    *w = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        }
    }

    impl<T> Drop for JoinHandle<T> {
        fn drop(&mut self) {
            // A handle that lost a `select` must not pin its joiner's slot
            // (the waker holds a ref on it) until the coroutine ends.
            if let Slot::Running(w) | Slot::Returned(_, w) = &mut *self.task.join().lock() {
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
        let task = Arc::new(Task {
            join: spin::Mutex::new(Slot::Running(None)),
            future: UnsafeCell::new(ManuallyDrop::new(future)),
            panicked: UnsafeCell::new(false),
        });
        let data = Arc::into_raw(task.clone()) as *mut ();
        // SAFETY: `data` is a leaked Arc reference taken back by
        // `Task::release`; `F: Send`.
        let raw = unsafe { RawCoroutine::new(data, &Task::<F>::VTABLE) };
        match spawner.spawn_raw(raw, priority, kind) {
            Ok(id) => Ok(JoinHandle {
                id,
                task,
                executor: spawner,
            }),
            Err((e, raw)) => {
                // Never published: take the reference back.
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
