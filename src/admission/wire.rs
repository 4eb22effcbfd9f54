//! The AdmissionReview wire format: one decoding pass into what the decision reads, with the
//! checks the contract asks for (§5: anything else is a 400), and encoding with the patch as
//! base64.
//!
//! The review decodes into [`Request`]: its own fields in use, and its object through
//! [`super::lean`], whose pod template is kept only for a request the decision stamps (a
//! kind in use, CREATE or UPDATE, not a subresource). `oldObject`, `userInfo`, `options`
//! and the rest are skipped without being built.

use base64::{Engine, engine::general_purpose::STANDARD};
use kube::core::{
    GroupVersionKind, TypeMeta,
    admission::{AdmissionResponse, Operation},
};
use serde::{Deserialize, de::IgnoredAny};
use serde_json::value::RawValue;

use super::{
    Options,
    kinds::{WorkloadKind, WorkloadKinds},
    lean,
};

pub use super::lean::Object;

/// Why a body is not a usable AdmissionReview v1; the message is one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidReview(pub String);

const API_VERSION: &str = "admission.k8s.io/v1";
const KIND: &str = "AdmissionReview";

/// The request of an AdmissionReview, as the decision reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// apiVersion and kind of the review, echoed in the response.
    pub types: TypeMeta,
    /// The request's uid, echoed in the response.
    pub uid: String,
    /// Kind of the object.
    pub kind: GroupVersionKind,
    /// The subresource, if the request is for one.
    pub sub_resource: Option<String>,
    /// Name of the object (empty on a CREATE with `generateName`).
    pub name: String,
    /// Namespace of the request.
    pub namespace: Option<String>,
    /// CREATE, UPDATE, DELETE or CONNECT.
    pub operation: Operation,
    /// Whether the request is a dry run.
    pub dry_run: bool,
    /// The object, if the request has one.
    pub object: Option<Object>,
}

impl Request {
    /// An allowed response without a patch, echoing the uid.
    pub fn response(&self) -> AdmissionResponse {
        // kube-core builds a response only from its own request type; this is its
        // `From<&AdmissionRequest>` field for field.
        let mut response = AdmissionResponse::invalid("");
        response.types = self.types.clone();
        response.uid = self.uid.clone();
        response.allowed = true;
        response.result = Default::default();
        response
    }

    /// The kind the decision stamps this request as: a kind in use, on CREATE or UPDATE of
    /// the object itself (contract §5: other kinds, operations and subresources pass).
    pub fn stamped_kind(&self, kinds: &WorkloadKinds) -> Option<WorkloadKind> {
        stamped_kind(kinds, &self.kind, &self.operation, self.sub_resource.as_deref())
    }
}

fn stamped_kind(
    kinds: &WorkloadKinds,
    kind: &GroupVersionKind,
    operation: &Operation,
    sub_resource: Option<&str>,
) -> Option<WorkloadKind> {
    kinds
        .find(&kind.group, &kind.version, &kind.kind)
        .filter(|_| matches!(operation, Operation::Create | Operation::Update))
        .filter(|_| sub_resource.is_none())
}

/// The review's fields; the required ones are required as kube-core requires them.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireReview<'a> {
    api_version: String,
    kind: String,
    #[serde(borrow)]
    request: Option<WireRequest<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireRequest<'a> {
    uid: String,
    kind: GroupVersionKind,
    #[allow(dead_code)]
    resource: IgnoredAny,
    sub_resource: Option<String>,
    #[serde(default)]
    name: String,
    namespace: Option<String>,
    operation: Operation,
    #[allow(dead_code)]
    user_info: IgnoredAny,
    /// Kept as its text, decoded once the request says what it needs of it.
    #[serde(borrow)]
    object: Option<&'a RawValue>,
    #[serde(default)]
    dry_run: bool,
}

/// Decodes an `admission.k8s.io/v1` AdmissionReview for the built-in kinds and the default
/// annotation prefix, and returns its request.
pub fn decode(body: &[u8]) -> Result<Request, InvalidReview> {
    decode_for(body, &Options::default())
}

/// [`decode`] under `options`: the pod templates of its workload kinds are kept wherever they
/// are, and of labels and annotations the keys under its annotation prefix.
pub fn decode_for(body: &[u8], options: &Options) -> Result<Request, InvalidReview> {
    let kinds = &options.kinds;
    let invalid = |e: serde_json::Error| InvalidReview(format!("invalid AdmissionReview: {e}"));
    let review: WireReview<'_> = serde_json::from_slice(body).map_err(invalid)?;
    if review.api_version != API_VERSION || review.kind != KIND {
        return Err(InvalidReview(format!(
            "expected apiVersion {API_VERSION}, kind {KIND}; got {:?}, {:?}",
            review.api_version, review.kind
        )));
    }
    let Some(req) = review.request else {
        return Err(InvalidReview("AdmissionReview has no request".into()));
    };
    let stamped = stamped_kind(kinds, &req.kind, &req.operation, req.sub_resource.as_deref());
    let object = req
        .object
        .map(|raw| {
            lean::object(raw.get(), stamped, options.keys.prefix()).map_err(|e| match stamped {
                Some(kind) => InvalidReview(format!(
                    "request.object is not a valid {} {kind}: {e}",
                    kind.api_version()
                )),
                None => invalid(e),
            })
        })
        .transpose()?;
    Ok(Request {
        types: TypeMeta {
            api_version: review.api_version,
            kind: review.kind,
        },
        uid: req.uid,
        kind: req.kind,
        sub_resource: req.sub_resource,
        name: req.name,
        namespace: req.namespace,
        operation: req.operation,
        dry_run: req.dry_run,
        object,
    })
}

/// Encodes the response as an AdmissionReview, with `patch` as a base64 string as the API
/// documents it (kube-core writes its `Vec<u8>` as an array of numbers).
pub fn encode(mut response: AdmissionResponse) -> serde_json::Result<Vec<u8>> {
    let patch = response.patch.take();
    let mut review = serde_json::to_value(response.into_review())?;
    if let (Some(patch), Some(rsp)) = (patch, review.get_mut("response").and_then(|r| r.as_object_mut())) {
        rsp.insert("patch".into(), STANDARD.encode(patch).into());
    }
    serde_json::to_vec(&review)
}
