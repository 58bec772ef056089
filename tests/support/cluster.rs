//! Several Coupler nodes on one PostgreSQL database, in one test process: each a server of its
//! own (its own port, its own connection pool and signal listener, its own node id), sharing
//! nothing but the database, as nodes on separate machines would.

use coupler_core::node::NodeId;
use coupler_core::ChargerId;
use coupler_store::testing::TestDatabase;

use coupler::server::Wiring;

use crate::TestApp;

/// Nodes sharing one throw-away PostgreSQL database.
#[derive(Debug)]
pub struct TestCluster {
    /// The nodes, in the order their ids were given.
    pub nodes: Vec<TestApp>,
    /// Dropped after the nodes (fields drop in order).
    _db: TestDatabase,
}

impl TestCluster {
    /// Starts one node per id on a fresh PostgreSQL database, or `None` when the PostgreSQL tests
    /// are not enabled (`COUPLER_TEST_POSTGRES_URL` unset), like every PostgreSQL test.
    pub async fn postgres(ids: &[&str]) -> Option<Self> {
        Self::postgres_with(ids, |_| {}).await
    }

    /// [`TestCluster::postgres`], each node's wiring tuned by `configure` (a shorter lease).
    pub async fn postgres_with(ids: &[&str], configure: impl Fn(&mut Wiring)) -> Option<Self> {
        let db = TestDatabase::postgres().await?;
        Some(Self::on(db, ids, configure).await)
    }

    /// Nodes on `db` (a database a test prepared first), each node's wiring tuned by `configure`.
    pub async fn on(db: TestDatabase, ids: &[&str], configure: impl Fn(&mut Wiring)) -> Self {
        let mut nodes = Vec::new();
        for id in ids {
            // A store of its own: its own pool and its own LISTEN connection.
            let store = db.open().await;
            let node = NodeId::parse(id).expect("a node id");
            nodes.push(
                TestApp::spawn_on(store, |_, wiring| {
                    wiring.node = Some(node);
                    configure(wiring);
                })
                .await,
            );
        }
        Self { nodes, _db: db }
    }

    /// Which node holds each one-node-at-a-time job, as the store says, by job name.
    pub async fn job_holders(&self) -> Vec<(String, String)> {
        self.nodes[0]
            .store
            .singleton_holders(coupler_core::time::now())
            .await
            .expect("read the jobs' holders")
            .into_iter()
            .map(|(job, node)| (job, node.as_str().to_owned()))
            .collect()
    }

    /// The node that holds `job`, as the store says, once one does.
    pub async fn wait_for_job_holder(&self, job: &str, not: Option<&str>) -> String {
        crate::wait_for(&format!("a node other than {not:?} holds {job}"), || async {
            self.job_holders()
                .await
                .into_iter()
                .find(|(name, node)| name == job && Some(node.as_str()) != not)
                .map(|(_, node)| node)
        })
        .await
    }

    /// Stops the node at `index` and starts it again under the same id, on a store of its own,
    /// as a restarted process would be.
    pub async fn restart(&mut self, index: usize) {
        let node = self.nodes[index].gateway().node().clone();
        self.nodes.remove(index).stop().await;
        let store = self._db.open().await;
        let restarted = TestApp::spawn_on(store, |_, wiring| wiring.node = Some(node)).await;
        self.nodes.insert(index, restarted);
    }

    /// The node that holds `charger`'s socket now, as the store says.
    pub async fn owner(&self, charger: &str) -> Option<NodeId> {
        self.nodes[0]
            .store
            .charger_owner(&ChargerId::new(charger), coupler_core::time::now())
            .await
            .expect("read the charger's owner")
    }

    /// Waits until the store says `node` holds `charger`'s socket.
    pub async fn wait_for_owner(&self, charger: &str, node: &str) {
        crate::wait_for(&format!("{node} holds charger {charger}"), || async {
            (self.owner(charger).await.is_some_and(|owner| owner.as_str() == node)).then_some(())
        })
        .await;
    }
}

/// The OCPP URL of `app` for the charge point `ocpp_id`.
pub fn ocpp_url(app: &TestApp, ocpp_id: &str) -> String {
    format!("{}/ocpp/{ocpp_id}", app.url.replacen("http", "ws", 1))
}
