//! kernels/arceos-port: cops-core as ArceOS's scheduler.
//!
//! 1. `cops-axsched` unit tests, against the genuine `axsched 0.3.1` trait.
//! 2. Host tests through the real `axtask 0.3.0-preview.3` with `axsched`
//!    replaced by the shim (`axtask-host`).
//! 3. `axtask`'s own unit tests and doctest against the shim
//!    (`scripts/run-axtask-upstream-tests.sh`, from the registry copy).
//! 4. The ArceOS apps on riscv64 QEMU virt (`prio-order`: cooperative
//!    priority order; `preempt`: timer preemption with `sched-cfs` + `irq`;
//!    `coroutines`: cops-core executors on carrier threads that rank
//!    themselves by their best ready coroutine): each passes when QEMU exits
//!    0 (the sifive_test finisher's pass code) and its marker line is printed.
//!
//! The ArceOS crates need nightly features: built with `RUSTC_BOOTSTRAP=1` on
//! the xtask's (stable) toolchain. Clean, on 2 cores, the whole step takes
//! about 70 s (measured; mostly the builds of the ArceOS stack).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::report::Report;
use crate::steps::count_cargo_tests;
use crate::tools::{self, RISCV_TARGET, root};

/// Limit for each cargo build + test run.
const CARGO_LIMIT: Duration = Duration::from_secs(300);
/// Limit for one QEMU boot (a run takes well under a second).
const QEMU_LIMIT: Duration = Duration::from_secs(30);

/// The QEMU apps: (package in `unikernel/`, marker line). Each is built by
/// its own `cargo build -p`, so one app's features (`sched-cfs`, `irq`) do
/// not unify into another's.
const APPS: &[(&str, &str)] = &[
    ("prio-order", "PRIORITY ORDER OK"),
    ("preempt", "PREEMPTION OK"),
    ("coroutines", "COROUTINES OK"),
];

fn port() -> PathBuf {
    root().join("kernels/arceos-port")
}

/// `cargo` run from `dir` (so that directory's `.cargo/config.toml` and
/// workspace apply), with the nightly-feature switch the ArceOS crates need.
fn cargo_in(dir: &Path) -> Command {
    let mut c = tools::cargo();
    c.current_dir(dir).env("RUSTC_BOOTSTRAP", "1");
    c
}

fn cargo_test(report: &mut Report, what: &str, cmd: &mut Command) {
    match tools::run_captured(cmd, CARGO_LIMIT) {
        Ok((ok, _, out)) => count_cargo_tests(report, what, ok, &out),
        Err(e) => report.fail(what, 1, &e),
    }
}

pub fn test(report: &mut Report) {
    let port = port();
    let host = port.join("axtask-host");

    cargo_test(
        report,
        "arceos-port: cops-axsched (genuine axsched 0.3.1 trait)",
        cargo_in(&port).args(["test"]),
    );

    // One pseudo-CPU per process: the axtask tests serialize anyway.
    cargo_test(
        report,
        "arceos-port: host tests through the real axtask",
        cargo_in(&host).args(["test", "--", "--test-threads=1"]),
    );

    // Shares axtask-host's target directory: same dependency versions.
    let mut upstream = Command::new("sh");
    upstream
        .arg(port.join("scripts/run-axtask-upstream-tests.sh"))
        .current_dir(&port)
        .env("CARGO_TARGET_DIR", host.join("target"))
        .env(
            "CARGO",
            std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()),
        );
    cargo_test(
        report,
        "arceos-port: axtask's own tests against the shim",
        &mut upstream,
    );

    qemu_apps(report);
}

fn qemu_apps(report: &mut Report) {
    if let Err(e) = tools::ensure_qemu().and_then(|_| tools::ensure_riscv_target()) {
        report.fail("arceos-port: qemu apps", APPS.len(), &e);
        return;
    }
    let objcopy = ["llvm-objcopy", "rust-objcopy"]
        .into_iter()
        .find(|p| tools::have(p));
    let Some(objcopy) = objcopy else {
        report.fail(
            "arceos-port: qemu apps",
            APPS.len(),
            "llvm-objcopy not found; run `sudo apt-get install -y llvm`",
        );
        return;
    };
    let uni = port().join("unikernel");
    let out_dir = uni.join("target").join(RISCV_TARGET).join("release");
    for (app, marker) in APPS {
        let what = format!("arceos-port: qemu {app}");
        let mut build = cargo_in(&uni);
        build.args(["build", "--release", "-p", app]);
        let built = match tools::run_captured(&mut build, CARGO_LIMIT) {
            Ok((true, _, _)) => Ok(()),
            Ok((false, code, _)) => Err(format!("cargo build -p {app} exited {code:?}")),
            Err(e) => Err(e),
        };
        report.check(
            &what,
            built.and_then(|_| run_app(objcopy, &out_dir, app, marker)),
        );
    }
}

fn run_app(objcopy: &str, out_dir: &Path, app: &str, marker: &str) -> Result<(), String> {
    let elf = out_dir.join(app);
    let bin = out_dir.join(format!("{app}.bin"));
    // The ELF's load addresses are virtual (0xffffffc080200000): QEMU needs
    // the flat image, which OpenSBI loads at 0x80200000.
    tools::run(
        Command::new(objcopy)
            .args(["--strip-all", "-O", "binary"])
            .arg(&elf)
            .arg(&bin),
    )?;
    let mut qemu = Command::new("qemu-system-riscv64");
    qemu.args([
        "-machine",
        "virt",
        "-m",
        "128M",
        "-smp",
        "1",
        "-bios",
        "default",
        "-nographic",
    ])
    .args(["-monitor", "none", "-serial", "stdio", "-kernel"])
    .arg(&bin);
    let (ok, code, out) = tools::run_captured(&mut qemu, QEMU_LIMIT)?;
    let marked = out.lines().any(|l| l.trim_end() == marker);
    if ok && marked {
        Ok(())
    } else {
        Err(format!(
            "QEMU exit {code:?}, marker `{marker}` {}",
            if marked { "present" } else { "missing" }
        ))
    }
}

#[cfg(test)]
mod tests {
    /// Runs just this step: `cargo test -p xtask arceos -- --ignored --nocapture`.
    #[test]
    #[ignore = "builds the ArceOS stack (about 70 s clean); run on demand"]
    fn arceos_step() {
        let mut report = crate::report::Report::default();
        super::test(&mut report);
        assert_eq!(report.finish(), std::process::ExitCode::SUCCESS);
    }
}
