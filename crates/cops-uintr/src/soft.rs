//! `soft` backend: the kernel delivers user interrupts as an **upcall on the
//! trap-return path**. Works on stock QEMU; this is what rcore-n uses.
//!
//! The kernel maps one [`PageSized`](crate::PageSized) per receiving thread
//! (zeroed frame + [`UintrPage::from_zeroed`]), posts with
//! [`UintrPage::post`], and — when the post says `notify` — makes sure the
//! receiver passes through its trap-return path soon (wakes it if it sleeps
//! in a wait syscall, IPIs its hart if it is running). On every return to
//! user mode of that thread it calls [`take_upcall`]; when that returns an
//! [`Upcall`] the kernel rewrites the trap frame:
//!
//! ```text
//! saved user context  -> kept by the kernel (or copied to the user stack)
//! user pc             <- upcall.entry
//! a0                  <- upcall.arg         (e.g. the page address)
//! a1                  <- upcall.cause       (USER_SOFT_CAUSE)
//! page.saved_pc       =  interrupted pc     (written by take_upcall)
//! ```
//!
//! The user entry runs [`UintrPage::handle`] and returns through a kernel
//! call that invokes [`finish_upcall`] (re-enables delivery, hands back the
//! interrupted pc) and restores the saved context — the `uret` analogue.
//! Trap-frame layout and register restore belong to the kernel.
//!
//! Everything the kernel reads from the page is untrusted: `entry`/`arg`
//! only become user registers, and a corrupted queue makes posts fail
//! (overflow), never panic or hang the kernel.

use crate::loom::Ordering;
use crate::page::UintrPage;

/// The `cause` the upcall passes to the entry: a user software interrupt,
/// numbered as `ucause` would number it (interrupt bit | code 0).
pub const USER_SOFT_CAUSE: u64 = 1 << 63;

/// What the kernel needs to redirect a thread into its handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Upcall {
    /// User address to jump to (registered with [`UintrPage::register`]).
    pub entry: u64,
    /// Value for the first argument register.
    pub arg: u64,
    /// Value for the second argument register: [`USER_SOFT_CAUSE`].
    pub cause: u64,
}

/// Whether an upcall is due: a handler is registered, delivery is enabled,
/// and something is pending. Cheap; for the kernel's fast path.
pub fn upcall_due<const N: usize>(page: &UintrPage<N>) -> bool {
    page.is_pending() && page.is_enabled() && page.entry() != 0
}

/// Kernel, trap-return path of the receiving thread: if an upcall is due,
/// disable delivery (no nesting; the handler re-enables on return), record
/// `interrupted_pc` as the page's `saved_pc`, and return where to go.
/// `None`: return to user mode normally.
pub fn take_upcall<const N: usize>(page: &UintrPage<N>, interrupted_pc: u64) -> Option<Upcall> {
    if !page.is_pending() {
        return None;
    }
    let entry = page.entry();
    if entry == 0 || !page.enter_handler() {
        return None;
    }
    page.header
        .saved_pc
        .store(interrupted_pc, Ordering::Release);
    Some(Upcall {
        entry,
        arg: page.arg(),
        cause: USER_SOFT_CAUSE,
    })
}

/// Kernel, "return from user interrupt" call: re-enable delivery and return
/// the pc to resume at. Also returns whether another upcall is already due
/// (the kernel may then deliver it at once instead of resuming).
pub fn finish_upcall<const N: usize>(page: &UintrPage<N>) -> (u64, bool) {
    let pc = page.saved_pc();
    let again = page.enable();
    (pc, again && page.entry() != 0)
}
