//! The soft backend's kernel-side helpers, and a host simulation of the
//! whole soft path: kernel threads post, a "user thread" takes upcalls on
//! its trap-return path, runs the handler, and returns through the kernel.
#![cfg(not(loom))]

use cops_uintr::soft::{USER_SOFT_CAUSE, Upcall, finish_upcall, take_upcall, upcall_due};
use cops_uintr::{Record, UintrPage, WakeById};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

#[test]
fn upcall_needs_registration_enable_and_pending() {
    let page = UintrPage::<8>::new();
    page.post(Record::wake(1)).unwrap();
    assert!(
        !upcall_due(&page) && take_upcall(&page, 0x1000).is_none(),
        "not registered"
    );
    page.register(0x4000, 0xdead);
    assert!(take_upcall(&page, 0x1000).is_none(), "not enabled");
    assert!(page.enable(), "enable reports the pending record");
    assert!(upcall_due(&page));
    let up = take_upcall(&page, 0x1234).unwrap();
    assert_eq!(
        up,
        Upcall {
            entry: 0x4000,
            arg: 0xdead,
            cause: USER_SOFT_CAUSE
        }
    );
    assert_eq!(page.saved_pc(), 0x1234);
    assert!(!page.is_enabled(), "delivery masked inside the handler");
    assert!(take_upcall(&page, 0x5555).is_none(), "no nesting");
    assert_eq!(
        page.saved_pc(),
        0x1234,
        "a refused upcall does not clobber uepc"
    );
    // Handler runs, then returns through the kernel.
    page.handle_with(|_| {}, || {});
    assert_eq!(finish_upcall(&page), (0x1234, false));
    assert!(page.is_enabled());
    // Posted during the handler: finish reports another upcall is due.
    page.post(Record::wake(2)).unwrap();
    let _ = take_upcall(&page, 0x2000).unwrap();
    page.post(Record::wake(3)).unwrap();
    assert_eq!(finish_upcall(&page), (0x2000, true));
    page.register(0, 0);
    assert!(!upcall_due(&page), "unregistered");
}

struct Counter(Vec<AtomicU32>, AtomicU64);
impl WakeById for Counter {
    type Error = ();
    fn wake(&self, id: u64) -> Result<(), ()> {
        self.0[id as usize].fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
    fn resync(&self) {
        self.1.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn simulated_kernel_and_user_thread_deliver_everything() {
    const KERNEL_THREADS: u64 = if cfg!(miri) { 2 } else { 4 };
    const EACH: u64 = if cfg!(miri) { 16 } else { 2_000 };
    let page = UintrPage::<16>::new();
    let sink = Counter(
        (0..KERNEL_THREADS * EACH)
            .map(|_| AtomicU32::new(0))
            .collect(),
        AtomicU64::new(0),
    );
    page.register(0x4000, 0);
    page.enable();
    let done = AtomicU32::new(0);
    let mut refused = vec![];
    std::thread::scope(|s| {
        let kernel: Vec<_> = (0..KERNEL_THREADS)
            .map(|k| {
                let (page, done) = (&page, &done);
                s.spawn(move || {
                    let r: Vec<u64> = (k * EACH..(k + 1) * EACH)
                        .filter(|&id| {
                            let failed = page.post(Record::wake(id)).is_err();
                            std::thread::yield_now();
                            failed
                        })
                        .collect();
                    done.fetch_add(1, Ordering::Release);
                    r
                })
            })
            .collect();
        // The user thread: every loop iteration is a "return to user mode".
        let mut pc = 0x1000;
        loop {
            let finished = done.load(Ordering::Acquire) == KERNEL_THREADS as u32;
            if let Some(up) = take_upcall(&page, pc) {
                assert_eq!(up.entry, 0x4000);
                while page.handle(&sink).again {}
                let (resume, _again) = finish_upcall(&page);
                assert_eq!(resume, pc);
            } else if finished {
                break;
            }
            pc += 4;
        }
        for k in kernel {
            refused.extend(k.join().unwrap());
        }
    });
    assert!(!page.is_pending() && !page.is_overflowed() && page.queue().is_empty());
    for (id, n) in sink.0.iter().enumerate() {
        let want = u32::from(!refused.contains(&(id as u64)));
        assert_eq!(n.load(Ordering::Relaxed), want, "id {id}");
    }
    assert_eq!(!refused.is_empty(), sink.1.load(Ordering::Relaxed) > 0);
}
