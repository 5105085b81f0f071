//! Integration tests live in `integration/` beside this file; this crate has no code of
//! its own. They start the real `trunklined` and `trunkline` binaries, so
//! build them first: `cargo build --workspace --bins`.
