//! Built against vDSO ABI version 0: the runtime must refuse the kernel's
//! image and exit before `main`.
#![no_std]
#![no_main]
use rcore_n_user::*;

entry!(main, vdso_abi = 0);

async fn main() -> i32 {
    println!("vdso_old_abi: started on a mismatched vDSO");
    0
}
