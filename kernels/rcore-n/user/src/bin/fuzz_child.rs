//! For test_fuzz: makes random system calls with nasty arguments (seed and
//! count: 16 bytes on fd 3). Every system call number and invalid ones;
//! arguments biased to 0, -1, huge values, kernel addresses, unaligned
//! ones, the vDSO / view / COPS / user-interrupt pages, lengths that cross
//! pages or overflow. A second thread ends the process at a random moment
//! (so calls are cut short by exit, and blocking calls never hang the run).
//! Calls that may wait (reads, sleeps, waitpid, joins) are mostly made in
//! their asynchronous form, so a run is not one blocked call after another;
//! one in twenty is made blocking. Reports progress as one byte on fd 6 per
//! 16 calls; fd 6 is the only descriptor the fuzzing never touches.
#![no_std]
#![no_main]
use rcore_n_abi::{AsyncSlot, layout, nr};
use rcore_n_user::*;

entry!(main);

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }
}

#[repr(C, align(4096))]
struct Pages([u8; 3 * 4096]);
static mut BUF: Pages = Pages([0; 3 * 4096]);
static SLOTS: [AsyncSlot; 16] = [const { AsyncSlot::new() }; 16];
const REPORT_FD: usize = 6;
/// Exit code of a child that could not start its reaper for want of
/// kernel memory (a fuzzed `exit(75)` is counted as one too: harmless).
const STARVED: i32 = 75;
const NAME: &str = "exit_child";

fn buf() -> usize {
    &raw const BUF as usize
}

/// An argument biased to values that break things.
fn nasty(r: &mut Rng) -> usize {
    match r.below(26) {
        0 => 0,
        1 => 1,
        2 => usize::MAX,
        3 => isize::MIN as usize,
        4 => 1 << 38,
        5 => (1 << 38) - 8,
        6 => 0x8020_0000 + r.below(0x10_0000),
        7 => 0x4000_0000 + r.below(0x8000),
        8 => layout::VDSO_BASE + r.below(0x8000),
        9 => layout::GLOBAL_VIEW + r.below(0x2000),
        10 => layout::COPS_PAGE + r.below(0x1000),
        11 => layout::UINTR_PAGE + r.below(0x1000),
        12 => buf() + r.below(3 * 4096),
        13 => buf() + 4096 - r.below(16), // crosses a page
        14 => layout::USER_STACK_TOP - r.below(0x10000),
        15 => r.next() as usize,
        16 | 17 => r.below(70),
        18 => 4096,
        19 => 65536,
        20 => 65537,
        21 => &SLOTS[r.below(16)] as *const _ as usize + r.below(4) * 3,
        22 => u32::MAX as usize,
        23 => 0x1000 + r.below(0x1000),
        24 => usize::MAX - r.below(4096),
        _ => r.below(1 << 20),
    }
}

/// A descriptor argument: mostly small, never the report pipe, never the
/// console (fuzzed writes would flood the log).
fn fd(r: &mut Rng) -> usize {
    let f = if r.below(2) == 0 {
        r.below(10)
    } else {
        nasty(r)
    };
    match f {
        1 | 2 | REPORT_FD => 7,
        f => f,
    }
}

const NUMBERS: [usize; 23] = [
    nr::CLOSE,
    nr::PIPE,
    nr::READ,
    nr::WRITE,
    nr::SLEEP,
    nr::CLOCK,
    nr::YIELD,
    nr::SET_PRIORITY,
    nr::GETPID,
    nr::GETTID,
    nr::WAITPID,
    nr::SPAWN,
    nr::THREAD_CREATE,
    nr::THREAD_JOIN,
    nr::SHUTDOWN,
    nr::HARTS,
    nr::KERNEL_MODEL,
    nr::KSTAT,
    nr::BOOTARG,
    nr::ASYNC,
    nr::UINTR_RETURN,
    nr::UINTR_WAIT,
    nr::UINTR_KICK,
];

fn number(r: &mut Rng) -> usize {
    match r.below(1000) {
        0 => nr::EXIT,
        1 => nr::THREAD_EXIT,
        2..=60 => nasty(r), // mostly invalid numbers
        _ => NUMBERS[r.below(NUMBERS.len() as u64)],
    }
}

