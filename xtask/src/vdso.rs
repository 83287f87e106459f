//! crates/cops-vdso: build the image (RISC-V and host) for the loader tests
//! and the kernel.

use std::path::PathBuf;

use crate::report::Report;
use crate::tools::{self, RISCV_TARGET, cargo, root};

const IMAGE_DIR: &str = "crates/cops-vdso/image";
const HOST_TARGET: &str = "x86_64-unknown-linux-gnu";

/// Build the image for `target`; returns its path. The compile and link
/// flags live in `crates/cops-vdso/image/.cargo/config.toml` (cops-vdso's
/// host test builds the image the same way when no path is given to it).
pub fn build_image(target: &str) -> Result<PathBuf, String> {
    let mut c = cargo();
    c.current_dir(root().join(IMAGE_DIR))
        .args(["build", "--release", "--target", target, "--target-dir"])
        .arg(root().join("target/vdso"))
        // Either would replace the config's flags.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    tools::run(&mut c)?;
    Ok(root()
        .join("target/vdso")
        .join(target)
        .join("release/cops-vdso-image"))
}

/// The host image for `cargo test -p cops-vdso` (`COPS_VDSO_HOST_IMAGE`).
pub fn host_image() -> Result<PathBuf, String> {
    if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        build_image(HOST_TARGET)
    } else {
        Err("the host image is built for x86_64 Linux only".into())
    }
}

/// The RISC-V image must build (the kernel's copy).
pub fn test(report: &mut Report) {
    if let Err(e) = tools::ensure_riscv_target() {
        report.fail("vdso image (riscv64)", 1, &e);
        return;
    }
    report.build(
        "vdso image (riscv64, position independent)",
        build_image(RISCV_TARGET).map(drop),
    );
}
