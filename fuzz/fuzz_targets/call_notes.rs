//! A call's notes read into a proposed CRM update (next step, dates, stage, amount).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| draftgate_fuzz::call_notes(data));
