//! Sending one rollout: a merge patch of the pod-template annotations carrying the
//! resourceVersion it was decided on, then an Event naming what changed, a log line and
//! a metric. Admission sees this patch too and computes the same values, so it adds nothing.
//! Every call has its own timeout: the kube client retries 429, 503 and 504 by itself, and
//! a call that hangs must not hold the controller past the leader's term.

use std::{sync::Arc, time::Duration};

use json_patch::jsonptr::Pointer;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::{
    Api, Client,
    api::{DynamicObject, Patch, PatchParams},
    runtime::events::{Event, EventType, Recorder, Reporter},
};
use serde_json::{Map, Value, json};
use tracing::{info, warn};

use super::{
    changes,
    index::{Rollout, WorkloadKey},
};
use crate::{
    admission::{kinds::WorkloadKind, workload::Workload},
    annotations::AnnotationKeys,
    metrics::Metrics,
};

/// How a patch ended.
#[derive(Debug)]
pub enum Sent {
    /// Patched; the workload as the API server returned it.
    Patched(Box<Workload>),
    /// The workload changed since it was read (409): read it again and decide again.
    Conflict,
    /// The workload no longer exists.
    Gone,
    /// Any other failure; try again later.
    Failed,
}

/// A rollout call that failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No answer within the per-call timeout.
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
    /// The API server or the connection failed.
    #[error(transparent)]
    Api(#[from] kube::Error),
}

/// `call`, bounded by `timeout`.
pub async fn bounded<T, E>(
    timeout: Duration,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, CallError>
where
    CallError: From<E>,
{
    match tokio::time::timeout(timeout, call).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(CallError::TimedOut(timeout)),
    }
}

/// Sends rollouts for one watcher.
pub struct Patcher {
    client: Client,
    recorder: Recorder,
    keys: AnnotationKeys,
    metrics: Arc<Metrics>,
    timeout: Duration,
}

/// The merge patch: our two annotations (null removes one) at the kind's pod template and
/// the resourceVersion precondition, nothing else.
pub fn body(rollout: &Rollout, keys: &AnnotationKeys) -> Value {
    let annotations: Map<String, Value> = keys
        .owned()
        .iter()
        .map(|k| {
            (
                k.to_string(),
                rollout.desired.get(*k).map_or(Value::Null, |v| json!(v)),
            )
        })
        .collect();
    let mut patch = json!({"metadata": {"annotations": annotations}});
    // The pointer leads through object fields only (WorkloadKind refuses list indexes), so
    // nesting the fields gives the merge patch of exactly that place.
    let pointer = Pointer::parse(rollout.key.kind.pointer()).unwrap_or(Pointer::root());
    for token in pointer.tokens().collect::<Vec<_>>().into_iter().rev() {
        patch = json!({ token.decoded(): patch });
    }
    patch["metadata"]["resourceVersion"] = json!(rollout.resource_version);
    patch
}

impl Patcher {
    /// A patcher that reports Events as `confighash` from `instance`, bounding each call
    /// by `timeout`.
    pub fn new(
        client: Client,
        keys: AnnotationKeys,
        metrics: Arc<Metrics>,
        instance: &str,
        timeout: Duration,
    ) -> Self {
        let reporter = Reporter {
            controller: "confighash".into(),
            instance: Some(instance.to_owned()),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            keys,
            metrics,
            timeout,
        }
    }

