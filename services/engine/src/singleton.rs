//! Work that must run on one node at a time (the pairing tick, the event relay, retention, ...):
//! each such job is claimed by name under a lease in the store ([`coupler_core::NodeStore::claim_singleton`]),
//! held by the node that claimed it while it renews the lease, and taken by another node when the
//! lease lapses (its holder died) or is given up (its holder stopped).
//!
//! Every loop of such a job asks its [`Singleton`] "do I hold it?" before each pass, which is a
//! look at a clock, not a query: one task per node claims and renews every job at a third of the
//! lease. A node believes it holds a job a little less long than the lease it wrote, so that two
//! nodes never both believe it. Leases count real time, like the node lease.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use coupler_core::node::NodeId;
use coupler_core::Store;
use coupler_tasks::Tasks;
use tokio::time::Instant;
use tracing::Instrument;

/// The names of the jobs that run on one node at a time.
pub mod jobs {
    /// The pairing engine's weighing of plug-ins.
    pub const PAIRING: &str = "pairing";
    /// The event relay: renders and publishes written events.
    pub const RELAY: &str = "event-relay";
    /// Removal of old events.
    pub const EVENT_PRUNER: &str = "event-pruner";
    /// Removal of expired access tokens.
    pub const TOKEN_SWEEPER: &str = "token-sweeper";
    /// Webhook heartbeats.
    pub const WEBHOOK_HEARTBEAT: &str = "webhook-heartbeat";
    /// Smart charging's plan keeper, and the price fetcher that feeds it (one holder, so fetched
    /// prices reach the plans in the process).
    pub const PLANS: &str = "plans";
    /// The flex keeper: flexibility events' targets.
    pub const FLEX: &str = "flex-keeper";
    /// The watcher of overrides of open flex events.
    pub const OVERRIDES: &str = "flex-overrides";
    /// The OpenADR VEN: looks at the VTNs.
    pub const OPENADR: &str = "openadr-ven";
    /// Location limits on vehicles, through their makers, after each read.
    pub const VEHICLE_LIMITS: &str = "vehicle-limits";
}

/// The jobs a node may hold, and the claims that keep them. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Leases {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// `None`: the only node there is, which holds every job without asking (an engine without a
    /// server, in tests).
    store: Option<Arc<dyn Store>>,
    node: NodeId,
    lease: Duration,
    jobs: Mutex<Vec<Singleton>>,
}

/// One job, as a node sees it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Singleton {
    job: Arc<Job>,
}

#[derive(Debug)]
struct Job {
    name: &'static str,
    /// Held for sure until then (`None`: not held); always held when there is no store.
    held_until: Mutex<Option<Instant>>,
    sole: bool,
}

impl Singleton {
    /// Whether this node holds the job now: its loop does a pass only then.
    pub fn held(&self) -> bool {
        self.job.sole
            || self
                .job
                .held_until
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_some_and(|until| Instant::now() < until)
    }

    /// The job's name.
    pub fn name(&self) -> &'static str {
        self.job.name
    }

    /// Resolves once this node holds the job (at once when it does): a look at a clock every
    /// [`HELD_LOOK`], no query.
    pub async fn until_held(&self) {
        while !self.held() {
            tokio::time::sleep(HELD_LOOK).await;
        }
    }
}

/// How often [`Singleton::until_held`] looks.
const HELD_LOOK: Duration = Duration::from_millis(250);

impl Leases {
    /// Jobs claimed in `store` for `node`, each under a lease of `lease`; claimed once
    /// [`Leases::spawn`] runs.
    pub fn new(store: Arc<dyn Store>, node: NodeId, lease: Duration) -> Self {
        Self::with(Some(store), node, lease)
    }

    /// The only node there is, holding every job without a claim (an engine used without a server).
    pub fn sole() -> Self {
        Self::with(None, NodeId::single(), Duration::from_secs(30))
    }

    fn with(store: Option<Arc<dyn Store>>, node: NodeId, lease: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                node,
                lease,
                jobs: Mutex::default(),
            }),
        }
    }

    /// The job `name`, claimed with the others from now on (the same job for the same name).
    pub fn singleton(&self, name: &'static str) -> Singleton {
        let mut jobs = self.inner.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(job) = jobs.iter().find(|job| job.name() == name) {
            return job.clone();
        }
        let job = Singleton {
            job: Arc::new(Job {
                name,
                held_until: Mutex::new(None),
                sole: self.inner.store.is_none(),
            }),
        };
        jobs.push(job.clone());
        job
    }

    /// The names of the jobs this node holds now.
    pub fn held(&self) -> Vec<&'static str> {
        let jobs = self.inner.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        jobs.iter().filter(|job| job.held()).map(Singleton::name).collect()
    }

    /// Claims (or renews) every job once: each one this node holds, or that is free or lapsed,
    /// becomes this node's. Logs every job taken and every one lost.
    pub async fn claim(&self) {
        let Some(store) = &self.inner.store else {
            return;
        };
        let jobs: Vec<Singleton> = self.inner.jobs.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let lease = self.inner.lease;
        // Believed a tenth less long than written: the claim itself takes time.
        let believed = lease - lease / 10;
        for job in jobs {
            let asked = Instant::now();
            let now = coupler_core::time::now();
            let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(30));
            let held_before = job.held();
            match store.claim_singleton(job.name(), &self.inner.node, now, until).await {
                Ok(true) => {
                    *job.job.held_until.lock().unwrap_or_else(PoisonError::into_inner) = Some(asked + believed);
                    if !held_before {
                        tracing::info!(job = job.name(), node = %self.inner.node, "this node took the job");
                    }
                }
                Ok(false) => {
                    *job.job.held_until.lock().unwrap_or_else(PoisonError::into_inner) = None;
                    if held_before {
                        tracing::warn!(job = job.name(), node = %self.inner.node, "this node lost the job to another");
                    }
                }
                // Held until the lease written last runs out, unless a claim gets through.
                Err(e) => tracing::warn!(job = job.name(), error = %e, "cannot claim the job"),
            }
        }
    }

    /// Claims every job now and again at a third of the lease until `tasks` stop; then gives up
    /// every job this node holds, so another node takes them at its next claim.
    pub fn spawn(&self, tasks: &Tasks) {
        let Some(store) = self.inner.store.clone() else {
            return;
        };
        let leases = self.clone();
        let shutdown = tasks.token().clone();
        let node = self.inner.node.clone();
        tasks.spawn(
            "singleton leases",
            async move {
                loop {
                    leases.claim().await;
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(leases.inner.lease / 3) => {}
                    }
                }
                for job in leases.inner.jobs.lock().unwrap_or_else(PoisonError::into_inner).iter() {
                    *job.job.held_until.lock().unwrap_or_else(PoisonError::into_inner) = None;
                }
                match store.release_singletons(&node).await {
                    Ok(0) => {}
                    Ok(given_up) => tracing::info!(jobs = given_up, %node, "this node gave up its jobs"),
                    Err(e) => tracing::warn!(error = %e, "cannot give up this node's jobs; their leases will lapse"),
                }
            }
            .instrument(tracing::info_span!("singleton leases")),
        );
    }
}
