//! kernels/rcore-n: build, boot the demo, run the QEMU suite.
//! (Filled in by the rcore-n work; placeholder until then.)
use crate::report::Report;

pub fn test(_report: &mut Report) {}

pub fn demo(_args: &[String]) -> Result<(), String> {
    Err("the rcore-n kernel is not in this tree yet".into())
}
