//! Authorisation against independent charge points (the Python `ocpp` package, which validates
//! every message against the official schemas): id tokens registered per user answer Authorize,
//! StartTransaction, StopTransaction (1.6) and Authorize, TransactionEvent (2.0.1); the policy
//! for unknown tokens; local authorisation lists kept in step; tokens kept per tenant. Each
//! conformance test names the OCA test case it walks, with Coupler as the system under test:
//! "OCPP 1.6 Compliancy Testing Tool - Test Case Document" (TC_xxx_CSMS) and "OCPP 2.0.1 Part 6 -
//! Test Cases" (TC_C_xx_CSMS; the local list by the 2.0.1 use cases D01 and D02).

use coupler_tests::ocpp::{OcppVersion, PythonChargePoint};
use coupler_tests::{problem, wait_for, Tenant, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

/// A charger of `user`, connected as `version`, with `settings` made on the charge point before
/// it boots (what it declares at boot decides what Coupler sends it).
async fn charger(
    app: &TestApp,
    tenant: &Tenant,
    user: &str,
    ocpp_id: &str,
    version: OcppVersion,
    settings: &[(&str, &str)],
) -> (String, PythonChargePoint) {
    let registered = app.register_charger(tenant, user, ocpp_id).await;
    let url = registered["ocppUrl"].as_str().unwrap();
    let mut cp = PythonChargePoint::connected_as(version, url, ocpp_id, registered["password"].as_str().unwrap()).await;
    for (key, value) in settings {
        cp.set(key, value).await;
    }
    match version {
        OcppVersion::V16 => cp.boot("Available").await,
        OcppVersion::V201 => cp.boot_201("Available").await,
    };
    (registered["id"].as_str().unwrap().to_owned(), cp)
}

async fn register(app: &TestApp, tenant: &Tenant, user: &str, token: Value) -> Value {
    app.post_json_status(tenant, &format!("/users/{user}/id-tokens"), token, 201)
        .await
}

async fn patch(app: &TestApp, tenant: &Tenant, user: &str, id: &str, change: Value) -> Value {
    let response = app
        .as_tenant(tenant, Method::PATCH, &format!("/users/{user}/id-tokens/{id}"))
        .json(&change)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "PATCH {change}");
    response.json().await.unwrap()
}

