//! Charger security against an independent charge point (the Python `ocpp` package): security
//! events stored, listed and published; certificates Coupler signs for chargers; ISO 15118
//! certificate requests answered per the spec; and TLS served by Coupler itself, with HTTP Basic
//! credentials (security profile 2) and client certificates (security profile 3). Where a test
//! walks a case of OCA's OCPP 2.0.1 test case document (CSMS as the system under test), its name
//! says which.

use std::sync::Arc;

use coupler_core::event::EventType;
use coupler_gateway::certificates::SigningCa;
use coupler_tests::ocpp::{OcppVersion, PythonChargePoint, TlsOptions};
use coupler_tests::pki::TestPki;
use coupler_tests::{wait_for, Tenant, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

fn signing_ca(pki: &TestPki) -> Arc<SigningCa> {
    let certificate = std::fs::read_to_string(pki.ca_file()).unwrap();
    let key = std::fs::read_to_string(pki.ca_key_file()).unwrap();
    Arc::new(SigningCa::from_pem(&certificate, &key, chrono::Duration::days(30)).unwrap())
}

fn tls_server(pki: &TestPki, client_ca: bool) -> coupler_api::tls::TlsServer {
    let (chain, key) = pki.server();
    let ca = pki.ca_file();
    coupler_api::tls::acceptor(coupler_api::tls::TlsFiles {
        certificate_chain: &chain,
        private_key: &key,
        client_ca: client_ca.then_some(ca.as_path()),
    })
    .unwrap()
}

async fn list(app: &TestApp, tenant: &Tenant, path: &str) -> Vec<Value> {
    app.get_json(tenant, path).await["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_1_6_security_event_is_stored_listed_for_its_client_only_and_published() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let other = app.tenant("other").await;
    let registered = app.register_charger(&tenant, "alice", "CP-SEC16-EVENT").await;
    let id = registered["id"].as_str().unwrap();
    let mut cp = PythonChargePoint::connected(
        registered["ocppUrl"].as_str().unwrap(),
        "CP-SEC16-EVENT",
        registered["password"].as_str().unwrap(),
    )
    .await;
    cp.boot("Available").await;

    let answer = cp
        .call(
            "SecurityEventNotification",
            json!({"type": "TamperDetectionActivated", "timestamp": "2026-11-21T09:00:00Z", "tech_info": "lid opened"}),
        )
        .await;
    assert_eq!(answer, json!({}));
    let events = list(&app, &tenant, &format!("/chargers/{id}/security-events")).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "TamperDetectionActivated");
    assert_eq!(events[0]["techInfo"], "lid opened");
    assert_eq!(events[0]["timestamp"], "2026-11-21T09:00:00Z");
    assert_eq!(events[0]["chargerId"], id);

    // Published as an event of the charger's user.
    let event_id = events[0]["id"].as_str().unwrap().to_owned();
    let published = wait_for("the security event is published", || async {
        let all = app.store.events_after(&tenant.id, 0, 1000).await.unwrap();
        all.into_iter()
            .find(|e| e.event_type == EventType::ChargerSecurityEvent && e.asset_id == event_id)
    })
    .await;
    assert_eq!(published.user_id.as_str(), "alice");
    assert_eq!(published.data["type"], "TamperDetectionActivated");
    assert_eq!(published.payload()["event"], "user:charger:security-event");

    // A payload that breaks the schema gets the CALLERROR for it and changes nothing.
    let bad = cp
        .try_call(
            "SecurityEventNotification",
            json!({"type": "x".repeat(51), "timestamp": "2026-11-21T09:00:00Z"}),
        )
        .await;
    assert_eq!(bad["event"], "call_error", "{bad}");
    assert_eq!(
        list(&app, &tenant, &format!("/chargers/{id}/security-events"))
            .await
            .len(),
        1
    );

    // Another client sees no such charger.
    let foreign = app
        .as_tenant(&other, Method::GET, &format!("/chargers/{id}/security-events"))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 404);
    cp.close().await;
}

