//! The live stream (`GET /events`, Server-Sent Events) and the events state changes raise.

use std::time::Duration;

use coupler_tests::{problem, raw, Tenant, TestApp};
use reqwest::Method;
use serde_json::json;

/// One Server-Sent Event.
#[derive(Debug, Clone)]
pub(crate) struct Sse {
    pub(crate) id: String,
    pub(crate) event: String,
    pub(crate) data: serde_json::Value,
}

/// A client reading a `text/event-stream` response event by event.
pub(crate) struct Stream {
    body: reqwest::Response,
    buffer: String,
}

impl Stream {
    pub(crate) async fn open(app: &TestApp, tenant: &Tenant, last_event_id: Option<&str>) -> Self {
        let mut request = app.as_tenant(tenant, Method::GET, "/events");
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        Self {
            body: response,
            buffer: String::new(),
        }
    }

    /// The next event (keep-alive comments skipped), waiting up to a generous deadline.
    pub(crate) async fn next(&mut self) -> Sse {
        tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let block: String = self.buffer.drain(..end + 2).collect();
                    let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("id:") {
                            id = v.trim().to_owned();
                        } else if let Some(v) = line.strip_prefix("event:") {
                            event = v.trim().to_owned();
                        } else if let Some(v) = line.strip_prefix("data:") {
                            data.push_str(v.trim_start());
                        }
                    }
                    if !data.is_empty() {
                        return Sse {
                            id,
                            event,
                            data: serde_json::from_str(&data).unwrap(),
                        };
                    }
                    continue;
                }
                let chunk = self.body.chunk().await.unwrap().expect("the stream stays open");
                self.buffer.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await
        .expect("an event arrived in time")
    }
}

#[tokio::test]
async fn the_stream_sends_the_callers_events_and_resumes_after_the_last_event_id() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let mut stream = Stream::open(&app, &tenant, None).await;
    let charger = app.register_charger(&tenant, "alice", "CP-SSE-1").await;
    let id = charger["id"].as_str().unwrap();
    let renamed = app
        .as_tenant(&tenant, Method::PUT, &format!("/chargers/{id}"))
        .json(&json!({"name": "Driveway"}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200);

    let discovered = stream.next().await;
    assert_eq!(discovered.event, "user:charger:discovered");
    assert_eq!(discovered.data["event"], "user:charger:discovered");
    assert_eq!(discovered.data["id"], discovered.id);
    assert_eq!(discovered.data["user"]["id"], "alice");
    assert_eq!(discovered.data["charger"]["id"], id);
    let updated = stream.next().await;
    assert_eq!(updated.event, "user:charger:updated");
    assert_eq!(updated.data["updatedFields"], json!(["name"]));
    assert_eq!(updated.data["charger"]["name"], "Driveway");
    assert_eq!(
        updated.data["charger"],
        app.get_json(&tenant, &format!("/chargers/{id}")).await
    );
    assert!(updated.id.parse::<i64>().unwrap() > discovered.id.parse::<i64>().unwrap());

    // A reconnect with Last-Event-ID resumes right after it: nothing skipped, nothing repeated.
    drop(stream);
    let mut resumed = Stream::open(&app, &tenant, Some(&discovered.id)).await;
    let again = resumed.next().await;
    assert_eq!(again.id, updated.id);
    assert_eq!(again.data, updated.data);
}

#[tokio::test]
async fn a_clients_stream_carries_only_its_own_users_events() {
    let app = TestApp::spawn().await;
    let first = app.tenant("first").await;
    let second = app.tenant("second").await;
    let mut second_stream = Stream::open(&app, &second, None).await;
    let mut first_stream = Stream::open(&app, &first, None).await;
    app.register_charger(&first, "alice", "CP-SSE-A").await;
    let theirs = app.register_charger(&second, "alice", "CP-SSE-B").await;

    let seen = second_stream.next().await;
    assert_eq!(
        seen.data["charger"]["id"], theirs["id"],
        "the first client's event is not in the second's stream"
    );
    let mine = first_stream.next().await;
    assert_eq!(mine.data["charger"]["ocppId"], "CP-SSE-A");
    // From the start of the log, the second client still sees only its own.
    let mut replay = Stream::open(&app, &second, Some("0")).await;
    assert_eq!(replay.next().await.data["charger"]["id"], theirs["id"]);
}

