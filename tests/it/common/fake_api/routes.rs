//! Routing and verbs of the fake API server: `/api/v1/...` and `/apis/{group}/{version}/...`
//! paths, namespaced or cluster-wide, mapped onto the store.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{RawQuery, State},
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::{
    Fault, Form, META_API_VERSION, Query, Recorded, RequestKind, Shared,
    store::{Resource, Selector, by_path, key, merge},
    watch::{self, Scope},
};

/// What a path names.
struct Target {
    resource: Resource,
    namespace: Option<String>,
    name: Option<String>,
}

fn parse(path: &str) -> Option<Target> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match parts.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    let (namespace, plural, name) = match rest {
        ["namespaces", ns, plural] => (Some(*ns), *plural, None),
        ["namespaces", ns, plural, name] => (Some(*ns), *plural, Some(*name)),
        [plural] => (None, *plural, None),
        [plural, name] => (None, *plural, Some(*name)),
        _ => return None,
    };
    let resource = by_path(group, version, plural)?;
    if !resource.namespaced && namespace.is_some() {
        return None;
    }
    Some(Target {
        resource,
        namespace: namespace.map(str::to_owned),
        name: name.map(str::to_owned),
    })
}

pub fn status(code: u16, reason: &str, message: String) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code});
    json_response(StatusCode::from_u16(code).expect("status code"), &body)
}

fn json_response(code: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).expect("serialize");
    (code, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// Records the request and applies the configured fault, if any.
async fn intercept(shared: &Shared, recorded: Recorded) -> Option<Response> {
    let (client, path) = (recorded.client.clone(), recorded.path.clone());
    shared.requests.lock().expect("lock").push(recorded);
    if let Some(response) = super::faults::apply(shared, client.as_deref(), &path).await {
        return Some(response);
    }
    let fault = *shared.fault.lock().expect("lock");
    match fault {
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            None
        }
        Some(Fault::Status(code)) => {
            let reason = if code == 403 { "Forbidden" } else { "InternalError" };
            Some(status(code, reason, format!("injected fault {code}")))
        }
        None => None,
    }
}

pub async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let form = Form::of(&headers);
    let recorded = Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: raw.clone(),
        content_type: content_type.clone(),
        client: super::faults::client_of(&headers),
        metadata_only: form == Form::Metadata,
    };
    let _open = shared.load.request();
    if let Some(response) = intercept(&shared, recorded).await {
        return response;
    }
    let not_found = || {
        let message = format!(
            "the server could not find the requested resource ({})",
            uri.path()
        );
        status(404, "NotFound", message)
    };
    let Some(target) = parse(uri.path()) else {
        return not_found();
    };
    let query = Query::parse(raw.as_deref());
    let body: Option<Value> = serde_json::from_slice(&body).ok();
    let verb = match (&method, target.name.is_some()) {
        (&Method::GET, true) => "get",
        (&Method::GET, false) if is_watch(&query) => "watch",
        (&Method::GET, false) => "list",
        _ => "write",
    };
    let counter = RequestKind::new(verb, target.resource.plural, form);
    let response = match (method, target.name.is_some()) {
        (Method::GET, true) => get(&shared, &target, form),
        (Method::GET, false) if is_watch(&query) => {
            return watch::respond(shared.clone(), scope(&target, &query, form), &query, counter);
        }
        (Method::GET, false) => list(&shared, &target, &query, form),
        (Method::POST, false) => create(&shared, &target, body),
        (Method::PUT, true) => replace(&shared, &target, body),
        (Method::PATCH, true) => patch(&shared, &target, content_type.as_deref(), body),
        (Method::DELETE, true) => delete(&shared, &target),
        _ => status(405, "MethodNotAllowed", "method not allowed".into()),
    };
    count_body(&shared, counter, response).await
}

