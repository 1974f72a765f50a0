//! The server's own figures: requests by route, method and status, and how long
//! each route took to answer. Counted by a middleware around everything (refusals
//! included), labelled by the route's pattern (`/v1/jobs/{name}`), never by a
//! job's name, so the number of series stays that of the route table.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use super::Histogram;
use crate::serve::routes;
use crate::serve::AppState;

/// Upper bounds (seconds) of the request latency histogram's buckets.
pub const LATENCY_BOUNDS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0];

/// What a route's label says of a path that is no route.
const NO_ROUTE: &str = "(none)";

/// Requests counted since the server started.
#[derive(Default)]
pub struct Requests {
    counts: Mutex<BTreeMap<(&'static str, &'static str, u16), u64>>,
    latency: Mutex<BTreeMap<&'static str, Histogram>>,
}

/// A method as a label (few values, never what a client made up).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        _ => "other",
    }
}

impl Requests {
    fn note(&self, route: &'static str, method: &'static str, status: u16, seconds: f64) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *counts.entry((route, method, status)).or_default() += 1;
        drop(counts);
        let mut latency = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        latency
            .entry(route)
            .or_default()
            .observe(seconds, &LATENCY_BOUNDS);
    }

    /// Counts by (route, method, status).
    pub fn counts(&self) -> Vec<((&'static str, &'static str, u16), u64)> {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.iter().map(|(k, v)| (*k, *v)).collect()
    }

    /// Latencies by route.
    pub fn latencies(&self) -> Vec<(&'static str, Histogram)> {
        let latency = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        latency.iter().map(|(k, v)| (*k, v.clone())).collect()
    }
}

/// The middleware: times the request to its response's head.
pub async fn count(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = routes::find(request.method(), request.uri().path()).map_or(NO_ROUTE, |r| r.path);
    let method = method_label(request.method());
    let began = Instant::now();
    let response = next.run(request).await;
    state.metrics.requests.note(
        route,
        method,
        response.status().as_u16(),
        began.elapsed().as_secs_f64(),
    );
    response
}
