//! The shared-page protocol: notify, overflow → resync, bounded drain,
//! zeroed-memory construction, and robustness against a scribbled page.
#![cfg(not(loom))]

use cops_uintr::{Cause, PageSized, PushError, Record, UintrPage, WakeById};
use std::cell::RefCell;

#[derive(Default)]
struct Sink {
    woken: RefCell<Vec<u64>>,
    resyncs: RefCell<u32>,
    stale_below: u64,
}

impl WakeById for Sink {
    type Error = &'static str;
    fn wake(&self, id: u64) -> Result<(), Self::Error> {
        if id < self.stale_below {
            return Err("stale");
        }
        self.woken.borrow_mut().push(id);
        Ok(())
    }
    fn resync(&self) {
        *self.resyncs.borrow_mut() += 1;
    }
}

#[test]
fn only_the_post_that_raises_pending_rings() {
    let page = UintrPage::<8>::new();
    assert!(!page.is_pending());
    assert!(page.post(Record::wake(1)).unwrap().notify);
    assert!(!page.post(Record::wake(2)).unwrap().notify);
    let sink = Sink::default();
    let r = page.handle(&sink);
    assert_eq!((r.woken, r.again), (2, false));
    assert!(!page.is_pending());
    assert!(
        page.post(Record::wake(3)).unwrap().notify,
        "rings again after the ack"
    );
}

#[test]
fn overflow_sets_flag_returns_record_and_handler_resyncs_once() {
    let page = UintrPage::<2>::new();
    page.post(Record::wake(1)).unwrap();
    page.post(Record::wake(2)).unwrap();
    let err = page.post(Record::wake(3)).unwrap_err();
    assert_eq!(err.error, PushError::Full(Record::wake(3)));
    assert!(!err.notify, "doorbell already outstanding");
    assert!(page.is_overflowed());
    assert_eq!(page.failed_posts(), 1);
    let sink = Sink::default();
    let r = page.handle(&sink);
    assert!(r.resynced);
    assert_eq!(*sink.woken.borrow(), [1, 2]);
    assert_eq!(*sink.resyncs.borrow(), 1);
    assert!(!page.is_overflowed());
    assert!(!page.handle(&sink).resynced, "flag consumed");
}

#[test]
fn try_post_does_not_set_overflow_but_post_does() {
    let page = UintrPage::<2>::new();
    page.try_post(Record::wake(1)).unwrap();
    page.try_post(Record::wake(2)).unwrap();
    assert!(page.try_post(Record::wake(3)).is_err());
    assert!(!page.is_overflowed());
    assert!(page.post(Record::wake(3)).is_err());
    assert!(page.is_overflowed());
}

#[test]
fn drain_is_bounded_and_leaves_pending_set() {
    let page = UintrPage::<4>::new();
    let sink = Sink::default();
    for id in 0..4 {
        page.post(Record::wake(id)).unwrap();
    }
    // A sender refilling during the drain: emulate with handle_with.
    let mut refill = 10;
    let r = page.handle_with(
        |rec| {
            sink.wake(rec.payload).unwrap();
            if refill < 14 {
                page.post(Record::wake(refill)).unwrap();
                refill += 1;
            }
        },
        || {},
    );
    assert!(r.again, "stopped at N records with more queued");
    assert!(page.is_pending());
    let r = page.handle(&sink);
    assert_eq!((r.woken, r.again), (4, false));
    assert_eq!(*sink.woken.borrow(), [0, 1, 2, 3, 10, 11, 12, 13]);
}

#[test]
fn stale_ids_and_other_causes_are_counted_not_fatal() {
    let page = UintrPage::<8>::new();
    let sink = Sink {
        stale_below: 100,
        ..Sink::default()
    };
    page.post(Record::wake(5)).unwrap();
    page.post(Record::wake(105)).unwrap();
    page.post(Record {
        cause: Cause::TIMER,
        payload: 1,
    })
    .unwrap();
    let r = page.handle(&sink);
    assert_eq!((r.woken, r.rejected, r.other), (1, 1, 1));
    assert_eq!(*sink.woken.borrow(), [105]);
}

#[test]
fn enable_reports_deferred_work_and_enter_handler_masks() {
    let page = UintrPage::<8>::new();
    assert!(!page.is_enabled());
    page.post(Record::wake(1)).unwrap();
    assert!(
        page.enable(),
        "pending while disabled is reported on enable"
    );
    assert!(page.enter_handler());
    assert!(!page.enter_handler(), "no nesting");
    assert!(!page.is_enabled());
}

#[test]
fn zeroed_memory_is_an_empty_page() {
    let layout = std::alloc::Layout::new::<PageSized>();
    assert!(layout.size() <= 4096);
    // SAFETY: non-zero-sized layout.
    let mem = unsafe { std::alloc::alloc_zeroed(layout) };
    assert!(!mem.is_null());
    // SAFETY: aligned, sized and zeroed by alloc_zeroed; freed after last use.
    let page: &PageSized = unsafe { PageSized::from_zeroed(mem) };
    assert!(!page.is_pending() && !page.is_enabled() && page.queue().is_empty());
    for id in 0..200u64 {
        page.post(Record::wake(id)).unwrap();
        assert_eq!(page.queue().pop(), Some(Record::wake(id)));
    }
    assert_eq!(page.queue().capacity(), 128);
    // SAFETY: allocated above with this layout; `page` is not used after.
    unsafe { std::alloc::dealloc(mem, layout) };
}

#[test]
fn scribbled_page_never_panics_or_hangs_the_sender() {
    // The receiver owns its page and may write anything into it; a kernel
    // sender must survive. Overwrite every byte pattern-wise and post.
    let layout = std::alloc::Layout::new::<PageSized>();
    for pattern in [0xffu8, 0x01, 0x80, 0x55] {
        // SAFETY: non-zero-sized layout.
        let mem = unsafe { std::alloc::alloc_zeroed(layout) };
        // SAFETY: `mem` is valid for `layout.size()` bytes.
        unsafe { mem.write_bytes(pattern, layout.size()) };
        // SAFETY: every bit pattern is valid for the atomics and u64s that
        // make up the page (from_zeroed's real requirement); aligned, sized.
        let page: &PageSized = unsafe { PageSized::from_zeroed(mem) };
        for id in 0..300u64 {
            let _ = page.post(Record::wake(id));
            let _ = page.queue().pop();
        }
        // SAFETY: allocated above with this layout; `page` is not used after.
        unsafe { std::alloc::dealloc(mem, layout) };
    }
}

#[test]
fn doorbell_kind_defaults_to_soft_and_reads_garbage_as_soft() {
    let page = UintrPage::<4>::new();
    assert_eq!(page.doorbell(), cops_uintr::DOORBELL_SOFT);
    page.set_doorbell(cops_uintr::DOORBELL_HW);
    assert_eq!(page.doorbell(), cops_uintr::DOORBELL_HW);
    // A receiver scribbling on its own page gets the soft doorbell.
    page.set_doorbell(0xdead_beef);
    assert_eq!(page.doorbell(), cops_uintr::DOORBELL_SOFT);
}
