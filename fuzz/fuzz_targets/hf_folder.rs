//! Any bytes as a Hugging Face GPT-2 folder (sections: config.json, model.safetensors,
//! tokenizer.json, vocab.json, merges.txt), loaded as the page loads picked files.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tinygpt::fuzzing::hf_folder(data);
});
