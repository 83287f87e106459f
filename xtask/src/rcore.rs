//! kernels/rcore-n: build the user programs and the kernel, boot the demo,
//! run the in-guest test suite under QEMU.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::report::Report;
use crate::tools::{self, RISCV_TARGET, cargo, root};

const MANIFEST: &str = "kernels/rcore-n/Cargo.toml";
/// SMP configurations every guest test runs under.
const SMP: [usize; 2] = [1, 4];
pub const GUEST_TIMEOUT: Duration = Duration::from_secs(60);

fn user_dir() -> PathBuf {
    root()
        .join("target/rcore-user")
        .join(RISCV_TARGET)
        .join("release")
}

/// Build the user programs and the vDSO image, then the kernel embedding
/// them into `target_dir` (with a board feature, if any). Returns the ELF.
pub fn build(target_dir: &str, board: Option<&str>) -> Result<PathBuf, String> {
    tools::ensure_riscv_target()?;
    let mut user = cargo();
    user.args([
        "build",
        "--release",
        "--manifest-path",
        MANIFEST,
        "-p",
        "rcore-n-user",
        "--bins",
    ])
    .args([
        "--target",
        RISCV_TARGET,
        "--target-dir",
        "target/rcore-user",
    ]);
    tools::run(&mut user)?;
    let vdso = crate::vdso::build_image(RISCV_TARGET)?;
    let mut kernel = cargo();
    kernel
        .args([
            "build",
            "--release",
            "--manifest-path",
            MANIFEST,
            "-p",
            "rcore-n",
        ])
        .args(["--target", RISCV_TARGET, "--target-dir", target_dir])
        .env("COPS_USER_DIR", user_dir())
        .env("COPS_VDSO_IMAGE", &vdso);
    if let Some(board) = board {
        kernel.args(["--features", board]);
    }
    tools::run(&mut kernel)?;
    Ok(root()
        .join(target_dir)
        .join(RISCV_TARGET)
        .join("release/rcore-n"))
}

/// The QEMU command booting `kernel` with `bootargs` on `smp` harts
/// (stock QEMU, its OpenSBI).
pub fn qemu(kernel: &PathBuf, smp: usize, bootargs: &str) -> Command {
    qemu_with(
        Path::new("qemu-system-riscv64"),
        None,
        kernel,
        smp,
        bootargs,
    )
}

/// The same with another QEMU binary (the N emulator) and/or another
/// firmware (`None`: QEMU's OpenSBI, `-bios default`).
pub fn qemu_with(
    binary: &Path,
    firmware: Option<&Path>,
    kernel: &PathBuf,
    smp: usize,
    bootargs: &str,
) -> Command {
    qemu_net(binary, firmware, kernel, smp, bootargs, None)
}

/// The same, with the guest's TCP port 80 forwarded from
/// `127.0.0.1:hostfwd` (every boot has a virtio-net device on QEMU's user
/// network; only a forwarded port lets the host reach it, and each QEMU
/// running at once needs its own).
pub fn qemu_net(
    binary: &Path,
    firmware: Option<&Path>,
    kernel: &PathBuf,
    smp: usize,
    bootargs: &str,
    hostfwd: Option<u16>,
) -> Command {
    let mut netdev = "user,id=n0".to_string();
    if let Some(port) = hostfwd {
        netdev += &format!(",hostfwd=tcp:127.0.0.1:{port}-:80");
    }
    let mut c = Command::new(binary);
    c.args(["-machine", "virt", "-bios"]);
    match firmware {
        Some(f) => c.arg(f),
        None => c.arg("default"),
    };
    c.args(["-nographic", "-m", "128M"])
        .args(["-smp", &smp.to_string(), "-kernel"])
        .arg(kernel)
        .args(["-append", bootargs])
        .args(["-netdev", &netdev, "-device", "virtio-net-device,netdev=n0"]);
    c
}

/// `cargo xtask qemu [program] [--smp N] [--trace] [--firmware] [--n]`:
/// boot the demo (or `program`); `--trace` prints every kernel decision
/// that changes what a hart runs; `--firmware` boots through rcore-n's own
/// firmware instead of OpenSBI, `--n` on the N-extension emulator
/// (`COPS_QEMU_N`) with that firmware.
pub fn demo(args: &[String]) -> Result<(), String> {
    let mut init = "demo".to_string();
    let mut smp = 2;
    let (mut firmware, mut n, mut trace) = (false, false, "");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--smp" => smp = it.next().and_then(|n| n.parse().ok()).ok_or("--smp N")?,
            "--trace" => trace = " trace",
            "--firmware" => firmware = true,
            "--n" => n = true,
            other => init = other.to_string(),
        }
    }
    let binary = if n {
        crate::uintr_n::qemu_n().ok_or_else(|| crate::uintr_n::QEMU_N_HINT.to_string())?
    } else {
        tools::ensure_qemu()?;
        PathBuf::from("qemu-system-riscv64")
    };
    let kernel = build("target/rcore-n", None)?;
    let fw = if firmware || n {
        Some(crate::uintr_n::build_firmware()?)
    } else {
        None
    };
    println!(
        "xtask: booting rcore-n (init={init}, {smp} harts) on {} with {}",
        binary.display(),
        fw.as_ref()
            .map_or("OpenSBI".to_string(), |f| f.display().to_string())
    );
    tools::run(
        qemu_with(
            &binary,
            fw.as_deref(),
            &kernel,
            smp,
            &format!("init={init}{trace}"),
        )
        .stdin(std::process::Stdio::null()),
    )
}

