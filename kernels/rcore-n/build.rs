//! Links the kernel at 0x8020_0000 and embeds the user programs found in
//! `$COPS_USER_DIR` (built by `cargo xtask`) as `APPS`.
use std::{env, fs, path::PathBuf};

fn main() {
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    println!(
        "cargo:rustc-link-arg-bins=-T{}",
        dir.join("src/linker.ld").display()
    );
    println!("cargo:rerun-if-changed=src/linker.ld");
    println!("cargo:rerun-if-env-changed=COPS_USER_DIR");

    // ELF parsing needs 8-byte alignment, which `include_bytes!` lacks.
    let mut apps = String::from(
        "#[allow(dead_code)]\n#[repr(C, align(8))]\nstruct Aligned<T: ?Sized>(T);\n\
         /// Embedded user programs: (name, ELF image).\npub static APPS: &[(&str, &[u8])] = &[\n",
    );
    if let Ok(user_dir) = env::var("COPS_USER_DIR") {
        println!("cargo:rerun-if-changed={user_dir}");
        let mut names: Vec<_> = fs::read_dir(&user_dir)
            .expect("COPS_USER_DIR is not a directory")
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_none() && is_elf(p))
            .collect();
        names.sort();
        for path in names {
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            println!("cargo:rerun-if-changed={}", path.display());
            apps.push_str(&format!(
                "    ({name:?}, {{ static A: &Aligned<[u8]> = &Aligned(*include_bytes!({:?})); &A.0 }}),\n",
                path.display().to_string()
            ));
        }
    }
    apps.push_str("];\n");
    // The scheduler image every address space shares (built by `cargo xtask`).
    println!("cargo:rerun-if-env-changed=COPS_VDSO_IMAGE");
    let vdso = env::var("COPS_VDSO_IMAGE")
        .expect("set COPS_VDSO_IMAGE to the RISC-V cops-vdso image (`cargo xtask qemu` builds it)");
    println!("cargo:rerun-if-changed={vdso}");
    apps.push_str(&format!(
        "/// The cops vDSO image (position-independent ELF).\npub static VDSO_IMAGE: &[u8] = {{ static A: &Aligned<[u8]> = &Aligned(*include_bytes!({vdso:?})); &A.0 }};\n"
    ));
    fs::write(
        PathBuf::from(env::var("OUT_DIR").unwrap()).join("apps.rs"),
        apps,
    )
    .unwrap();
}

fn is_elf(path: &std::path::Path) -> bool {
    fs::read(path).is_ok_and(|b| b.starts_with(b"\x7fELF"))
}
