//! crates/cops-vdso: build the image (RISC-V and host) for the loader tests
//! and the kernel.

use std::path::PathBuf;

use crate::report::Report;
use crate::tools::{self, RISCV_TARGET, cargo, root};

const MANIFEST: &str = "crates/cops-vdso/image/Cargo.toml";
const HOST_TARGET: &str = "x86_64-unknown-linux-gnu";

/// Build the image for `target`; returns its path.
pub fn build_image(target: &str) -> Result<PathBuf, String> {
    let mut flags = String::from("-C relocation-model=pie");
    if target == HOST_TARGET {
        let script = root().join("crates/cops-vdso/image/host.ld");
        flags += &format!(
            " -C link-arg=-nostartfiles -C link-arg=-nostdlib -C link-arg=-static-pie \
             -C link-arg=-Wl,-z,separate-code,-z,relro,-z,now,--no-eh-frame-hdr -C link-arg=-Wl,-T,{}",
            script.display()
        );
    } else {
        flags += " -C link-arg=-pie -C link-arg=--no-dynamic-linker -C link-arg=-zseparate-code -C link-arg=-zrelro -C link-arg=-znow";
    }
    let mut c = cargo();
    c.args([
        "build",
        "--release",
        "--manifest-path",
        MANIFEST,
        "--target",
        target,
        "--target-dir",
        "target/vdso",
    ])
    .env("RUSTFLAGS", flags);
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
