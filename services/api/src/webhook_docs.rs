//! The webhook requests Coupler sends, described in the OpenAPI document's `webhooks` section
//! (OpenAPI 3.1), so a receiver can be generated and checked like any client.
//!
//! utoipa has no model for `webhooks`, so the section is written here as JSON and placed in the
//! document's top level; the payload schemas go into `components` beside the REST schemas they
//! reference (`VehicleResponse`, `ChargerResponse`, ...). The event names come from
//! [`EventType::ALL`], so the document lists exactly what the code sends.

use coupler_core::event::{AssetKind, EventType, HEARTBEAT_EVENT, TEST_EVENT};
use serde_json::{json, Value};
use utoipa::openapi::{OpenApi, RefOr, Schema};

/// The payload schema of each kind of asset event: (schema name, asset kind, the REST schema of
/// the object it carries, the payload field carrying it).
const ASSET_EVENTS: [(&str, AssetKind, &str); 11] = [
    ("VehicleEvent", AssetKind::Vehicle, "VehicleResponse"),
    ("ChargerEvent", AssetKind::Charger, "ChargerResponse"),
    ("EvSystemEvent", AssetKind::EvSystem, "EvSystemResponse"),
    ("VendorActionEvent", AssetKind::VendorAction, "ActionResponse"),
    ("CredentialsEvent", AssetKind::Credentials, "CredentialsBody"),
    ("LocationEvent", AssetKind::Location, "LocationResponse"),
    (
        "SmartChargingPlanEvent",
        AssetKind::SmartChargingPlan,
        "SmartChargingPlanResponse",
    ),
    ("SecurityEventEvent", AssetKind::SecurityEvent, "SecurityEventResponse"),
    ("IdTokenEvent", AssetKind::IdToken, "IdTokenResponse"),
    ("FlexEnrolmentEvent", AssetKind::FlexEnrolment, "EnrolmentResponse"),
    ("FlexEventEvent", AssetKind::FlexEventTarget, "FlexEventResponse"),
];

/// Adds the `webhooks` section and the payload schemas to `openapi`.
pub(crate) fn add_webhooks(openapi: &mut OpenApi) {
    let components = openapi.components.get_or_insert_with(Default::default);
    for (name, schema) in payload_schemas() {
        match serde_json::from_value::<RefOr<Schema>>(schema) {
            Ok(schema) => {
                components.schemas.insert(name.to_owned(), schema);
            }
            // The JSON above is fixed; a failure here is a bug the document test catches.
            Err(e) => tracing::error!(schema = name, error = %e, "webhook payload schema does not parse"),
        }
    }
    let extensions = openapi.extensions.get_or_insert_with(Default::default);
    extensions.insert("webhooks".to_owned(), webhooks_section());
}

fn payload_schemas() -> Vec<(&'static str, Value)> {
    let mut schemas = Vec::new();
    for (name, asset, object_schema) in ASSET_EVENTS {
        let names: Vec<&str> = EventType::ALL
            .iter()
            .filter(|e| e.asset() == asset)
            .map(|e| e.as_str())
            .collect();
        let field = asset.field();
        schemas.push((
            name,
            json!({
                "type": "object",
                "description": format!(
                    "An event about a {field}: the object as its REST GET shows it (for a deletion, as it \
                     was last seen) and the fields that changed."
                ),
                "required": ["id", "event", "createdAt", "user", field, "updatedFields"],
                "properties": {
                    "id": {"type": "string", "description": "The event's id; increasing, and the same as in `GET /events`."},
                    "event": {"type": "string", "enum": names},
                    "createdAt": {"type": "string", "format": "date-time", "description": "When the change was committed."},
                    "user": {"$ref": "#/components/schemas/EventUser"},
                    field: {"$ref": format!("#/components/schemas/{object_schema}")},
                    "updatedFields": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "The fields that changed, as dotted paths (`chargeState.chargeRate`)."
                    }
                },
                "additionalProperties": false
            }),
        ));
    }
    schemas.push((
        "EventUser",
        json!({
            "type": "object",
            "description": "The user an event concerns.",
            "required": ["id"],
            "properties": {"id": {"type": "string", "description": "The app's own identifier for the user."}}
        }),
    ));
    schemas.push((
        "CredentialsBody",
        json!({
            "type": "object",
            "description": "A linked vendor account whose credentials stopped working.",
            "required": ["id", "userId"],
            "properties": {
                "id": {"type": "string"},
                "userId": {"type": "string"},
                "vendor": {"type": "string", "example": "TESLA"},
                "vendorType": {"$ref": "#/components/schemas/VendorType"},
                "isValid": {"type": "boolean"}
            }
        }),
    ));
    schemas.push((
        "HeartbeatEvent",
        json!({
            "type": "object",
            "description": "Sent to every active webhook on a fixed period, so a receiver can tell a quiet \
                            Coupler from a broken path.",
            "required": ["id", "event", "createdAt", "pendingEvents"],
            "properties": {
                "id": {"type": "string"},
                "event": {"type": "string", "enum": [HEARTBEAT_EVENT]},
                "createdAt": {"type": "string", "format": "date-time"},
                "pendingEvents": {"type": "integer", "format": "int64", "minimum": 0,
                                  "description": "Events waiting to be delivered to this webhook."}
            },
            "additionalProperties": false
        }),
    ));
    schemas.push((
        "TestEvent",
        json!({
            "type": "object",
            "description": "Sent by `POST /webhooks/{webhookId}/test`.",
            "required": ["id", "event", "createdAt", "webhook"],
            "properties": {
                "id": {"type": "string"},
                "event": {"type": "string", "enum": [TEST_EVENT]},
                "createdAt": {"type": "string", "format": "date-time"},
                "webhook": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}
            },
            "additionalProperties": false
        }),
    ));
    let mut one_of: Vec<Value> = ASSET_EVENTS
        .iter()
        .map(|(name, _, _)| json!({"$ref": format!("#/components/schemas/{name}")}))
        .collect();
    one_of.push(json!({"$ref": "#/components/schemas/HeartbeatEvent"}));
    one_of.push(json!({"$ref": "#/components/schemas/TestEvent"}));
    schemas.push((
        "WebhookEvent",
        json!({"description": "One event of a webhook request.", "oneOf": one_of}),
    ));
    schemas
}

