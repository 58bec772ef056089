//! A Coupler in sandbox mode for one test: the simulated makers mounted under `/sim`, the sandbox
//! API on, and meter values every second so what the simulated chargers report shows up quickly.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use coupler::server::{simulated_oem, SandboxWiring};
use coupler_core::clock::ScaledClock;
use coupler_simulated::{SimCloud, SimConfig};

use crate::{Tenant, TestApp};

/// Starts Coupler in sandbox mode with batteries charging `time_factor` times faster than real time
/// and the maker reporting cars live (no reporting delay), keeping simulated chargers in
/// `state_file` when given.
pub async fn spawn_sandbox(time_factor: f64, state_file: Option<PathBuf>) -> TestApp {
    TestApp::spawn_with(|url, wiring| {
        // Coupler and the simulated world on the sandbox's one clock, as `serve --sandbox` has them.
        let clock = Arc::new(ScaledClock::over(wiring.clock.clone()));
        wiring.clock = clock.clone();
        let cloud = SimCloud::new(SimConfig {
            charge_speedup: time_factor,
            ..SimConfig::default()
        })
        .with_clock(clock.clone());
        let public = url.parse().expect("url");
        wiring.simulated_oem = Some(simulated_oem(&public, &mut wiring.adapters, cloud).expect("simulated makers"));
        wiring.sandbox = Some(SandboxWiring { state_file, clock });
        wiring.gateway.meter_sample_interval = Duration::from_secs(1);
    })
    .await
}

/// Waits until `check` gives `Some` (see [`crate::wait_for`]).
pub async fn until<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    crate::wait_for(what, check).await
}

impl TestApp {
    /// POSTs `body` to `path` as `tenant`, expecting `status`; returns the JSON answer.
    pub async fn post_expect(
        &self,
        tenant: &Tenant,
        path: &str,
        body: serde_json::Value,
        status: u16,
    ) -> serde_json::Value {
        let response = self
            .as_tenant(tenant, reqwest::Method::POST, path)
            .json(&body)
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), status, "POST {path} {body}");
        response.json().await.expect("json")
    }

    /// Creates a simulated car of `brand` for `tenant`.
    pub async fn sim_vehicle(&self, tenant: &Tenant, body: serde_json::Value) -> serde_json::Value {
        self.post_expect(tenant, "/sandbox/vehicles", body, 201).await
    }

    /// Registers and connects a simulated charger for `user`, and waits until Coupler sees it
    /// connected.
    pub async fn sim_charger(&self, tenant: &Tenant, user: &str, body: serde_json::Value) -> serde_json::Value {
        let charger = self
            .post_expect(tenant, &format!("/sandbox/users/{user}/chargers"), body, 201)
            .await;
        let id = charger["id"].as_str().expect("id").to_owned();
        until("the simulated charger is connected", || async {
            let seen = self.get_json(tenant, &format!("/chargers/{id}")).await;
            (seen["isReachable"] == true).then_some(())
        })
        .await;
        charger
    }
}
