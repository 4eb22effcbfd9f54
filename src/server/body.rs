//! Reading a request body within the limits (contract §12): the size is checked against
//! `--max-body-bytes` before a byte is read (so `Expect: 100-continue` gets its 413 without
//! a `100 Continue`), room in the memory budget is taken before the body is read, and the
//! body must arrive by the request's deadline.

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, Request, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures::StreamExt;
use tokio::time::Instant;
use tracing::warn;

use super::{budget::Reservation, deadline::BodyDeadline, routes::AppState};

/// A body read in full, with the room it holds in the memory budget.
pub(super) struct ReadBody {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Held until the request is answered.
    pub _room: Reservation,
}

/// Reads the body of `request`, or the response that refuses it.
pub(super) async fn read(state: &AppState, request: Request<Body>) -> Result<ReadBody, Response> {
    let max = state.max_body_bytes;
    let deadline = request
        .extensions()
        .get::<BodyDeadline>()
        .map_or_else(|| Instant::now() + state.limits.request_read_timeout, |d| d.0);
    let length = content_length(request.headers()).map_err(bad_request)?;
    if length.is_some_and(|l| l > max) {
        return Err(refuse(
            state,
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            too_large(max),
        ));
    }
    // Without a Content-Length (chunked), the body may grow to the limit.
    let expected = length.unwrap_or(max);
    let Some(room) = state.budget.reserve(expected, state.limits.budget_wait).await else {
        let reason = "server busy: no room for the request body in the memory budget; retry".to_owned();
        return Err(refuse(
            state,
            StatusCode::SERVICE_UNAVAILABLE,
            "memory_budget",
            reason,
        ));
    };
    let mut body = request.into_body().into_data_stream();
    let mut bytes = Vec::with_capacity(length.unwrap_or(0));
    loop {
        let data = match tokio::time::timeout_at(deadline, body.next()).await {
            Err(_) => {
                let timeout = humantime::format_duration(state.limits.request_read_timeout);
                let reason = format!("request not received within {timeout}");
                return Err(refuse(state, StatusCode::REQUEST_TIMEOUT, "read_timeout", reason));
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(bad_request(format!("reading the request body: {e}"))),
            Ok(Some(Ok(data))) => data,
        };
        if bytes.len() + data.len() > max {
            return Err(refuse(
                state,
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                too_large(max),
            ));
        }
        bytes.extend_from_slice(&data);
    }
    Ok(ReadBody { bytes, _room: room })
}

fn too_large(max: usize) -> String {
    format!("request body exceeds {max} bytes")
}

fn content_length(headers: &HeaderMap) -> Result<Option<usize>, String> {
    let Some(value) = headers.get(header::CONTENT_LENGTH) else {
        return Ok(None);
    };
    // Hyper has already refused a malformed Content-Length; a number too large for usize
    // is simply too large.
    let length = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| "invalid Content-Length".to_owned())?;
    Ok(Some(usize::try_from(length).unwrap_or(usize::MAX)))
}

/// A refusal by a limit: a one-line reason, a metric, and the connection closed (the rest
/// of the body is not read).
fn refuse(state: &AppState, status: StatusCode, metric: &'static str, reason: String) -> Response {
    warn!(reason = %reason, "refused a request");
    state.metrics.refused(metric);
    let mut response = (status, reason + "\n").into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

pub(super) fn bad_request(reason: String) -> Response {
    let line = reason.lines().next().unwrap_or("bad request").to_owned();
    warn!(reason = %crate::telemetry::Untrusted(&line), "rejected a malformed admission request");
    (StatusCode::BAD_REQUEST, line + "\n").into_response()
}
