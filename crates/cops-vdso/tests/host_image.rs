//! The host build of the image, loaded for real: at two different addresses
//! (position independence), in a forked child, and refused when its table
//! or its segments are wrong. The image is the file `COPS_VDSO_HOST_IMAGE`
//! names (`cargo xtask test` builds it and sets that); without the variable
//! this test builds it itself, exactly as `cargo xtask vdso-image` does
//! (`crates/cops-vdso/image`, flags from its `.cargo/config.toml`, into
//! `target/vdso`), so a plain `cargo test` works on a fresh clone.
#![cfg(all(target_os = "linux", target_arch = "x86_64", not(miri)))]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use cops_core::{Error, ExecutorOps, Priority};
use cops_vdso::abi::{AbiError, VERSION, VdsoPlatform, VdsoTable};
use cops_vdso::binding::{Vdso, VdsoExecutor};
use cops_vdso::host;
use cops_vdso::loader::{Image, LoadError};

fn image_bytes() -> Vec<u8> {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    let path = PATH.get_or_init(|| match std::env::var_os("COPS_VDSO_HOST_IMAGE") {
        Some(path) => path.into(),
        None => build_host_image(),
    });
    std::fs::read(path)
        .unwrap_or_else(|e| panic!("cannot read the host image {}: {e}", path.display()))
}

/// `cargo build` of the image crate for this host, into the workspace's
/// `target/vdso`; once per test process. A failed build fails the tests.
fn build_host_image() -> PathBuf {
    let image_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("image");
    let target_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/vdso");
    const TARGET: &str = "x86_64-unknown-linux-gnu";
    eprintln!(
        "COPS_VDSO_HOST_IMAGE is not set: building the host image into {}",
        target_dir.display()
    );
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(&image_dir) // its .cargo/config.toml has the flags
        .args(["build", "--release", "--target", TARGET, "--target-dir"])
        .arg(&target_dir)
        .env_remove("RUSTFLAGS") // either would replace the config's flags
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .expect("cannot run cargo to build the host image");
    assert!(
        out.status.success(),
        "building the host image failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    target_dir.join(TARGET).join("release/cops-vdso-image")
}

static PLATFORM: VdsoPlatform = VdsoPlatform::SINGLE_CPU;

fn executor(vdso: Vdso) -> &'static VdsoExecutor {
    VdsoExecutor::leak(vdso, 512, &PLATFORM).unwrap()
}

/// Spawn three coroutines out of order, re-prioritise one, wake one by id,
/// and check what ran and in which order.
fn drive(exec: &'static VdsoExecutor) -> Vec<&'static str> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut ids = Vec::new();
    for (name, level) in [("low", 40u8), ("high", 2), ("mid", 20)] {
        let log = log.clone();
        ids.push(
            exec.spawn(
                async move { log.lock().unwrap().push(name) },
                Priority::new(level).unwrap(),
            )
            .unwrap()
            .id(),
        );
    }
    exec.set_priority(ids[0], Priority::HIGHEST).unwrap(); // "low" now goes first
    let blocked = exec
        .spawn(std::future::pending::<()>(), Priority::new(9).unwrap())
        .unwrap()
        .id();
    assert_eq!(exec.highest_ready(), Some(Priority::HIGHEST));
    exec.run_until_idle();
    assert_eq!(exec.live(), 1);
    assert_eq!(exec.wake(blocked), Ok(()));
    exec.cancel(blocked).unwrap();
    exec.run_until_idle();
    assert_eq!(exec.live(), 0);
    assert_eq!(
        exec.wake(ids[1]),
        Err(Error::Stale),
        "finished coroutine's id is rejected"
    );
    log.lock().unwrap().clone()
}

#[test]
fn one_image_runs_at_two_addresses() {
    let bytes = image_bytes();
    let (a, vdso_a) = host::load(&bytes).unwrap();
    let (b, vdso_b) = host::load(&bytes).unwrap();
    assert_ne!(a.base, b.base);
    for (m, vdso) in [(a, vdso_a), (b, vdso_b)] {
        let table = vdso.table() as *const VdsoTable as usize;
        assert!(
            (m.base..m.base + m.span).contains(&table),
            "the table is the image's own"
        );
        assert_eq!(drive(executor(vdso)), ["low", "high", "mid"]);
    }
}

#[test]
fn a_forked_child_runs_its_copy() {
    let (_, vdso) = host::load(&image_bytes()).unwrap();
    let exec = executor(vdso);
    // SAFETY: the child only runs the executor and leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let ok =
            std::panic::catch_unwind(|| drive(exec) == ["low", "high", "mid"]).unwrap_or(false);
        // SAFETY: ends the child without running the parent's test harness.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child status {status:#x}"
    );
    assert_eq!(
        drive(exec),
        ["low", "high", "mid"],
        "the parent's copy is untouched"
    );
}

#[test]
fn a_table_of_another_version_is_refused() {
    let m = host::map(&image_bytes()).unwrap();
    let get: extern "C" fn() -> *const VdsoTable =
        // SAFETY: the entry point of a loaded image.
        unsafe { std::mem::transmute(m.entry) };
    let table = get();
    // Forge a copy claiming another version, as a binary built against a
    // different ABI would see it.
    // SAFETY: reads a table that is valid for the image's lifetime.
    let mut forged: VdsoTable = unsafe { std::ptr::read(table) };
    forged.version = VERSION + 1;
    let err = Vdso::from_table(Box::leak(Box::new(forged))).err().unwrap();
    assert_eq!(
        err,
        AbiError::Version {
            image: VERSION + 1,
            binding: VERSION
        }
    );
    assert!(err.to_string().contains("ABI version"), "{err}");
}

#[test]
fn the_loader_refuses_writable_code() {
    let mut bytes = image_bytes();
    // Make the executable segment writable in the program headers.
    let phoff = u64::from_le_bytes(bytes[0x20..0x28].try_into().unwrap()) as usize;
    let phnum = u16::from_le_bytes(bytes[0x38..0x3a].try_into().unwrap()) as usize;
    for i in 0..phnum {
        let ph = phoff + i * 56;
        let (kind, flags) = (
            u32::from_le_bytes(bytes[ph..ph + 4].try_into().unwrap()),
            bytes[ph + 4],
        );
        if kind == 1 && flags & 1 != 0 {
            bytes[ph + 4] |= 2; // PF_W
        }
    }
    assert_eq!(Image::parse(&bytes).err(), Some(LoadError::WritableData));
}
