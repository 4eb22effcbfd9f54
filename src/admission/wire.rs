//! The AdmissionReview wire format: decoding with the checks the contract asks for
//! (§5: anything else is a 400) and encoding with the patch as base64.

use base64::{Engine, engine::general_purpose::STANDARD};
use kube::core::{DynamicObject, admission::AdmissionResponse};

use super::{
    Request, Review,
    kinds::{WorkloadKind, WorkloadKinds},
    workload::Workload,
};

/// Why a body is not a usable AdmissionReview v1; the message is one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidReview(pub String);

const API_VERSION: &str = "admission.k8s.io/v1";
const KIND: &str = "AdmissionReview";

/// Decodes an `admission.k8s.io/v1` AdmissionReview for the built-in kinds and returns
/// its request, keeping of the object only what the decision reads ([`super::lean`]).
pub fn decode(body: &[u8]) -> Result<Request, InvalidReview> {
    decode_for(body, &WorkloadKinds::default())
}

/// [`decode`] for the workload kinds in use: their pod templates are kept wherever they are.
pub fn decode_for(body: &[u8], kinds: &WorkloadKinds) -> Result<Request, InvalidReview> {
    let invalid = |e: serde_json::Error| InvalidReview(format!("invalid AdmissionReview: {e}"));
    let pruned = super::lean::decode(body, kinds).map_err(invalid)?;
    let review: Review = serde_json::from_value(pruned).map_err(invalid)?;
    if review.types.api_version != API_VERSION || review.types.kind != KIND {
        return Err(InvalidReview(format!(
            "expected apiVersion {API_VERSION}, kind {KIND}; got {:?}, {:?}",
            review.types.api_version, review.types.kind
        )));
    }
    review
        .try_into()
        .map_err(|_| InvalidReview("AdmissionReview has no request".into()))
}

/// The typed workload in a request's object of `kind`; `Ok(None)` when a configured kind
/// has nothing at its template pointer.
pub(super) fn workload(
    kind: WorkloadKind,
    object: &DynamicObject,
) -> Result<Option<Workload>, InvalidReview> {
    let invalid = |e: serde_json::Error| {
        InvalidReview(format!(
            "request.object is not a valid {} {kind}: {e}",
            kind.api_version()
        ))
    };
    let value = serde_json::to_value(object).map_err(invalid)?;
    Workload::parse(kind, value).map_err(invalid)
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