async fn put(app: &TestApp, tenant: &Tenant, path: &str, body: Value) -> reqwest::Response {
    app.as_tenant(tenant, Method::PUT, path)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn session(app: &TestApp, tenant: &Tenant, charger: &str) -> Value {
    app.get_json(tenant, &format!("/chargers/{charger}/sessions")).await["data"][0].clone()
}

async fn authorize_16(cp: &mut PythonChargePoint, tag: &str) -> Value {
    cp.call("Authorize", json!({"id_tag": tag})).await["id_tag_info"].clone()
}

async fn authorize_201(cp: &mut PythonChargePoint, token: &str, kind: &str) -> Value {
    cp.call("Authorize", json!({"id_token": {"idToken": token, "type": kind}}))
        .await["id_token_info"]
        .clone()
}

fn now() -> String {
    coupler_core::time::now().to_rfc3339()
}

/// TC_023_3_CSMS "Start Charging Session – Authorize blocked", carried on into the transaction: a
/// blocked card is refused at Authorize and at StartTransaction; the session the charger started
/// anyway is stored, marked BLOCKED; a stop with the card is answered Blocked too. An accepted card
/// of the same user is told its expiry date and group.
#[tokio::test]
async fn tc_023_3_a_blocked_card_is_refused_at_authorize_and_at_start_transaction() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = charger(&app, &tenant, "alice", "CP-AUTH16-BLOCK", OcppVersion::V16, &[]).await;
    register(
        &app,
        &tenant,
        "alice",
        json!({"kind": "RFID", "value": "B10CKED1", "status": "BLOCKED"}),
    )
    .await;
    let card = register(
        &app,
        &tenant,
        "alice",
        json!({"kind": "ISO14443", "value": "04a2b3c4", "expiresAt": "2099-01-01T00:00:00Z", "groupId": "FAMILY", "label": "Anna"}),
    )
    .await;
    assert_eq!(card["status"], "ACCEPTED");

    assert_eq!(authorize_16(&mut cp, "B10CKED1").await["status"], "Blocked");
    let accepted = authorize_16(&mut cp, "04A2B3C4").await;
    assert_eq!(accepted["status"], "Accepted", "cards match case-insensitively");
    assert_eq!(accepted["parent_id_tag"], "FAMILY");
    assert!(
        accepted["expiry_date"].as_str().unwrap().starts_with("2099-01-01"),
        "{accepted}"
    );

    let started = cp
        .call(
            "StartTransaction",
            json!({"connector_id": 1, "id_tag": "B10CKED1", "meter_start": 1000, "timestamp": now()}),
        )
        .await;
    assert_eq!(started["id_tag_info"]["status"], "Blocked");
    let transaction_id = started["transaction_id"].as_i64().unwrap();
    let stored = session(&app, &tenant, &id).await;
    assert_eq!(
        stored["id"], transaction_id,
        "the session is stored whatever the verdict"
    );
    assert_eq!(stored["authorisation"], "BLOCKED");

    let stopped = cp
        .call(
            "StopTransaction",
            json!({"transaction_id": transaction_id, "id_tag": "B10CKED1", "meter_stop": 1000, "timestamp": now(), "reason": "DeAuthorized"}),
        )
        .await;
    assert_eq!(stopped["id_tag_info"]["status"], "Blocked");
    let accepted_start = cp
        .call(
            "StartTransaction",
            json!({"connector_id": 1, "id_tag": "04A2B3C4", "meter_start": 1000, "timestamp": now()}),
        )
        .await;
    assert_eq!(accepted_start["id_tag_info"]["status"], "Accepted");
    assert_eq!(session(&app, &tenant, &id).await["authorisation"], "ACCEPTED");
    cp.close().await;
}

/// TC_023_1_CSMS "Start Charging Session – Authorize invalid": an unknown card is accepted under
/// the default policy (ACCEPT, as before tokens existed), refused as Invalid once its owner's
/// policy is REJECT, accepted again when the charger's own policy overrides the owner's; a card
/// registered as INVALID is refused whatever the policy. Coupler's own remote-start tag is always
/// accepted.
#[tokio::test]
async fn tc_023_1_an_unknown_card_is_accepted_under_the_accept_policy_and_refused_under_reject() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = charger(&app, &tenant, "alice", "CP-AUTH16-UNKNOWN", OcppVersion::V16, &[]).await;
    assert_eq!(authorize_16(&mut cp, "NOBODY").await["status"], "Accepted");
    let policy = app.get_json(&tenant, "/users/alice/id-token-policy").await;
    assert_eq!(policy, json!({"unknownTokens": "ACCEPT"}));

    let set = put(
        &app,
        &tenant,
        "/users/alice/id-token-policy",
        json!({"unknownTokens": "REJECT"}),
    )
    .await;
    assert_eq!(set.status(), 200);
    assert_eq!(authorize_16(&mut cp, "NOBODY").await["status"], "Invalid");
    let started = cp
        .call(
            "StartTransaction",
            json!({"connector_id": 1, "id_tag": "NOBODY", "meter_start": 0, "timestamp": now()}),
        )
        .await;
    assert_eq!(started["id_tag_info"]["status"], "Invalid");
    assert_eq!(session(&app, &tenant, &id).await["authorisation"], "UNKNOWN");
    assert_eq!(
        authorize_16(&mut cp, "COUPLER").await["status"],
        "Accepted",
        "Coupler's own tag"
    );

    let own = put(
        &app,
        &tenant,
        &format!("/chargers/{id}/id-token-policy"),
        json!({"unknownTokens": "ACCEPT"}),
    )
    .await;
    assert_eq!(own.status(), 200);
    let own: Value = own.json().await.unwrap();
    assert_eq!(
        own,
        json!({"unknownTokens": "ACCEPT", "ownerUnknownTokens": "REJECT", "effectiveUnknownTokens": "ACCEPT"})
    );
    assert_eq!(authorize_16(&mut cp, "NOBODY").await["status"], "Accepted");
    put(
        &app,
        &tenant,
        &format!("/chargers/{id}/id-token-policy"),
        json!({"unknownTokens": null}),
    )
    .await;
    assert_eq!(authorize_16(&mut cp, "NOBODY").await["status"], "Invalid");

    register(
        &app,
        &tenant,
        "alice",
        json!({"kind": "RFID", "value": "WITHDRAWN", "status": "INVALID"}),
    )
    .await;
    put(
        &app,
        &tenant,
        "/users/alice/id-token-policy",
        json!({"unknownTokens": "ACCEPT"}),
    )
    .await;
    assert_eq!(authorize_16(&mut cp, "WITHDRAWN").await["status"], "Invalid");
    cp.close().await;
}

