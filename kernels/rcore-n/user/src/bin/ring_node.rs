//! One node of the pipe ring: forward the token (+1) until the stop token.
#![no_std]
#![no_main]
use rcore_n_user::*;

entry!(main);

async fn main() -> i32 {
    let mut cfg = [0u8; 16];
    assert_eq!(syscall::read(3, &mut cfg), Ok(16));
    let i = usize::from_le_bytes(cfg[..8].try_into().unwrap());
    let (rd, wr) = (5 + 2 * i, 6 + 2 * (i + 1));
    loop {
        let mut buf = [0u8; 8];
        if syscall::read(rd, &mut buf) != Ok(8) {
            return 1;
        }
        let t = u64::from_le_bytes(buf);
        let next = if t == u64::MAX { t } else { t + 1 };
        syscall::write(wr, &next.to_le_bytes()).unwrap();
        if t == u64::MAX {
            return 0;
        }
    }
}
