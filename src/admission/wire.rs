//! The AdmissionReview wire format: decoding with the checks the contract asks for
//! (§5: anything else is a 400) and encoding with the patch as base64.

use base64::{Engine, engine::general_purpose::STANDARD};
use kube::core::{DynamicObject, admission::AdmissionResponse};

use super::{Request, Review, workload::Workload};

/// Why a body is not a usable AdmissionReview v1; the message is one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidReview(pub String);

const API_VERSION: &str = "admission.k8s.io/v1";
const KIND: &str = "AdmissionReview";

/// Decodes an `admission.k8s.io/v1` AdmissionReview and returns its request, keeping of
/// the object only what the decision reads ([`super::lean`]).
pub fn decode(body: &[u8]) -> Result<Request, InvalidReview> {
    let invalid = |e: serde_json::Error| InvalidReview(format!("invalid AdmissionReview: {e}"));
    let review: Review =
        serde_json::from_value(super::lean::decode(body).map_err(invalid)?).map_err(invalid)?;
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

/// The typed workload in a request's object; `Ok(None)` for kinds we do not handle.
pub(super) fn workload(kind: &str, object: &DynamicObject) -> Result<Option<Workload>, InvalidReview> {
    let invalid =
        |e: serde_json::Error| InvalidReview(format!("request.object is not a valid apps/v1 {kind}: {e}"));
    if !super::workload::KINDS.contains(&kind) {
        return Ok(None);
    }
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
