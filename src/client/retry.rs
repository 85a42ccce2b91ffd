//! Retries: sending a failed call again, when that is safe, after a backoff, within the call's
//! deadline and the client's retry budget. gRFC A6 ("gRPC retry design") is the model.
//!
//! A call is sent again only when repeating it cannot do harm:
//!
//! - **the server provably never processed it** ([`Error::is_unprocessed`]): no connection could be
//!   made, or the server refused the request before a handler saw it (HTTP/2 REFUSED_STREAM, a GOAWAY
//!   that left the call out, HTTP/3 H3_REQUEST_REJECTED). Such a call is sent again once at once,
//!   whatever the method and whether or not a policy applies (A6's transparent retry); a policy may
//!   send it again after that, within its attempts;
//! - **the method is idempotent** (`idempotency_level = IDEMPOTENT` or `NO_SIDE_EFFECTS` in the
//!   proto, or named with [`ClientBuilder::idempotent_method`](crate::client::ClientBuilder::idempotent_method))
//!   and a [`RetryPolicy`] applies to it: a failure with a retryable code is retried up to the policy's
//!   attempts.
//!
//! A call is retried until it is committed, that is until something of its response has reached the
//! caller: a unary call until it returns (its response is read whole first, so any failure may be
//! retried); a server-streaming call until its response head is handed over (a gRPC trailers-only
//! error, which ends the call with its head, still counts as before it); a client- or bidi-streaming
//! call until its first response message or until the caller reads its headers, keeping what it sent
//! meanwhile to send again (`replay.rs`). Client- and bidi-streaming calls are retried only under a
//! policy (without one, they keep nothing to resend; the built-in transports still resend a request
//! refused before any of it left, and a balanced client steps to another endpoint when a connect
//! fails). Retries run below the client's interceptors, for every call type: the interceptors see one
//! call, however many attempts it took (`Client::unary`'s far end for unary calls, `stream_conn.rs`
//! for the others).
//!
//! Every attempt shares the call's deadline: a backoff that would outlast it ends the call with
//! `deadline_exceeded`. A server may steer retries with A6's `grpc-retry-pushback-ms` trailer (wait
//! that long; a negative or unreadable value: do not retry), or with a `google.rpc.RetryInfo` detail
//! ([`RetryInfo`](crate::error_details::RetryInfo): wait its `retry_delay`). Either replaces the
//! backoff's wait and starts the backoff over; when both are present the pushback wins (it is the
//! transport's word, and the only one that can stop retries), and neither makes a retry of a call the
//! policy would not retry (a code not listed, no attempts left, the budget spent). The budget is tower's
//! [`TpsBudget`](tower::retry::budget::TpsBudget), shared by the client's clones: retries may add at
//! most a set share to the calls made, which stops a failing server from drawing a retry storm. The
//! backoff is A6's, with full jitter: the n-th retry waits a random time between zero and
//! `min(initial_backoff × multiplierⁿ⁻¹, max_backoff)`, so that clients failing together do not
//! retry together.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tower::retry::budget::{Budget as _, TpsBudget};
use tower::util::rng::{HasherRng, Rng as _};

use crate::method::{Idempotency, MethodSpec};
use crate::{Code, ConfigError, Error, deadline};

/// The trailer (or header) in which a server tells a client how long to wait before retrying, in
/// milliseconds; a negative value asks it not to retry (gRFC A6).
const PUSHBACK: &str = "grpc-retry-pushback-ms";

/// How to retry failed calls to idempotent methods: how often, how long to wait, on which codes.
///
/// ```
/// use std::time::Duration;
/// use trident::{Code, client::RetryPolicy};
///
/// let policy = RetryPolicy::new()
///     .max_attempts(4)
///     .initial_backoff(Duration::from_millis(50))
///     .max_backoff(Duration::from_secs(1))
///     .retryable_codes(&[Code::Unavailable, Code::Aborted]);
/// let client = trident::Client::builder("http://127.0.0.1:8080")
///     .retry(policy)
///     .build()?;
/// # Ok::<_, trident::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    multiplier: f64,
    retryable_codes: Vec<Code>,
}

