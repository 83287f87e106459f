//! Umbrella crate: re-exports the COPS crates so examples, benches and
//! integration tests at the workspace root can use one path.
pub use cops_core as core;
pub use cops_uintr as uintr;