/// TC_023_2_CSMS "Start Charging Session – Authorize expired": a card registered EXPIRED, and an
/// accepted card once past its expiry date, are refused as Expired.
#[tokio::test]
async fn tc_023_2_an_expired_card_and_one_past_its_expiry_date_are_refused_as_expired() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (_, mut cp) = charger(&app, &tenant, "alice", "CP-AUTH16-EXPIRED", OcppVersion::V16, &[]).await;
    register(
        &app,
        &tenant,
        "alice",
        json!({"kind": "RFID", "value": "OLDCARD", "status": "EXPIRED"}),
    )
    .await;
    let lapsed = register(
        &app,
        &tenant,
        "alice",
        json!({"kind": "RFID", "value": "LAPSED", "expiresAt": "2020-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(
        (&lapsed["status"], &lapsed["effectiveStatus"]),
        (&json!("ACCEPTED"), &json!("EXPIRED"))
    );
    assert_eq!(authorize_16(&mut cp, "OLDCARD").await["status"], "Expired");
    assert_eq!(authorize_16(&mut cp, "LAPSED").await["status"], "Expired");
    let renewed = patch(
        &app,
        &tenant,
        "alice",
        lapsed["id"].as_str().unwrap(),
        json!({"expiresAt": null}),
    )
    .await;
    assert_eq!(renewed["effectiveStatus"], "ACCEPTED");
    assert_eq!(authorize_16(&mut cp, "LAPSED").await["status"], "Accepted");
    cp.close().await;
}

fn tags_of(list: &Value) -> Vec<(String, Option<String>)> {
    let mut tags: Vec<(String, Option<String>)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["id_tag"].as_str().unwrap().to_owned(),
                e["id_tag_info"]["status"].as_str().map(str::to_owned),
            )
        })
        .collect();
    tags.sort();
    tags
}