impl RetryPolicy {
    /// The most request bytes a streaming call keeps to send again on a retry (1 MiB, grpc-java's
    /// per-call default); a call that sent more is not retried.
    pub const REPLAY_LIMIT: usize = 1024 * 1024;

    /// The most attempts a policy may make (gRFC A6 caps `maxAttempts` at 5 as well).
    pub const MAX_ATTEMPTS: u32 = 5;
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl RetryPolicy {
    /// Three attempts, backoff from 100 ms up to 1 s, retrying `unavailable` only (the code of a
    /// server that could not be reached or went away, where another attempt is most likely to work).
    pub fn new() -> Self {
        Self {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            multiplier: 2.0,
            retryable_codes: vec![Code::Unavailable],
        }
    }

    /// How many times a call may be sent in all, the first time included: 1 (no retries) to
    /// [`RetryPolicy::MAX_ATTEMPTS`]. A value outside fails [`ClientBuilder::build`](crate::client::ClientBuilder::build).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// The longest wait before the first retry: it waits a random time up to this. Each later
    /// retry's longest wait grows by the [multiplier](Self::backoff_multiplier), up to
    /// [`max_backoff`](Self::max_backoff). Default 100 ms.
    pub fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// The longest wait between attempts. Default 1 s.
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// How much the longest wait grows from one retry to the next (default 2; at least 1, and
    /// finite, or [`ClientBuilder::build`](crate::client::ClientBuilder::build) fails).
    pub fn backoff_multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// The retryable codes: those the *server* answers with when another attempt may work (default:
    /// `unavailable` only). Codes the client makes up itself count too (a response over the
    /// client's receive limit is its own `resource_exhausted`), so name only codes whose retry is
    /// worth it whoever made them.
    pub fn retryable_codes(mut self, codes: &[Code]) -> Self {
        self.retryable_codes = codes.to_vec();
        self
    }

    /// The longest wait before retry number `retry` (1 for the first).
    fn ceiling(&self, retry: u32) -> Duration {
        let grown = self.initial_backoff.as_secs_f64()
            * self.multiplier.powi(retry.saturating_sub(1).min(64) as i32);
        Duration::from_secs_f64(grown.min(self.max_backoff.as_secs_f64()))
    }
}

/// How many retries a client may add to its calls, shared by all its clones; see
/// [`ClientBuilder::retry_budget`](crate::client::ClientBuilder::retry_budget).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryBudget {
    ttl: Duration,
    min_per_sec: u32,
    ratio: f32,
}

impl Default for RetryBudget {
    /// Retries may add 20% to the calls of the last 10 seconds, and at least 10 a second.
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(10),
            min_per_sec: 10,
            ratio: 0.2,
        }
    }
}

impl RetryBudget {
    /// Retries may add `ratio` (0 to 1000: 0.2 is a fifth) to the calls made in the last `ttl` (1 to 60
    /// seconds), and `min_per_sec` retries a second are always allowed, for clients that make few
    /// calls. A value outside its range fails [`ClientBuilder::build`](crate::client::ClientBuilder::build).
    pub fn new(ttl: Duration, min_per_sec: u32, ratio: f32) -> Self {
        Self {
            ttl,
            min_per_sec,
            ratio,
        }
    }
}

/// A client's retry configuration, as its calls consult it.
pub(crate) struct Retries {
    /// The policy of every idempotent method without one of its own.
    default: Option<Arc<RetryPolicy>>,
    /// Policies by method path.
    methods: HashMap<String, Arc<RetryPolicy>>,
    /// Methods the client was told are idempotent, by path.
    idempotent: HashSet<String>,
    budget: Arc<TpsBudget>,
}

/// What is wrong with `policy`, one line per setting (`whose` says which policy it is).
fn policy_problems(policy: &RetryPolicy, whose: &str, problems: &mut Vec<String>) {
    if !(1..=RetryPolicy::MAX_ATTEMPTS).contains(&policy.max_attempts) {
        problems.push(format!(
            "{whose}: RetryPolicy::max_attempts({}) is out of range: it takes 1 to {}",
            policy.max_attempts,
            RetryPolicy::MAX_ATTEMPTS
        ));
    }
    if !(policy.multiplier.is_finite() && policy.multiplier >= 1.0) {
        problems.push(format!(
            "{whose}: RetryPolicy::backoff_multiplier({}) is out of range: it takes a finite value of \
             at least 1",
            policy.multiplier
        ));
    }
    if policy.max_backoff < policy.initial_backoff {
        problems.push(format!(
            "{whose}: RetryPolicy::max_backoff({:?}) is below its initial_backoff({:?})",
            policy.max_backoff, policy.initial_backoff
        ));
    }
}