/// Arguments for call `n` (some kinds made plausible, so the calls get
/// past the first check).
fn args(r: &mut Rng, n: usize) -> [usize; 3] {
    let mut a = [nasty(r), nasty(r), nasty(r)];
    match n {
        nr::READ | nr::WRITE => a[0] = fd(r),
        nr::CLOSE => a[0] = fd(r),
        nr::SLEEP if r.below(2) == 0 => a[0] = r.below(2_000_000),
        nr::SPAWN if r.below(3) == 0 => {
            a[0] = NAME.as_ptr() as usize;
            a[1] = NAME.len();
        }
        nr::THREAD_CREATE if r.below(10) != 0 => {
            a[0] = fuzz_thread as *const () as usize;
            a[1] = r.next() as usize;
        }
        nr::KERNEL_MODEL => a[0] = r.below(3),
        nr::WAITPID if r.below(2) == 0 => a[0] = usize::MAX,
        _ => {}
    }
    a
}

/// Calls that may wait for a long time in their blocking form.
const MAY_WAIT: [usize; 5] = [
    nr::READ,
    nr::SLEEP,
    nr::WAITPID,
    nr::THREAD_JOIN,
    nr::UINTR_WAIT,
];

/// One random call; returns after it returned (or was refused).
fn one_call(r: &mut Rng) {
    let mut n = number(r);
    let mut inner = None;
    if MAY_WAIT.contains(&n) && r.below(20) != 0 {
        inner = Some(n);
        n = nr::ASYNC;
    }
    if n == nr::ASYNC {
        let inner = inner.unwrap_or_else(|| {
            if r.below(4) == 0 {
                nasty(r)
            } else {
                NUMBERS[r.below(NUMBERS.len() as u64)]
            }
        });
        let [a0, a1, a2] = args(r, inner);
        let slot = if r.below(3) != 0 {
            let s = &SLOTS[r.below(16)];
            // Whatever state an earlier call left it in: waiting again.
            let _ = s.abandon();
            let _ = s.claim();
            s as *const _ as usize
        } else {
            nasty(r)
        };
        syscall::raw6(nr::ASYNC, [inner, a0, a1, a2, slot, r.next() as usize]);
    } else {
        let [a0, a1, a2] = args(r, n);
        syscall::raw(n, a0, a1, a2);
    }
}

extern "C" fn fuzz_thread(seed: usize) -> ! {
    let mut r = Rng(seed as u64);
    for _ in 0..r.below(50) {
        one_call(&mut r);
    }
    syscall::thread_exit(0)
}

fn reaper(ns: usize) -> i32 {
    syscall::sleep(ns as u64);
    syscall::exit(99)
}

async fn main() -> i32 {
    let mut p = [0u8; 16];
    if syscall::read(3, &mut p) != Ok(16) {
        // Started by another fuzz_child's fuzzed spawn (its name was found
        // in memory): fd 3 is not test_fuzz's parameter pipe.
        println!(
            "[fuzz_child {}] no parameters on fd 3: not started by test_fuzz",
            syscall::getpid()
        );
        return 1;
    }
    for fd in [3, 4, 5] {
        syscall::close(fd).unwrap();
    }
    let seed = u64::from_le_bytes(p[..8].try_into().unwrap());
    let calls = u64::from_le_bytes(p[8..].try_into().unwrap()) as usize;
    let mut r = Rng(seed);
    // Cut the run short at a random moment (blocking calls may wait forever).
    match spawn_thread(reaper, 5_000_000 + r.below(200_000_000)) {
        Ok(_) => {}
        // Kernel memory is short (held by orphans of earlier children):
        // say so to test_fuzz, which lets them go before spawning more.
        Err(Errno::NoMem | Errno::Again) => return STARVED,
        Err(e) => panic!("fuzz_child: spawn_thread failed with {e:?}"),
    }
    for i in 1..=calls {
        one_call(&mut r);
        if i % 16 == 0 {
            let _ = syscall::write(REPORT_FD, b"x");
        }
    }
    0
}
