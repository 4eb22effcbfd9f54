//! An in-process fake Kubernetes API server over HTTPS, speaking the real REST shapes that
//! `kube::Client` uses: GET, LIST (selectors, paging), WATCH (bookmarks, 410 Gone), each also
//! in the metadata-only form (`PartialObjectMetadata`) when the `Accept` header asks, POST,
//! PUT and PATCH with resourceVersion preconditions, and DELETE, for ConfigMaps, Secrets,
//! Namespaces, the three workload kinds, Leases and Events. It records every request and
//! can be made slow or failing.

pub mod faults;
mod routes;
pub mod store;
mod watch;

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::Router;
use hyper_util::{rt::TokioIo, service::TowerToHyperService};
use rustls::{
    ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
};
use serde_json::{Value, json};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_rustls::TlsAcceptor;

use self::store::{Objects, Resource, key, of_object};

/// A request as the fake server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub content_type: Option<String>,
    /// The client named by [`FakeApi::client_as`], if any.
    pub client: Option<String>,
    /// Asked for the metadata-only form (`Accept: ...;as=PartialObjectMetadata...`).
    pub metadata_only: bool,
}

impl Recorded {
    /// A PATCH of a workload (deployments, statefulsets, daemonsets).
    pub fn is_workload_patch(&self) -> bool {
        self.method == "PATCH" && self.path.starts_with("/apis/apps/v1/")
    }

    /// A GET, LIST or WATCH of `plural` (`configmaps`, `secrets`) that answers with
    /// whole objects, data included: not in the metadata-only form.
    pub fn reads_full(&self, plural: &str) -> bool {
        let resource = self.path.trim_end_matches('/').split('/').rev().take(2);
        self.method == "GET" && !self.metadata_only && resource.into_iter().any(|p| p == plural)
    }
}

/// `apiVersion` of the metadata-only form.
pub const META_API_VERSION: &str = "meta.k8s.io/v1";

/// The form of the objects in an answer, from the `Accept` header, as the real API server
/// chooses it: `application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1` (GET, WATCH)
/// or `as=PartialObjectMetadataList` (LIST) asks for metadata only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Full,
    Metadata,
}

impl Form {
    pub(super) fn of(headers: &axum::http::HeaderMap) -> Self {
        let accept = headers
            .get(axum::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok());
        let metadata = accept.is_some_and(|a| {
            a.split(',').any(|media| {
                let params: Vec<&str> = media.split(';').map(str::trim).collect();
                let is = |p: &str| params.contains(&p);
                (is("as=PartialObjectMetadata") || is("as=PartialObjectMetadataList"))
                    && is("g=meta.k8s.io")
                    && is("v=v1")
            })
        });
        if metadata { Form::Metadata } else { Form::Full }
    }

    /// `object` in this form: a `PartialObjectMetadata` keeps only `metadata`.
    pub fn object(self, object: &Value) -> Value {
        match self {
            Form::Full => object.clone(),
            Form::Metadata => json!({"apiVersion": META_API_VERSION, "kind": "PartialObjectMetadata",
                "metadata": object["metadata"]}),
        }
    }
}

/// What the byte counter files an answer under: verb, resource and form, e.g.
/// `list configmaps metadata` or `get secrets full`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestKind {
    pub verb: &'static str,
    pub resource: &'static str,
    pub metadata_only: bool,
}

impl RequestKind {
    pub fn new(verb: &'static str, resource: &'static str, form: Form) -> Self {
        Self {
            verb,
            resource,
            metadata_only: form == Form::Metadata,
        }
    }
}

impl std::fmt::Display for RequestKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let form = if self.metadata_only { "metadata" } else { "full" };
        write!(f, "{} {} {form}", self.verb, self.resource)
    }
}

/// A fault to inject into every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer after this delay.
    Delay(Duration),
    /// Answer with a `Status` of this code.
    Status(u16),
}

/// Query parameters of one request.
#[derive(Debug, Default, Clone)]
pub struct Query(BTreeMap<String, String>);

impl Query {
    fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .into_iter()
            .flat_map(|q| q.split('&'))
            .filter(|p| !p.is_empty());
        Self(
            pairs
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (decode(k), decode(v))
                })
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Requests and connections open at once: now and the most so far.
#[derive(Debug, Default)]
pub struct Load {
    requests: AtomicUsize,
    max_requests: AtomicUsize,
    connections: AtomicUsize,
    max_connections: AtomicUsize,
}

/// Counts one open request or connection while it lives.
pub struct Open<'a>(&'a AtomicUsize);

impl<'a> Open<'a> {
    fn new(now: &'a AtomicUsize, max: &AtomicUsize) -> Self {
        let open = now.fetch_add(1, Ordering::SeqCst) + 1;
        max.fetch_max(open, Ordering::SeqCst);
        Self(now)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Load {
    pub fn request(&self) -> Open<'_> {
        Open::new(&self.requests, &self.max_requests)
    }

    fn connection(&self) -> Open<'_> {
        Open::new(&self.connections, &self.max_connections)
    }
}