#[tokio::test]
async fn a_bad_last_event_id_is_refused_with_a_problem() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    for bad in ["abc", "-1", "1.5"] {
        let response = app
            .as_tenant(&tenant, Method::GET, "/events")
            .header("Last-Event-ID", bad)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{bad}");
        problem(response).await;
    }
    let anonymous = app.request(Method::GET, "/events").send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn a_chargers_connection_boot_and_status_raise_updated_events_and_repeats_raise_none() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let charger = app.register_charger(&tenant, "alice", "CP-SSE-OCPP").await;
    let id = charger["id"].as_str().unwrap();
    let mut stream = Stream::open(&app, &tenant, Some("0")).await;
    assert_eq!(stream.next().await.event, "user:charger:discovered");

    let mut socket = raw::connect(
        charger["ocppUrl"].as_str().unwrap(),
        Some(("CP-SSE-OCPP", charger["password"].as_str().unwrap())),
    )
    .await
    .unwrap();
    let connected = stream.next().await;
    assert!(connected.data["updatedFields"]
        .as_array()
        .unwrap()
        .contains(&json!("isReachable")));
    raw::exchange(
        &mut socket,
        r#"[2,"b","BootNotification",{"chargePointVendor":"Acme","chargePointModel":"Wallbox"}]"#,
    )
    .await;
    let booted = stream.next().await;
    assert!(booted.data["updatedFields"]
        .as_array()
        .unwrap()
        .contains(&json!("information.brand")));
    let status = r#"[2,"s1","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Preparing"}]"#;
    raw::exchange(&mut socket, status).await;
    let plugged = stream.next().await;
    assert!(plugged.data["updatedFields"]
        .as_array()
        .unwrap()
        .contains(&json!("connectors")));
    // The same status again changes nothing visible: no event. The rename after it is the next one.
    raw::exchange(&mut socket, &status.replace("s1", "s2")).await;
    raw::exchange(
        &mut socket,
        r#"[2,"b2","BootNotification",{"chargePointVendor":"Acme","chargePointModel":"Wallbox"}]"#,
    )
    .await;
    let renamed = app
        .as_tenant(&tenant, Method::PUT, &format!("/chargers/{id}"))
        .json(&json!({"name": "after repeats"}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200);
    let next = stream.next().await;
    assert_eq!(next.data["updatedFields"], json!(["name"]), "{next:?}");
    assert_eq!(next.data["charger"]["information"]["brand"], "Acme");
    assert_eq!(next.data["charger"]["connectors"][0]["status"], "Preparing");
}

/// Reads events until one matches `until`, returning all read so far.
pub(crate) async fn read_until(stream: &mut Stream, until: impl Fn(&Sse) -> bool) -> Vec<Sse> {
    let mut seen = Vec::new();
    loop {
        let event = stream.next().await;
        let done = until(&event);
        seen.push(event);
        if done {
            return seen;
        }
    }
}

