//! The Smartcar adapter against a local Smartcar that answers as Smartcar documents it: success,
//! sleeping vehicles, rate limits, billing limits, expired and revoked tokens, and garbage.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use std::time::Duration;

use coupler_core::account::{Secret, TokenSet};
use coupler_core::adapter::{AuthorizationRequest, Credentials, VehicleRef};
use coupler_core::capability::Scope;
use coupler_core::vehicle::PowerDeliveryState;
use coupler_core::{AdapterError, VehicleAdapter};
use coupler_smartcar::fake::{FakeSmartcar, FakeSmartcarServer, FakeVehicle, Fault};
use coupler_smartcar::{SmartcarAdapter, SmartcarConfig};
use url::Url;

const CALLBACK: &str = "http://127.0.0.1:9/link/callback";

async fn smartcar() -> (FakeSmartcarServer, SmartcarAdapter) {
    let server = FakeSmartcar::spawn(
        "sc-app",
        "sc-secret",
        vec![
            FakeVehicle::new("veh-bmw", "BMW"),
            FakeVehicle::new("veh-tesla", "TESLA"),
        ],
    )
    .await;
    let base = Url::parse(&server.base_url).unwrap();
    let adapter = SmartcarAdapter::new(SmartcarConfig {
        client_id: "sc-app".into(),
        client_secret: Secret::new("sc-secret"),
        mode: "simulated".into(),
        authorize_url: base.join("/oauth/authorize").unwrap(),
        token_url: base.join("/oauth/token").unwrap(),
        api_url: base.join("/v2.0").unwrap(),
        timeout: Duration::from_secs(2),
        ..SmartcarConfig::production()
    })
    .unwrap();
    (server, adapter)
}

async fn connect(adapter: &SmartcarAdapter) -> TokenSet {
    let redirect = Url::parse(CALLBACK).unwrap();
    let verifier = Secret::new(coupler_core::secret::generate_secret());
    let url = adapter
        .authorization_url(&AuthorizationRequest {
            redirect_uri: &redirect,
            scopes: &Scope::ALL,
            state: "st",
            pkce_verifier: &verifier,
            language: "en-US",
        })
        .unwrap();
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(query["mode"], "simulated");
    assert!(query["scope"].contains("control_charge") && query["scope"].contains("read_battery"));
    let back = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .unwrap();
    let location = Url::parse(back.headers()["location"].to_str().unwrap()).unwrap();
    let params: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(params["state"], "st");
    adapter
        .exchange_code(&params["code"], &verifier, &redirect)
        .await
        .unwrap()
}

fn creds<'a>(tokens: &'a TokenSet, meta: &'a serde_json::Value) -> Credentials<'a> {
    Credentials {
        access_token: &tokens.access_token,
        account_meta: meta,
    }
}

fn car<'a>(id: &'a str, meta: &'a serde_json::Value) -> VehicleRef<'a> {
    VehicleRef {
        vendor_vehicle_id: id,
        vin: None,
        meta,
    }
}