fn header(name: &str, description: &str, example: &str) -> Value {
    json!({
        "name": name,
        "in": "header",
        "required": true,
        "description": description,
        "schema": {"type": "string"},
        "example": example
    })
}

fn webhooks_section() -> Value {
    json!({
        "events": {
            "post": {
                "operationId": "receive_events",
                "summary": "A batch of events, POSTed to each webhook's URL",
                "description": "Up to 100 events in one JSON array, oldest first; at least once, in order per \
                    webhook. Retried with back-off until the receiver answers 2xx or retries run out (then the \
                    webhook is deactivated). Each request is signed twice: `Coupler-Signature` \
                    (`v1=<hex HMAC-SHA256 of \"{timestamp}.{body}\">`) and the Standard Webhooks headers \
                    (`webhook-signature: v1,<base64 HMAC-SHA256 of \"{webhook-id}.{webhook-timestamp}.{body}\">`), \
                    both keyed with the webhook's secret as UTF-8 bytes. A Standard Webhooks library verifies \
                    it when given `whsec_` followed by the base64 of the secret.",
                "tags": ["webhooks"],
                "security": [],
                "parameters": [
                    header("Coupler-Delivery-Id", "The delivery's id, the same on every retry of this batch.", "dlv_01J..."),
                    header("Coupler-Timestamp", "Unix time (seconds) the request was signed at.", "1767225600"),
                    header("Coupler-Signature", "`v1=` and the hex HMAC-SHA256 of `{timestamp}.{body}`.", "v1=5d41402abc4b2a76b9719d911017c592..."),
                    header("webhook-id", "Standard Webhooks: the delivery's id (the same as `Coupler-Delivery-Id`).", "dlv_01J..."),
                    header("webhook-timestamp", "Standard Webhooks: Unix time (seconds) the request was signed at.", "1767225600"),
                    header("webhook-signature", "Standard Webhooks: `v1,` and the base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}`.", "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=")
                ],
                "requestBody": {
                    "required": true,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": 100,
                                "items": {"$ref": "#/components/schemas/WebhookEvent"}
                            }
                        }
                    }
                },
                "responses": {
                    "200": {"description": "Accepted; any 2xx status counts as accepted."},
                    "default": {"description": "Anything else (or no answer within the timeout) is retried."}
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_payload_schema_parses_as_an_openapi_schema() {
        for (name, schema) in payload_schemas() {
            assert!(
                serde_json::from_value::<RefOr<Schema>>(schema).is_ok(),
                "{name} is not a valid schema"
            );
        }
    }

    #[test]
    fn every_event_type_is_named_by_exactly_one_payload_schema() {
        let schemas = payload_schemas();
        for event in EventType::ALL {
            let carriers = schemas
                .iter()
                .filter(|(_, s)| {
                    s["properties"]["event"]["enum"]
                        .as_array()
                        .is_some_and(|names| names.iter().any(|n| n == event.as_str()))
                })
                .count();
            assert_eq!(carriers, 1, "{}", event.as_str());
        }
    }
}
