//! The fuzz harnesses (`trident_tests::fuzz`) on seeded pseudo-random inputs: a deterministic slice of
//! what `fuzz/` explores with coverage guidance, so that every test run checks that thousands of mangled
//! requests and responses end in an answer or an error, never a panic or a hang.

use trident_tests::fuzz;

/// A small deterministic generator (xorshift64*), so that every run tries the same inputs.
struct Inputs(u64);

impl Inputs {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// An input of 0 to 1 KiB.
    fn next_input(&mut self) -> Vec<u8> {
        let len = (self.next_u64() % 1024) as usize;
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

const INPUTS: usize = 3000;

#[test]
fn mangled_requests_get_answers() {
    let mut inputs = Inputs(0x7472_6964_656e_7431);
    for _ in 0..INPUTS {
        fuzz::server_request(&inputs.next_input());
    }
}

#[test]
fn mangled_responses_end_calls() {
    let mut inputs = Inputs(0x7472_6964_656e_7432);
    for _ in 0..INPUTS {
        fuzz::client_response(&inputs.next_input());
    }
}

/// Inputs `fuzz/run` reported, each a request that asks the test service to wait longer than the
/// harness's limit, by design: `Wait` with no timeout (or one its protocol does not read), and a Connect
/// GET of `Echo` whose message decodes with a delay of weeks. The harness's service is bounded
/// (`TestService::bounded`), so these end, and a call that still does not is a finding.
#[test]
fn long_waits_asked_for_are_no_finding() {
    fuzz::server_request(b"MMgzipM a\xd9\xd9\xd9\xd9\xd9\xd9\xd9\xd9\xd9Mp");
    fuzz::server_request(b")99\x97/trident.test.v1.EchoService/Wait\x9d99\xd4zj99\x97/tridmnt.test.v1.EchoS`\xab\xf42\xd4/tridmnt.test.v1.EchoService/Wait\x9d9vice/Wait\x9d99\xd4zjzip4zip4'");
    fuzz::server_request(b")99\x97/trident.test.v1.EchoService/Wait\x9d99\xd4zj99\x97/hoService/Chat/trident.test.v1.EchoSerivce/Wait\x9d99\xd4zjzip4zip4'");
}
