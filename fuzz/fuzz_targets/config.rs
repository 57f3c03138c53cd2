//! The config parser and its validation, on any text.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| draftgate_fuzz::config(data));
