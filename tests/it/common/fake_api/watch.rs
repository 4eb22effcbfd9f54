//! WATCH for the fake API server: newline-delimited JSON events over a chunked response,
//! replayed from the event log after the requested resourceVersion, with bookmarks,
//! `timeoutSeconds`, label transitions as ADDED/DELETED, and 410 Gone after compaction.

use std::{
    convert::Infallible,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use axum::{
    body::{Body, Bytes},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{
    Form, META_API_VERSION, Query, RequestKind, Shared,
    store::{Change, Data, LogEntry, Resource, Selector},
};

/// Which objects a watch or list covers.
#[derive(Clone)]
pub struct Scope {
    pub resource: Resource,
    pub namespace: Option<String>,
    pub selector: Selector,
    /// Whole objects, or the metadata-only form.
    pub form: Form,
}

impl Scope {
    fn covers(&self, entry_key: &super::store::Key) -> bool {
        entry_key.0 == format!("{}/{}", self.resource.group, self.resource.plural)
            && self.namespace.as_ref().is_none_or(|ns| *ns == entry_key.1)
    }

    /// The event this log entry gives to this watch, if any.
    fn event(&self, entry: &LogEntry) -> Option<Value> {
        if !self.covers(&entry.key) {
            return None;
        }
        let now = self.selector.matches(&entry.object);
        let before = entry.old.as_ref().is_some_and(|o| self.selector.matches(o));
        let kind = match (entry.change, before, now) {
            (Change::Deleted, _, true) => "DELETED",
            (Change::Added, _, true) | (Change::Modified, false, true) => "ADDED",
            (Change::Modified, true, true) => "MODIFIED",
            (Change::Modified, true, false) => "DELETED",
            _ => return None,
        };
        Some(json!({"type": kind, "object": self.form.object(&entry.object)}))
    }

    /// Current matching objects, as a synthetic ADDED each (a watch from resourceVersion 0).
    fn initial(&self, data: &Data) -> Vec<Value> {
        data.objects
            .iter()
            .filter(|(k, v)| self.covers(k) && self.selector.matches(v))
            .map(|(_, v)| json!({"type": "ADDED", "object": self.form.object(v)}))
            .collect()
    }
}

fn line(value: &Value) -> Bytes {
    let mut bytes = serde_json::to_vec(value).expect("serialize");
    bytes.push(b'\n');
    Bytes::from(bytes)
}

fn gone(rv: u64, compacted: u64) -> Value {
    json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "reason": "Expired", "code": 410,
        "message": format!("too old resource version: {rv} ({compacted})")}})
}

fn bookmark(resource: &Resource, form: Form, rv: u64) -> Value {
    let (kind, api_version) = match form {
        Form::Full => (resource.kind.to_owned(), resource.api_version()),
        Form::Metadata => ("PartialObjectMetadata".to_owned(), META_API_VERSION.to_owned()),
    };
    json!({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": api_version,
        "metadata": {"resourceVersion": rv.to_string()}}})
}

/// Events after `from` and the store's resourceVersion, or `Err` with a 410 event.
fn batch(shared: &Shared, scope: &Scope, from: u64) -> Result<(Vec<Value>, u64), Value> {
    let data = shared.objects.data.lock().expect("lock");
    if from < data.compacted {
        return Err(gone(from, data.compacted));
    }
    let start = data.log.partition_point(|e| e.rv <= from);
    let events = data.log.range(start..).filter_map(|e| scope.event(e)).collect();
    Ok((events, data.rv))
}

fn snapshot(shared: &Shared, scope: &Scope) -> (Vec<Value>, u64) {
    let data = shared.objects.data.lock().expect("lock");
    (scope.initial(&data), data.rv)
}

/// How often idle watches that asked for bookmarks get one.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(1);

pub fn respond(shared: Arc<Shared>, scope: Scope, query: &Query, counter: RequestKind) -> Response {
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let counted = shared.clone();
    let requested = query.get("resourceVersion").unwrap_or_default();
    let bookmarks = query.get("allowWatchBookmarks").as_deref() == Some("true");
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse().ok())
        .map_or(Duration::from_secs(290), Duration::from_secs);
    let epoch = shared.objects.epoch.load(Ordering::SeqCst);
    tokio::spawn(async move {
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut from = match requested.parse::<u64>() {
            Ok(rv) if rv > 0 => rv,
            _ => {
                let (initial, rv) = snapshot(&shared, &scope);
                for event in initial {
                    if tx.send(line(&event)).await.is_err() {
                        return;
                    }
                }
                rv
            }
        };
        loop {
            let notified = shared.objects.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if shared.objects.epoch.load(Ordering::SeqCst) != epoch {
                return;
            }
            let (events, rv) = match batch(&shared, &scope, from) {
                Ok(found) => found,
                Err(gone) => {
                    _ = tx.send(line(&gone)).await;
                    return;
                }
            };
            for event in events {
                if tx.send(line(&event)).await.is_err() {
                    return;
                }
            }
            from = rv;
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep(BOOKMARK_INTERVAL), if bookmarks => {
                    if tx.send(line(&bookmark(&scope.resource, scope.form, from))).await.is_err() {
                        return;
                    }
                }
                () = &mut deadline => return,
                () = tx.closed() => return,
            }
        }
    });
    let stream = futures::stream::unfold(rx, move |mut rx| {
        let counted = counted.clone();
        async move {
            let bytes = rx.recv().await?;
            counted.sent(counter, bytes.len());
            Some((Ok::<_, Infallible>(bytes), rx))
        }
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response()
}
