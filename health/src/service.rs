//! The health service itself: a [`HealthReporter`] that the application tells about its services, and the
//! `grpc.health.v1.Health` routes that answer from it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;
use trident::{CallContext, Code, Error, Request, Response, ResponseStream, ServiceRoutes};

use crate::proto::{
    CHECK, HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse, LIST,
    SERVICE_NAME, ServingStatus, WATCH,
};

/// `List` answers `resource_exhausted` rather than a list longer than this (the limit the gRPC health
/// specification suggests, so that one answer stays small).
pub const MAX_LISTED_SERVICES: usize = 100;

/// Builds the health service: the reporter that sets statuses, and the routes to add to a
/// [`trident::Router`]. The server as a whole (the empty service name `""`) starts `SERVING`; every other
/// name is unknown until a status is set for it.
///
/// ```no_run
/// # fn main() -> Result<(), trident::ConfigError> {
/// let (reporter, routes) = trident_health::service();
/// reporter.set_serving("acme.greet.v1.GreetService");
/// let router = trident::Router::new().add(routes);
/// // ... at shutdown, before the server drains:
/// reporter.set_all_not_serving();
/// # let _ = router; Ok(()) }
/// ```
pub fn service() -> (HealthReporter, ServiceRoutes) {
    let reporter = HealthReporter::new();
    let routes = reporter.routes();
    (reporter, routes)
}

/// Sets the health statuses the service reports. Cheap to clone; clones share the statuses, and every
/// change reaches the `Watch` calls following that service at once.
#[derive(Clone, Debug)]
pub struct HealthReporter {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// One channel per service name that has a status or a watcher. A name that only watchers hold
    /// carries `SERVICE_UNKNOWN` and goes away with its last watcher.
    services: HashMap<String, watch::Sender<ServingStatus>>,
    /// Set by [`HealthReporter::set_all_not_serving`]: statuses no longer change until
    /// [`HealthReporter::resume`].
    shut_down: bool,
}

impl Default for HealthReporter {
    fn default() -> Self {
        Self::new()
    }
}