/// What is wrong with `budget`, one line per setting.
fn budget_problems(budget: &RetryBudget, problems: &mut Vec<String>) {
    if !(Duration::from_secs(1)..=Duration::from_secs(60)).contains(&budget.ttl) {
        problems.push(format!(
            "RetryBudget::new: its ttl {:?} is out of range: it takes 1 s to 60 s",
            budget.ttl
        ));
    }
    if !(0.0..=1000.0).contains(&budget.ratio) {
        problems.push(format!(
            "RetryBudget::new: its ratio {} is out of range: it takes 0 to 1000",
            budget.ratio
        ));
    }
}

/// What a [`ClientBuilder`](crate::client::ClientBuilder) collects about retries.
#[derive(Default)]
pub(crate) struct RetrySettings {
    pub default: Option<RetryPolicy>,
    pub methods: Vec<(String, RetryPolicy)>,
    pub idempotent: Vec<String>,
    pub budget: RetryBudget,
}

impl RetrySettings {
    /// The configuration calls consult; `None` when no policy was set (calls then only get the
    /// transparent retry of unprocessed failures).
    pub fn build(self) -> Result<Option<Retries>, ConfigError> {
        let mut problems = Vec::new();
        if let Some(policy) = &self.default {
            policy_problems(policy, "ClientBuilder::retry", &mut problems);
        }
        for (path, policy) in &self.methods {
            policy_problems(
                policy,
                &format!("ClientBuilder::retry_method({path:?})"),
                &mut problems,
            );
        }
        budget_problems(&self.budget, &mut problems);
        ConfigError::check(problems)?;
        if self.default.is_none() && self.methods.is_empty() {
            return Ok(None);
        }
        let default = self.default.map(Arc::new);
        let methods = self
            .methods
            .into_iter()
            .map(|(path, policy)| (path, Arc::new(policy)))
            .collect();
        let budget = self.budget;
        Ok(Some(Retries {
            default,
            methods,
            idempotent: self.idempotent.into_iter().collect(),
            budget: Arc::new(TpsBudget::new(budget.ttl, budget.min_per_sec, budget.ratio)),
        }))
    }
}

/// The attempts of one call: whether a failure is sent again, after how long.
pub(crate) struct Attempts {
    /// The policy that applies to the call, if any, and whether the method is idempotent.
    policy: Option<(Arc<RetryPolicy>, bool)>,
    budget: Option<Arc<TpsBudget>>,
    /// Retries made since the backoff last started over (a pushback starts it over).
    backoff_step: u32,
    deadline: Option<Instant>,
    /// Attempts made so far, counting neither the first nor the transparent retry.
    retries: u32,
    /// Whether the transparent retry of an unprocessed call was used.
    transparent: bool,
}

impl Attempts {
    /// The attempts of a call to `spec` on a client configured with `retries`.
    pub fn new(retries: Option<&Retries>, spec: &MethodSpec, deadline: Option<Instant>) -> Self {
        let policy = retries.and_then(|retries| {
            let policy = retries
                .methods
                .get(spec.path)
                .or(retries.default.as_ref())?;
            let idempotent =
                spec.idempotency != Idempotency::Unknown || retries.idempotent.contains(spec.path);
            // Every call that may be retried pays into the budget the retries draw on.
            retries.budget.deposit();
            Some((policy.clone(), idempotent))
        });
        Self {
            budget: policy.as_ref().and(retries).map(|r| r.budget.clone()),
            policy,
            backoff_step: 0,
            deadline,
            retries: 0,
            transparent: false,
        }
    }

    /// Decides whether a call that failed with `error` is sent again, and waits before it is.
    /// `Ok(())`: send it again now; `Err`: the call's final error (`error`, or `deadline_exceeded`
    /// when the deadline passes during the wait).
    pub async fn again(&mut self, error: Error) -> Result<(), Error> {
        match self.retry_after(&error) {
            None => Err(error),
            Some(pause) => self.pause(pause).await,
        }
    }

