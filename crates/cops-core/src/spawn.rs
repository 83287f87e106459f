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
    use crate::loom::AtomicU32;
    use alloc::boxed::Box;
    use core::fmt;
    use core::mem::ManuallyDrop;
    use core::ptr::NonNull;
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

    /// Where a coroutine is, as its joiner sees it.
    enum Stage<T> {
        Running,
        /// Returned its output, but its future is not dropped or its slot
        /// not free yet: the joiner still waits.
        Returned(T),
        Done(Result<T, JoinError>),
        Taken,
    }

    /// The part of a task its joiner reaches, whatever the future's type.
    /// Each field its own: the small ones share one word (24 bytes in all
    /// for an output of `()`; one `spin::Mutex<(Stage, Option<Waker>)>`
    /// would round each part up and take 32, plus an `Arc`'s two counts).
    struct Header<T> {
        /// References: the executor's (until `release`) and the handle's.
        refs: AtomicU32,
        /// Guards `stage` and `waker`.
        locked: AtomicBool,
        /// Its poll or its destructor unwound. Touched only by the worker
        /// that owns the RUNNING slot, then by `release`.
        panicked: UnsafeCell<bool>,
        stage: UnsafeCell<Stage<T>>,
        /// The joiner's waker.
        waker: UnsafeCell<Option<Waker>>,
    }

    impl<T> Header<T> {
        /// Run `f` on the join state, under the lock.
        fn with_join<R>(&self, f: impl FnOnce(&mut Stage<T>, &mut Option<Waker>) -> R) -> R {
            while self
                .locked
                .compare_exchange_weak(false, true, Acquire, Relaxed)
                .is_err()
            {
                crate::loom::spin_loop();
            }
            /// Lets go also if `f` unwinds (a waker's `drop` may panic).
            struct Unlock<'a>(&'a AtomicBool);
            impl Drop for Unlock<'_> {
                fn drop(&mut self) {
                    self.0.store(false, Release);
                }
            }
            let _unlock = Unlock(&self.locked);
            self.stage.with_mut(|stage| {
                self.waker.with_mut(|waker| {
                    // SAFETY: `locked` is ours: nothing else touches
                    // `stage` or `waker` until `_unlock` drops.
                    unsafe { f(&mut *stage, &mut *waker) }
                })
            })
        }
    }

    /// One allocation per coroutine: the join state, then the future.
    /// `repr(C)`: a `*const Task<F>` is a `*const Header<F::Output>`.
    #[repr(C)]
    struct Task<F: Future> {
        header: Header<F::Output>,
        future: UnsafeCell<ManuallyDrop<F>>,
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
        /// `data` is a task `spawn_boxed` allocated whose executor
        /// reference was not yet given up (`release`).
        unsafe fn from_data<'a>(data: *mut ()) -> &'a Self {
            // SAFETY: per the contract, the executor's reference keeps it.
            unsafe { &*(data as *const Self) }
        }

        /// Give up one reference; the last frees the task.
        ///
        /// # Safety
        /// `task` came from `spawn_boxed`'s `Box::into_raw`, and the caller
        /// holds a reference it gives up here, once.
        unsafe fn unref(task: NonNull<Header<F::Output>>) {
            // SAFETY: the caller's reference keeps the task alive until
            // this decrement.
            if unsafe { task.as_ref() }.refs.fetch_sub(1, AcqRel) == 1 {
                // SAFETY: the last reference: nobody else can reach it.
                // The future is `ManuallyDrop` and was dropped by
                // `drop_future`; the header's output and waker drop here.
                drop(unsafe { Box::from_raw(task.as_ptr() as *mut Self) });
            }
        }

        unsafe fn poll(data: *mut (), cx: &mut Context<'_>) -> Poll<()> {
            // SAFETY: vtable contract; the worker owning the RUNNING slot is
            // the only one touching `future` and `panicked`.
            let task = unsafe { Self::from_data(data) };
            let polled = task.header.panicked.with_mut(|panicked| {
                task.future.with_mut(|future| {
                    // SAFETY: as above; the future lives in the task's
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
                    task.header.with_join(|stage, _| {
                        if matches!(stage, Stage::Running) {
                            *stage = Stage::Returned(out);
                        }
                    });
                    Poll::Ready(())
                }
                Poll::Pending => Poll::Pending,
            }
        }

        unsafe fn drop_future(data: *mut ()) {
            // SAFETY: as in `poll`; the executor calls this exactly once.
            let task = unsafe { Self::from_data(data) };
            task.header.panicked.with_mut(|panicked| {
                task.future.with_mut(|future| {
                    // SAFETY: dropped exactly once, never used after.
                    flag_unwind(unsafe { &mut *panicked }, || unsafe {
                        ManuallyDrop::drop(&mut *future)
                    })
                })
            });
        }

        unsafe fn release(data: *mut ()) {
            // SAFETY: the executor's reference, given up at the end of this
            // call, exactly once, after `drop_future`.
            let task = unsafe { Self::from_data(data) };
            // SAFETY: `drop_future` is over: nothing else touches the flag.
            let panicked = task.header.panicked.with(|p| unsafe { *p });
            let waker = task.header.with_join(|stage, waker| {
                *stage = Stage::Done(match core::mem::replace(stage, Stage::Taken) {
                    Stage::Returned(_) if panicked => Err(JoinError::Panicked),
                    Stage::Returned(out) => Ok(out),
                    Stage::Running if panicked => Err(JoinError::Panicked),
                    Stage::Running => Err(JoinError::Cancelled),
                    Stage::Done(_) | Stage::Taken => unreachable!("released twice"),
                });
                waker.take()
            });
            // SAFETY: the executor's reference, given up once, here. From
            // `data` (which may free the task), not from a reference to it.
            unsafe { Self::unref(NonNull::new_unchecked(data as *mut Header<F::Output>)) };
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
        /// The task's join state; this handle holds one of its references.
        header: NonNull<Header<T>>,
        /// `Task::<F>::unref`, for this handle's reference.
        unref: unsafe fn(NonNull<Header<T>>),
        executor: &'static dyn ExecutorOps,
    }

    // SAFETY: the handle reaches the join state only under its lock, and
    // `T: Send` (as `spawn_boxed` requires) makes taking the output on
    // another thread sound.
    unsafe impl<T: Send> Send for JoinHandle<T> {}
    // SAFETY: `&JoinHandle` reaches the join state only under its lock.
    unsafe impl<T: Send> Sync for JoinHandle<T> {}

    impl<T> JoinHandle<T> {
        fn header(&self) -> &Header<T> {
            // SAFETY: this handle's reference keeps the task alive.
            unsafe { self.header.as_ref() }
        }
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
            self.header()
                .with_join(|stage, _| matches!(stage, Stage::Done(_) | Stage::Taken))
        }
        /// The result, if the coroutine finished and it was not taken yet.
        pub fn try_take(&mut self) -> Option<Result<T, JoinError>> {
            self.header().with_join(|stage, _| match stage {
                Stage::Done(_) => match core::mem::replace(stage, Stage::Taken) {
                    Stage::Done(r) => Some(r),
                    _ => unreachable!(),
                },
                _ => None,
            })
        }
    }

    impl<T> Future for JoinHandle<T> {
        type Output = Result<T, JoinError>;
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            self.header().with_join(|stage, waker| match stage {
                Stage::Done(_) => match core::mem::replace(stage, Stage::Taken) {
                    Stage::Done(r) => Poll::Ready(r),
                    _ => unreachable!(),
                },
                Stage::Taken => panic!("JoinHandle polled after completion"),
                Stage::Running | Stage::Returned(_) => {
                    *waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            })
        }
    }

    impl<T> Drop for JoinHandle<T> {
        fn drop(&mut self) {
            // A handle that lost a `select` must not pin its joiner's slot
            // (the waker holds a ref on it) until the coroutine ends.
            let waker = self.header().with_join(|_, waker| waker.take());
            drop(waker);
            // SAFETY: this handle's reference, given up once, here.
            unsafe { (self.unref)(self.header) };
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
        let task = Box::new(Task {
            header: Header {
                refs: AtomicU32::new(2),
                locked: AtomicBool::new(false),
                panicked: UnsafeCell::new(false),
                stage: UnsafeCell::new(Stage::Running),
                waker: UnsafeCell::new(None),
            },
            future: UnsafeCell::new(ManuallyDrop::new(future)),
        });
        let task = Box::into_raw(task);
        // SAFETY: `Box::into_raw` is never null; `Task` is `repr(C)` with
        // its header first.
        let header = unsafe { NonNull::new_unchecked(task as *mut Header<F::Output>) };
        // SAFETY: `task` lives until its last reference is given up, one of
        // which `Task::release` gives up; `F: Send`.
        let raw = unsafe { RawCoroutine::new(task as *mut (), &Task::<F>::VTABLE) };
        match spawner.spawn_raw(raw, priority, kind) {
            // The handle takes the other reference.
            Ok(id) => Ok(JoinHandle {
                id,
                header,
                unref: Task::<F>::unref,
                executor: spawner,
            }),
            Err((e, raw)) => {
                // Never published: `discard` drops the future and gives up
                // the executor's reference; no handle takes the other.
                raw.discard();
                // SAFETY: the handle's reference, which no handle holds.
                unsafe { Task::<F>::unref(header) };
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