/// TC_043_4_CSMS "Send Local Authorization List - Full" and TC_043_5_CSMS "... - Differential":
/// a charger that declares LocalAuthListManagement gets its owner's tokens as a full list after
/// its boot; each token change then asks GetLocalListVersion and sends just the change; a forced
/// sync sends the whole list again. Every message is an operation record of the charger.
#[tokio::test]
async fn tc_043_4_and_5_the_local_list_is_sent_full_then_differential_on_token_changes() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    register(&app, &tenant, "alice", json!({"kind": "RFID", "value": "CARD1"})).await;
    register(
        &app,
        &tenant,
        "alice",
        json!({"kind": "MAC_ADDRESS", "value": "00:1a:2b:3c:4d:5e", "status": "BLOCKED"}),
    )
    .await;
    let (id, mut cp) = charger(
        &app,
        &tenant,
        "alice",
        "CP-AUTH16-LIST",
        OcppVersion::V16,
        &[("local_list", "on")],
    )
    .await;

    let full = cp.received("SendLocalList").await;
    assert_eq!(
        (&full["update_type"], &full["list_version"]),
        (&json!("Full"), &json!(1))
    );
    assert_eq!(
        tags_of(&full["local_authorization_list"]),
        vec![
            ("CARD1".to_owned(), Some("Accepted".to_owned())),
            ("VID:001A2B3C4D5E".to_owned(), Some("Blocked".to_owned())),
        ]
    );

    let added = register(
        &app,
        &tenant,
        "alice",
        json!({"kind": "ISO14443", "value": "CARD2", "groupId": "FAMILY"}),
    )
    .await;
    assert_eq!(cp.received("GetLocalListVersion").await, json!({}));
    let differential = cp.received("SendLocalList").await;
    assert_eq!(
        (&differential["update_type"], &differential["list_version"]),
        (&json!("Differential"), &json!(2))
    );
    assert_eq!(
        differential["local_authorization_list"],
        json!([{"id_tag": "CARD2", "id_tag_info": {"status": "Accepted", "parent_id_tag": "FAMILY"}}])
    );

    patch(
        &app,
        &tenant,
        "alice",
        added["id"].as_str().unwrap(),
        json!({"status": "BLOCKED"}),
    )
    .await;
    let blocked = cp.received_matching("SendLocalList", |p| p["list_version"] == 3).await;
    assert_eq!(
        tags_of(&blocked["local_authorization_list"]),
        vec![("CARD2".to_owned(), Some("Blocked".to_owned()))]
    );

    let deleted = app
        .as_tenant(
            &tenant,
            Method::DELETE,
            &format!("/users/alice/id-tokens/{}", added["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let removed = cp.received_matching("SendLocalList", |p| p["list_version"] == 4).await;
    assert_eq!(
        removed["local_authorization_list"],
        json!([{"id_tag": "CARD2"}]),
        "no idTagInfo: removed"
    );

    let version = app.get_json(&tenant, &format!("/chargers/{id}/local-list")).await;
    assert_eq!(
        (&version["chargerVersion"], &version["couplerVersion"]),
        (&json!(4), &json!(4))
    );
    assert_eq!(
        (&version["inStep"], &version["couplerEntries"]),
        (&json!(true), &json!(2))
    );
    assert_eq!(version["operation"]["kind"], "GET_LOCAL_LIST_VERSION");

    let synced = app
        .post_json(&tenant, &format!("/chargers/{id}/local-list/sync"), json!({}))
        .await;
    assert_eq!(synced["operation"]["kind"], "SEND_LOCAL_LIST");
    assert_eq!(synced["operation"]["answer"]["status"], "Accepted");
    let resent = cp.received_matching("SendLocalList", |p| p["list_version"] == 5).await;
    assert_eq!(resent["update_type"], "Full");

    let operations = app.get_json(&tenant, &format!("/chargers/{id}/operations")).await["data"].clone();
    let sends = operations
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "SEND_LOCAL_LIST")
        .count();
    assert_eq!(sends, 5, "{operations}");
    cp.close().await;
}

/// A differential update the charger refuses with VersionMismatch (it lost its list) is followed
/// by the whole list; a charger that keeps no local list gets none, and a forced sync says why.
#[tokio::test]
async fn a_version_mismatch_is_answered_with_the_whole_list_and_a_charger_without_a_list_gets_none() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    register(&app, &tenant, "alice", json!({"kind": "RFID", "value": "CARD1"})).await;
    let (_, mut cp) = charger(
        &app,
        &tenant,
        "alice",
        "CP-AUTH16-MISMATCH",
        OcppVersion::V16,
        &[("local_list", "on")],
    )
    .await;
    cp.received_matching("SendLocalList", |p| p["list_version"] == 1).await;
    cp.set("send_local_list", "VersionMismatch").await;
    register(&app, &tenant, "alice", json!({"kind": "RFID", "value": "CARD2"})).await;
    let refused = cp
        .received_matching("SendLocalList", |p| p["update_type"] == "Differential")
        .await;
    cp.set("send_local_list", "Accepted").await;
    assert_eq!(refused["list_version"], 2);
    let whole = cp
        .received_matching("SendLocalList", |p| {
            p["update_type"] == "Full" && p["list_version"] == 2
        })
        .await;
    assert_eq!(whole["local_authorization_list"].as_array().unwrap().len(), 2);
    cp.close().await;

    // The check a forced sync makes is the one every sync makes: a charger that declares no list
    // gets none.
    let (plain, _plain_cp) = charger(&app, &tenant, "alice", "CP-AUTH16-NOLIST", OcppVersion::V16, &[]).await;
    let response = app
        .as_tenant(&tenant, Method::POST, &format!("/chargers/{plain}/local-list/sync"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(problem(response).await["detail"]
        .as_str()
        .unwrap()
        .contains("LocalAuthListManagement"));
}

/// TC_C_06_CSMS "Local start transaction - Authorization Blocked": a blocked token is refused at
/// Authorize and in the TransactionEvent that carries it; the session is kept, marked BLOCKED.
#[tokio::test]
async fn tc_c_06_a_blocked_token_is_refused_at_authorize_and_in_its_transaction_event() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = charger(&app, &tenant, "alice", "CP-AUTH201-BLOCK", OcppVersion::V201, &[]).await;
    register(
        &app,
        &tenant,
        "alice",
        json!({"kind": "ISO14443", "value": "B10CKED2", "status": "BLOCKED"}),
    )
    .await;
    register(
        &app,
        &tenant,
        "alice",
        json!({"kind": "EMAID", "value": "DE-8AA-1A2B3C4D5", "groupId": "FLEET"}),
    )
    .await;

    assert_eq!(
        authorize_201(&mut cp, "B10CKED2", "ISO14443").await["status"],
        "Blocked"
    );
    let emaid = authorize_201(&mut cp, "DE8AA1A2B3C4D5", "eMAID").await;
    assert_eq!(emaid["status"], "Accepted");
    assert_eq!(emaid["group_id_token"], json!({"id_token": "FLEET", "type": "Central"}));

    let started = cp
        .call(
            "TransactionEvent",
            json!({"event_type": "Started", "timestamp": now(), "trigger_reason": "Authorized", "seq_no": 0,
                   "transaction_info": {"transactionId": "tx-blocked", "chargingState": "EVConnected"},
                   "evse": {"id": 1, "connectorId": 1}, "id_token": {"idToken": "B10CKED2", "type": "ISO14443"}}),
        )
        .await;
    assert_eq!(started["id_token_info"]["status"], "Blocked");
    assert_eq!(session(&app, &tenant, &id).await["authorisation"], "BLOCKED");
    let update = cp
        .call(
            "TransactionEvent",
            json!({"event_type": "Updated", "timestamp": now(), "trigger_reason": "MeterValuePeriodic", "seq_no": 1,
                   "transaction_info": {"transactionId": "tx-blocked"}}),
        )
        .await;
    assert!(
        update.get("id_token_info").is_none_or(Value::is_null),
        "no token, no idTokenInfo: {update}"
    );
    cp.close().await;
}

/// TC_C_02_CSMS "Local start transaction - Authorization Invalid/Unknown": an unknown token is
/// accepted under the default policy and answered Unknown under REJECT; a token registered INVALID
/// is answered Invalid. A NoAuthorization token asks for nothing and is accepted.
#[tokio::test]
async fn tc_c_02_an_unknown_token_is_accepted_or_refused_as_unknown_by_policy() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (_, mut cp) = charger(&app, &tenant, "alice", "CP-AUTH201-UNKNOWN", OcppVersion::V201, &[]).await;
    assert_eq!(authorize_201(&mut cp, "NOBODY", "ISO14443").await["status"], "Accepted");
    put(
        &app,
        &tenant,
        "/users/alice/id-token-policy",
        json!({"unknownTokens": "REJECT"}),
    )
    .await;
    assert_eq!(authorize_201(&mut cp, "NOBODY", "ISO14443").await["status"], "Unknown");
    register(
        &app,
        &tenant,
        "alice",
        json!({"kind": "KEY_CODE", "value": "1234", "status": "INVALID"}),
    )
    .await;
    assert_eq!(authorize_201(&mut cp, "1234", "KeyCode").await["status"], "Invalid");
    assert_eq!(
        authorize_201(&mut cp, "", "NoAuthorization").await["status"],
        "Accepted"
    );
    cp.close().await;
}

