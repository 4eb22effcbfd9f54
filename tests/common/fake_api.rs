//! An in-process fake Kubernetes API server over HTTPS, speaking the real REST shapes that
//! `kube::Client` uses: GET and POST of ConfigMaps and Secrets with uids, resourceVersions
//! and `Status` errors. It records every request and can be made slow or failing.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    extract::{Path, RawQuery, State},
    http::{Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::get,
};
use hyper_util::{rt::TokioIo, service::TowerToHyperService};
use rustls::{
    ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
};
use serde_json::{Value, json};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_rustls::TlsAcceptor;

/// A request as the fake server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
}

/// A fault to inject into every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    /// Answer after this delay.
    Delay(Duration),
    /// Answer with a `Status` of this code.
    Status(u16),
}

#[derive(Default)]
struct Store {
    /// Objects by (resource, namespace, name), resource being `configmaps` or `secrets`.
    objects: Mutex<BTreeMap<(String, String, String), Value>>,
    resource_version: AtomicU64,
    requests: Mutex<Vec<Recorded>>,
    fault: Mutex<Option<Fault>>,
}

/// The running fake API server.
pub struct FakeApi {
    pub addr: SocketAddr,
    pub ca: PathBuf,
    store: Arc<Store>,
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
        let store = Arc::new(Store::default());
        let router = Router::new()
            .route(
                "/api/v1/namespaces/{namespace}/{resource}/{name}",
                get(get_object),
            )
            .route(
                "/api/v1/namespaces/{namespace}/{resource}",
                axum::routing::post(create_object),
            )
            .fallback(not_found)
            .with_state(store.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(serve(listener, TlsAcceptor::from(Arc::new(config)), router));
        Self {
            addr,
            ca: certs.ca,
            store,
            task,
            _dir: dir,
        }
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

    /// A real kube client for this server, default namespace `default`.
    pub fn client(&self) -> kube::Client {
        let url: hyper::Uri = format!("https://127.0.0.1:{}", self.addr.port())
            .parse()
            .expect("url");
        let mut config = kube::Config::new(url);
        let ca = CertificateDer::from_pem_file(&self.ca).expect("CA");
        config.root_cert = Some(vec![ca.to_vec()]);
        kube::Client::try_from(config).expect("kube client")
    }

    /// Creates or replaces a ConfigMap, bumping its resourceVersion.
    pub fn put_configmap(&self, namespace: &str, name: &str, data: &[(&str, &str)]) {
        let data: BTreeMap<&str, &str> = data.iter().copied().collect();
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace}, "data": data});
        self.put_object(object);
    }

    /// Creates or replaces a Secret (values given as plain text, stored base64 as the API does).
    pub fn put_secret(&self, namespace: &str, name: &str, data: &[(&str, &str)]) {
        use base64::Engine;
        let encode = |v: &str| base64::engine::general_purpose::STANDARD.encode(v);
        let data: BTreeMap<&str, String> = data.iter().map(|(k, v)| (*k, encode(v))).collect();
        self.put_object(json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace}, "data": data}));
    }

    /// A stored object, as the API would return it.
    pub fn object(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        let key = (resource.to_owned(), namespace.to_owned(), name.to_owned());
        self.store.objects.lock().expect("lock").get(&key).cloned()
    }

    /// A kubeconfig for this server, trusting its CA, with `namespace` as the default.
    pub fn kubeconfig(&self, dir: &std::path::Path, namespace: &str) -> PathBuf {
        use base64::Engine;
        let ca = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&self.ca).expect("CA"));
        let config = json!({"apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": format!("https://127.0.0.1:{}", self.addr.port()),
                "certificate-authority-data": ca}}],
            "users": [{"name": "fake", "user": {"token": "test-token"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": namespace}}]});
        let path = dir.join("kubeconfig.json");
        std::fs::write(&path, serde_json::to_vec(&config).expect("json")).expect("write kubeconfig");
        path
    }

    /// Stores a ConfigMap or Secret manifest as the API server would: with uid and a new resourceVersion.
    pub fn put_object(&self, object: Value) {
        store_object(&self.store, object);
    }

    pub fn delete_configmap(&self, namespace: &str, name: &str) {
        let key = ("configmaps".to_owned(), namespace.to_owned(), name.to_owned());
        self.store.objects.lock().expect("lock").remove(&key);
    }

    pub fn set_fault(&self, fault: Fault) {
        *self.store.fault.lock().expect("lock") = Some(fault);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.store.requests.lock().expect("lock").clone()
    }

    /// Stops serving; later connections are refused.
    pub fn stop(&self) {
        self.task.abort();
    }
}

fn store_object(store: &Store, mut object: Value) -> Value {
    {
        let rv = store.resource_version.fetch_add(1, Ordering::SeqCst) + 1;
        let resource = match object["kind"].as_str() {
            Some("Secret") => "secrets",
            _ => "configmaps",
        };
        let meta = &mut object["metadata"];
        let namespace = meta["namespace"].as_str().unwrap_or("default").to_owned();
        let name = meta["name"].as_str().expect("name").to_owned();
        meta["namespace"] = json!(namespace);
        meta["uid"] = json!(format!("uid-{resource}-{namespace}-{name}"));
        meta["resourceVersion"] = json!(rv.to_string());
        meta["creationTimestamp"] = json!("2026-11-20T09:00:00Z");
        store
            .objects
            .lock()
            .expect("lock")
            .insert((resource.into(), namespace, name), object.clone());
    }
    object
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, tls: TlsAcceptor, router: Router) {
    let mut connections = tokio::task::JoinSet::new();
    while let Ok((tcp, _)) = listener.accept().await {
        let (tls, service) = (tls.clone(), TowerToHyperService::new(router.clone()));
        connections.spawn(async move {
            let Ok(stream) = tls.accept(tcp).await else { return };
            let conn =
                hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            _ = conn.await;
        });
    }
}

fn status(code: u16, reason: &str, message: String) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code});
    json_response(StatusCode::from_u16(code).expect("status code"), &body)
}