#[tokio::test]
async fn a_vehicles_life_raises_discovered_updated_action_invalidated_and_deleted_events() {
    use coupler_simulated::{Brand, SimConfig, SimVehicleSpec};
    use coupler_tests::vehicles::{hint, link_simulated, AppSite, SimWorld};

    let world = SimWorld::start(SimConfig::default()).await;
    let app = TestApp::spawn_with(|url, wiring| world.wire(url, wiring, |_| None)).await;
    let tenant = app.tenant("app").await;
    let site = AppSite::start().await;
    let ids = world.cloud.add_account(
        Brand::Aurora,
        "ann",
        "pw",
        vec![SimVehicleSpec::new("SIMAUR0000000000E", "Aurora E")],
    );
    let mut stream = Stream::open(&app, &tenant, Some("0")).await;
    link_simulated(&app, &tenant, &site, "alice", Brand::Aurora, "ann", "pw").await;

    let first = read_until(&mut stream, |e| e.event == "user:vehicle:updated").await;
    assert_eq!(first[0].event, "user:vehicle:discovered");
    let vehicle_id = first[0].data["vehicle"]["id"].as_str().unwrap().to_owned();
    assert_eq!(first[0].data["user"]["id"], "alice");
    let updated = first.last().unwrap();
    assert!(updated.data["updatedFields"]
        .as_array()
        .unwrap()
        .contains(&json!("chargeState")));
    assert_eq!(updated.data["vehicle"]["information"]["vin"], "SIMAUR0000000000E");

    // An action: every state change and attempt is an event carrying the action as GET shows it.
    world.cloud.update_vehicle(&ids[0], |c| c.plugged_in = true);
    hint(&app, &tenant, &vehicle_id).await;
    let action = app
        .post_json(
            &tenant,
            &format!("/vehicles/{vehicle_id}/charging"),
            json!({"action": "START"}),
        )
        .await;
    let settled = app.settled_action(&tenant, action["id"].as_str().unwrap()).await;
    let actions = read_until(&mut stream, |e| {
        e.event == "user:vendor-action:updated" && e.data["vendorAction"]["state"] != "PENDING"
    })
    .await;
    let action_events: Vec<_> = actions
        .iter()
        .filter(|e| e.event == "user:vendor-action:updated")
        .collect();
    assert!(
        action_events.len() >= 2,
        "created, then attempted and settled: {action_events:?}"
    );
    assert!(action_events
        .iter()
        .all(|e| e.data["vendorAction"]["id"] == action["id"]));
    assert_eq!(action_events.last().unwrap().data["vendorAction"], settled);

    // Refused credentials: the account's credentials are invalidated and the vehicle is unreachable.
    world.cloud.revoke_account(Brand::Aurora, "ann");
    hint(&app, &tenant, &vehicle_id).await;
    let invalidated = read_until(&mut stream, |e| e.event == "user:credentials:invalidated").await;
    let last = invalidated.last().unwrap();
    assert_eq!(last.data["credentials"]["vendor"], "SIM_AURORA");
    assert_eq!(last.data["credentials"]["isValid"], false);
    assert!(invalidated.iter().any(|e| e.event == "user:vehicle:updated"
        && e.data["updatedFields"]
            .as_array()
            .unwrap()
            .contains(&json!("isReachable"))));

    // Unlinking deletes the vehicle: the event carries its last object.
    let before = app.get_json(&tenant, &format!("/vehicles/{vehicle_id}")).await;
    let deleted = app
        .as_tenant(&tenant, Method::DELETE, "/users/alice/vendors/SIM_AURORA")
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success());
    let gone = read_until(&mut stream, |e| e.event == "user:vehicle:deleted").await;
    let gone = gone.last().unwrap();
    assert_eq!(gone.data["vehicle"]["id"], vehicle_id.as_str());
    assert_eq!(gone.data["vehicle"]["information"], before["information"]);
}

/// An open stream never ends by itself; a graceful stop must end it rather than wait for it.
#[tokio::test]
async fn a_graceful_stop_ends_open_event_streams_instead_of_waiting_for_them() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let mut stream = Stream::open(&app, &tenant, None).await;
    // A bound only so that a hang fails the test instead of stalling the suite; a stop takes
    // well under a second.
    tokio::time::timeout(Duration::from_secs(60), app.stop())
        .await
        .expect("the stop completed with a stream open");
    let rest = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match stream.body.chunk().await {
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => return,
            }
        }
    })
    .await;
    assert!(rest.is_ok(), "the stream ended with the stop");
}