/// TC_C_07_CSMS "Local start transaction - Authorization Expired": an expired token is answered
/// Expired at Authorize and in its TransactionEvent.
#[tokio::test]
async fn tc_c_07_an_expired_token_is_refused_as_expired() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (_, mut cp) = charger(&app, &tenant, "alice", "CP-AUTH201-EXPIRED", OcppVersion::V201, &[]).await;
    register(
        &app,
        &tenant,
        "alice",
        json!({"kind": "ISO15693", "value": "E0040150", "expiresAt": "2021-06-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(
        authorize_201(&mut cp, "E0040150", "ISO15693").await["status"],
        "Expired"
    );
    let started = cp
        .call(
            "TransactionEvent",
            json!({"event_type": "Started", "timestamp": now(), "trigger_reason": "Authorized", "seq_no": 0,
                   "transaction_info": {"transactionId": "tx-expired"},
                   "evse": {"id": 1, "connectorId": 1}, "id_token": {"idToken": "E0040150", "type": "ISO15693"}}),
        )
        .await;
    assert_eq!(started["id_token_info"]["status"], "Expired");
    cp.close().await;
}

/// Use cases D01 (Send Local Authorization List) and D02 (Get Local List Version) on a 2.0.1
/// station whose LocalAuthListCtrlr is enabled: the whole list after its boot, a differential
/// update after a token change.
#[tokio::test]
async fn d01_d02_a_2_0_1_station_gets_its_local_list_full_then_differential() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    register(&app, &tenant, "alice", json!({"kind": "RFID", "value": "CARD1"})).await;
    let (id, mut cp) = charger(
        &app,
        &tenant,
        "alice",
        "CP-AUTH201-LIST",
        OcppVersion::V201,
        &[("local_list", "true")],
    )
    .await;
    let full = cp.received("SendLocalList").await;
    assert_eq!(
        (&full["update_type"], &full["version_number"]),
        (&json!("Full"), &json!(1))
    );
    assert_eq!(
        full["local_authorization_list"],
        json!([{"id_token": {"id_token": "CARD1", "type": "ISO14443"}, "id_token_info": {"status": "Accepted"}}])
    );
    register(
        &app,
        &tenant,
        "alice",
        json!({"kind": "MAC_ADDRESS", "value": "001A2B3C4D5E", "status": "BLOCKED"}),
    )
    .await;
    cp.received("GetLocalListVersion").await;
    let differential = cp
        .received_matching("SendLocalList", |p| p["update_type"] == "Differential")
        .await;
    assert_eq!(differential["version_number"], 2);
    assert_eq!(
        differential["local_authorization_list"],
        json!([{"id_token": {"id_token": "001A2B3C4D5E", "type": "MacAddress"}, "id_token_info": {"status": "Blocked"}}])
    );
    let version = app.get_json(&tenant, &format!("/chargers/{id}/local-list")).await;
    assert_eq!(
        (&version["chargerVersion"], &version["inStep"]),
        (&json!(2), &json!(true))
    );
    cp.close().await;
}

