//! Any bytes as a tokenizer description plus text to encode and ids to decode.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tinygpt::fuzzing::tokenizer(data);
});
