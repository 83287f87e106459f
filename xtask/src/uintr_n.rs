//! rcore-n's own firmware and the N-extension steps of `cargo xtask test`.
//!
//! - The firmware (`kernels/rcore-n/firmware`, RustSBI) boots the whole
//!   guest suite on stock QEMU once (at `-smp 2`, a hart count the OpenSBI
//!   passes do not use).
//! - On the N-extension emulator (`COPS_QEMU_N`, see the README), with the
//!   firmware delegating the user interrupts: `uintr_hw` (interrupting a
//!   computing coroutine, async completions through `utvec`, stale ids,
//!   isolation) and `test_async` at `-smp 1` and `-smp 4`, and the soft
//!   fallback when the same emulator boots OpenSBI (no delegation).
//!   Without `COPS_QEMU_N` these are reported as skipped, with how to
//!   enable them.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::rcore::{self, GUEST_TIMEOUT, qemu_with};
use crate::report::Report;
use crate::tools::{self, RISCV_TARGET, cargo, root};

/// The variable naming the N emulator's `qemu-system-riscv64`.
pub const QEMU_N_VAR: &str = "COPS_QEMU_N";
/// How to get it (the README's "N-extension emulator" section).
pub const QEMU_N_HINT: &str = "build QEMU with the N extension (README, \"The N-extension emulator\") \
     and set COPS_QEMU_N=/path/to/qemu-system-riscv64";

/// The N emulator, if `COPS_QEMU_N` names one.
pub fn qemu_n() -> Option<PathBuf> {
    std::env::var_os(QEMU_N_VAR).map(PathBuf::from)
}

/// Build the firmware; returns its ELF (QEMU's `-bios` takes it).
pub fn build_firmware() -> Result<PathBuf, String> {
    tools::ensure_riscv_target()?;
    let mut c = cargo();
    c.args([
        "build",
        "--release",
        "--manifest-path",
        "kernels/rcore-n/Cargo.toml",
        "-p",
        "rcore-n-firmware",
        "--target",
        RISCV_TARGET,
        "--target-dir",
        "target/rcore-firmware",
    ]);
    tools::run(&mut c)?;
    Ok(root()
        .join("target/rcore-firmware")
        .join(RISCV_TARGET)
        .join("release/rcore-n-firmware"))
}

/// The same QEMU command with the virtio-net device on an empty hub instead
/// of QEMU's user network: the N emulator is built without slirp and
/// refuses `-netdev user` (the guest still finds its network device).
fn without_slirp(command: &Command) -> Command {
    let mut c = Command::new(command.get_program());
    c.args(command.get_args().map(|a| {
        if a == "user,id=n0" {
            std::ffi::OsStr::new("hubport,id=n0,hubid=0")
        } else {
            a
        }
    }));
    c
}

/// Boot `init` and check the exit status, the `TEST … PASS` line and
/// every line in `expect`.
fn guest(
    report: &mut Report,
    what: &str,
    (binary, firmware): (&Path, Option<&Path>),
    kernel: &PathBuf,
    smp: usize,
    init: &str,
    expect: &[&str],
) {
    let pass = format!("TEST {init} PASS");
    let mut command = qemu_with(binary, firmware, kernel, smp, &rcore::guest_bootargs(init));
    if qemu_n().as_deref() == Some(binary) {
        command = without_slirp(&command);
    }
    let result = tools::run_captured(&mut command, GUEST_TIMEOUT);
    match result {
        Ok((true, _, out)) if out.contains(&pass) => {
            match expect.iter().find(|e| !out.contains(*e)) {
                None => {
                    for line in out.lines().filter(|l| l.starts_with("[uintr_hw]")) {
                        println!("  {line}");
                    }
                    report.pass(what, 1)
                }
                Some(missing) => report.fail(what, 1, &format!("no `{missing}` line")),
            }
        }
        Ok((_, code, out)) => {
            let tail: Vec<&str> = out.lines().rev().take(6).collect();
            report.fail(
                what,
                1,
                &format!(
                    "exit {code:?}, or no `{pass}` line; last lines: {:?}",
                    tail.into_iter().rev().collect::<Vec<_>>()
                ),
            )
        }
        Err(e) => report.fail(what, 1, &e),
    }
}

pub fn test(report: &mut Report) {
    let firmware = match build_firmware() {
        Ok(f) => {
            report.build("rcore-n firmware (RustSBI)", Ok(()));
            f
        }
        Err(e) => {
            report.build("rcore-n firmware (RustSBI)", Err(e));
            return;
        }
    };
    // Built (and checked) by `rcore::test` just before: cargo finds it
    // up to date.
    let kernel = match rcore::build("target/rcore-n", None) {
        Ok(k) => k,
        Err(e) => {
            report.fail("rcore-n build", 1, &e);
            return;
        }
    };
    let stock = Path::new("qemu-system-riscv64");
    if tools::ensure_qemu().is_ok() {
        for name in rcore::guest_tests() {
            guest(
                report,
                &format!("qemu {name} (-smp 2, rcore-n firmware)"),
                (stock, Some(&firmware)),
                &kernel,
                2,
                &name,
                &["[firmware] rcore-n firmware", "N extension absent"],
            );
        }
    }

    let Some(qemu_n) = qemu_n() else {
        report.skip(
            "N-extension guest tests (uintr_hw, test_async on the N emulator)",
            QEMU_N_HINT,
        );
        return;
    };
    if !qemu_n.is_file() {
        report.fail(
            "N emulator",
            1,
            &format!(
                "{QEMU_N_VAR}={} is not a file; {QEMU_N_HINT}",
                qemu_n.display()
            ),
        );
        return;
    }
    let hw = "[kernel] user interrupts: N extension";
    for smp in [1, 4] {
        guest(
            report,
            &format!("qemu-N uintr_hw (-smp {smp}, rcore-n firmware)"),
            (&qemu_n, Some(&firmware)),
            &kernel,
            smp,
            "uintr_hw",
            &["N extension present", hw],
        );
        guest(
            report,
            &format!("qemu-N test_async (-smp {smp}, rcore-n firmware)"),
            (&qemu_n, Some(&firmware)),
            &kernel,
            smp,
            "test_async",
            &[hw],
        );
    }
    // OpenSBI does not delegate the user interrupts: the same image falls
    // back to soft upcalls on the same emulator.
    guest(
        report,
        "qemu-N test_async (-smp 1, OpenSBI: soft fallback)",
        (&qemu_n, None),
        &kernel,
        1,
        "test_async",
        &["[kernel] user interrupts: soft upcalls"],
    );
}
