//! examples/minimal-kernel: the smallest RISC-V kernel that adopts
//! cops-core. Built in its own workspace, booted on QEMU `virt` with stock
//! OpenSBI and 2 harts; it passes when the kernel prints its marker, which
//! it does only after checking priority order, a timer interrupt's wake by
//! id and both harts serving (any failed check panics: `MINIMAL-KERNEL
//! FAIL`), and QEMU exits through SBI system reset within the limit.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::report::Report;
use crate::tools::{self, RISCV_TARGET, cargo, root};

const DIR: &str = "examples/minimal-kernel";
const TARGET_DIR: &str = "target/minimal-kernel";
const MARKER: &str = "MINIMAL-KERNEL OK";
/// A run takes well under a second; the two harts' handshake gives up
/// after 5 s of guest time. Generous for a loaded machine.
const LIMIT: Duration = Duration::from_secs(60);

/// Build the kernel (its own `.cargo/config.toml` picks the target and
/// linker script); returns the ELF.
pub fn build() -> Result<PathBuf, String> {
    tools::ensure_riscv_target()?;
    let mut c = cargo();
    // From its directory, so its `.cargo/config.toml` applies.
    c.current_dir(root().join(DIR))
        .args(["build", "--release", "--target-dir"])
        .arg(root().join(TARGET_DIR));
    tools::run(&mut c)?;
    Ok(root()
        .join(TARGET_DIR)
        .join(RISCV_TARGET)
        .join("release/minimal-kernel"))
}

/// The same command as the kernel's cargo runner.
fn qemu(kernel: &PathBuf) -> Command {
    let mut c = Command::new("qemu-system-riscv64");
    c.args(["-machine", "virt", "-bios", "default", "-nographic"])
        .args(["-m", "64M", "-smp", "2", "-kernel"])
        .arg(kernel);
    c
}

/// Boot the kernel once and judge its output.
fn boot(kernel: &PathBuf) -> Result<(), String> {
    let (ok, code, out) = tools::run_captured(&mut qemu(kernel), LIMIT)?;
    let passed = out.lines().any(|l| l.contains(MARKER));
    let failed = out.lines().any(|l| l.contains("MINIMAL-KERNEL FAIL"));
    if ok && passed && !failed {
        Ok(())
    } else {
        Err(format!(
            "QEMU exit {code:?}, marker `{MARKER}` {}{}",
            if passed { "present" } else { "missing" },
            if failed {
                ", and the kernel reported a failure"
            } else {
                ""
            }
        ))
    }
}

/// The `cargo xtask test` step: one build, one boot (one test).
pub fn test(report: &mut Report) {
    if let Err(e) = tools::ensure_qemu() {
        report.fail("minimal-kernel on qemu", 1, &e);
        return;
    }
    let kernel = match build() {
        Ok(k) => k,
        Err(e) => {
            report.build("minimal-kernel (riscv64)", Err(e));
            return;
        }
    };
    report.build("minimal-kernel (riscv64)", Ok(()));
    report.check(
        "minimal-kernel on qemu (priority order, timer wake by id, 2 harts)",
        boot(&kernel),
    );
}

/// `cargo xtask qemu minimal-kernel`: build and boot it, output shown.
pub fn demo() -> Result<(), String> {
    tools::ensure_qemu()?;
    let kernel = build()?;
    boot(&kernel)
}

#[cfg(test)]
mod tests {
    /// Runs just this step: `cargo test -p xtask minimal_kernel -- --ignored --nocapture`.
    #[test]
    #[ignore = "builds and boots the kernel (about 20 s clean); run on demand"]
    fn minimal_kernel_step() {
        let mut report = crate::report::Report::default();
        super::test(&mut report);
        assert_eq!(report.finish(), std::process::ExitCode::SUCCESS);
    }
}
