//! OCPP 2.0.1 certificate management (functional block M: install a CA certificate, retrieve the
//! installed certificates, delete one), walked against an independent charging station (the
//! Python `ocpp` package's 2.0.1 charge point, which validates every message against the official
//! schemas). Tests are named after the OCTT cases of OCA's 2.0.1 test case document they follow,
//! with the CSMS as the system under test (TC_M_nn_CSMS, use cases M03, M04 and M05).

use coupler_tests::ocpp::OcppVersion;
use coupler_tests::pki::TestPki;
use coupler_tests::{Tenant, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

use crate::operator::{booted, delete_refused_naming, operations_of, refused, reported};

async fn install(app: &TestApp, tenant: &Tenant, charger: &str, kind: &str, pem: &str) -> Value {
    app.operate(
        tenant,
        charger,
        "install-certificate",
        json!({"certificateType": kind, "certificate": pem}),
    )
    .await
}

#[tokio::test]
async fn tc_m_01_to_05_install_ca_certificate_of_each_root_type_and_a_failed_installation() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V201, "CS-CERT201-INSTALL").await;

    // TC_M_01 .. TC_M_04: CSMSRootCertificate, ManufacturerRootCertificate, V2GRootCertificate,
    // MORootCertificate, each installed.
    for kind in [
        "CSMSRootCertificate",
        "ManufacturerRootCertificate",
        "V2GRootCertificate",
        "MORootCertificate",
    ] {
        let root = TestPki::new(kind);
        let installed = install(&app, &tenant, &id, kind, root.ca_pem()).await;
        let sent = cp.received("InstallCertificate").await;
        assert_eq!(sent["certificate_type"], kind);
        assert_eq!(sent["certificate"], root.ca_pem());
        assert_eq!(installed["kind"], "INSTALL_CERTIFICATE");
        assert_eq!(
            (&installed["status"], &installed["answer"]["status"]),
            (&json!("ACCEPTED"), &json!("Accepted")),
            "{kind}"
        );
    }

    // TC_M_05 (Install CA certificate - Failed), and a station that rejects the certificate.
    let root = TestPki::new("refused");
    for refusal in ["Failed", "Rejected"] {
        cp.set("install_certificate", refusal).await;
        let refused_install = install(&app, &tenant, &id, "CSMSRootCertificate", root.ca_pem()).await;
        cp.received("InstallCertificate").await;
        assert_eq!(
            (&refused_install["status"], &refused_install["answer"]["status"]),
            (&json!("REJECTED"), &json!(refusal))
        );
    }
    let before = operations_of(&app, &tenant, &id).await.len();

    // The 1.6 name, a chain that is not installed this way, and what is not a PEM certificate are
    // refused; nothing is stored and nothing sent.
    let bad = refused(
        &app,
        &tenant,
        &id,
        "install-certificate",
        json!({"certificateType": "CentralSystemRootCertificate", "certificate": root.ca_pem()}),
    )
    .await;
    assert_eq!(bad["errors"][0]["pointer"], "/certificateType");
    assert_eq!(
        bad["errors"][0]["allowed"],
        json!([
            "CSMSRootCertificate",
            "ManufacturerRootCertificate",
            "V2GRootCertificate",
            "MORootCertificate",
            "V2GCertificateChain"
        ])
    );
    let chain = refused(
        &app,
        &tenant,
        &id,
        "install-certificate",
        json!({"certificateType": "V2GCertificateChain", "certificate": root.ca_pem()}),
    )
    .await;
    assert_eq!(chain["errors"][0]["pointer"], "/certificateType");
    let csr = root.signing_request("not-a-certificate").0;
    let not_certificate = refused(
        &app,
        &tenant,
        &id,
        "install-certificate",
        json!({"certificateType": "CSMSRootCertificate", "certificate": csr}),
    )
    .await;
    assert_eq!(not_certificate["errors"][0]["pointer"], "/certificate");
    let too_long = format!("{}{}", root.ca_pem(), " ".repeat(5500));
    let bad = refused(
        &app,
        &tenant,
        &id,
        "install-certificate",
        json!({"certificateType": "CSMSRootCertificate", "certificate": too_long}),
    )
    .await;
    assert_eq!(bad["errors"][0]["pointer"], "/certificate");
    assert_eq!(operations_of(&app, &tenant, &id).await.len(), before);
    cp.close().await;
}

