//! The steps behind `cargo xtask test` and `cargo xtask qemu`.

use std::process::Command;
use std::time::Duration;

use crate::report::Report;
use crate::tools::{self, RISCV_TARGET, cargo};

/// A step: its name and what it runs.
type Step = (&'static str, fn(&mut Report));

/// Every step of `cargo xtask test`, cheapest first, by name.
const STEPS: &[Step] = &[
    ("host", host_tests),
    ("no-std", no_std_builds),
    ("published", crate::published::test),
    ("minimal-kernel", crate::minimal_kernel::test),
    ("loom", loom),
    ("miri", miri),
    ("vdso", crate::vdso::test),
    ("rcore", crate::rcore::test),
    ("net", crate::net::test),
    ("uintr-n", crate::uintr_n::test),
    ("arceos", crate::arceos::test),
];

/// Every test the project has; with words (`cargo xtask test loom miri`),
/// only the steps whose names contain one of them. Each step prints how
/// long it took.
pub fn all_tests(report: &mut Report, args: &[String]) {
    let chosen: Vec<_> = STEPS
        .iter()
        .filter(|(name, _)| args.is_empty() || args.iter().any(|a| name.contains(a.as_str())))
        .collect();
    if chosen.is_empty() {
        let names: Vec<_> = STEPS.iter().map(|(n, _)| *n).collect();
        report.fail(
            "step selection",
            1,
            &format!("no step matches {args:?}; steps: {}", names.join(", ")),
        );
        return;
    }
    for (name, step) in chosen {
        let start = std::time::Instant::now();
        step(report);
        println!(
            "xtask: step {name} took {:.0} s",
            start.elapsed().as_secs_f64()
        );
    }
}

/// Boot the reference kernel's demo.
pub fn qemu_demo(args: &[String]) -> Result<(), String> {
    if args.first().map(String::as_str) == Some("minimal-kernel") {
        return crate::minimal_kernel::demo();
    }
    crate::rcore::demo(args)
}

/// `cargo xtask fuzz`: the rcore-n system-call fuzzer, longer or reproduced.
pub fn fuzz(args: &[String]) -> Result<(), String> {
    crate::rcore::fuzz(args)
}

/// Count the `test result:` lines of a cargo test run into `report`.
pub fn count_cargo_tests(report: &mut Report, what: &str, success: bool, output: &str) {
    let (mut passed, mut failed) = (0, 0);
    // Loom models report how many interleavings they explored.
    for line in output.lines().filter(|l| l.starts_with("loom model ")) {
        println!("  {line}");
    }
    for line in output.lines().filter(|l| l.starts_with("test result:")) {
        let num = |key: &str| {
            line.split(';')
                .find_map(|part| {
                    part.trim()
                        .trim_start_matches("test result: ok.")
                        .trim_start_matches("test result: FAILED.")
                        .trim()
                        .strip_suffix(key)
                })
                .and_then(|n| n.trim().parse::<usize>().ok())
                .unwrap_or(0)
        };
        passed += num(" passed");
        failed += num(" failed");
    }
    if passed > 0 {
        report.pass(what, passed);
    } else if success {
        // A step that ran nothing proves nothing (a filter that matched no
        // test, a cfg that compiled every test out).
        report.fail(what, 1, "ran no tests");
    }
    if failed > 0 || !success {
        report.fail(
            what,
            failed,
            if success {
                "tests failed"
            } else {
                "cargo test did not succeed (build error or crash)"
            },
        );
    }
}

fn cargo_test(report: &mut Report, what: &str, cmd: &mut Command, limit_secs: u64) {
    match tools::run_captured(cmd, Duration::from_secs(limit_secs)) {
        Ok((ok, _, out)) => count_cargo_tests(report, what, ok, &out),
        Err(e) => report.fail(what, 1, &e),
    }
}

/// Unit, integration and doc tests of every host crate; the criterion
/// benches must compile (they are run by hand, see README).
fn host_tests(report: &mut Report) {
    let mut c = cargo();
    c.args([
        "test",
        "--workspace",
        "--exclude",
        "xtask",
        "--features",
        "cops-core/std",
    ]);
    // The vDSO loader tests load the host build of the image.
    match crate::vdso::host_image() {
        Ok(image) => {
            c.env("COPS_VDSO_HOST_IMAGE", image);
        }
        Err(e) => report.fail("vdso host image", 1, &e),
    }
    cargo_test(report, "host tests (workspace)", &mut c, 900);
    report.build(
        "benches compile (cargo check --benches)",
        tools::run(cargo().args(["check", "-p", "cops", "--benches"])),
    );
}

/// The `no_std` crates must build for bare-metal RISC-V with and without `alloc`.
fn no_std_builds(report: &mut Report) {
    if let Err(e) = tools::ensure_riscv_target() {
        report.fail("riscv target", 1, &e);
        return;
    }
    let builds: &[(&str, &[&str])] = &[
        (
            "cops-core no_std without alloc (riscv64)",
            &["-p", "cops-core", "--no-default-features"],
        ),
        (
            "cops-core no_std with alloc (riscv64)",
            &["-p", "cops-core"],
        ),
        (
            "cops-uintr soft + riscv-n + cops-core glue (riscv64)",
            &["-p", "cops-uintr", "--features", "soft,riscv-n,cops-core"],
        ),
    ];
    for (what, args) in builds {
        let mut c = cargo();
        c.args([
            "build",
            "--target",
            RISCV_TARGET,
            "--target-dir",
            "target/riscv",
        ])
        .args(*args);
        report.build(what, tools::run(&mut c));
    }
    let mut c = cargo();
    c.args(["build", "-p", "cops-uintr", "--features", "x86-uintr"]);
    report.build("cops-uintr x86-uintr (host)", tools::run(&mut c));
}

/// Loom models, in release with a bounded preemption depth (cops-core's
/// models set theirs, 4, and print how many interleavings each explored).
fn loom(report: &mut Report) {
    for (krate, test, preemptions) in [
        ("cops-core", "loom", None),
        ("cops-uintr", "loom_queue", Some("2")),
    ] {
        let mut c = cargo();
        c.args([
            "test",
            "--release",
            "-p",
            krate,
            "--test",
            test,
            "--target-dir",
            "target/loom",
            "--",
            "--nocapture",
        ])
        .env("RUSTFLAGS", "--cfg loom");
        match preemptions {
            Some(n) => c.env("LOOM_MAX_PREEMPTIONS", n),
            None => c.env_remove("LOOM_MAX_PREEMPTIONS"),
        };
        cargo_test(report, &format!("loom models ({krate})"), &mut c, 900);
    }
}

/// Miri on the crates with unsafe cores, when the nightly component exists.
fn miri(report: &mut Report) {
    if !tools::have_miri() {
        report.skip(
            "miri",
            "run `rustup component add miri rust-src --toolchain nightly` to enable it",
        );
        return;
    }
    for krate in ["cops-core", "cops-uintr"] {
        // (cops-vdso's tests map and run machine code: not for Miri.)
        // Through rustup's `cargo` proxy (not this xtask's stable cargo), so
        // `+nightly` selects the toolchain that has Miri.
        let mut c = Command::new("cargo");
        c.current_dir(tools::root())
            .args([
                "+nightly",
                "miri",
                "test",
                "-p",
                krate,
                "--features",
                &format!("{krate}/std"),
            ])
            .env("MIRIFLAGS", "-Zmiri-ignore-leaks")
            .env("PROPTEST_CASES", "4")
            .env_remove("RUSTUP_TOOLCHAIN")
            .env_remove("CARGO")
            .env_remove("RUSTC");
        cargo_test(report, &format!("miri ({krate})"), &mut c, 1200);
    }
}
