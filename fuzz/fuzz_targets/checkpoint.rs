//! Any bytes as a checkpoint: parse, validate, and (if valid and small) load onto the CPU.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tinygpt::fuzzing::checkpoint(data);
});
