//! A file in the store that processes share, as a token source reads it:
//! whatever the bytes (truncated, corrupt, hostile), reading never panics,
//! and a record that is accepted writes out as one that reads back.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    criteo_oauth::fuzzing::read_store_record(bytes);
});
