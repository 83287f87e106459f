//! Links the firmware at 0x8000_0000, where QEMU `virt` jumps after reset.
use std::{env, path::PathBuf};

fn main() {
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    println!(
        "cargo:rustc-link-arg-bins=-T{}",
        dir.join("src/linker.ld").display()
    );
    println!("cargo:rerun-if-changed=src/linker.ld");
}
