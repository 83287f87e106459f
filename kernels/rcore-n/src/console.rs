//! Console output: the board's UART, serialised by a lock so lines from
//! different harts do not interleave.

use core::fmt::{self, Write};

static LOCK: spin::Mutex<()> = spin::Mutex::new(());

struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            crate::board::putchar(b);
        }
        Ok(())
    }
}

/// Print pre-formatted arguments (one lock per call).
pub fn print(args: fmt::Arguments) {
    let _g = LOCK.lock();
    let _ = Console.write_fmt(args);
}

/// Write raw bytes (user `write` to stdout).
pub fn write_bytes(bytes: &[u8]) {
    let _g = LOCK.lock();
    for &b in bytes {
        crate::board::putchar(b);
    }
}

macro_rules! println {
    ($($arg:tt)*) => { $crate::console::print(format_args!("{}\n", format_args!($($arg)*))) };
}