    /// Whether a call that failed with `error` is sent again, and after what pause; a `Some` counts
    /// the attempt (and draws on the budget).
    pub fn retry_after(&mut self, error: &Error) -> Option<Pause> {
        if self.deadline.is_some_and(|d| d <= Instant::now()) {
            return None;
        }
        if error.is_unprocessed() && !self.transparent {
            self.transparent = true;
            return Some(Pause::None);
        }
        let (policy, idempotent) = self.policy.as_ref()?;
        let safe = *idempotent || error.is_unprocessed();
        let retryable = error.is_unprocessed() || policy.retryable_codes.contains(&error.code());
        if !safe || !retryable || self.retries + 1 >= policy.max_attempts {
            return None;
        }
        let pushback = match pushback(error) {
            Pushback::Stop => return None,
            Pushback::Wait(wait) => Some(wait),
            Pushback::None => error.retry_info().and_then(|info| info.delay()),
        };
        if !self.budget.as_ref().is_some_and(|budget| budget.withdraw()) {
            return None;
        }
        self.retries += 1;
        let wait = match pushback {
            Some(wait) => {
                // A6: after a pushback, the backoff starts over.
                self.backoff_step = 0;
                wait
            }
            None => {
                self.backoff_step += 1;
                let ceiling = policy.ceiling(self.backoff_step);
                ceiling.mul_f64(HasherRng::new().next_f64())
            }
        };
        Some(Pause::Sleep(tokio::time::sleep(wait)))
    }

    /// Whether a policy applies to the call (beyond the transparent retry every call gets).
    pub fn has_policy(&self) -> bool {
        self.policy.is_some()
    }

    /// Waits out `pause`, within the call's deadline.
    pub async fn pause(&self, pause: Pause) -> Result<(), Error> {
        match pause {
            Pause::None => Ok(()),
            Pause::Sleep(sleep) => {
                deadline::within(self.deadline, async {
                    sleep.await;
                    Ok(())
                })
                .await
            }
        }
    }
}

/// The wait before a retry.
pub(crate) enum Pause {
    /// None: the transparent retry of an unprocessed call.
    None,
    /// The backoff's (a random share of its ceiling), or the server's pushback.
    Sleep(tokio::time::Sleep),
}

/// What a server said about retrying, in A6's pushback trailer.
enum Pushback {
    /// Nothing.
    None,
    /// Wait this long, then retry.
    Wait(Duration),
    /// Do not retry.
    Stop,
}