/// Counts the bytes of a complete (non-streaming) response body under its request kind.
async fn count_body(shared: &Shared, kind: RequestKind, response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    shared.sent(kind, bytes.len());
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

fn is_watch(query: &Query) -> bool {
    matches!(query.get("watch").as_deref(), Some("1" | "true"))
}

fn scope(target: &Target, query: &Query, form: Form) -> Scope {
    Scope {
        form,
        resource: target.resource,
        namespace: target.namespace.clone(),
        selector: Selector::parse(
            query.get("labelSelector").as_deref(),
            query.get("fieldSelector").as_deref(),
        ),
    }
}

fn object_key(target: &Target) -> super::store::Key {
    key(
        &target.resource,
        target.namespace.as_deref().unwrap_or(""),
        target.name.as_deref().unwrap_or(""),
    )
}

fn missing(target: &Target) -> Response {
    let name = target.name.as_deref().unwrap_or("");
    let message = format!("{} \"{name}\" not found", target.resource.plural);
    status(404, "NotFound", message)
}

fn get(shared: &Shared, target: &Target, form: Form) -> Response {
    match shared.objects.get(&object_key(target)) {
        Some(object) => json_response(StatusCode::OK, &form.object(&object)),
        None => missing(target),
    }
}

fn list(shared: &Shared, target: &Target, query: &Query, form: Form) -> Response {
    use std::ops::Bound::{Excluded, Included, Unbounded};
    let scope = scope(target, query, form);
    let prefix = format!("{}/{}", target.resource.group, target.resource.plural);
    let limit: usize = query.get("limit").and_then(|l| l.parse().ok()).unwrap_or(0);
    // The continue token is the last `namespace/name` returned; neither part contains '/'.
    let after = query.get("continue").unwrap_or_default();
    let start = match after.split_once('/') {
        Some((ns, name)) => Excluded((prefix.clone(), ns.to_owned(), name.to_owned())),
        None => Included((prefix.clone(), String::new(), String::new())),
    };
    let data = shared.objects.data.lock().expect("lock");
    let mut items = data
        .objects
        .range((start, Unbounded))
        .take_while(|(k, _)| k.0 == prefix)
        .filter(|(k, v)| scope.namespace.as_ref().is_none_or(|ns| *ns == k.1) && scope.selector.matches(v));
    let mut page = Vec::new();
    let mut next = String::new();
    for (k, v) in items.by_ref() {
        page.push(form.object(v));
        if limit > 0 && page.len() == limit {
            next = format!("{}/{}", k.1, k.2);
            break;
        }
    }
    if items.next().is_none() {
        next.clear();
    }
    let (api_version, kind) = match form {
        Form::Full => (
            target.resource.api_version(),
            format!("{}List", target.resource.kind),
        ),
        Form::Metadata => (
            META_API_VERSION.to_owned(),
            "PartialObjectMetadataList".to_owned(),
        ),
    };
    let body = json!({"apiVersion": api_version, "kind": kind,
        "metadata": {"resourceVersion": data.rv.to_string(), "continue": next}, "items": page});
    drop(data);
    json_response(StatusCode::OK, &body)
}

fn create(shared: &Shared, target: &Target, body: Option<Value>) -> Response {
    let Some(mut object) = body else {
        return status(400, "BadRequest", "body is not JSON".into());
    };
    let name = match object["metadata"]["name"].as_str() {
        Some(name) => name.to_owned(),
        None => {
            let prefix = object["metadata"]["generateName"].as_str().unwrap_or("gen-");
            let n = shared.objects.data.lock().expect("lock").rv + 1;
            format!("{prefix}{n:05x}")
        }
    };
    object["metadata"]["name"] = json!(name);
    let target = Target {
        resource: target.resource,
        namespace: target.namespace.clone(),
        name: Some(name.clone()),
    };
    let key = object_key(&target);
    if shared.objects.get(&key).is_some() {
        let message = format!("{} \"{name}\" already exists", target.resource.plural);
        return status(409, "AlreadyExists", message);
    }
    json_response(StatusCode::CREATED, &shared.objects.write(key, object))
}

fn conflict(target: &Target) -> Response {
    let name = target.name.as_deref().unwrap_or("");
    let message = format!(
        "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
        target.resource.plural
    );
    status(409, "Conflict", message)
}

/// True when `sent` names a resourceVersion other than the stored one.
fn stale(sent: &Value, stored: &Value) -> bool {
    let sent = sent["metadata"]["resourceVersion"].as_str();
    sent.is_some_and(|rv| Some(rv) != stored["metadata"]["resourceVersion"].as_str())
}

fn replace(shared: &Shared, target: &Target, body: Option<Value>) -> Response {
    let Some(object) = body else {
        return status(400, "BadRequest", "body is not JSON".into());
    };
    let key = object_key(target);
    match shared.objects.get(&key) {
        None => missing(target),
        Some(stored) if stale(&object, &stored) => conflict(target),
        Some(_) => json_response(StatusCode::OK, &shared.objects.write(key, object)),
    }
}

fn patch(shared: &Shared, target: &Target, content_type: Option<&str>, body: Option<Value>) -> Response {
    let Some(patch) = body else {
        return status(400, "BadRequest", "body is not JSON".into());
    };
    let key = object_key(target);
    let Some(mut object) = shared.objects.get(&key) else {
        return missing(target);
    };
    match content_type.unwrap_or("") {
        "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
            if stale(&patch, &object) {
                return conflict(target);
            }
            merge(&mut object, &patch);
        }
        "application/json-patch+json" => {
            let Ok(ops) = serde_json::from_value::<json_patch::Patch>(patch) else {
                return status(400, "BadRequest", "invalid JSON patch".into());
            };
            if let Err(e) = json_patch::patch(&mut object, &ops.0) {
                return status(422, "Invalid", e.to_string());
            }
        }
        other => {
            return status(
                415,
                "UnsupportedMediaType",
                format!("unsupported patch type {other}"),
            );
        }
    }
    json_response(StatusCode::OK, &shared.objects.write(key, object))
}

fn delete(shared: &Shared, target: &Target) -> Response {
    match shared.objects.delete(&object_key(target)) {
        Some(object) => json_response(StatusCode::OK, &object),
        None => missing(target),
    }
}
