//! Arbitrary requests into a Trident router (see `trident_tests::fuzz::server_request`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| trident_tests::fuzz::server_request(data));