/// The pushback `error` carries, in its trailers or (trailers-only responses) its headers.
fn pushback(error: &Error) -> Pushback {
    let value = error
        .trailers()
        .get(PUSHBACK)
        .or_else(|| error.headers().get(PUSHBACK));
    match value {
        None => Pushback::None,
        Some(value) => match value.trim().parse::<u64>() {
            Ok(ms) => Pushback::Wait(Duration::from_millis(ms)),
            Err(_) => Pushback::Stop,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_policies_and_budgets_fail_the_build_by_name() {
        let settings = RetrySettings {
            default: Some(
                RetryPolicy::new()
                    .max_attempts(0)
                    .backoff_multiplier(f64::NAN),
            ),
            methods: vec![(
                "/t.S/M".into(),
                RetryPolicy::new()
                    .max_attempts(9)
                    .initial_backoff(Duration::from_secs(2))
                    .max_backoff(Duration::from_secs(1)),
            )],
            idempotent: Vec::new(),
            budget: RetryBudget::new(Duration::ZERO, 10, 2000.0),
        };
        let error = settings.build().err().expect("refused");
        let message = error.message();
        assert!(message.starts_with("6 configuration problems"), "{message}");
        for part in [
            "ClientBuilder::retry: RetryPolicy::max_attempts(0)",
            "ClientBuilder::retry: RetryPolicy::backoff_multiplier(NaN)",
            "ClientBuilder::retry_method(\"/t.S/M\"): RetryPolicy::max_attempts(9)",
            "RetryPolicy::max_backoff(1s) is below its initial_backoff(2s)",
            "RetryBudget::new: its ttl 0ns",
            "RetryBudget::new: its ratio 2000",
        ] {
            assert!(message.contains(part), "{part} in {message}");
        }
        // A budget is checked even without a policy.
        let budget_only = RetrySettings {
            budget: RetryBudget::new(Duration::from_secs(10), 1, -1.0),
            ..RetrySettings::default()
        };
        assert!(budget_only.build().is_err());
        assert!(RetrySettings::default().build().is_ok_and(|r| r.is_none()));
    }
    use crate::error::Delivery;
    use crate::method::StreamType;

    static PLAIN: MethodSpec = MethodSpec {
        service: "t.S",
        method: "Plain",
        path: "/t.S/Plain",
        stream_type: StreamType::Unary,
        idempotency: Idempotency::Unknown,
    };
    static IDEMPOTENT: MethodSpec = MethodSpec {
        service: "t.S",
        method: "Idempotent",
        path: "/t.S/Idempotent",
        stream_type: StreamType::Unary,
        idempotency: Idempotency::Idempotent,
    };

    fn retries(settings: RetrySettings) -> Retries {
        settings.build().expect("valid").expect("a policy")
    }

    fn unavailable() -> Error {
        Error::new(Code::Unavailable, "gone")
    }

    #[tokio::test(start_paused = true)]
    async fn idempotent_calls_are_retried_up_to_the_attempts() {
        let retries = retries(RetrySettings {
            default: Some(RetryPolicy::new().max_attempts(3)),
            ..RetrySettings::default()
        });
        let mut attempts = Attempts::new(Some(&retries), &IDEMPOTENT, None);
        assert!(attempts.again(unavailable()).await.is_ok());
        assert!(attempts.again(unavailable()).await.is_ok());
        let last = attempts
            .again(unavailable())
            .await
            .expect_err("three attempts made");
        assert_eq!(last.code(), Code::Unavailable);
        // Codes not named are not retried.
        let mut attempts = Attempts::new(Some(&retries), &IDEMPOTENT, None);
        let error = Error::new(Code::Internal, "bug");
        assert!(attempts.again(error).await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn calls_with_side_effects_are_retried_only_unprocessed() {
        let retries = retries(RetrySettings {
            default: Some(RetryPolicy::new().max_attempts(3)),
            ..RetrySettings::default()
        });
        let mut attempts = Attempts::new(Some(&retries), &PLAIN, None);
        assert!(attempts.again(unavailable()).await.is_err());
        let mut attempts = Attempts::new(Some(&retries), &PLAIN, None);
        let refused = || unavailable().with_delivery(Delivery::Refused);
        assert!(attempts.again(refused()).await.is_ok(), "transparent");
        assert!(attempts.again(refused()).await.is_ok(), "second attempt");
        assert!(attempts.again(refused()).await.is_ok(), "third attempt");
        assert!(attempts.again(refused()).await.is_err(), "no more");
        // Without a policy: the transparent retry only.
        let mut attempts = Attempts::new(None, &IDEMPOTENT, None);
        assert!(attempts.again(unavailable()).await.is_err());
        let mut attempts = Attempts::new(None, &PLAIN, None);
        assert!(attempts.again(refused()).await.is_ok());
        assert!(attempts.again(refused()).await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn methods_can_be_marked_idempotent_and_given_their_own_policy() {
        let retries = retries(RetrySettings {
            methods: vec![("/t.S/Plain".into(), RetryPolicy::new().max_attempts(2))],
            idempotent: vec!["/t.S/Plain".into()],
            ..RetrySettings::default()
        });
        let mut attempts = Attempts::new(Some(&retries), &PLAIN, None);
        assert!(attempts.again(unavailable()).await.is_ok());
        assert!(attempts.again(unavailable()).await.is_err());
        // No default policy: other methods are not retried.
        let mut attempts = Attempts::new(Some(&retries), &IDEMPOTENT, None);
        assert!(attempts.again(unavailable()).await.is_err());
    }

    #[test]
    fn backoff_ceilings_grow_by_the_multiplier_up_to_the_maximum() {
        let policy = RetryPolicy::new()
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_millis(500))
            .backoff_multiplier(3.0);
        let ceilings: Vec<u128> = (1..=4).map(|n| policy.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, [100, 300, 500, 500]);
        let invalid = RetrySettings {
            default: Some(RetryPolicy::new().max_backoff(Duration::from_millis(1))),
            ..RetrySettings::default()
        };
        assert!(
            invalid.build().is_err(),
            "a maximum below the initial backoff"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn waits_are_random_below_their_ceiling_and_the_deadline_bounds_them() {
        let retries = retries(RetrySettings {
            default: Some(
                RetryPolicy::new()
                    .max_attempts(2)
                    .initial_backoff(Duration::from_millis(100)),
            ),
            budget: RetryBudget::new(Duration::from_secs(10), 1000, 1.0),
            ..RetrySettings::default()
        });
        let mut total = Duration::ZERO;
        for _ in 0..200 {
            let start = Instant::now();
            let mut attempts = Attempts::new(Some(&retries), &IDEMPOTENT, None);
            attempts.again(unavailable()).await.expect("retried");
            let waited = start.elapsed();
            assert!(waited <= Duration::from_millis(100), "{waited:?}");
            total += waited;
        }
        // Full jitter: about half the ceiling on average.
        let mean = total / 200;
        assert!(
            mean > Duration::from_millis(30) && mean < Duration::from_millis(70),
            "{mean:?}"
        );

        // A wait the deadline cuts short ends the call with `deadline_exceeded`, at the deadline.
        let deadline = Instant::now() + Duration::from_millis(50);
        let mut attempts = Attempts::new(Some(&retries), &IDEMPOTENT, Some(deadline));
        let mut pushed = unavailable();
        pushed
            .trailers_mut()
            .insert(PUSHBACK, "2000")
            .expect("valid metadata");
        let error = attempts.again(pushed).await.expect_err("deadline");
        assert_eq!(error.code(), Code::DeadlineExceeded);
        assert_eq!(Instant::now(), deadline);
    }

    #[tokio::test(start_paused = true)]
    async fn pushback_sets_the_wait_or_stops_retries() {
        let retries = retries(RetrySettings {
            default: Some(RetryPolicy::new().max_attempts(5)),
            ..RetrySettings::default()
        });
        let pushed = |value: &str| {
            let mut error = unavailable();
            error
                .trailers_mut()
                .insert(PUSHBACK, value)
                .expect("valid metadata");
            error
        };
        let mut attempts = Attempts::new(Some(&retries), &IDEMPOTENT, None);
        let start = Instant::now();
        attempts.again(pushed("2000")).await.expect("retried");
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        assert!(attempts.again(pushed("-1")).await.is_err());
        assert!(attempts.again(pushed("soon")).await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn retry_info_sets_the_wait_and_pushback_comes_first() {
        use crate::error_details::RetryInfo;
        let retries = retries(RetrySettings {
            default: Some(RetryPolicy::new().max_attempts(5)),
            ..RetrySettings::default()
        });
        let mut attempts = Attempts::new(Some(&retries), &IDEMPOTENT, None);
        let start = Instant::now();
        let delayed = unavailable().with_retry_info(RetryInfo::after(Duration::from_secs(3)));
        attempts.again(delayed.clone()).await.expect("retried");
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        let mut pushed = delayed.clone();
        pushed
            .trailers_mut()
            .insert(PUSHBACK, "1000")
            .expect("valid metadata");
        attempts.again(pushed).await.expect("retried");
        assert_eq!(start.elapsed(), Duration::from_secs(4));
        // A code the policy does not retry is not retried, whatever the delay.
        let not_retryable = Error::new(Code::InvalidArgument, "no")
            .with_retry_info(RetryInfo::after(Duration::from_secs(1)));
        assert!(attempts.again(not_retryable).await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_stops_retry_storms() {
        let retries = retries(RetrySettings {
            default: Some(RetryPolicy::new().max_attempts(5)),
            budget: RetryBudget::new(Duration::from_secs(10), 1, 0.0),
            ..RetrySettings::default()
        });
        let mut allowed = 0;
        for _ in 0..100 {
            let mut attempts = Attempts::new(Some(&retries), &IDEMPOTENT, None);
            if attempts.again(unavailable()).await.is_ok() {
                allowed += 1;
            }
        }
        // One retry a second, over ten seconds' reserve at most.
        assert!(allowed <= 10, "{allowed} retries allowed");
        assert!(allowed >= 1);
    }
}
