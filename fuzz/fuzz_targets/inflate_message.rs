//! The permessage-deflate codec alone: wsgate's compressor's output (any
//! window, level, context mode; corrupted, truncated or as is), raw bytes
//! and bombs through `Decompressor`, with a window that may be smaller than
//! the sender's and a limit. See `deflate_cases.rs` for what it asserts.
#![no_main]

use libfuzzer_sys::fuzz_target;

// Each target uses one of the shared functions.
#[allow(dead_code)]
#[path = "deflate_cases.rs"]
mod deflate_cases;

fuzz_target!(|data: &[u8]| deflate_cases::inflate_message(data));