#[tokio::test]
async fn tc_m_12_to_19_retrieve_certificates_by_type_all_types_a_chain_with_its_sub_ca_and_none_found() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V201, "CS-CERT201-LIST").await;

    // TC_M_19 (no matching certificate): NotFound, an answer like any other.
    let none = app
        .operate(
            &tenant,
            &id,
            "get-installed-certificate-ids",
            json!({"certificateTypes": ["ManufacturerRootCertificate"]}),
        )
        .await;
    assert_eq!(
        cp.received("GetInstalledCertificateIds").await["certificate_type"],
        json!(["ManufacturerRootCertificate"])
    );
    assert_eq!(
        (&none["status"], &none["answer"]["status"]),
        (&json!("ACCEPTED"), &json!("NotFound"))
    );

    // TC_M_12: CSMSRootCertificates, reported with SHA256, SHA384 and SHA512 hash data.
    for algorithm in ["SHA256", "SHA384", "SHA512"] {
        cp.set("hash_algorithm", algorithm).await;
        let root = TestPki::new(&format!("csms-{algorithm}"));
        install(&app, &tenant, &id, "CSMSRootCertificate", root.ca_pem()).await;
        cp.received("InstallCertificate").await;
    }
    let csms = app
        .operate(
            &tenant,
            &id,
            "get-installed-certificate-ids",
            json!({"certificateTypes": ["CSMSRootCertificate"]}),
        )
        .await;
    assert_eq!(
        cp.received("GetInstalledCertificateIds").await["certificate_type"],
        json!(["CSMSRootCertificate"])
    );
    let algorithms: Vec<Value> = reported(&csms)
        .iter()
        .map(|c| {
            assert_eq!(c["certificateType"], "CSMSRootCertificate");
            c["certificateHashData"]["hashAlgorithm"].clone()
        })
        .collect();
    assert_eq!(algorithms, [json!("SHA256"), json!("SHA384"), json!("SHA512")]);

    // TC_M_13 / TC_M_17: a manufacturer root, asked for alone and beside the CSMS roots.
    let manufacturer = TestPki::new("manufacturer");
    install(&app, &tenant, &id, "ManufacturerRootCertificate", manufacturer.ca_pem()).await;
    cp.received("InstallCertificate").await;
    let both = app
        .operate(
            &tenant,
            &id,
            "get-installed-certificate-ids",
            json!({"certificateTypes": ["CSMSRootCertificate", "ManufacturerRootCertificate"]}),
        )
        .await;
    assert_eq!(
        cp.received("GetInstalledCertificateIds").await["certificate_type"],
        json!(["CSMSRootCertificate", "ManufacturerRootCertificate"])
    );
    assert_eq!(reported(&both).len(), 4);

    // TC_M_15: the station's V2G certificate chain, with the sub-CA below it.
    cp.set("v2g_chain", "on").await;
    let chain = app
        .operate(
            &tenant,
            &id,
            "get-installed-certificate-ids",
            json!({"certificateTypes": ["V2GCertificateChain"]}),
        )
        .await;
    cp.received("GetInstalledCertificateIds").await;
    let chains = reported(&chain);
    assert_eq!(chains.len(), 1, "{chain}");
    assert_eq!(chains[0]["certificateType"], "V2GCertificateChain");
    assert_eq!(chains[0]["childCertificateHashData"].as_array().map(Vec::len), Some(1));

    // TC_M_18: every type, the request naming none.
    let all = app
        .operate(&tenant, &id, "get-installed-certificate-ids", json!({}))
        .await;
    assert_eq!(
        cp.received("GetInstalledCertificateIds").await,
        json!({"certificate_type": null})
    );
    assert_eq!(all["request"], json!({}));
    assert_eq!(reported(&all).len(), 5);

    // Types named twice or of 1.6, and an empty list, are refused; nothing is stored.
    let before = operations_of(&app, &tenant, &id).await.len();
    let twice = refused(
        &app,
        &tenant,
        &id,
        "get-installed-certificate-ids",
        json!({"certificateTypes": ["MORootCertificate", "MORootCertificate"]}),
    )
    .await;
    assert_eq!(twice["errors"][0]["pointer"], "/certificateTypes/1");
    let v16 = refused(
        &app,
        &tenant,
        &id,
        "get-installed-certificate-ids",
        json!({"certificateTypes": ["CentralSystemRootCertificate"]}),
    )
    .await;
    assert_eq!(v16["errors"][0]["pointer"], "/certificateTypes/0");
    let empty = refused(
        &app,
        &tenant,
        &id,
        "get-installed-certificate-ids",
        json!({"certificateTypes": []}),
    )
    .await;
    assert_eq!(empty["errors"][0]["pointer"], "/certificateTypes");
    assert_eq!(operations_of(&app, &tenant, &id).await.len(), before);
    cp.close().await;
}

