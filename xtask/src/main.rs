//! `cargo xtask <command>`: the project's one entry point for building,
//! booting and testing. Every step installs what a fresh machine lacks (a
//! rustup target, QEMU) or stops with the exact command to run.
//!
//! - `cargo xtask test`: every test: host unit/integration tests, loom models,
//!   Miri (when the nightly component is present), the `no_std` RISC-V builds,
//!   the QEMU suites. Ends with `N passed, M failed`.
//! - `cargo xtask qemu`: build the reference kernel and boot its demo;
//!   `cargo xtask qemu minimal-kernel` boots `examples/minimal-kernel`.
//! - `cargo xtask bench`: the criterion comparisons with the peers, drawn
//!   as SVG charts in `benches/plots/` (`--plot-only` redraws the last run).
//! - `cargo xtask net-bench [--quick]`: the papers' TCP matrix server on
//!   rcore-n under the four models, driven from the host; CSV and SVG plots.
//! - `cargo xtask fuzz`: the rcore-n system-call fuzzer, longer or reproduced.
//! - `cargo xtask uintr`: the steps of `test` for rcore-n's firmware and the
//!   N-extension emulator (`COPS_QEMU_N`) alone.

mod arceos;
mod bench;
mod minimal_kernel;
mod net;
mod published;
mod rcore;
mod report;
mod steps;
mod tools;
mod uintr_n;
mod vdso;

use report::Report;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") => {
            let mut report = Report::default();
            steps::all_tests(&mut report, &args[1..]);
            report.finish()
        }
        Some("vdso-image") => match vdso::host_image()
            .and_then(|h| Ok((h, vdso::build_image(tools::RISCV_TARGET)?)))
        {
            Ok((host, riscv)) => {
                println!(
                    "host image: {}\nriscv64 image: {}",
                    host.display(),
                    riscv.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("xtask vdso-image: {e}");
                ExitCode::FAILURE
            }
        },
        Some("bench") => match bench::bench(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("xtask bench: {e}");
                ExitCode::FAILURE
            }
        },
        Some("net-bench") => match net::bench(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("xtask net-bench: {e}");
                ExitCode::FAILURE
            }
        },
        Some("fuzz") => match steps::fuzz(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("xtask fuzz: {e}");
                ExitCode::FAILURE
            }
        },
        Some("uintr") => {
            // The firmware and N-extension steps of `test` alone.
            let mut report = Report::default();
            uintr_n::test(&mut report);
            report.finish()
        }
        Some("qemu") => match steps::qemu_demo(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("xtask qemu: {e}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!(
                "usage: cargo xtask test | cargo xtask qemu [PROGRAM] [--smp N] [--trace] [--firmware] [--n] | cargo xtask uintr | cargo xtask qemu minimal-kernel | cargo xtask fuzz [--calls N] [--seed S] [--smp K] | cargo xtask vdso-image | cargo xtask net-bench [--quick]"
            );
            ExitCode::from(2)
        }
    }
}
