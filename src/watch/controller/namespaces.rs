//! The opted-in namespaces: the namespace stream's events (or the fixed
//! `--watch-namespaces` list), their policy annotations, and whether a new namespace asks
//! the workload and source streams to list again.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Namespace;
use kube::{ResourceExt, runtime::watcher::Event};
use tokio::time::Instant;
use tracing::{info, warn};

use super::Controller;
use crate::watch::{policy::Annotated, streams::Item};

/// What a namespace change asks of the streams.
pub(super) enum Streams {
    Keep,
    /// A namespace opted in: list workloads and ConfigMaps again to pick it up.
    Restart,
}

impl Controller {
    pub(super) fn on_namespace(&mut self, item: Item<Namespace>) -> Streams {
        let event = match item {
            Ok(event) => event,
            Err(e) => {
                warn!(error = %e, "namespace watch failed; retrying");
                return Streams::Keep;
            }
        };
        match event {
            Event::Init => self.namespaces_relist.start(()),
            Event::InitApply(ns) => {
                self.namespace_policy_changed(&ns);
                self.namespaces_relist.seen(&(), &ns.name_any());
            }
            Event::InitDone => {
                let seen = self.namespaces_relist.finish(&());
                return self.set_namespaces(seen.into_iter().collect());
            }
            Event::Apply(ns) => {
                self.namespace_policy_changed(&ns);
                let mut set = self.namespaces.clone().unwrap_or_default();
                set.insert(ns.name_any());
                return self.set_namespaces(set);
            }
            Event::Delete(ns) => {
                let mut set = self.namespaces.clone().unwrap_or_default();
                set.remove(&ns.name_any());
                return self.set_namespaces(set);
            }
        }
        Streams::Keep
    }

    /// Records a namespace's policy annotations; when they changed, its held workloads
    /// are looked at again (a removed pause rolls what is pending, once).
    fn namespace_policy_changed(&mut self, ns: &Namespace) {
        let name = ns.name_any();
        let keys = &self.index.options().keys;
        let policy = Annotated::read(keys, ns.metadata.annotations.as_ref());
        if self.namespace_policy.get(&name) != Some(&policy) {
            self.namespace_policy.insert(name.clone(), policy);
            self.scheduler
                .release_where(|k| k.namespace == name, Instant::now());
        }
    }

    pub(super) fn set_namespaces(&mut self, now: BTreeSet<String>) -> Streams {
        self.namespace_policy.retain(|ns, _| now.contains(ns));
        let before = self.namespaces.replace(now.clone());
        let dropped = self.index.retain_namespaces(|ns| now.contains(ns));
        for key in &dropped {
            self.forget(key);
        }
        let added = before.is_none_or(|b| now.iter().any(|ns| !b.contains(ns)));
        if added {
            info!(
                namespaces = now.len(),
                "opted-in namespaces changed; listing workloads and ConfigMaps"
            );
            return Streams::Restart;
        }
        Streams::Keep
    }
}
