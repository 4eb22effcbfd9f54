//! The routers called in-process with `oneshot`, without TLS or a socket: what each path
//! and method answers.

use axum::{
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use base64::Engine;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use super::*;
use crate::source::DirSource;

/// The digest of `examples/configmaps` for `examples/review.json` (as in the webhook tests).
const EXAMPLE_HASH: &str = "sha256:f4d818a91b3e78f33d3b44513d93e20314ecca3dda7a8e1fc26b46095cee7117";

fn repo(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn state() -> AppState {
    let limits = Limits::default();
    let source = DirSource::load(&repo("examples/configmaps")).expect("example ConfigMaps");
    AppState {
        source: Source::Dir(source),
        options: Arc::new(Options::default()),
        metrics: Arc::new(Metrics::new()),
        readiness: Readiness::default(),
        max_body_bytes: 8 << 20,
        limits,
        budget: MemoryBudget::new(limits.memory_budget_bytes),
    }
}

fn request(method: Method, uri: &str, body: impl Into<Body>) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .expect("request")
}

async fn call(router: Router, request: Request<Body>) -> (StatusCode, String) {
    let response = router.oneshot(request).await.expect("infallible");
    let status = response.status();
    let body = response.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8(body.to_vec()).expect("UTF-8"))
}

#[tokio::test]
async fn mutate_answers_a_valid_review_with_its_patch() {
    let review = std::fs::read(repo("examples/review.json")).expect("review");
    let (status, body) = call(
        webhook_router(state()),
        request(Method::POST, "/mutate?timeout=10s", review),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(answer["response"]["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
    assert_eq!(answer["response"]["allowed"], true);
    assert_eq!(answer["response"]["patchType"], "JSONPatch");
    let patch = base64::engine::general_purpose::STANDARD
        .decode(answer["response"]["patch"].as_str().expect("base64 patch"))
        .expect("base64");
    let patch = String::from_utf8(patch).expect("UTF-8");
    assert!(patch.contains(EXAMPLE_HASH), "{patch}");
}

#[rstest::rstest]
#[case::not_json(&b"{not json"[..])]
#[case::empty(&b""[..])]
#[case::not_a_review(&br#"{"kind":"Pod"}"#[..])]
#[tokio::test]
async fn mutate_refuses_what_is_not_a_review_with_a_one_line_reason(#[case] body: &'static [u8]) {
    let (status, reason) = call(webhook_router(state()), request(Method::POST, "/mutate", body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reason}");
    assert!(
        reason.ends_with('\n') && reason.trim_end().lines().count() == 1,
        "{reason:?}"
    );
    assert!(reason.len() > 1, "a reason is given");
}

#[tokio::test]
async fn mutate_refuses_a_body_over_the_limit_before_reading_it() {
    let state = AppState {
        max_body_bytes: 16,
        ..state()
    };
    let review = std::fs::read(repo("examples/review.json")).expect("review");
    let mut request = request(Method::POST, "/mutate", review.clone());
    request
        .headers_mut()
        .insert(header::CONTENT_LENGTH, review.len().into());
    let (status, reason) = call(webhook_router(state), request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reason, "request body exceeds 16 bytes\n");
}

#[rstest::rstest]
#[case::get_mutate(Method::GET, "/mutate", StatusCode::METHOD_NOT_ALLOWED)]
#[case::unknown_path(Method::POST, "/validate", StatusCode::NOT_FOUND)]
#[case::ops_path_on_the_webhook(Method::GET, "/healthz", StatusCode::NOT_FOUND)]
#[tokio::test]
async fn the_webhook_serves_only_post_mutate(
    #[case] method: Method,
    #[case] uri: &str,
    #[case] expected: StatusCode,
) {
    let (status, _) = call(webhook_router(state()), request(method, uri, "{}")).await;
    assert_eq!(status, expected);
}

#[tokio::test]
async fn healthz_is_ok_and_readyz_says_what_it_waits_for() {
    let state = state();
    let get = |path: &str| request(Method::GET, path, Body::empty());
    assert_eq!(
        call(ops_router(state.clone()), get("/healthz")).await,
        (StatusCode::OK, "ok\n".to_owned())
    );
    let (status, body) = call(ops_router(state.clone()), get("/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body,
        "not ready: certificate not loaded, ConfigMap source has not answered\n"
    );

    state.readiness.certificate.store(true, Ordering::Relaxed);
    state.readiness.source.store(true, Ordering::Relaxed);
    assert_eq!(
        call(ops_router(state.clone()), get("/readyz")).await,
        (StatusCode::OK, "ok\n".to_owned())
    );
    state.readiness.draining.store(true, Ordering::Relaxed);
    let (status, body) = call(ops_router(state), get("/readyz")).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "not ready: shutting down\n")
    );
}

#[tokio::test]
async fn metrics_are_served_in_the_format_asked_for() {
    let state = state();
    let mut openmetrics = request(Method::GET, "/metrics", Body::empty());
    openmetrics.headers_mut().insert(
        header::ACCEPT,
        "application/openmetrics-text; version=1.0.0"
            .parse()
            .expect("header"),
    );
    let (status, body) = call(ops_router(state.clone()), openmetrics).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.ends_with("# EOF\n"), "{body}");
    let (_, text) = call(ops_router(state), request(Method::GET, "/metrics", Body::empty())).await;
    assert!(text.contains("# TYPE confighash_leader gauge\n"), "{text}");
    assert!(!text.contains("# EOF"), "the classic text format: {text}");
}

#[rstest::rstest]
#[case::post_healthz(Method::POST, "/healthz", StatusCode::METHOD_NOT_ALLOWED)]
#[case::mutate_on_ops(Method::POST, "/mutate", StatusCode::NOT_FOUND)]
#[case::unknown_path(Method::GET, "/livez", StatusCode::NOT_FOUND)]
#[tokio::test]
async fn the_ops_listener_serves_only_its_three_gets(
    #[case] method: Method,
    #[case] uri: &str,
    #[case] expected: StatusCode,
) {
    let (status, _) = call(ops_router(state()), request(method, uri, Body::empty())).await;
    assert_eq!(status, expected);
}
