//! The header encoder: any subject, display name, recipient and conversation ids give a
//! message with the same headers, each on its line, one recipient, no CR/LF smuggled.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| draftgate_fuzz::mail_headers(data));
