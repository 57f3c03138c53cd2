//! The close webhook: any headers and body, through its signature check and its parser.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| draftgate_fuzz::webhook("close", data));
