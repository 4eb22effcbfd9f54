//! Faults aimed at one client: requests carrying the `x-fake-client` header that
//! [`FakeApi::client_as`](super::FakeApi::client_as) sets, to paths containing a fragment.
//! Lets a test break one replica's Lease calls while the other replica is served normally.

use std::time::Duration;

use axum::http::{HeaderMap, header};
use axum::response::Response;

use super::{Recorded, Shared, routes::status};

/// The header naming the client a request came from.
pub const CLIENT_HEADER: &str = "x-fake-client";

/// What happens to one client's matching requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientFault {
    /// Held without an answer until the fault is cleared, then served (late).
    Hang,
    /// Answered with a `Status` of this code; kube's client retries 429, 503 and 504 itself.
    Status(u16),
    /// The connection is closed without an answer.
    Reset,
}

/// One client's fault on paths containing `fragment`.
#[derive(Debug, Clone)]
pub struct Rule {
    pub client: String,
    pub fragment: String,
    pub fault: ClientFault,
}

/// The client named in `headers`, if any.
pub fn client_of(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CLIENT_HEADER)?;
    value.to_str().ok().map(str::to_owned)
}

/// The fault that applies to a request of `client` to `path` now.
pub fn matching(shared: &Shared, client: Option<&str>, path: &str) -> Option<ClientFault> {
    let client = client?;
    let rules = shared.client_faults.lock().expect("lock");
    rules
        .iter()
        .find(|r| r.client == client && path.contains(&r.fragment))
        .map(|r| r.fault)
}

/// True when the connection carrying this request is to be dropped without an answer;
/// records the request then, since it never reaches the router.
pub fn resets(shared: &Shared, request: &axum::http::request::Parts) -> bool {
    let client = client_of(&request.headers);
    let path = request.uri.path();
    if matching(shared, client.as_deref(), path) != Some(ClientFault::Reset) {
        return false;
    }
    let content_type = request.headers.get(header::CONTENT_TYPE);
    shared.requests.lock().expect("lock").push(Recorded {
        method: request.method.to_string(),
        path: path.to_owned(),
        query: request.uri.query().map(str::to_owned),
        content_type: content_type.and_then(|v| v.to_str().ok()).map(str::to_owned),
        client,
        metadata_only: super::Form::of(&request.headers) == super::Form::Metadata,
    });
    true
}

/// Applies a hang or a status fault to a request the router is about to serve.
pub async fn apply(shared: &Shared, client: Option<&str>, path: &str) -> Option<Response> {
    match matching(shared, client, path)? {
        ClientFault::Hang => {
            while matching(shared, client, path) == Some(ClientFault::Hang) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            None
        }
        ClientFault::Status(code) => {
            let reason = match code {
                429 => "TooManyRequests",
                503 => "ServiceUnavailable",
                _ => "InternalError",
            };
            Some(status(code, reason, format!("injected fault {code}")))
        }
        // Handled before routing; a rule set while the request was on its way is served.
        ClientFault::Reset => None,
    }
}
