//! The review endpoint's decision form (POST /review/{id}), on any body.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| draftgate_fuzz::review_form(data));