/// `cargo xtask fuzz [--calls N] [--seed S] [--smp K]`: boot the
/// system-call fuzzer (`test_fuzz`, which the suite runs with 20 000 calls
/// and a seed from the clock) for a longer or reproduced run.
pub fn fuzz(args: &[String]) -> Result<(), String> {
    tools::ensure_qemu()?;
    let (mut calls, mut seed, mut smp) = (1_000_000u64, None::<u64>, 4usize);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = |what: &str| {
            it.next()
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| format!("{what} needs a number"))
        };
        match a.as_str() {
            "--calls" => calls = num("--calls")?,
            "--seed" => seed = Some(num("--seed")?),
            "--smp" => smp = num("--smp")? as usize,
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: cargo xtask fuzz [--calls N] [--seed S] [--smp K]"
                ));
            }
        }
    }
    let kernel = build("target/rcore-n", None)?;
    let mut bootargs = format!("init=test_fuzz fuzz.calls={calls}");
    if let Some(s) = seed {
        bootargs += &format!(" fuzz.seed={s}");
    }
    // About 20 000 calls in 3 s of QEMU on this machine kind: allow 6x that.
    let limit = Duration::from_secs(60 + calls / 1_000);
    println!("xtask: fuzzing rcore-n ({bootargs}, {smp} harts, limit {limit:?})");
    let (ok, code, out) = tools::run_captured(&mut qemu(&kernel, smp, &bootargs), limit)?;
    if ok && out.contains("TEST test_fuzz PASS") {
        Ok(())
    } else {
        Err(format!(
            "the fuzz run failed (exit {code:?}); the seed is on its first line"
        ))
    }
}

/// The guest test programs: `user/src/bin/test_*.rs`.
pub fn guest_tests() -> Vec<String> {
    let dir = root().join("kernels/rcore-n/user/src/bin");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| {
                    e.file_name()
                        .to_str()
                        .and_then(|n| n.strip_suffix(".rs"))
                        .map(str::to_owned)
                })
                .filter(|n| n.starts_with("test_"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The kernel command line for guest test `name`: `init=name`, plus the
/// words of a `//! bootargs: …` line in its source (e.g. a longer timer
/// slice for a test that must not be switched by the timer).
pub fn guest_bootargs(name: &str) -> String {
    let src = root().join(format!("kernels/rcore-n/user/src/bin/{name}.rs"));
    let extra = std::fs::read_to_string(src)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("//! bootargs:").map(|a| a.trim().to_owned()))
        .unwrap_or_default();
    format!("init={name} {extra}").trim_end().to_owned()
}

/// Boot each guest test under each SMP configuration: a test passes when
/// QEMU exits 0 (the finisher's pass code) and the guest printed its line.
pub fn test(report: &mut Report) {
    // The kernel's modules only use the ones below them (src/main.rs).
    let what = "rcore-n layers (scripts/check-layers.sh)";
    match tools::run_captured(
        &mut Command::new(root().join("kernels/rcore-n/scripts/check-layers.sh")),
        Duration::from_secs(60),
    ) {
        Ok((true, _, _)) => report.pass(what, 1),
        Ok((_, _, out)) => report.fail(what, 1, out.trim()),
        Err(e) => report.fail(what, 1, &e),
    }
    if let Err(e) = tools::ensure_qemu() {
        report.fail("qemu", 1, &e);
        return;
    }
    let kernel = match build("target/rcore-n", None) {
        Ok(k) => k,
        Err(e) => {
            report.fail("rcore-n build", 1, &e);
            return;
        }
    };
    report.build(
        "rcore-n board-fpga build (untested on hardware)",
        build("target/rcore-n-fpga", Some("board-fpga")).map(drop),
    );

    // The demo checks itself: its acts print `(ok)` when what ran follows
    // the priorities, and on one hart the processes' order is exact.
    let what = "qemu demo (-smp 1)";
    match tools::run_captured(&mut qemu(&kernel, 1, "init=demo"), GUEST_TIMEOUT) {
        Ok((true, _, out))
            if out.matches("(ok)").count() == 4 && !out.contains("NOT in priority order") =>
        {
            report.pass(what, 1)
        }
        Ok((_, code, _)) => report.fail(what, 1, &format!("exit {code:?}, or an act not `(ok)`")),
        Err(e) => report.fail(what, 1, &e),
    }

    for name in guest_tests() {
        for smp in SMP {
            let what = format!("qemu {name} (-smp {smp})");
            let result = tools::run_captured(
                &mut qemu(&kernel, smp, &guest_bootargs(&name)),
                GUEST_TIMEOUT,
            );
            let line = format!("TEST {name} PASS");
            match result {
                Ok((true, _, out)) if out.contains(&line) => report.pass(&what, 1),
                Ok((_, code, _)) => {
                    report.fail(&what, 1, &format!("exit {code:?}, or no `{line}` line"))
                }
                Err(e) => report.fail(&what, 1, &e),
            }
        }
    }
}
