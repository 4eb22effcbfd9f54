//! AdmissionReview fixtures shaped like the API server's: `examples/review.json` (CREATE)
//! and `tests/data/update-review.json` (UPDATE with oldObject and managedFields).

use serde_json::{Value, json};

pub fn create_review() -> Value {
    load("examples/review.json")
}

pub fn update_review() -> Value {
    load("tests/data/update-review.json")
}

fn load(path: &str) -> Value {
    let text = std::fs::read_to_string(super::repo().join(path)).expect("fixture");
    serde_json::from_str(&text).expect("fixture JSON")
}

pub fn bytes(review: &Value) -> Vec<u8> {
    serde_json::to_vec(review).expect("serialize")
}

/// The request's object.
pub fn object(review: &Value) -> &Value {
    &review["request"]["object"]
}

/// Sets the kind of the request and its object.
pub fn with_kind(mut review: Value, kind: &str, resource: &str) -> Value {
    review["request"]["kind"]["kind"] = json!(kind);
    review["request"]["requestKind"]["kind"] = json!(kind);
    review["request"]["resource"]["resource"] = json!(resource);
    review["request"]["object"]["kind"] = json!(kind);
    review
}

/// Applies the response's base64 JSONPatch to the request's object.
pub fn patched_object(request: &Value, response: &Value) -> Value {
    let mut object = object(request).clone();
    if let Some(patch) = response_patch(response) {
        json_patch::patch(&mut object, &patch.0).expect("patch applies to the object");
    }
    object
}

/// The decoded JSONPatch of a response review, if any.
pub fn response_patch(response: &Value) -> Option<json_patch::Patch> {
    use base64::Engine;
    let encoded = response["response"]["patch"].as_str()?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("patch is base64");
    Some(serde_json::from_slice(&raw).expect("patch is a JSONPatch"))
}

/// A copy of the review whose object is `object`.
pub fn with_object(mut review: Value, object: Value) -> Value {
    review["request"]["object"] = object;
    review
}

pub fn template_annotations(object: &Value) -> &Value {
    &object["spec"]["template"]["metadata"]["annotations"]
}
