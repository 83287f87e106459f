//! The published crates: each one builds with the Rust version it declares
//! (`rust-version`, that toolchain installed by rustup when missing), and
//! `cargo package` packs them and builds each package from its own files
//! (the crates.io dependencies resolved as a user's build would).

use std::process::Command;

use crate::report::Report;
use crate::tools::{self, cargo, root};

const PUBLISHED: [&str; 3] = ["cops-core", "cops-uintr", "cops-vdso"];

pub fn test(report: &mut Report) {
    for krate in PUBLISHED {
        let result = rust_version(krate).and_then(|v| {
            check_with(krate, &v).map_err(|e| format!("with Rust {v} (its rust-version): {e}"))
        });
        report.build(
            &format!("{krate} with its rust-version (all features)"),
            result,
        );
    }
    let mut c = cargo();
    // `--allow-dirty`: this checks what would be packed, not the work tree.
    c.args(["package", "--allow-dirty", "--target-dir", "target/package"]);
    for krate in PUBLISHED {
        c.args(["-p", krate]);
    }
    report.build(
        "cargo package (cops-core, cops-uintr, cops-vdso; each package built)",
        tools::run(&mut c),
    );
}

/// `cargo check` of `krate`'s library, all features, on toolchain `version`.
fn check_with(krate: &str, version: &str) -> Result<(), String> {
    let installed = Command::new("rustup")
        .args(["run", version, "rustc", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        println!("xtask: installing Rust {version} (the rust-version of {krate})");
        tools::run(Command::new("rustup").args([
            "toolchain",
            "install",
            version,
            "--profile",
            "minimal",
        ]))
        .map_err(|e| format!("{e}; run `rustup toolchain install {version} --profile minimal`"))?;
    }
    let mut c = Command::new("rustup");
    c.current_dir(root())
        .args(["run", version, "cargo", "check", "--locked", "-p", krate])
        .args(["--all-features", "--lib", "--target-dir", "target/msrv"])
        // This xtask runs under the newest toolchain's cargo: none of its
        // choices may leak into the old one.
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO")
        .env_remove("RUSTC")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    tools::run(&mut c)
}

/// The `rust-version` in `krate`'s manifest (`rust-version.workspace =
/// true` reads the root manifest's `[workspace.package]`).
fn rust_version(krate: &str) -> Result<String, String> {
    let path = root().join("crates").join(krate).join("Cargo.toml");
    let manifest =
        std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    match value_of(&manifest, "[package]", "rust-version") {
        Some(v) => Ok(v),
        None if manifest.contains("rust-version.workspace = true") => {
            let root_manifest =
                std::fs::read_to_string(root().join("Cargo.toml")).map_err(|e| e.to_string())?;
            value_of(&root_manifest, "[workspace.package]", "rust-version")
                .ok_or_else(|| "no rust-version in [workspace.package]".into())
        }
        None => Err(format!("{} declares no rust-version", path.display())),
    }
}

/// The string value of `key = "…"` in `section` of a manifest.
fn value_of(manifest: &str, section: &str, key: &str) -> Option<String> {
    let mut in_section = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_section = line == section;
        } else if in_section
            && let Some((k, v)) = line.split_once('=')
            && k.trim() == key
        {
            return Some(v.trim().trim_matches('"').to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    /// Runs just this step: `cargo test -p xtask published -- --ignored --nocapture`.
    #[test]
    #[ignore = "installs old toolchains and packages the crates (about a minute); run on demand"]
    fn published_step() {
        let mut report = crate::report::Report::default();
        super::test(&mut report);
        assert_eq!(report.finish(), std::process::ExitCode::SUCCESS);
    }
}
