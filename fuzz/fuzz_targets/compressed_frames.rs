//! Compressed messages as frames through a server's `Receiver` with
//! permessage-deflate: fragmented, masked, fed in chunks, with a window
//! that may be smaller than the sender's, possibly corrupted or cut short.
//! See `deflate_cases.rs` for what it asserts.
#![no_main]

use libfuzzer_sys::fuzz_target;

// Each target uses one of the shared functions.
#[allow(dead_code)]
#[path = "deflate_cases.rs"]
mod deflate_cases;

fuzz_target!(|data: &[u8]| deflate_cases::compressed_frames(data));
