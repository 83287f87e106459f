//! `print!` / `println!` to stdout (one `write` per call).

use alloc::string::String;
use core::fmt::{self, Write};

/// Format and write to stdout in one system call.
pub fn print(args: fmt::Arguments) {
    let mut s = String::new();
    let _ = s.write_fmt(args);
    let _ = crate::syscall::write(1, s.as_bytes());
}

#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::print(format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! println {
    () => { $crate::console::print(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::console::print(format_args!("{}\n", format_args!($($arg)*))) };
}
