//! Any bytes as a model / training config (JSON), validated.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tinygpt::fuzzing::config(data);
});
