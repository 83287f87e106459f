//! Commands and installs shared by every step.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The RISC-V bare-metal target every kernel and `no_std` build uses.
pub const RISCV_TARGET: &str = "riscv64gc-unknown-none-elf";

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `cargo` as invoked by this xtask (same toolchain).
pub fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

/// Run `cmd`, inheriting output; `Err` names the command on failure.
pub fn run(cmd: &mut Command) -> Result<(), String> {
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} exited with {status}"))
    }
}

/// Run `cmd`, capturing stdout+stderr (also echoed), with a wall-clock limit.
/// Returns (success, exit code, combined output).
pub fn run_captured(
    cmd: &mut Command,
    limit: Duration,
) -> Result<(bool, Option<i32>, String), String> {
    let out_file = tempfile("out")?;
    let f = std::fs::File::create(&out_file).map_err(|e| e.to_string())?;
    let f2 = f.try_clone().map_err(|e| e.to_string())?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(f))
        .stderr(Stdio::from(f2))
        .spawn()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break Some(s);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = String::from_utf8_lossy(&std::fs::read(&out_file).unwrap_or_default()).into_owned();
    let _ = std::fs::remove_file(&out_file);
    print!("{text}");
    match status {
        Some(s) => Ok((s.success(), s.code(), text)),
        None => Ok((
            false,
            None,
            format!("{text}\n[xtask: killed after {limit:?}]"),
        )),
    }
}

fn tempfile(tag: &str) -> Result<PathBuf, String> {
    let dir = root().join("target").join("xtask");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(dir.join(format!("{tag}-{}-{n}", std::process::id())))
}

/// Make sure the RISC-V target is installed (rustup, seconds).
pub fn ensure_riscv_target() -> Result<(), String> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    if let Ok(out) = &out
        && String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l.trim() == RISCV_TARGET)
    {
        return Ok(());
    }
    println!("xtask: installing the {RISCV_TARGET} target");
    run(Command::new("rustup").args(["target", "add", RISCV_TARGET]))
        .map_err(|e| format!("{e}; run `rustup target add {RISCV_TARGET}`"))
}

/// Make sure `qemu-system-riscv64` is on PATH, installing Debian's
/// `qemu-system-misc` when we are root and apt is available.
pub fn ensure_qemu() -> Result<(), String> {
    if have("qemu-system-riscv64") {
        return Ok(());
    }
    let hint = "run `sudo apt-get update && sudo apt-get install -y --no-install-recommends qemu-system-misc`";
    if !have("apt-get") {
        return Err(format!("qemu-system-riscv64 not found; {hint}"));
    }
    println!("xtask: installing qemu-system-misc");
    let sudo = if is_root() {
        vec![]
    } else {
        vec!["sudo", "-n"]
    };
    let apt = |args: &[&str]| {
        let mut argv: Vec<&str> = sudo.clone();
        argv.push("apt-get");
        argv.extend_from_slice(args);
        let mut c = Command::new(argv[0]);
        c.args(&argv[1..]).env("DEBIAN_FRONTEND", "noninteractive");
        run(&mut c)
    };
    apt(&["update", "-q"])
        .and_then(|_| {
            apt(&[
                "install",
                "-y",
                "-q",
                "--no-install-recommends",
                "qemu-system-misc",
            ])
        })
        .map_err(|e| format!("{e}; {hint}"))?;
    if have("qemu-system-riscv64") {
        Ok(())
    } else {
        Err(format!(
            "install finished but qemu-system-riscv64 is missing; {hint}"
        ))
    }
}

/// Whether the nightly toolchain has Miri.
pub fn have_miri() -> bool {
    Command::new("cargo")
        .args(["+nightly", "miri", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether `prog` is on PATH.
pub fn have(prog: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {prog}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