/// Tokens belong to one client's user: another client sees none of them, cannot change or delete
/// them, nor read or set the policy of a charger that is not its own; bad values are 422 naming
/// the field and store nothing; a token presented the same way twice is 409; each change is an
/// event carrying the token.
#[tokio::test]
async fn id_tokens_are_kept_per_tenant_validated_and_announced_as_events() {
    let app = TestApp::spawn().await;
    let a = app.tenant("a").await;
    let b = app.tenant("b").await;
    let charger = app.register_charger(&a, "alice", "CP-AUTH-TENANT").await;
    let charger_id = charger["id"].as_str().unwrap();
    let card = register(&app, &a, "alice", json!({"kind": "RFID", "value": "AA11BB22"})).await;
    let card_id = card["id"].as_str().unwrap();

    for path in [
        format!("/users/alice/id-tokens/{card_id}"),
        "/users/alice/id-tokens".to_owned(),
        "/users/alice/id-token-policy".to_owned(),
        format!("/chargers/{charger_id}/id-token-policy"),
    ] {
        let response = app.as_tenant(&b, Method::GET, &path).send().await.unwrap();
        assert_eq!(response.status(), 404, "GET {path} as another client");
    }
    let patched = app
        .as_tenant(&b, Method::PATCH, &format!("/users/alice/id-tokens/{card_id}"))
        .json(&json!({"status": "BLOCKED"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 404);
    let deleted = app
        .as_tenant(&b, Method::DELETE, &format!("/users/alice/id-tokens/{card_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 404);
    let put_other = put(
        &app,
        &b,
        &format!("/chargers/{charger_id}/id-token-policy"),
        json!({"unknownTokens": "REJECT"}),
    )
    .await;
    assert_eq!(put_other.status(), 404);
    let own = app.get_json(&a, &format!("/users/alice/id-tokens/{card_id}")).await;
    assert_eq!(own["status"], "ACCEPTED", "untouched");

    for (body, pointer) in [
        (json!({"kind": "RFID", "value": ""}), "/value"),
        (json!({"kind": "RFID", "value": "has space"}), "/value"),
        (json!({"kind": "MAC_ADDRESS", "value": "00:11"}), "/value"),
        (json!({"kind": "FINGERPRINT", "value": "X"}), "/kind"),
        (json!({"kind": "RFID", "value": "X", "status": "MAYBE"}), "/status"),
        (
            json!({"kind": "RFID", "value": "X", "groupId": "G".repeat(21)}),
            "/groupId",
        ),
    ] {
        let response = app
            .as_tenant(&a, Method::POST, "/users/alice/id-tokens")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{body}");
        let problem = problem(response).await;
        assert_eq!(problem["errors"][0]["pointer"], pointer, "{problem}");
    }
    let twice = app
        .as_tenant(&a, Method::POST, "/users/alice/id-tokens")
        .json(&json!({"kind": "ISO14443", "value": "aa11bb22"}))
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), 409);
    let listed = app.get_json(&a, "/users/alice/id-tokens").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "bad input stored nothing");

    // b's own "alice" is another user, with tokens of its own.
    register(&app, &b, "alice", json!({"kind": "RFID", "value": "AA11BB22"})).await;
    assert_eq!(
        app.get_json(&b, "/users/alice/id-tokens").await["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    patch(
        &app,
        &a,
        "alice",
        card_id,
        json!({"status": "BLOCKED", "label": "lost"}),
    )
    .await;
    let events = wait_for("the token's events are published", || async {
        let events = app.store.events_after(&a.id, 0, 100).await.unwrap();
        let about: Vec<_> = events.into_iter().filter(|e| e.asset_id == card_id).collect();
        (about.len() == 2).then_some(about)
    })
    .await;
    assert_eq!(events[0].event_type.as_str(), "user:id-token:created");
    assert_eq!(events[1].event_type.as_str(), "user:id-token:updated");
    assert_eq!(events[1].updated_fields, vec!["status".to_owned(), "label".to_owned()]);
    assert_eq!(events[1].payload()["idToken"]["value"], "AA11BB22");
    assert!(app
        .store
        .events_after(&b.id, 0, 100)
        .await
        .unwrap()
        .iter()
        .all(|e| e.asset_id != card_id));
}
