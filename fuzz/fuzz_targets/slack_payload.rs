//! Slack interactivity payloads, validly signed, so the parser behind the signature is reached.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| draftgate_fuzz::slack_payload(data));
