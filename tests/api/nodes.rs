//! Several Coupler nodes on one PostgreSQL database (three servers in this process, sharing only
//! the database): a command sent to any node reaches the charger whose socket another node holds,
//! through the store and a LISTEN/NOTIFY wake-up, and its outcome is seen on every node; a charger
//! that reconnects to another node moves there, and the node it left closes its old socket; a
//! live stream on any node carries the events caused on the others.
//! Skipped, like every PostgreSQL test, when `COUPLER_TEST_POSTGRES_URL` is unset.

use std::time::Duration;

use crate::events::{read_until, Sse, Stream};
use coupler::server::Wiring;
use coupler_core::ev_system::{DetectionStatus, UnmatchedReason};
use coupler_core::node::NodeId;
use coupler_core::operation::{FailureKind, Operation, OperationKind, OperationStatus};
use coupler_core::{ChargerId, PageRequest};
use coupler_engine::singleton::jobs;
use coupler_store::testing::TestDatabase;
use coupler_tests::cluster::{ocpp_url, TestCluster};
use coupler_tests::ocpp::PythonChargePoint;
use coupler_tests::raw;
use coupler_tests::{Tenant, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

/// Sends `action` (START or STOP) for `charger` to `via`, and returns the action's id.
async fn command(via: &TestApp, tenant: &Tenant, charger: &str, action: &str) -> String {
    let sent = via
        .post_json(
            tenant,
            &format!("/chargers/{charger}/charging"),
            json!({ "action": action }),
        )
        .await;
    assert_eq!(sent["state"], "PENDING", "{sent}");
    sent["id"].as_str().unwrap().to_owned()
}

/// Waits until the action is settled as seen on `seen_on`, then checks every node shows the same
/// CONFIRMED action, carried out through the charger.
async fn confirmed_everywhere(cluster: &TestCluster, seen_on: &TestApp, tenant: &Tenant, id: &str) {
    let settled = seen_on.settled_action(tenant, id).await;
    assert_eq!(settled["state"], "CONFIRMED", "{settled}");
    let last = settled["attempts"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["via"], "charger", "{settled}");
    assert_eq!(last["outcome"], "CONFIRMED", "{settled}");
    for node in &cluster.nodes {
        let shown = node.get_json(tenant, &format!("/actions/{id}")).await;
        assert_eq!(shown, settled, "every node shows the same action");
    }
}

#[tokio::test]
async fn commands_sent_to_any_node_reach_the_charger_another_node_holds_and_follow_it_when_it_moves() {
    let Some(cluster) = TestCluster::postgres(&["node-a", "node-b", "node-c"]).await else {
        return;
    };
    let [a, b, c] = [&cluster.nodes[0], &cluster.nodes[1], &cluster.nodes[2]];
    let tenant = a.tenant("app").await;
    let registered = a.register_charger(&tenant, "alice", "CP-NODES-1").await;
    let id = registered["id"].as_str().unwrap().to_owned();
    let password = registered["password"].as_str().unwrap().to_owned();

    // The charger connects to node A, which holds its socket.
    let mut on_a = PythonChargePoint::connected(&ocpp_url(a, "CP-NODES-1"), "CP-NODES-1", &password).await;
    on_a.boot("Preparing").await;
    cluster.wait_for_owner(&id, "node-a").await;
    assert!(a.gateway().is_connected_here(&id));
    assert!(!b.gateway().is_connected_here(&id) && !c.gateway().is_connected_here(&id));

    // START sent to B reaches the charger on A, and is CONFIRMED as every node sees it.
    let start = command(b, &tenant, &id, "START").await;
    let remote_start = on_a.received("RemoteStartTransaction").await;
    assert_eq!(remote_start["id_tag"], "COUPLER");
    confirmed_everywhere(&cluster, c, &tenant, &start).await;

    // STOP sent to C as well.
    let stop = command(c, &tenant, &id, "STOP").await;
    on_a.received("RemoteStopTransaction").await;
    confirmed_everywhere(&cluster, b, &tenant, &stop).await;

    // The charger reconnects, to node C: C takes it, and A closes the socket it still had.
    let mut on_c = PythonChargePoint::connected(&ocpp_url(c, "CP-NODES-1"), "CP-NODES-1", &password).await;
    let closed = on_a.closed().await;
    assert_eq!(closed["event"], "closed");
    cluster.wait_for_owner(&id, "node-c").await;
    coupler_tests::wait_for("A let the old connection go", || async {
        (!a.gateway().is_connected_here(&id)).then_some(())
    })
    .await;
    assert!(c.gateway().is_connected_here(&id));
    // A's closing its old socket did not mark the charger disconnected: it is on C.
    for node in &cluster.nodes {
        let shown = node.get_json(&tenant, &format!("/chargers/{id}")).await;
        assert_eq!(shown["isReachable"], true, "{shown}");
    }

    // Commands now go to C, whichever node they enter at.
    on_c.boot("Preparing").await;
    let start = command(a, &tenant, &id, "START").await;
    on_c.received("RemoteStartTransaction").await;
    confirmed_everywhere(&cluster, a, &tenant, &start).await;
    let stop = command(b, &tenant, &id, "STOP").await;
    on_c.received("RemoteStopTransaction").await;
    confirmed_everywhere(&cluster, c, &tenant, &stop).await;
    on_c.close().await;
}

#[tokio::test]
async fn a_live_stream_on_one_node_carries_the_events_caused_on_the_others() {
    let Some(cluster) = TestCluster::postgres(&["node-a", "node-b", "node-c"]).await else {
        return;
    };
    let [a, b, c] = [&cluster.nodes[0], &cluster.nodes[1], &cluster.nodes[2]];
    let tenant = a.tenant("app").await;
    let mut on_c = Stream::open(c, &tenant, None).await;

    // Registered through A, connected to B: C's stream sees both.
    let registered = a.register_charger(&tenant, "alice", "CP-NODES-2").await;
    let id = registered["id"].as_str().unwrap().to_owned();
    let discovered = read_until(&mut on_c, |e| e.event == "user:charger:discovered").await;
    assert_eq!(discovered.last().unwrap().data["charger"]["id"], id.as_str());
    let password = registered["password"].as_str().unwrap();
    let mut on_b = PythonChargePoint::connected(&ocpp_url(b, "CP-NODES-2"), "CP-NODES-2", password).await;
    on_b.boot("Preparing").await;
    read_until(&mut on_c, |e| {
        e.event == "user:charger:updated" && e.data["charger"]["isReachable"] == true
    })
    .await;

    // A START entering at A is carried out on B; C's stream follows it to CONFIRMED, and the
    // charger's charging too.
    let start = command(a, &tenant, &id, "START").await;
    on_b.received("RemoteStartTransaction").await;
    let mut seen = read_until(&mut on_c, |e| {
        e.event == "user:vendor-action:updated" && e.data["vendorAction"]["state"] != "PENDING"
    })
    .await;
    let settled = seen.last().unwrap().data["vendorAction"].clone();
    // The charger's own update may be published just after the action's: read on until it comes.
    let charging =
        |e: &Sse| e.event == "user:charger:updated" && e.data["charger"]["chargeState"]["isCharging"] == true;
    if !seen.iter().any(charging) {
        seen.extend(read_until(&mut on_c, charging).await);
    }
    assert_eq!(settled["id"], start.as_str());
    assert_eq!(settled["state"], "CONFIRMED", "{settled}");
    assert!(
        seen.iter().any(charging),
        "the charger's charging reached C's stream: {seen:?}"
    );
    // Every event once, in order.
    let ids: Vec<i64> = seen.iter().map(|e| e.id.parse().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    on_b.close().await;
}

#[tokio::test]
async fn a_node_that_stops_gives_up_its_lease_and_its_chargers_come_back_on_another() {
    let Some(mut cluster) = TestCluster::postgres(&["node-a", "node-b"]).await else {
        return;
    };
    let tenant = cluster.nodes[0].tenant("app").await;
    let registered = cluster.nodes[0].register_charger(&tenant, "alice", "CP-NODES-3").await;
    let id = registered["id"].as_str().unwrap().to_owned();
    let password = registered["password"].as_str().unwrap().to_owned();
    let mut on_a =
        PythonChargePoint::connected(&ocpp_url(&cluster.nodes[0], "CP-NODES-3"), "CP-NODES-3", &password).await;
    on_a.boot("Preparing").await;
    cluster.wait_for_owner(&id, "node-a").await;

    // A stops: it closes the charger's socket and gives up its lease, so B (and the store) see the
    // charger disconnected at once, not when a lease lapses.
    cluster.nodes.remove(0).stop().await;
    on_a.closed().await;
    let b = &cluster.nodes[0];
    let live = b.store.live_nodes(coupler_core::time::now()).await.unwrap();
    assert_eq!(live.iter().map(|n| n.as_str()).collect::<Vec<_>>(), ["node-b"]);
    assert_eq!(cluster.owner(&id).await, None);
    let shown = b.get_json(&tenant, &format!("/chargers/{id}")).await;
    assert_eq!(shown["isReachable"], false, "{shown}");

    // The charger comes back on B, which takes it, and commands reach it there.
    let mut on_b = PythonChargePoint::connected(&ocpp_url(b, "CP-NODES-3"), "CP-NODES-3", &password).await;
    on_b.boot("Preparing").await;
    cluster.wait_for_owner(&id, "node-b").await;
    let start = command(b, &tenant, &id, "START").await;
    on_b.received("RemoteStartTransaction").await;
    confirmed_everywhere(&cluster, b, &tenant, &start).await;
    on_b.close().await;
}

/// Every job that runs on one node at a time.
const JOBS: [&str; 10] = [
    jobs::PAIRING,
    jobs::RELAY,
    jobs::EVENT_PRUNER,
    jobs::TOKEN_SWEEPER,
    jobs::WEBHOOK_HEARTBEAT,
    jobs::PLANS,
    jobs::FLEX,
    jobs::OVERRIDES,
    jobs::OPENADR,
    jobs::VEHICLE_LIMITS,
];

/// Leases short enough that a test sees one lapse.
fn short_leases(wiring: &mut Wiring) {
    wiring.node_lease = Duration::from_secs(3);
}

/// No node believes it holds a job another node believes it holds; returns who believes what.
fn beliefs(cluster: &TestCluster) -> Vec<(String, String)> {
    let mut believed: Vec<(String, String)> = Vec::new();
    for node in &cluster.nodes {
        let id = node.state().engine.node().as_str().to_owned();
        for job in node.state().engine.leases().held() {
            if let Some((_, other)) = believed.iter().find(|(name, _)| name == job) {
                panic!("{job} is believed held by both {other} and {id}");
            }
            believed.push((job.to_owned(), id.clone()));
        }
    }
    believed.sort();
    believed
}

/// Waits until the events caused through `via` (a charger registered) reach a stream on `seen_on`.
async fn events_still_published(via: &TestApp, seen_on: &TestApp, tenant: &Tenant, ocpp_id: &str) {
    let mut stream = Stream::open(seen_on, tenant, None).await;
    let registered = via.register_charger(tenant, "alice", ocpp_id).await;
    let discovered = read_until(&mut stream, |e| e.event == "user:charger:discovered").await;
    assert_eq!(discovered.last().unwrap().data["charger"]["id"], registered["id"]);
}

#[tokio::test]
async fn every_one_node_job_runs_on_exactly_one_node_and_another_takes_it_when_its_holder_stops() {
    let Some(mut cluster) = TestCluster::postgres_with(&["node-a", "node-b", "node-c"], short_leases).await else {
        return;
    };
    // Every job has one holder in the store, and only that node believes it holds it.
    coupler_tests::wait_for("every job is held", || async {
        (cluster.job_holders().await.len() == JOBS.len() && beliefs(&cluster).len() == JOBS.len()).then_some(())
    })
    .await;
    let mut expected: Vec<String> = JOBS.iter().map(|job| (*job).to_owned()).collect();
    expected.sort();
    let holders = cluster.job_holders().await;
    assert_eq!(holders.iter().map(|(job, _)| job.clone()).collect::<Vec<_>>(), expected);
    assert_eq!(beliefs(&cluster), holders);

    // The relay's holder stops: it gives its jobs up, another node takes them within a lease, and
    // events written on any node are still published.
    let relay = cluster.wait_for_job_holder(jobs::RELAY, None).await;
    let index = cluster
        .nodes
        .iter()
        .position(|node| node.state().engine.node().as_str() == relay)
        .unwrap();
    let tenant = cluster.nodes[(index + 1) % 3].tenant("app").await;
    cluster.nodes.remove(index).stop().await;
    let taken = cluster.wait_for_job_holder(jobs::RELAY, Some(&relay)).await;
    assert_ne!(taken, relay);
    coupler_tests::wait_for("every job is held by the nodes left", || async {
        let holders = cluster.job_holders().await;
        (holders.len() == JOBS.len() && holders.iter().all(|(_, node)| *node != relay)).then_some(())
    })
    .await;
    coupler_tests::wait_for("the nodes left believe what the store says", || async {
        (beliefs(&cluster) == cluster.job_holders().await).then_some(())
    })
    .await;
    let [b, c] = [&cluster.nodes[0], &cluster.nodes[1]];
    events_still_published(b, c, &tenant, "CP-JOBS-1").await;
    events_still_published(c, b, &tenant, "CP-JOBS-2").await;
}

#[tokio::test]
async fn a_job_whose_holder_died_is_taken_by_a_live_node_once_its_lease_lapses() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    // A node that died held the relay, with a lease still running for a few seconds.
    let dead = NodeId::parse("node-dead").unwrap();
    let now = coupler_core::time::now();
    let store = db.open().await;
    assert!(store
        .claim_singleton(jobs::RELAY, &dead, now, now + chrono::Duration::seconds(6))
        .await
        .unwrap());
    let cluster = TestCluster::on(db, &["node-a", "node-b"], short_leases).await;
    // While its lease runs, no live node publishes.
    let holders = cluster.job_holders().await;
    if holders
        .iter()
        .any(|(job, node)| job == jobs::RELAY && node == "node-dead")
    {
        assert!(beliefs(&cluster).iter().all(|(job, _)| job != jobs::RELAY));
    }
    // Once it lapsed, a live node takes the relay, and the events wait for it no longer.
    let taken = cluster.wait_for_job_holder(jobs::RELAY, Some("node-dead")).await;
    assert!(["node-a", "node-b"].contains(&taken.as_str()), "{taken}");
    let [a, b] = [&cluster.nodes[0], &cluster.nodes[1]];
    let tenant = a.tenant("app").await;
    events_still_published(a, b, &tenant, "CP-JOBS-3").await;
}

#[tokio::test]
async fn a_plug_in_at_a_charger_one_node_holds_is_weighed_at_once_by_the_pairing_on_another() {
    let Some(cluster) = TestCluster::postgres_with(&["node-a", "node-b", "node-c"], |wiring| {
        short_leases(wiring);
        // No tick to fall back on: only the wake-up from the charger's node can start the weighing.
        wiring.pairing.tick = Duration::from_secs(3600);
    })
    .await
    else {
        return;
    };
    let pairing = cluster.wait_for_job_holder(jobs::PAIRING, None).await;
    coupler_tests::wait_for("the pairing node knows it holds the job", || async {
        beliefs(&cluster)
            .iter()
            .any(|(job, node)| job == jobs::PAIRING && *node == pairing)
            .then_some(())
    })
    .await;
    // The charger connects to a node that does not run pairing.
    let at = cluster
        .nodes
        .iter()
        .find(|node| node.state().engine.node().as_str() != pairing)
        .unwrap();
    let tenant = at.tenant("app").await;
    let registered = at.register_charger(&tenant, "alice", "CP-JOBS-4").await;
    let id = registered["id"].as_str().unwrap().to_owned();
    let password = registered["password"].as_str().unwrap();
    let mut charger = PythonChargePoint::connected(&ocpp_url(at, "CP-JOBS-4"), "CP-JOBS-4", password).await;
    charger.boot("Preparing").await;
    let holder = at.state().engine.node().as_str().to_owned();
    cluster.wait_for_owner(&id, &holder).await;
    // The plug-in is weighed by the pairing on the other node (the user has no car yet).
    let detection = coupler_tests::wait_for("the plug-in is weighed", || async {
        at.store
            .get_detection(&ChargerId::new(&id))
            .await
            .unwrap()
            .filter(|d| d.status != DetectionStatus::Unplugged)
    })
    .await;
    assert_eq!(
        detection.reason_code,
        Some(UnmatchedReason::NoLinkedVehicle),
        "{detection:?}"
    );
    charger.close().await;
}

#[tokio::test]
async fn an_operation_sent_to_one_node_reaches_the_charger_another_holds_and_its_answer_is_read_on_a_third() {
    let Some(cluster) = TestCluster::postgres(&["node-a", "node-b", "node-c"]).await else {
        return;
    };
    let [a, b, c] = [&cluster.nodes[0], &cluster.nodes[1], &cluster.nodes[2]];
    let tenant = a.tenant("app").await;
    let registered = a.register_charger(&tenant, "alice", "CP-NODES-OPS").await;
    let id = registered["id"].as_str().unwrap().to_owned();
    let password = registered["password"].as_str().unwrap();
    let mut on_a = PythonChargePoint::connected(&ocpp_url(a, "CP-NODES-OPS"), "CP-NODES-OPS", password).await;
    on_a.boot("Available").await;
    cluster.wait_for_owner(&id, "node-a").await;

    // A configuration read entering at B is sent by A, and B answers the API call with the
    // charger's answer, as it would for a charger of its own.
    let response = b
        .as_tenant(
            &tenant,
            Method::POST,
            &format!("/chargers/{id}/operations/get-configuration"),
        )
        .json(&json!({"keys": ["HeartbeatInterval"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let read: Value = response.json().await.unwrap();
    assert_eq!(
        on_a.received_matching("GetConfiguration", |p| p.get("key").is_some())
            .await,
        json!({"key": ["HeartbeatInterval"]})
    );
    assert_eq!(read["status"], "ACCEPTED", "{read}");
    assert_eq!(read["ocppAction"], "GetConfiguration", "{read}");
    assert_eq!(read["answer"]["status"], "Accepted", "{read}");
    let keys = read["answer"]["payload"]["configurationKey"].as_array().unwrap();
    assert!(
        keys.iter()
            .any(|k| k["key"] == "SupportedFeatureProfiles" && k["value"] == "Core,SmartCharging,RemoteTrigger"),
        "the charger's own answer: {read}"
    );

    // A reset entering at B, and its outcome read on C: the same operation on every node.
    let reset = b.operate(&tenant, &id, "reset", json!({"type": "Soft"})).await;
    assert_eq!(on_a.received("Reset").await, json!({"type": "Soft"}));
    assert_eq!(reset["status"], "ACCEPTED", "{reset}");
    let path = format!("/chargers/{id}/operations/{}", reset["id"].as_str().unwrap());
    for node in [a, b, c] {
        assert_eq!(
            node.get_json(&tenant, &path).await,
            reset,
            "every node shows the same operation"
        );
    }

    // A change entering at C is applied on A and kept as the charger's configuration everywhere.
    let change = c
        .operate(
            &tenant,
            &id,
            "change-configuration",
            json!({"key": "HeartbeatInterval", "value": "120"}),
        )
        .await;
    on_a.received_matching("ChangeConfiguration", |p| p["key"] == "HeartbeatInterval")
        .await;
    assert_eq!(change["status"], "ACCEPTED", "{change}");
    let stored = b.get_json(&tenant, &format!("/chargers/{id}/configuration")).await;
    assert!(
        stored["keys"]
            .as_array()
            .unwrap()
            .contains(&json!({"key": "HeartbeatInterval", "value": "120"})),
        "{stored}"
    );
    on_a.close().await;
}

#[tokio::test]
async fn a_charger_limit_set_at_one_node_reaches_the_charger_another_holds_as_a_charging_profile() {
    let Some(cluster) = TestCluster::postgres(&["node-a", "node-b", "node-c"]).await else {
        return;
    };
    let [a, b, c] = [&cluster.nodes[0], &cluster.nodes[1], &cluster.nodes[2]];
    let tenant = a.tenant("app").await;
    let registered = a.register_charger(&tenant, "alice", "CP-NODES-LIMIT").await;
    let id = registered["id"].as_str().unwrap().to_owned();
    let password = registered["password"].as_str().unwrap();
    let mut on_a = PythonChargePoint::connected(&ocpp_url(a, "CP-NODES-LIMIT"), "CP-NODES-LIMIT", password).await;
    on_a.boot("Available").await;
    cluster.wait_for_owner(&id, "node-a").await;

    // The limit is set through B: A, woken, puts it on the charger at once.
    b.post_expect(
        &tenant,
        &format!("/chargers/{id}/limits"),
        json!({"maxCurrent": 10}),
        201,
    )
    .await;
    station_limit_received(&mut on_a, 10.0).await;

    // A limit on the location the charger is placed at, set through C, reaches it too.
    let location = c
        .post_expect(
            &tenant,
            "/users/alice/locations",
            json!({"name": "Home", "latitude": 59.9, "longitude": 10.7, "timezoneName": "Europe/Oslo"}),
            201,
        )
        .await;
    let location_id = location["id"].as_str().unwrap();
    let placed = c
        .as_tenant(&tenant, Method::PUT, &format!("/chargers/{id}"))
        .json(&json!({"locationId": location_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(placed.status(), 200);
    c.post_expect(
        &tenant,
        &format!("/locations/{location_id}/limits"),
        json!({"maxCurrent": 8}),
        201,
    )
    .await;
    station_limit_received(&mut on_a, 8.0).await;
    on_a.close().await;
}

/// Reads the SetChargingProfile calls the charge point receives until a station limit of `amps`
/// comes (the profiles already there may be sent again on the way).
async fn station_limit_received(cp: &mut PythonChargePoint, amps: f64) {
    loop {
        let profile = cp.received("SetChargingProfile").await;
        let installed = &profile["cs_charging_profiles"];
        let limit = installed["charging_schedule"]["charging_schedule_period"][0]["limit"].as_f64();
        if installed["charging_profile_purpose"] == "ChargePointMaxProfile" && limit == Some(amps) {
            return;
        }
    }
}

/// The next call Coupler sends `socket` named `action`, answering the others it sends meanwhile
/// (configuration reads, triggers) with a CALLERROR.
async fn next_call(socket: &mut raw::RawSocket, action: &str) -> Value {
    loop {
        let frame = raw::next_frame(socket).await.expect("the connection stays open");
        if frame[0] == 2 && frame[2] == action {
            return frame;
        }
        if frame[0] == 2 {
            raw::send(socket, &json!([4, frame[1], "NotImplemented", "", {}]).to_string()).await;
        }
    }
}

#[tokio::test]
async fn a_node_that_restarts_fails_only_its_own_and_dead_nodes_unanswered_operations() {
    let Some(mut cluster) = TestCluster::postgres(&["node-a", "node-b", "node-c"]).await else {
        return;
    };
    let tenant = cluster.nodes[0].tenant("app").await;
    let registered = cluster.nodes[0]
        .register_charger(&tenant, "alice", "CP-NODES-RESTART")
        .await;
    let id = registered["id"].as_str().unwrap().to_owned();
    let password = registered["password"].as_str().unwrap();
    let mut socket = raw::connect(
        &ocpp_url(&cluster.nodes[0], "CP-NODES-RESTART"),
        Some(("CP-NODES-RESTART", password)),
    )
    .await
    .unwrap();
    raw::exchange(
        &mut socket,
        r#"[2,"b","BootNotification",{"chargePointVendor":"Acme","chargePointModel":"Wallbox"}]"#,
    )
    .await;
    cluster.wait_for_owner(&id, "node-a").await;

    // An operation a node that died had sent: nobody will ever answer it.
    let charger = ChargerId::new(&id);
    let mut orphan = Operation::requested(
        tenant.id.clone(),
        charger.clone(),
        OperationKind::ClearCache,
        json!({}),
        coupler_core::time::now(),
    );
    orphan.node = Some(NodeId::parse("node-gone").unwrap());
    orphan.mark_sent("ClearCache", coupler_core::time::now());
    let orphan = cluster.nodes[0].store.insert_operation(&orphan, None).await.unwrap();

    // A reset entering at B is sent by A, whose charger does not answer yet.
    let waiting = cluster.nodes[1]
        .as_tenant(&tenant, Method::POST, &format!("/chargers/{id}/operations/reset"))
        .json(&json!({"type": "Hard"}))
        .send();
    let waiting = tokio::spawn(waiting);
    let reset = next_call(&mut socket, "Reset").await;
    let in_flight = cluster.nodes[0]
        .store
        .list_operations(&tenant.id, &charger, &PageRequest::first(10))
        .await
        .unwrap()
        .unwrap()
        .items
        .into_iter()
        .find(|o| o.kind == OperationKind::Reset)
        .expect("the reset is on record");
    assert_eq!(in_flight.status, OperationStatus::Sent);

    // C restarts: the dead node's operation fails, A's goes on.
    cluster.restart(2).await;
    let store = &cluster.nodes[2].store;
    let orphan = store.operation(&orphan.id).await.unwrap().unwrap();
    assert_eq!(orphan.status, OperationStatus::Failed);
    assert_eq!(orphan.failure.map(|f| f.kind), Some(FailureKind::Interrupted));
    let still = store.operation(&in_flight.id).await.unwrap().unwrap();
    assert_eq!(still.status, OperationStatus::Sent, "{still:?}");

    // The charger answers, and its answer is the reset's outcome, seen on the restarted C.
    raw::send(&mut socket, &json!([3, reset[1], {"status": "Accepted"}]).to_string()).await;
    let path = format!("/chargers/{id}/operations/{}", in_flight.id);
    let c = &cluster.nodes[2];
    let answered = coupler_tests::wait_for("the reset answered", || async {
        let shown = c.get_json(&tenant, &path).await;
        (shown["status"] != "SENT").then_some(shown)
    })
    .await;
    assert_eq!(answered["status"], "ACCEPTED", "{answered}");
    let response = waiting.await.unwrap().unwrap();
    assert!(response.status().is_success(), "{}", response.status());
}
