//! A model's draft checked against its facts and the prospect's words (the grounding check).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| draftgate_fuzz::grounding(data));
