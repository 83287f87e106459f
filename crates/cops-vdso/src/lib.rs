//! # cops-vdso: one copy of the scheduler for the kernel and every process
//!
//! The papers' sharing mechanism, done with a real ABI: cops-core's
//! executor is compiled into one position-independent image
//! (`image/`, a `no_std` binary) whose entry point returns a versioned
//! `#[repr(C)]` [`VdsoTable`](abi::VdsoTable) of `extern "C"` functions.
//! The image has no writable data: every function works on the state it is
//! handed, an executor built inside a data area the caller owns.
//!
//! ```text
//!  image (one copy)                    address space A        address space B
//!  ┌──────────────────────┐           ┌───────────────┐      ┌───────────────┐
//!  │ .text   (R X) shared │──mapped──►│ text @ base_A │      │ text @ base_B │
//!  │ .rodata (R)   shared │           │ relro (R) A   │      │ relro (R) B   │
//!  │ .relro  (R) per base │           │ data area A ──┼─┐    │ data area B   │
//!  └──────────────────────┘           └───────────────┘ │    └───────────────┘
//!   _start() -> &TABLE                 table.init(area) ┘ → executor state
//! ```
//!
//! - [`abi`]: the table, the platform callbacks, the version check.
//! - [`loader`] (feature `loader`): parse the ELF image, lay it out at a base
//!   address and apply its relative relocations (RELRO only; the loader
//!   refuses an image with writable data or other relocation kinds).
//! - [`binding`] (feature `binding`): check a table and expose the same
//!   safe API as a statically linked `cops_core::Executor`.
//! - `image` (feature `image`): the functions behind the table.
//! - [`host`] (feature `host`, Linux): map an image into this process with
//!   `mmap`, as a kernel would map it into an address space (tests, benches).
#![cfg_attr(not(any(test, feature = "host")), no_std)]
// docs.rs (and `RUSTDOCFLAGS="--cfg docsrs" cargo +nightly doc`) marks every
// item that needs a feature on the rendered page.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]
#![allow(missing_docs)] // the ABI structs are documented at the type level

#[cfg(feature = "binding")]
extern crate alloc;

pub mod abi;
#[cfg(feature = "binding")]
pub mod binding;
#[cfg(all(feature = "host", target_os = "linux"))]
pub mod host;
#[cfg(feature = "image")]
pub mod image;
#[cfg(feature = "loader")]
pub mod loader;

/// The README's examples, compiled by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