/// State shared by the handlers.
pub struct Shared {
    pub objects: Objects,
    pub load: Load,
    requests: Mutex<Vec<Recorded>>,
    fault: Mutex<Option<Fault>>,
    client_faults: Mutex<Vec<faults::Rule>>,
    /// Response body bytes sent, per request kind.
    bytes: Mutex<BTreeMap<RequestKind, u64>>,
}

impl Shared {
    /// Counts `n` bytes of an answer to a request of `kind`.
    pub fn sent(&self, kind: RequestKind, n: usize) {
        *self.bytes.lock().expect("lock").entry(kind).or_default() += n as u64;
    }
}

/// The running fake API server.
pub struct FakeApi {
    pub addr: SocketAddr,
    pub ca: PathBuf,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl FakeApi {
    pub async fn start() -> Self {
        super::setup();
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = super::certs(dir.path());
        let chain = CertificateDer::pem_file_iter(&certs.cert)
            .expect("cert")
            .collect::<Result<Vec<_>, _>>();
        let key = PrivateKeyDer::from_pem_file(&certs.key).expect("key");
        let mut config = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain.expect("cert PEM"), key)
            .expect("server config");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let shared = Arc::new(Shared {
            objects: Objects::default(),
            load: Load::default(),
            requests: Mutex::default(),
            fault: Mutex::default(),
            client_faults: Mutex::default(),
            bytes: Mutex::default(),
        });
        let router = Router::new().fallback(routes::handle).with_state(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let tls = TlsAcceptor::from(Arc::new(config));
        let task = tokio::spawn(serve(listener, tls, router, shared.clone()));
        Self {
            addr,
            ca: certs.ca,
            shared,
            task,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }

    /// A real kube client for this server, default namespace `default`.
    pub fn client(&self) -> kube::Client {
        kube::Client::try_from(self.client_config()).expect("kube client")
    }

    /// [`FakeApi::client`] whose requests name `name`, so faults can aim at it
    /// ([`FakeApi::set_client_fault`]) and the request log tells clients apart.
    pub fn client_as(&self, name: &str) -> kube::Client {
        let mut config = self.client_config();
        let value = name.parse().expect("a header value");
        config
            .headers
            .push((faults::CLIENT_HEADER.parse().expect("header name"), value));
        kube::Client::try_from(config).expect("kube client")
    }

    fn client_config(&self) -> kube::Config {
        let url: hyper::Uri = self.url().parse().expect("url");
        let mut config = kube::Config::new(url);
        let ca = CertificateDer::from_pem_file(&self.ca).expect("CA");
        config.root_cert = Some(vec![ca.to_vec()]);
        config
    }

    /// A server holding the ConfigMaps of `examples/configmaps`.
    pub async fn with_examples() -> Self {
        let api = Self::start().await;
        for entry in std::fs::read_dir(super::repo().join("examples/configmaps")).expect("examples") {
            let path = entry.expect("entry").path();
            for object in confighash::source::dir::documents(&path).expect("example YAML") {
                api.put_object(object);
            }
        }
        api
    }

    /// A kubeconfig for this server, trusting its CA, with `namespace` as the default.
    pub fn kubeconfig(&self, dir: &Path, namespace: &str) -> PathBuf {
        use base64::Engine;
        let ca = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&self.ca).expect("CA"));
        let config = json!({"apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": self.url(), "certificate-authority-data": ca}}],
            "users": [{"name": "fake", "user": {"token": "test-token"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": namespace}}]});
        let path = dir.join("kubeconfig.json");
        std::fs::write(&path, serde_json::to_vec(&config).expect("json")).expect("write kubeconfig");
        path
    }

    /// Creates or replaces a Secret (values given as plain text, stored base64 as the API does).
    pub fn put_secret(&self, namespace: &str, name: &str, data: &[(&str, &str)]) {
        use base64::Engine;
        let encode = |v: &str| base64::engine::general_purpose::STANDARD.encode(v);
        let data: BTreeMap<&str, String> = data.iter().map(|(k, v)| (*k, encode(v))).collect();
        self.put_object(json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace}, "data": data}));
    }

    /// A stored core (v1) object by resource plural, as the API would return it.
    pub fn object(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        let resource = store::by_path("", "v1", resource).expect("a served v1 resource");
        let namespace = if resource.namespaced { namespace } else { "" };
        self.shared.objects.get(&key(&resource, namespace, name))
    }

    /// Creates or replaces a ConfigMap, bumping its resourceVersion.
    pub fn put_configmap(&self, namespace: &str, name: &str, data: &[(&str, &str)]) {
        let data: BTreeMap<&str, &str> = data.iter().copied().collect();
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace}, "data": data});
        self.put_object(object);
    }

    /// Creates or replaces a Namespace with these labels.
    pub fn put_namespace(&self, name: &str, labels: &[(&str, &str)]) {
        let labels: BTreeMap<&str, &str> = labels.iter().copied().collect();
        self.put_object(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": labels}}));
    }

    /// Stores any served object as the API server would: with uid and a new
    /// resourceVersion (a manifest without apiVersion and kind is a ConfigMap).
    pub fn put_object(&self, object: Value) {
        self.store(object);
    }

    /// [`FakeApi::put_object`], returning the stored object.
    pub fn store(&self, object: Value) -> Value {
        let resource = of_object(&object);
        let name = object["metadata"]["name"].as_str().expect("name").to_owned();
        let namespace = if resource.namespaced {
            object["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_owned()
        } else {
            String::new()
        };
        let mut object = object;
        object["apiVersion"] = json!(resource.api_version());
        object["kind"] = json!(resource.kind);
        self.shared
            .objects
            .write(key(&resource, &namespace, &name), object)
    }

    /// The stored object, if any.
    pub fn get_object(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        let resource = of_object(&json!({"apiVersion": api_version, "kind": kind}));
        let namespace = if resource.namespaced { namespace } else { "" };
        self.shared.objects.get(&key(&resource, namespace, name))
    }

    /// Every stored object of one kind.
    pub fn list_objects(&self, api_version: &str, kind: &str) -> Vec<Value> {
        let resource: Resource = of_object(&json!({"apiVersion": api_version, "kind": kind}));
        let prefix = format!("{}/{}", resource.group, resource.plural);
        let data = self.shared.objects.data.lock().expect("lock");
        data.objects
            .iter()
            .filter(|(k, _)| k.0 == prefix)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn delete_configmap(&self, namespace: &str, name: &str) {
        self.delete_object("v1", "ConfigMap", namespace, name);
    }

    pub fn delete_object(&self, api_version: &str, kind: &str, namespace: &str, name: &str) {
        let resource = of_object(&json!({"apiVersion": api_version, "kind": kind}));
        let namespace = if resource.namespaced { namespace } else { "" };
        self.shared.objects.delete(&key(&resource, namespace, name));
    }

    /// Drops the event log: a watch resuming from before now gets 410 Gone and relists.
    pub fn compact(&self) {
        self.shared.objects.compact();
    }

    /// Closes every open watch, as an API server restart would.
    pub fn end_watches(&self) {
        self.shared.objects.end_watches();
    }

    pub fn set_fault(&self, fault: Fault) {
        *self.shared.fault.lock().expect("lock") = Some(fault);
    }

    /// Sets (or with `None` clears) the fault for `client`'s requests to paths containing
    /// `fragment`; clearing releases requests held by [`faults::ClientFault::Hang`].
    pub fn set_client_fault(&self, client: &str, fragment: &str, fault: Option<faults::ClientFault>) {
        let mut rules = self.shared.client_faults.lock().expect("lock");
        rules.retain(|r| !(r.client == client && r.fragment == fragment));
        if let Some(fault) = fault {
            rules.push(faults::Rule {
                client: client.to_owned(),
                fragment: fragment.to_owned(),
                fault,
            });
        }
    }

    /// Response body bytes sent so far, per request kind (watch events counted as sent).
    pub fn bytes_sent(&self) -> BTreeMap<RequestKind, u64> {
        self.shared.bytes.lock().expect("lock").clone()
    }

    /// Response body bytes sent so far, all requests together: the difference around one
    /// admission is what that admission cost the API server.
    pub fn bytes_sent_total(&self) -> u64 {
        self.bytes_sent().values().sum()
    }

    /// The most requests the server was answering at once so far.
    pub fn max_concurrent_requests(&self) -> usize {
        self.shared.load.max_requests.load(Ordering::SeqCst)
    }

    /// The most TCP connections open at once so far.
    pub fn max_open_connections(&self) -> usize {
        self.shared.load.max_connections.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().expect("lock").clone()
    }

    /// PATCH requests to workloads so far.
    pub fn workload_patches(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(Recorded::is_workload_patch)
            .collect()
    }

    /// Stops serving; later connections are refused.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, tls: TlsAcceptor, router: Router, shared: Arc<Shared>) {
    let mut connections = tokio::task::JoinSet::new();
    while let Ok((tcp, _)) = listener.accept().await {
        let open = shared.clone();
        let (tls, router, shared) = (
            tls.clone(),
            TowerToHyperService::new(router.clone()),
            shared.clone(),
        );
        // A request aimed at by a reset fault fails the service, so hyper drops the
        // connection without an answer.
        let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let (parts, body) = request.into_parts();
            let reset = faults::resets(&shared, &parts);
            let served = (!reset).then(|| {
                use hyper::service::Service;
                router.call(hyper::Request::from_parts(parts, body))
            });
            async move {
                match served {
                    Some(served) => Ok(served.await.unwrap_or_else(|never| match never {})),
                    None => Err(std::io::Error::other("injected connection reset")),
                }
            }
        });
        connections.spawn(async move {
            let _open = open.load.connection();
            let Ok(stream) = tls.accept(tcp).await else { return };
            let conn =
                hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            _ = conn.await;
        });
        // Reap finished connections so a long run does not accumulate them.
        while connections.try_join_next().is_some() {}
    }
}
