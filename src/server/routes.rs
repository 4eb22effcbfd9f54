//! HTTP routes: `POST /mutate` on the webhook listener; `/metrics`, `/healthz` and
//! `/readyz` on the ops listener. Bad input is a 4xx with a one-line reason (contract §5).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    extract::State,
    http::{HeaderMap, Request, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use tokio::time::Instant;
use tracing::{error, warn};

use super::{
    Limits,
    body::{self, bad_request},
    budget::MemoryBudget,
};
use crate::{admission, admission::Options, metrics::Metrics, source::Source};

/// Shared state of both routers.
#[derive(Clone)]
pub struct AppState {
    /// Where ConfigMaps come from.
    pub source: Source,
    /// Admission settings.
    pub options: Arc<Options>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Readiness flags.
    pub readiness: Readiness,
    /// Request body limit (413 above it).
    pub max_body_bytes: usize,
    /// Time and connection limits.
    pub limits: Limits,
    /// Room for request bodies and their decoding.
    pub budget: MemoryBudget,
}

/// What `/readyz` waits for.
#[derive(Clone, Default, Debug)]
pub struct Readiness {
    /// A certificate is loaded.
    pub certificate: Arc<AtomicBool>,
    /// The ConfigMap source has answered once.
    pub source: Arc<AtomicBool>,
    /// Shutdown has begun.
    pub draining: Arc<AtomicBool>,
}

impl Readiness {
    fn not_ready(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if !self.certificate.load(Ordering::Relaxed) {
            missing.push("certificate not loaded");
        }
        if !self.source.load(Ordering::Relaxed) {
            missing.push("ConfigMap source has not answered");
        }
        if self.draining.load(Ordering::Relaxed) {
            missing.push("shutting down");
        }
        missing
    }
}

/// `POST /mutate` (any query string, such as the API server's `?timeout=10s`).
pub fn webhook_router(state: AppState) -> Router {
    Router::new().route("/mutate", post(mutate)).with_state(state)
}

/// `GET /metrics`, `GET /healthz`, `GET /readyz`.
pub fn ops_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn mutate(State(state): State<AppState>, request: Request<Body>) -> Response {
    let body::ReadBody { bytes, _room } = match body::read(&state, request).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let started = Instant::now();
    let decoded = admission::decode_for(&bytes, &state.options);
    // The room stays taken until the answer; the body itself is no longer needed.
    drop(bytes);
    let request = match decoded {
        Ok(request) => request,
        Err(invalid) => return bad_request(invalid.to_string()),
    };
    let decision = match admission::review(&request, &state.source, &state.options).await {
        Ok(decision) => decision,
        Err(invalid) => return bad_request(invalid.to_string()),
    };
    let seconds = started.elapsed().as_secs_f64();
    // Labelled by the kinds in use only, so a client cannot grow the series.
    let kind = (state.options.kinds)
        .find(&request.kind.group, &request.kind.version, &request.kind.kind)
        .map_or("other", |k| k.kind());
    state
        .metrics
        .admission(kind, &request.operation, &decision, seconds);
    match admission::encode(decision.response) {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(e) => {
            error!(error = %e, "could not encode the response");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not encode the response\n",
            )
                .into_response()
        }
    }
}

async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> impl IntoResponse {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let (content_type, body) = state.metrics.exposition(accept);
    ([(header::CONTENT_TYPE, content_type)], body)
}

async fn readyz(State(state): State<AppState>) -> Response {
    let missing = state.readiness.not_ready();
    if missing.is_empty() {
        "ok\n".into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", missing.join(", ")),
        )
            .into_response()
    }
}

/// Marks the source ready once it answers, retrying with backoff up to 30 s.
pub(super) async fn probe_source(state: AppState) {
    let mut delay = Duration::from_millis(500);
    loop {
        match state.source.probe().await {
            Ok(()) => return state.readiness.source.store(true, Ordering::Relaxed),
            Err(e) => warn!(error = %e, retry_in = ?delay, "ConfigMap source not answering yet"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

#[cfg(test)]
mod tests;
