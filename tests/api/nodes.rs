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
use coupler_core::ChargerId;
use coupler_engine::singleton::jobs;
use coupler_store::testing::TestDatabase;
use coupler_tests::cluster::{ocpp_url, TestCluster};
use coupler_tests::ocpp::PythonChargePoint;
use coupler_tests::{Tenant, TestApp};
use serde_json::json;

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
