//! What the operator-operation tests of both OCPP versions share: a charger connected and booted
//! as the Python charge point of either version, the charger's operation records, an operation
//! refused with 422, and the certificates a GetInstalledCertificateIds operation reported.

use coupler_tests::ocpp::{OcppVersion, PythonChargePoint};
use coupler_tests::{problem, Tenant, TestApp};
use reqwest::Method;
use serde_json::Value;

/// A charger of `tenant`, connected and booted as a charge point of `version`; its id.
pub async fn booted(
    app: &TestApp,
    tenant: &Tenant,
    version: OcppVersion,
    ocpp_id: &str,
) -> (String, PythonChargePoint) {
    let registered = app.register_charger(tenant, "alice", ocpp_id).await;
    let url = registered["ocppUrl"].as_str().unwrap();
    let password = registered["password"].as_str().unwrap();
    let mut cp = PythonChargePoint::connected_as(version, url, ocpp_id, password).await;
    match version {
        OcppVersion::V16 => cp.boot("Available").await,
        OcppVersion::V201 => cp.boot_201("Available").await,
    };
    (registered["id"].as_str().unwrap().to_owned(), cp)
}

/// Every operation record of the charger.
pub async fn operations_of(app: &TestApp, tenant: &Tenant, charger: &str) -> Vec<Value> {
    app.get_json(tenant, &format!("/chargers/{charger}/operations")).await["data"]
        .as_array()
        .unwrap()
        .clone()
}

/// `operation` with `body` on the charger, which must be refused with 422; the problem.
pub async fn refused(app: &TestApp, tenant: &Tenant, charger: &str, operation: &str, body: Value) -> Value {
    let response = app
        .as_tenant(
            tenant,
            Method::POST,
            &format!("/chargers/{charger}/operations/{operation}"),
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422, "{operation} {body}");
    problem(response).await
}

/// The certificates a GetInstalledCertificateIds operation reported.
pub fn reported(operation: &Value) -> Vec<Value> {
    operation["answer"]["payload"]["certificates"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// A delete-certificate whose hash data is `hash` with `field` set to `value` is refused with 422
/// naming that field.
pub async fn delete_refused_naming(
    app: &TestApp,
    tenant: &Tenant,
    charger: &str,
    hash: &Value,
    field: &str,
    value: Value,
) {
    let mut bad = hash.clone();
    bad[field] = value;
    let problem = refused(
        app,
        tenant,
        charger,
        "delete-certificate",
        serde_json::json!({"certificateHashData": bad}),
    )
    .await;
    assert_eq!(problem["errors"][0]["pointer"], format!("/certificateHashData/{field}"));
}