#[tokio::test]
async fn a_2_0_1_security_event_is_stored_and_listed_newest_first() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let registered = app.register_charger(&tenant, "alice", "CS-SEC201-EVENT").await;
    let id = registered["id"].as_str().unwrap();
    let mut cp = PythonChargePoint::connected_as(
        OcppVersion::V201,
        registered["ocppUrl"].as_str().unwrap(),
        "CS-SEC201-EVENT",
        registered["password"].as_str().unwrap(),
    )
    .await;
    cp.boot_201("Available").await;
    for kind in ["SettingSystemTime", "InvalidChargingStationCertificate"] {
        cp.call(
            "SecurityEventNotification",
            json!({"type": kind, "timestamp": "2026-11-21T09:00:00Z"}),
        )
        .await;
    }
    let events = list(&app, &tenant, &format!("/chargers/{id}/security-events?pageSize=1")).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "InvalidChargingStationCertificate");
    assert!(events[0]["techInfo"].is_null());
    let all = list(&app, &tenant, &format!("/chargers/{id}/security-events")).await;
    assert_eq!(all.len(), 2);
    cp.close().await;
}

/// 1.6 security whitepaper, "Update Charge Point certificate" initiated by the charge point
/// (SignCertificate, then CertificateSigned): a request for the charger's own identity is signed
/// by the configured CA; one for another identity is refused and nothing is issued.
#[tokio::test]
async fn a_1_6_signing_request_is_signed_by_the_configured_ca_and_one_for_another_identity_refused() {
    let pki = TestPki::new("sign16");
    let ca = signing_ca(&pki);
    let app = TestApp::spawn_with(|_, wiring| wiring.gateway.signing_ca = Some(ca)).await;
    let tenant = app.tenant("app").await;
    let registered = app.register_charger(&tenant, "alice", "CP-SEC16-SIGN").await;
    let id = registered["id"].as_str().unwrap();
    let mut cp = PythonChargePoint::connected(
        registered["ocppUrl"].as_str().unwrap(),
        "CP-SEC16-SIGN",
        registered["password"].as_str().unwrap(),
    )
    .await;
    cp.boot("Available").await;

    let (foreign_csr, _) = pki.signing_request("CP-SOMEONE-ELSE");
    let refused = cp.call("SignCertificate", json!({"csr": foreign_csr})).await;
    assert_eq!(refused["status"], "Rejected");
    let garbage = cp.call("SignCertificate", json!({"csr": "not a request"})).await;
    assert_eq!(garbage["status"], "Rejected");
    assert!(list(&app, &tenant, &format!("/chargers/{id}/certificates"))
        .await
        .is_empty());

    let (csr, _) = pki.signing_request("CP-SEC16-SIGN");
    let accepted = cp.call("SignCertificate", json!({"csr": csr})).await;
    assert_eq!(accepted["status"], "Accepted");
    let signed = cp.received("CertificateSigned").await;
    let chain = signed["certificate_chain"].as_str().unwrap();
    assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2, "leaf then CA: {chain}");
    verifies_as_client_certificate(&pki, chain);

    let operation = wait_for("the CertificateSigned operation is answered", || async {
        let operations = list(&app, &tenant, &format!("/chargers/{id}/operations")).await;
        operations
            .into_iter()
            .find(|o| o["kind"] == "CERTIFICATE_SIGNED" && o["status"] == "ACCEPTED")
    })
    .await;
    assert_eq!(operation["ocppAction"], "CertificateSigned");
    let certificates = list(&app, &tenant, &format!("/chargers/{id}/certificates")).await;
    assert_eq!(certificates.len(), 1);
    assert_eq!(certificates[0]["certificateType"], "CHARGING_STATION");
    assert_eq!(certificates[0]["subject"], "CN=CP-SEC16-SIGN,O=Test CPO");
    assert_eq!(certificates[0]["operationId"], operation["id"]);
    assert_eq!(certificates[0]["serialNumber"], operation["request"]["serialNumber"]);
    cp.close().await;
}

/// Checks with rustls's own verifier that `chain` (PEM, leaf first) is a client certificate that
/// chains to the test CA.
fn verifies_as_client_certificate(pki: &TestPki, chain: &str) {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, UnixTime};
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(pki.ca_file()).unwrap())
        .unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build()
    .unwrap();
    verifier
        .verify_client_cert(&certificates[0], &certificates[1..], UnixTime::now())
        .expect("the signed certificate verifies against the CA");
}