fn json_response(code: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).expect("serialize");
    (code, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// Records the request and applies the configured fault, if any.
async fn intercept(store: &Store, method: &Method, uri: &Uri, query: Option<String>) -> Option<Response> {
    store.requests.lock().expect("lock").push(Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query,
    });
    let fault = *store.fault.lock().expect("lock");
    match fault {
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            None
        }
        Some(Fault::Status(code)) => {
            let reason = if code == 403 { "Forbidden" } else { "InternalError" };
            Some(status(code, reason, format!("injected fault {code}")))
        }
        Some(Fault::None) | None => None,
    }
}

async fn get_object(
    State(store): State<Arc<Store>>,
    Path((namespace, resource, name)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    method: Method,
    uri: Uri,
) -> Response {
    if let Some(response) = intercept(&store, &method, &uri, query).await {
        return response;
    }
    let found = store
        .objects
        .lock()
        .expect("lock")
        .get(&(resource.clone(), namespace, name.clone()))
        .cloned();
    match found {
        Some(object) => json_response(StatusCode::OK, &object),
        None => status(404, "NotFound", format!("{resource} \"{name}\" not found")),
    }
}

async fn create_object(
    State(store): State<Arc<Store>>,
    Path((namespace, resource)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    method: Method,
    uri: Uri,
    body: axum::body::Bytes,
) -> Response {
    if let Some(response) = intercept(&store, &method, &uri, query).await {
        return response;
    }
    let Ok(mut object) = serde_json::from_slice::<Value>(&body) else {
        return status(400, "BadRequest", "invalid JSON body".into());
    };
    let name = object["metadata"]["name"].as_str().unwrap_or_default().to_owned();
    if store
        .objects
        .lock()
        .expect("lock")
        .contains_key(&(resource.clone(), namespace.clone(), name.clone()))
    {
        return status(
            409,
            "AlreadyExists",
            format!("{resource} \"{name}\" already exists"),
        );
    }
    object["metadata"]["namespace"] = json!(namespace);
    json_response(StatusCode::CREATED, &store_object(&store, object))
}

async fn not_found(
    State(store): State<Arc<Store>>,
    method: Method,
    uri: Uri,
    RawQuery(q): RawQuery,
) -> Response {
    if let Some(response) = intercept(&store, &method, &uri, q).await {
        return response;
    }
    status(
        404,
        "NotFound",
        format!(
            "the server could not find the requested resource ({})",
            uri.path()
        ),
    )
}