#[tokio::test]
async fn a_connected_account_is_listed_and_read_in_one_batch() {
    let (server, adapter) = smartcar().await;
    let tokens = connect(&adapter).await;
    assert!(tokens.refresh_token.is_some());
    let meta = serde_json::json!({});
    // Who granted access, so that a second account is told from the same one linked again.
    let identity = adapter.account_identity(creds(&tokens, &meta)).await.unwrap();
    assert_eq!(identity.as_deref(), Some("e0514ef4-5226-11e8-8c13-8f6e8f02e27e"));
    let vehicles = adapter.list_vehicles(creds(&tokens, &meta)).await.unwrap();
    assert_eq!(vehicles.len(), 2);
    let bmw = &vehicles[0];
    assert_eq!(bmw.information.brand.as_deref(), Some("BMW"));
    assert_eq!(bmw.information.year, Some(2022));
    assert!(bmw.information.vin.is_some());
    assert!(
        !bmw.capabilities.set_max_current.is_yes(),
        "amperage is Tesla-only on Smartcar"
    );
    assert!(vehicles[1].capabilities.set_max_current.is_yes());

    let state = adapter
        .read_state(creds(&tokens, &meta), car("veh-bmw", &bmw.meta))
        .await
        .unwrap();
    let charge = state.charge_state;
    assert_eq!(charge.battery_level, Some(42.0), "0.42 becomes 42 %");
    assert_eq!(charge.range, Some(210.0));
    assert_eq!(charge.battery_capacity, Some(64.0));
    assert_eq!(charge.charge_limit, Some(80.0));
    assert_eq!(charge.power_delivery_state, Some(PowerDeliveryState::Stopped));
    assert_eq!(charge.is_plugged_in, Some(true));
    assert!(
        charge.last_updated.unwrap() < chrono::Utc::now() - chrono::Duration::seconds(60),
        "SC-Data-Age"
    );
    assert!(state.location.is_some());
    assert_eq!(server.fake.count("batch"), 1, "one request per read");

    let tesla = adapter
        .read_state(creds(&tokens, &meta), car("veh-tesla", &vehicles[1].meta))
        .await
        .unwrap();
    assert_eq!(tesla.charge_state.max_current, Some(16.0));
}

#[tokio::test]
async fn commands_start_and_stop_charging_and_set_a_teslas_amperage() {
    let (server, adapter) = smartcar().await;
    let tokens = connect(&adapter).await;
    let meta = serde_json::json!({});
    let bmw = serde_json::json!({"make": "BMW"});
    let tesla = serde_json::json!({"make": "TESLA"});
    adapter
        .start_charging(creds(&tokens, &meta), car("veh-bmw", &bmw))
        .await
        .unwrap();
    assert_eq!(server.fake.vehicle("veh-bmw").unwrap().state, "CHARGING");
    adapter
        .stop_charging(creds(&tokens, &meta), car("veh-bmw", &bmw))
        .await
        .unwrap();
    assert_eq!(server.fake.vehicle("veh-bmw").unwrap().state, "NOT_CHARGING");
    adapter
        .set_max_current(creds(&tokens, &meta), car("veh-tesla", &tesla), 12)
        .await
        .unwrap();
    assert_eq!(server.fake.vehicle("veh-tesla").unwrap().amperage, 12.0);
    let not_tesla = adapter
        .set_max_current(creds(&tokens, &meta), car("veh-bmw", &bmw), 12)
        .await;
    assert!(matches!(not_tesla, Err(AdapterError::NotCapable(_))), "{not_tesla:?}");

    server.fake.update_vehicle("veh-bmw", |v| v.is_plugged_in = false);
    let unplugged = adapter
        .start_charging(creds(&tokens, &meta), car("veh-bmw", &bmw))
        .await;
    let Err(AdapterError::Refused(why)) = unplugged else {
        panic!("{unplugged:?}")
    };
    assert!(why.contains("CHARGING_PLUG_NOT_CONNECTED"), "{why}");
}

#[tokio::test]
async fn an_asleep_vehicle_is_asleep_and_smartcar_cannot_wake_it() {
    let (server, adapter) = smartcar().await;
    let tokens = connect(&adapter).await;
    let meta = serde_json::json!({});
    server.fake.update_vehicle("veh-bmw", |v| v.asleep = true);
    let read = adapter.read_state(creds(&tokens, &meta), car("veh-bmw", &meta)).await;
    assert!(matches!(read, Err(AdapterError::Asleep(_))), "{read:?}");
    let command = adapter
        .start_charging(creds(&tokens, &meta), car("veh-bmw", &meta))
        .await;
    assert!(matches!(command, Err(AdapterError::Asleep(_))), "{command:?}");
    let wake = adapter.wake(creds(&tokens, &meta), car("veh-bmw", &meta)).await;
    assert!(matches!(wake, Err(AdapterError::NotCapable(_))), "{wake:?}");
}

