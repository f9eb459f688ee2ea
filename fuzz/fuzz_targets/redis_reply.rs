//! What a Redis server answers, as the store reads it: whatever the bytes
//! (garbage, endless lines, absurd lengths, deep arrays), reading never
//! panics and never allocates past the protocol's limits.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    criteo_oauth::fuzzing::read_redis_replies(bytes);
});
