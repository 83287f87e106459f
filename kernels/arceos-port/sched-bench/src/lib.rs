//! Empty: this package only holds `benches/pick_put.rs`.