#[tokio::test]
async fn rate_limits_and_billing_limits_say_how_long_to_wait() {
    let (server, adapter) = smartcar().await;
    let tokens = connect(&adapter).await;
    let meta = serde_json::json!({});
    server.fake.fail_next(Fault::RateLimited(90));
    let limited = adapter.read_state(creds(&tokens, &meta), car("veh-bmw", &meta)).await;
    let Err(AdapterError::RateLimited { retry_after, detail }) = limited else {
        panic!("{limited:?}")
    };
    assert_eq!(retry_after, Some(Duration::from_secs(90)));
    assert!(detail.contains("RATE_LIMIT:VEHICLE"), "{detail}");

    server.fake.fail_next(Fault::Billing);
    let billed = adapter.read_state(creds(&tokens, &meta), car("veh-bmw", &meta)).await;
    let Err(AdapterError::RateLimited { retry_after, detail }) = billed else {
        panic!("{billed:?}")
    };
    assert!(
        retry_after.unwrap() >= Duration::from_secs(3600),
        "a monthly quota is not retried soon"
    );
    assert!(detail.contains("BILLING"), "{detail}");
}

#[tokio::test]
async fn an_expired_token_is_refused_as_authentication_and_a_refresh_fixes_it_once() {
    let (server, adapter) = smartcar().await;
    let first = connect(&adapter).await;
    let meta = serde_json::json!({});
    server.fake.expire_access_tokens();
    let refused = adapter.list_vehicles(creds(&first, &meta)).await;
    assert!(
        matches!(refused, Err(AdapterError::CredentialsInvalid(_))),
        "{refused:?}"
    );
    let second = adapter.refresh(first.refresh_token.as_ref().unwrap()).await.unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_eq!(adapter.list_vehicles(creds(&second, &meta)).await.unwrap().len(), 2);
    let reused = adapter.refresh(first.refresh_token.as_ref().unwrap()).await;
    assert!(matches!(reused, Err(AdapterError::CredentialsInvalid(_))), "{reused:?}");
}

#[tokio::test]
async fn revoked_credentials_are_refused_for_data_and_for_refresh() {
    let (server, adapter) = smartcar().await;
    let tokens = connect(&adapter).await;
    let meta = serde_json::json!({});
    server.fake.revoke_all();
    assert!(matches!(
        adapter.read_state(creds(&tokens, &meta), car("veh-bmw", &meta)).await,
        Err(AdapterError::CredentialsInvalid(_))
    ));
    assert!(matches!(
        adapter.refresh(tokens.refresh_token.as_ref().unwrap()).await,
        Err(AdapterError::CredentialsInvalid(_))
    ));
}

#[tokio::test]
async fn compatibility_and_other_errors_are_told_apart_and_garbage_is_an_upstream_failure() {
    let (server, adapter) = smartcar().await;
    let tokens = connect(&adapter).await;
    let meta = serde_json::json!({});
    server
        .fake
        .fail_next(Fault::Error(501, "COMPATIBILITY", "VEHICLE_NOT_CAPABLE"));
    let incompatible = adapter
        .start_charging(creds(&tokens, &meta), car("veh-bmw", &meta))
        .await;
    assert!(
        matches!(incompatible, Err(AdapterError::NotCapable(_))),
        "{incompatible:?}"
    );
    server.fake.fail_next(Fault::Error(502, "UPSTREAM", "RATE_LIMIT"));
    let upstream_limit = adapter.read_state(creds(&tokens, &meta), car("veh-bmw", &meta)).await;
    assert!(
        matches!(upstream_limit, Err(AdapterError::RateLimited { .. })),
        "{upstream_limit:?}"
    );
    for fault in [
        Fault::Html,
        Fault::TruncatedJson,
        Fault::Error(500, "SERVER", "INTERNAL"),
    ] {
        server.fake.fail_next(fault.clone());
        let read = adapter.read_state(creds(&tokens, &meta), car("veh-bmw", &meta)).await;
        assert!(matches!(read, Err(AdapterError::Upstream(_))), "{fault:?}: {read:?}");
    }
    server.fake.fail_next(Fault::Stall(Duration::from_secs(5)));
    let stalled = adapter.read_state(creds(&tokens, &meta), car("veh-bmw", &meta)).await;
    assert!(matches!(stalled, Err(AdapterError::Timeout(_))), "{stalled:?}");
}