/// TC_A_11_CSMS (Update Charging Station Certificate by request of CSMS - Success): over
/// Coupler's own TLS with client certificates, the operator triggers SignChargingStationCertificate,
/// the station sends its SignCertificate, and Coupler delivers a certificate signed by its CA; the
/// station then connects with that certificate under security profile 3. TC_A_14_CSMS: a station
/// that rejects the certificate is recorded so, and its security event stored.
#[tokio::test]
async fn tc_a_11_csms_a_triggered_certificate_signed_by_coupler_lets_the_station_in_with_profile_3() {
    let pki = TestPki::new("sign201");
    let ca = signing_ca(&pki);
    let app = TestApp::spawn_tls(tls_server(&pki, true), pki.ca_pem(), |_, wiring| {
        wiring.gateway.signing_ca = Some(ca);
        wiring.gateway.require_client_certificate = true;
    })
    .await;
    let tenant = app.tenant("app").await;
    let identity = "CS-SEC201-SIGN";
    let registered = app.register_charger(&tenant, "alice", identity).await;
    let id = registered["id"].as_str().unwrap();
    let url = registered["ocppUrl"].as_str().unwrap();
    assert!(url.starts_with("wss://"), "{url}");
    let (chain, key) = pki.client(identity);
    let (mut cp, first) = PythonChargePoint::start_with(
        OcppVersion::V201,
        url,
        identity,
        "not-the-password-at-all",
        &pki.charger_tls(Some((&chain, &key))),
    )
    .await;
    assert_eq!(first["event"], "connected", "{first}");
    cp.boot_201("Available").await;

    let trigger = app
        .operate(
            &tenant,
            id,
            "trigger-message",
            json!({"message": "SignChargingStationCertificate"}),
        )
        .await;
    cp.received_matching("TriggerMessage", |p| {
        p["requested_message"] == "SignChargingStationCertificate"
    })
    .await;
    assert_eq!(
        (&trigger["ocppAction"], &trigger["status"]),
        (&json!("TriggerMessage"), &json!("ACCEPTED")),
        "{trigger}"
    );
    let (csr, new_key) = pki.signing_request(identity);
    let accepted = cp
        .call(
            "SignCertificate",
            json!({"csr": csr, "certificate_type": "ChargingStationCertificate"}),
        )
        .await;
    assert_eq!(accepted["status"], "Accepted", "{accepted}");
    let signed = cp.received("CertificateSigned").await;
    assert_eq!(signed["certificate_type"], "ChargingStationCertificate");
    let new_chain = pki.save("signed.pem", signed["certificate_chain"].as_str().unwrap());
    wait_for("the CertificateSigned operation is answered", || async {
        list(&app, &tenant, &format!("/chargers/{id}/operations"))
            .await
            .into_iter()
            .find(|o| o["kind"] == "CERTIFICATE_SIGNED" && o["status"] == "ACCEPTED")
    })
    .await;
    cp.close().await;

    let mut renewed = PythonChargePoint::connected_with(
        OcppVersion::V201,
        url,
        identity,
        "not-the-password-at-all",
        &pki.charger_tls(Some((&new_chain, &new_key))),
    )
    .await;
    renewed.boot_201("Available").await;

    // TC_A_14_CSMS: the station rejects the next certificate and reports it.
    renewed.set("certificate_signed", "Rejected").await;
    let (csr, _) = pki.signing_request(identity);
    renewed.call("SignCertificate", json!({"csr": csr})).await;
    renewed.received("CertificateSigned").await;
    renewed
        .call(
            "SecurityEventNotification",
            json!({"type": "InvalidChargingStationCertificate", "timestamp": "2026-11-21T09:00:00Z"}),
        )
        .await;
    wait_for("the rejected delivery is recorded", || async {
        list(&app, &tenant, &format!("/chargers/{id}/operations"))
            .await
            .into_iter()
            .find(|o| o["kind"] == "CERTIFICATE_SIGNED" && o["status"] == "REJECTED")
    })
    .await;
    assert_eq!(
        list(&app, &tenant, &format!("/chargers/{id}/certificates")).await.len(),
        2
    );
    let events = list(&app, &tenant, &format!("/chargers/{id}/security-events")).await;
    assert_eq!(events[0]["type"], "InvalidChargingStationCertificate");
    renewed.close().await;
}

