//! The proposal renderer: CRM fields in, never a link, an image, a heading or a table row out.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| draftgate_fuzz::proposal_document(data));
