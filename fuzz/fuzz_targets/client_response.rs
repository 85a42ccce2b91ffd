//! Arbitrary responses into a Trident client (see `trident_tests::fuzz::client_response`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| trident_tests::fuzz::client_response(data));