    /// The bound on each call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn api(&self, key: &WorkloadKey) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), &key.namespace, &key.kind.api_resource())
    }

    /// Reads a workload afresh (after a conflict); `None` when it is gone.
    pub async fn read(&self, key: &WorkloadKey) -> Result<Option<Workload>, CallError> {
        let api = self.api(key);
        let Some(object) = bounded(self.timeout, api.get_opt(&key.name)).await? else {
            return Ok(None);
        };
        Ok(typed(key.kind, object))
    }

    /// Sends `rollout`; on success also publishes the Event and the log line.
    pub async fn send(&self, rollout: &Rollout) -> Sent {
        let key = &rollout.key;
        let patch = body(rollout, &self.keys);
        let api = self.api(key);
        let sent = bounded(
            self.timeout,
            api.patch(&key.name, &PatchParams::default(), &Patch::Merge(&patch)),
        )
        .await;
        let (result, outcome) = match sent {
            Ok(object) => match typed(key.kind, object) {
                Some(workload) => ("patched", Sent::Patched(Box::new(workload))),
                None => ("error", Sent::Failed),
            },
            Err(CallError::Api(kube::Error::Api(s))) if s.code == 409 => ("conflict", Sent::Conflict),
            Err(CallError::Api(kube::Error::Api(s))) if s.code == 404 => ("gone", Sent::Gone),
            Err(e) => {
                warn!(namespace = %key.namespace, kind = %key.kind, name = %key.name, error = %e, "rollout patch failed");
                ("error", Sent::Failed)
            }
        };
        self.metrics.watch_rollout(key.kind.kind(), result);
        if let Sent::Patched(_) = outcome {
            self.announce(rollout).await;
        }
        outcome
    }

    async fn announce(&self, rollout: &Rollout) {
        let key = &rollout.key;
        let what = changes::describe(&rollout.changes);
        let config_hash = rollout
            .desired
            .get(&self.keys.config_hash)
            .map_or("", String::as_str);
        info!(namespace = %key.namespace, kind = %key.kind, name = %key.name, changed = %what,
            config_hash, "rolled out: ConfigMap content changed");
        let note = Some(what);
        if let Err(e) = self
            .publish(key, EventType::Normal, "ConfigChanged", "Rollout", note)
            .await
        {
            warn!(namespace = %key.namespace, name = %key.name, error = %e, "could not publish the rollout Event");
        }
    }

    /// Publishes an Event about `key` (bounded by the call timeout).
    pub async fn publish(
        &self,
        key: &WorkloadKey,
        type_: EventType,
        reason: &str,
        action: &str,
        note: Option<String>,
    ) -> Result<(), CallError> {
        let event = Event {
            type_,
            reason: reason.into(),
            note,
            action: action.into(),
            secondary: None,
        };
        let regarding = ObjectReference {
            api_version: Some(key.kind.api_version().into()),
            kind: Some(key.kind.kind().into()),
            namespace: Some(key.namespace.clone()),
            name: Some(key.name.clone()),
            ..Default::default()
        };
        bounded(self.timeout, self.recorder.publish(&event, &regarding)).await
    }
}

fn typed(kind: WorkloadKind, object: DynamicObject) -> Option<Workload> {
    let value = serde_json::to_value(object).ok()?;
    Workload::parse(kind, value).ok().flatten()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn the_patch_sets_our_two_annotations_under_a_resource_version_precondition() {
        let keys = AnnotationKeys::default();
        let mut rollout = Rollout {
            key: WorkloadKey {
                kind: WorkloadKind::DEPLOYMENT,
                namespace: "demo".into(),
                name: "web".into(),
            },
            resource_version: "42".into(),
            desired: BTreeMap::from([
                (keys.config_hash.clone(), "sha256:new".into()),
                (keys.sources.clone(), "configmap/app@abc".into()),
            ]),
            changes: vec![],
        };
        assert_eq!(
            body(&rollout, &keys),
            json!({"metadata": {"resourceVersion": "42"}, "spec": {"template": {"metadata": {"annotations": {
                "confighash.io/config-hash": "sha256:new", "confighash.io/sources": "configmap/app@abc"}}}}})
        );
        // Nothing referenced any more: a merge patch removes ours with null.
        rollout.desired.clear();
        let removed = body(&rollout, &keys);
        let annotations = &removed["spec"]["template"]["metadata"]["annotations"];
        assert_eq!(
            annotations,
            &json!({"confighash.io/config-hash": null, "confighash.io/sources": null})
        );
    }

    #[test]
    fn a_configured_kind_is_patched_at_its_template_pointer() {
        let keys = AnnotationKeys::default();
        let rollout = Rollout {
            key: WorkloadKey {
                kind: "example.com/v1/Agent:/spec/pod/a~1b".parse().expect("kind"),
                namespace: "demo".into(),
                name: "web".into(),
            },
            resource_version: "7".into(),
            desired: BTreeMap::from([(keys.config_hash.clone(), "sha256:x".into())]),
            changes: vec![],
        };
        assert_eq!(
            body(&rollout, &keys),
            json!({"metadata": {"resourceVersion": "7"}, "spec": {"pod": {"a/b": {"metadata": {"annotations": {
                "confighash.io/config-hash": "sha256:x", "confighash.io/sources": null}}}}}})
        );
    }
}
