//! Link the kernel at 0x8020_0000, where OpenSBI jumps.
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    println!("cargo:rustc-link-arg-bins=-T{dir}/src/linker.ld");
    println!("cargo:rerun-if-changed=src/linker.ld");
}
