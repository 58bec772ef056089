//! Several Coupler nodes on one PostgreSQL database (three servers in this process, sharing only
//! the database): a command sent to any node reaches the charger whose socket another node holds,
//! through the store and a LISTEN/NOTIFY wake-up, and its outcome is seen on every node; a charger
//! that reconnects to another node moves there, and the node it left closes its old socket; a
//! live stream on any node carries the events caused on the others.
//! Skipped, like every PostgreSQL test, when `COUPLER_TEST_POSTGRES_URL` is unset.

use crate::events::{read_until, Sse, Stream};
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