/// Security profile 3 (TC_A_08_CSMS, TLS - Client-side certificate - Invalid certificate, and its
/// valid-certificate counterpart): a charger presenting a certificate of the configured CA naming
/// its identity is let in; one presenting none, one from another CA, or one naming another
/// identity is refused.
#[tokio::test]
async fn tc_a_08_csms_profile_3_lets_in_a_charger_with_its_certificate_and_refuses_the_rest() {
    let pki = TestPki::new("profile3");
    let stranger = TestPki::new("stranger");
    let app = TestApp::spawn_tls(tls_server(&pki, true), pki.ca_pem(), |_, wiring| {
        wiring.gateway.require_client_certificate = true;
    })
    .await;
    let tenant = app.tenant("app").await;
    let identity = "CP-SEC-P3";
    let registered = app.register_charger(&tenant, "alice", identity).await;
    let url = registered["ocppUrl"].as_str().unwrap();
    let password = registered["password"].as_str().unwrap();

    let (chain, key) = pki.client(identity);
    let mut cp = PythonChargePoint::connected_with(
        OcppVersion::V16,
        url,
        identity,
        password,
        &pki.charger_tls(Some((&chain, &key))),
    )
    .await;
    cp.boot("Available").await;
    cp.close().await;

    // No certificate: refused before the upgrade, even with the right password.
    let (_, without) =
        PythonChargePoint::start_with(OcppVersion::V16, url, identity, password, &pki.charger_tls(None)).await;
    assert_eq!(without["event"], "refused", "{without}");
    assert_eq!(without["status"], 401, "{without}");

    // Another CA's certificate: refused in the TLS handshake.
    let (chain, key) = stranger.client(identity);
    let (_, foreign) = PythonChargePoint::start_with(
        OcppVersion::V16,
        url,
        identity,
        password,
        &TlsOptions {
            ca_file: Some(pki.ca_file()),
            ..stranger.charger_tls(Some((&chain, &key)))
        },
    )
    .await;
    assert_eq!(foreign["event"], "refused", "{foreign}");
    assert!(foreign["status"].is_null(), "refused by TLS, not HTTP: {foreign}");

    // The configured CA's certificate for another identity: refused at the handshake.
    let (chain, key) = pki.client("CP-SOMEONE-ELSE");
    let (_, other) = PythonChargePoint::start_with(
        OcppVersion::V16,
        url,
        identity,
        password,
        &pki.charger_tls(Some((&chain, &key))),
    )
    .await;
    assert_eq!(other["event"], "refused", "{other}");
    assert_eq!(other["status"], 403, "{other}");
}

/// Security profile 2 without a proxy (TLS served by Coupler, HTTP Basic credentials): the API
/// answers over https, a charger with its password connects over wss, a wrong password is refused.
#[tokio::test]
async fn profile_2_over_coupler_s_own_tls_takes_basic_credentials() {
    let pki = TestPki::new("profile2");
    let app = TestApp::spawn_tls(tls_server(&pki, false), pki.ca_pem(), |_, wiring| {
        wiring.gateway.require_tls = true;
    })
    .await;
    let tenant = app.tenant("app").await;
    let identity = "CS-SEC-P2";
    let registered = app.register_charger(&tenant, "alice", identity).await;
    let url = registered["ocppUrl"].as_str().unwrap();
    assert!(url.starts_with("wss://"), "{url}");
    let password = registered["password"].as_str().unwrap();
    let mut cp =
        PythonChargePoint::connected_with(OcppVersion::V201, url, identity, password, &pki.charger_tls(None)).await;
    cp.boot_201("Available").await;

    // ISO 15118 certificate requests are answered Failed with a reason, as the spec allows a CSMS
    // without a certificate provider or OCSP relay.
    let ev = cp
        .call(
            "Get15118EVCertificate",
            json!({"iso15118_schema_version": "urn:iso:15118:2:2013:MsgDef", "action": "Install", "exi_request": "gAQ="}),
        )
        .await;
    assert_eq!(ev["status"], "Failed", "{ev}");
    assert_eq!(ev["status_info"]["reason_code"], "NoCertProvider", "{ev}");
    let ocsp = cp
        .call(
            "GetCertificateStatus",
            json!({"ocsp_request_data": {"hash_algorithm": "SHA256", "issuer_name_hash": "ab", "issuer_key_hash": "cd",
                   "serial_number": "01", "responder_url": "http://ocsp.example"}}),
        )
        .await;
    assert_eq!(ocsp["status"], "Failed", "{ocsp}");
    assert_eq!(ocsp["status_info"]["reason_code"], "NoOcspResponder", "{ocsp}");
    // Without a signing CA, a signing request is refused, saying so.
    let (csr, _) = pki.signing_request(identity);
    let refused = cp.call("SignCertificate", json!({"csr": csr})).await;
    assert_eq!(refused["status"], "Rejected", "{refused}");
    assert_eq!(refused["status_info"]["reason_code"], "NotEnabled", "{refused}");
    cp.close().await;

    let (_, wrong) = PythonChargePoint::start_with(
        OcppVersion::V201,
        url,
        identity,
        "a-wrong-password-of-some-length",
        &pki.charger_tls(None),
    )
    .await;
    assert_eq!(wrong["event"], "refused", "{wrong}");
    assert_eq!(wrong["status"], 401, "{wrong}");
}
