//! The `defaults` scenario: the unary 64 B and server-streaming rows again, with every peer started with
//! `BENCH_DEFAULTS=1` so that it leaves its library's HTTP/2 settings (windows, frame size, max
//! concurrent streams) alone instead of taking the suite's explicit ones. It shows what users get
//! without tuning. TCP_NODELAY, the message limits and h2load's own settings are unchanged.

use crate::Bench;
use crate::h2load::{Load, RequestSpec};
use crate::peers::Protocol;
use crate::throughput::Throughput;

impl Bench {
    /// Unary 64 B gRPC (16 connections × 16 streams) and the server stream (1000 × 64 B per call, 4 × 4
    /// streams), every peer at its library's HTTP/2 defaults.
    pub(crate) fn defaults(&mut self) {
        self.peer_env = vec![("BENCH_DEFAULTS", "1".to_string())];
        if let Err(e) = self.defaults_rows() {
            self.notes.push(format!("cannot write a request body: {e}"));
        }
        self.peer_env.clear();
    }

    fn defaults_rows(&mut self) -> std::io::Result<()> {
        let seconds = self.options.seconds;
        let message = trident_benches::wire::echo_message(&trident_benches::wire::payload(64));
        let spec = RequestSpec::new(
            Protocol::Grpc,
            "Echo",
            &message,
            &self.dirs.work,
            "defaults-unary-64.grpc",
        )?;
        let unary = Throughput::unary(
            "unary 64 B, gRPC, 16×16 streams, library defaults".into(),
            spec,
            Load::saturating(16, 16, seconds),
        );
        self.throughput(
            &unary,
            |_| Ok(()),
            |bench| bench.check(Protocol::Grpc, &message),
        );

        let (count, size) = (1000u32, 64u32);
        let spec = RequestSpec::new(
            Protocol::Grpc,
            "Stream",
            &trident_benches::wire::stream_request(count, size, false),
            &self.dirs.work,
            "defaults-stream.grpc",
        )?;
        let stream = Throughput {
            scenario: format!(
                "server stream, {count}×{size} B per call, gRPC, 4×4 streams, library defaults"
            ),
            rate: "messages/s",
            cpu: "server CPU-µs/message",
            spec,
            load: Load::saturating(4, 4, seconds),
            per_call: f64::from(count),
        };
        self.throughput(&stream, |_| Ok(()), |_| Ok(()));
        Ok(())
    }
}