impl HealthReporter {
    /// A reporter whose server (`""`) is `SERVING` and which knows no other service yet.
    pub fn new() -> Self {
        let reporter = Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
            }),
        };
        reporter.set_status("", ServingStatus::Serving);
        reporter
    }

    /// The `grpc.health.v1.Health` routes answering from this reporter's statuses.
    pub fn routes(&self) -> ServiceRoutes {
        let check = self.clone();
        let list = self.clone();
        let watch = self.clone();
        ServiceRoutes::new(SERVICE_NAME)
            .unary(&CHECK, move |request: Request<HealthCheckRequest>| {
                let answer = check.check(&request.message().service);
                async move { answer.map(Response::new) }
            })
            .unary(&LIST, move |_: Request<HealthListRequest>| {
                let answer = list.list();
                async move { answer.map(Response::new) }
            })
            .server_stream(&WATCH, move |request: Request<HealthCheckRequest>| {
                let stream = watch.watch(request);
                async move { Ok(Response::new(stream)) }
            })
    }

    /// Marks `service` as `SERVING`.
    pub fn set_serving(&self, service: &str) {
        self.set_status(service, ServingStatus::Serving);
    }

    /// Marks `service` as `NOT_SERVING`.
    pub fn set_not_serving(&self, service: &str) {
        self.set_status(service, ServingStatus::NotServing);
    }

    /// Sets the status of `service` (`""` for the server as a whole). Setting `SERVICE_UNKNOWN` forgets
    /// the service, as [`clear`](Self::clear) does. Ignored after
    /// [`set_all_not_serving`](Self::set_all_not_serving) until [`resume`](Self::resume).
    pub fn set_status(&self, service: &str, status: ServingStatus) {
        let mut state = self.lock();
        if state.shut_down {
            return;
        }
        state.set(service, status);
    }

    /// Forgets `service`: `Check` answers `not_found` for it again and its watchers see `SERVICE_UNKNOWN`.
    pub fn clear(&self, service: &str) {
        self.set_status(service, ServingStatus::ServiceUnknown);
    }

    /// The status `service` has now; `SERVICE_UNKNOWN` when none was set.
    pub fn status(&self, service: &str) -> ServingStatus {
        self.lock()
            .services
            .get(service)
            .map_or(ServingStatus::ServiceUnknown, |sender| *sender.borrow())
    }

    /// How many `Watch` calls follow `service` now.
    pub fn watcher_count(&self, service: &str) -> usize {
        self.lock()
            .services
            .get(service)
            .map_or(0, watch::Sender::receiver_count)
    }

    /// For shutdown: marks every known service, and the server itself, `NOT_SERVING`, so that every
    /// `Watch` call (load balancers, orchestrators) learns it before the server stops; later status
    /// changes are ignored until [`resume`](Self::resume). Call it before the server starts draining.
    pub fn set_all_not_serving(&self) {
        let mut state = self.lock();
        state.shut_down = true;
        let names: Vec<String> = state
            .services
            .iter()
            .filter(|(name, sender)| {
                name.is_empty() || *sender.borrow() != ServingStatus::ServiceUnknown
            })
            .map(|(name, _)| name.clone())
            .collect();
        for name in names {
            state.set(&name, ServingStatus::NotServing);
        }
        if !state.services.contains_key("") {
            state.set("", ServingStatus::NotServing);
        }
    }

    /// Undoes [`set_all_not_serving`](Self::set_all_not_serving): marks every known service `SERVING`
    /// again and lets statuses change.
    pub fn resume(&self) {
        let mut state = self.lock();
        state.shut_down = false;
        let names: Vec<String> = state
            .services
            .iter()
            .filter(|(_, sender)| *sender.borrow() != ServingStatus::ServiceUnknown)
            .map(|(name, _)| name.clone())
            .collect();
        for name in names {
            state.set(&name, ServingStatus::Serving);
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned one still holds consistent maps.
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn check(&self, service: &str) -> Result<HealthCheckResponse, Error> {
        match self.status(service) {
            ServingStatus::ServiceUnknown => Err(Error::new(
                Code::NotFound,
                format!("unknown service {service:?}"),
            )),
            status => Ok(HealthCheckResponse::new(status)),
        }
    }

    fn list(&self) -> Result<HealthListResponse, Error> {
        let state = self.lock();
        let statuses: HashMap<String, HealthCheckResponse> = state
            .services
            .iter()
            .map(|(name, sender)| (name.clone(), *sender.borrow()))
            .filter(|(_, status)| *status != ServingStatus::ServiceUnknown)
            .map(|(name, status)| (name, HealthCheckResponse::new(status)))
            .collect();
        if statuses.len() > MAX_LISTED_SERVICES {
            return Err(Error::new(
                Code::ResourceExhausted,
                format!(
                    "{} services are more than the {MAX_LISTED_SERVICES} a list may hold",
                    statuses.len()
                ),
            ));
        }
        Ok(HealthListResponse { statuses })
    }

    /// The `Watch` stream: the current status at once, then every change, until the caller goes away or
    /// the server begins to shut down.
    fn watch(&self, request: Request<HealthCheckRequest>) -> ResponseStream<HealthCheckResponse> {
        let (_, message, context) = request.into_parts();
        let receiver = {
            let mut state = self.lock();
            state
                .services
                .entry(message.service.clone())
                .or_insert_with(|| watch::channel(ServingStatus::ServiceUnknown).0)
                .subscribe()
        };
        let watcher = Watcher {
            receiver: Some(receiver),
            service: message.service,
            reporter: self.clone(),
            context,
            last: None,
        };
        Box::pin(futures_util::stream::unfold(watcher, |mut watcher| async {
            let status = watcher.next().await?;
            Some((Ok(HealthCheckResponse::new(status)), watcher))
        }))
    }
}

impl State {
    fn set(&mut self, service: &str, status: ServingStatus) {
        match self.services.get(service) {
            Some(sender) => {
                sender.send_if_modified(|current| {
                    let changed = *current != status;
                    *current = status;
                    changed
                });
                if status == ServingStatus::ServiceUnknown && sender.receiver_count() == 0 {
                    self.services.remove(service);
                }
            }
            None if status == ServingStatus::ServiceUnknown => {}
            None => {
                self.services
                    .insert(service.to_owned(), watch::channel(status).0);
            }
        }
    }
}

/// One `Watch` call's view of its service.
struct Watcher {
    /// Always `Some` until dropped (taken out in `Drop` so the name's channel can be tidied).
    receiver: Option<watch::Receiver<ServingStatus>>,
    service: String,
    reporter: HealthReporter,
    context: CallContext,
    /// The status sent last: a change back and forth between two reads is not sent twice.
    last: Option<ServingStatus>,
}

impl Watcher {
    /// The next status to send; `None` once the caller is gone, or once the server has begun to
    /// shut down and the latest status (NOT_SERVING, when the server reported it first) went out.
    async fn next(&mut self) -> Option<ServingStatus> {
        let receiver = self.receiver.as_mut()?;
        let mut draining = self.context.is_draining();
        loop {
            let status = *receiver.borrow_and_update();
            if self.last != Some(status) {
                self.last = Some(status);
                return Some(status);
            }
            if draining {
                // The stream ends (OK), so the server need not wait out its grace period for it, and
                // the watcher reconnects, to another replica, at once.
                return None;
            }
            tokio::select! {
                changed = receiver.changed() => changed.ok()?,
                () = self.context.canceled() => return None,
                () = self.context.draining() => draining = true,
            }
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        drop(self.receiver.take());
        let mut state = self.reporter.lock();
        let unused = state.services.get(&self.service).is_some_and(|sender| {
            sender.receiver_count() == 0 && *sender.borrow() == ServingStatus::ServiceUnknown
        });
        if unused {
            state.services.remove(&self.service);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_starts_serving_and_others_are_unknown() {
        let reporter = HealthReporter::new();
        assert_eq!(reporter.status(""), ServingStatus::Serving);
        assert_eq!(reporter.status("a.B"), ServingStatus::ServiceUnknown);
        assert_eq!(
            reporter.check("a.B").expect_err("unknown").code(),
            Code::NotFound
        );
    }

    #[test]
    fn shutdown_freezes_statuses_until_resumed() {
        let reporter = HealthReporter::new();
        reporter.set_serving("a.B");
        reporter.set_all_not_serving();
        assert_eq!(reporter.status(""), ServingStatus::NotServing);
        assert_eq!(reporter.status("a.B"), ServingStatus::NotServing);
        reporter.set_serving("a.B");
        reporter.set_serving("c.D");
        assert_eq!(reporter.status("a.B"), ServingStatus::NotServing);
        assert_eq!(reporter.status("c.D"), ServingStatus::ServiceUnknown);
        reporter.resume();
        assert_eq!(reporter.status("a.B"), ServingStatus::Serving);
        assert_eq!(reporter.status(""), ServingStatus::Serving);
    }

    #[test]
    fn cleared_services_are_forgotten() {
        let reporter = HealthReporter::new();
        reporter.set_not_serving("a.B");
        assert_eq!(reporter.list().expect("list").statuses.len(), 2);
        reporter.clear("a.B");
        assert_eq!(reporter.status("a.B"), ServingStatus::ServiceUnknown);
        let listed = reporter.list().expect("list").statuses;
        assert_eq!(listed.keys().collect::<Vec<_>>(), [""]);
        assert!(!reporter.lock().services.contains_key("a.B"));
    }

    #[tokio::test]
    async fn a_name_only_watchers_hold_goes_away_with_them() {
        use futures_util::StreamExt as _;

        let reporter = HealthReporter::new();
        let mut stream = reporter.watch(trident::Request::new(HealthCheckRequest {
            service: "a.B".into(),
        }));
        let first = stream.next().await.expect("a status").expect("no error");
        assert_eq!(first.status(), ServingStatus::ServiceUnknown);
        assert_eq!(reporter.watcher_count("a.B"), 1);
        drop(stream);
        assert_eq!(reporter.watcher_count("a.B"), 0);
        assert!(!reporter.lock().services.contains_key("a.B"));

        // A service with a status stays when its watchers leave.
        reporter.set_serving("c.D");
        drop(reporter.watch(trident::Request::new(HealthCheckRequest {
            service: "c.D".into(),
        })));
        assert_eq!(reporter.status("c.D"), ServingStatus::Serving);
    }

    #[test]
    fn list_refuses_more_than_the_limit() {
        let reporter = HealthReporter::new();
        for i in 0..MAX_LISTED_SERVICES {
            reporter.set_serving(&format!("s{i}"));
        }
        let error = reporter.list().expect_err("101 services");
        assert_eq!(error.code(), Code::ResourceExhausted);
        reporter.clear("s0");
        assert_eq!(reporter.list().expect("100").statuses.len(), 100);
    }
}