#[tokio::test]
async fn tc_m_20_and_21_delete_a_certificate_with_each_hash_algorithm_and_a_failed_deletion() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V201, "CS-CERT201-DELETE").await;

    // TC_M_20: installed, retrieved, then deleted with the very hash data the station reported.
    for algorithm in ["SHA256", "SHA384", "SHA512"] {
        cp.set("hash_algorithm", algorithm).await;
        let root = TestPki::new(&format!("delete-{algorithm}"));
        install(&app, &tenant, &id, "CSMSRootCertificate", root.ca_pem()).await;
        cp.received("InstallCertificate").await;
        let listed = app
            .operate(&tenant, &id, "get-installed-certificate-ids", json!({}))
            .await;
        cp.received("GetInstalledCertificateIds").await;
        let certificates = reported(&listed);
        assert_eq!(certificates.len(), 1, "{listed}");
        let hash = certificates[0]["certificateHashData"].clone();
        assert_eq!(hash["hashAlgorithm"], algorithm);
        let deleted = app
            .operate(&tenant, &id, "delete-certificate", json!({"certificateHashData": hash}))
            .await;
        let sent = cp.received("DeleteCertificate").await["certificate_hash_data"].clone();
        assert_eq!(
            sent,
            json!({
                "hash_algorithm": algorithm,
                "issuer_name_hash": hash["issuerNameHash"],
                "issuer_key_hash": hash["issuerKeyHash"],
                "serial_number": hash["serialNumber"],
            })
        );
        assert_eq!(
            (&deleted["status"], &deleted["answer"]["status"]),
            (&json!("ACCEPTED"), &json!("Accepted"))
        );
    }
    let gone = app
        .operate(&tenant, &id, "get-installed-certificate-ids", json!({}))
        .await;
    cp.received("GetInstalledCertificateIds").await;
    assert_eq!(gone["answer"]["status"], "NotFound");

    // Hash data as OCTT's station reports it (64 digits whatever the algorithm) is sent back as is.
    let octt = json!({"hashAlgorithm": "SHA512", "issuerNameHash": "aabbccdd".repeat(8),
                      "issuerKeyHash": "eeff0011".repeat(8), "serialNumber": "01020304"});
    let not_found = app
        .operate(&tenant, &id, "delete-certificate", json!({"certificateHashData": octt}))
        .await;
    cp.received("DeleteCertificate").await;
    assert_eq!(
        (&not_found["status"], &not_found["answer"]["status"]),
        (&json!("REJECTED"), &json!("NotFound"))
    );

    // TC_M_21 (Delete a certificate - Failed).
    let root = TestPki::new("kept");
    install(&app, &tenant, &id, "CSMSRootCertificate", root.ca_pem()).await;
    cp.received("InstallCertificate").await;
    let listed = app
        .operate(&tenant, &id, "get-installed-certificate-ids", json!({}))
        .await;
    cp.received("GetInstalledCertificateIds").await;
    let hash = reported(&listed)[0]["certificateHashData"].clone();
    cp.set("delete_certificate", "Failed").await;
    let failed = app
        .operate(&tenant, &id, "delete-certificate", json!({"certificateHashData": hash}))
        .await;
    cp.received("DeleteCertificate").await;
    assert_eq!(
        (&failed["status"], &failed["answer"]["status"]),
        (&json!("REJECTED"), &json!("Failed"))
    );

    // Bad hash data is refused naming the field; nothing is stored; another client gets 404.
    let before = operations_of(&app, &tenant, &id).await.len();
    delete_refused_naming(&app, &tenant, &id, &hash, "serialNumber", json!("")).await;
    delete_refused_naming(&app, &tenant, &id, &hash, "issuerNameHash", json!("a".repeat(129))).await;
    let mut missing = hash.clone();
    missing.as_object_mut().unwrap().remove("issuerKeyHash");
    refused(
        &app,
        &tenant,
        &id,
        "delete-certificate",
        json!({"certificateHashData": missing}),
    )
    .await;
    let other = app.tenant("other").await;
    let response = app
        .as_tenant(
            &other,
            Method::POST,
            &format!("/chargers/{id}/operations/delete-certificate"),
        )
        .json(&json!({"certificateHashData": hash}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(operations_of(&app, &tenant, &id).await.len(), before);
    cp.close().await;
}
