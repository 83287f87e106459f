//! The user programs embedded in the kernel image (see `build.rs`).

include!(concat!(env!("OUT_DIR"), "/apps.rs"));

/// The ELF image of program `name`.
pub fn find(name: &str) -> Option<&'static [u8]> {
    APPS.iter().find(|(n, _)| *n == name).map(|(_, elf)| *elf)
}

/// Names of every embedded program.
pub fn names() -> impl core::fmt::Debug {
    struct Names;
    impl core::fmt::Debug for Names {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.debug_list().entries(APPS.iter().map(|(n, _)| n)).finish()
        }
    }
    Names
}
