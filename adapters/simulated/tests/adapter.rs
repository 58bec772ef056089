//! The simulated adapter against the simulated cloud on a real port: sign-in over HTTP, then every
//! adapter call and the failures each brand is built to show.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use std::time::Duration;

use coupler_core::account::{Secret, TokenSet};
use coupler_core::adapter::{AuthorizationRequest, Credentials, VehicleRef};
use coupler_core::capability::Scope;
use coupler_core::vehicle::PowerDeliveryState;
use coupler_core::{AdapterError, VehicleAdapter};
use coupler_simulated::{Brand, RequestKind, SimCloud, SimConfig, SimServer, SimVehicleSpec, SimulatedAdapter};
use url::Url;

const CALLBACK: &str = "http://127.0.0.1:9/link/callback";

struct Fixture {
    cloud: SimCloud,
    _server: SimServer,
    base: String,
}

async fn cloud(config: SimConfig) -> Fixture {
    let cloud = SimCloud::new(config);
    cloud.register_client("coupler", "s3cret", CALLBACK);
    let server = cloud.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = server.base_url.clone();
    Fixture {
        cloud,
        _server: server,
        base,
    }
}

fn value_of(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap() + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// Signs in at the simulated maker as a person would and exchanges the code.
async fn sign_in(adapter: &SimulatedAdapter, scopes: &[Scope], user: &str, password: &str) -> TokenSet {
    let redirect = Url::parse(CALLBACK).unwrap();
    let verifier = Secret::new(coupler_core::secret::generate_secret());
    let url = adapter
        .authorization_url(&AuthorizationRequest {
            redirect_uri: &redirect,
            scopes,
            state: "state-123",
            pkce_verifier: &verifier,
            language: "en-US",
        })
        .unwrap();
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = browser.get(url.clone()).send().await.unwrap().text().await.unwrap();
    let login = url.join("login").unwrap();
    let consent_page = browser
        .post(login.clone())
        .form(&[
            ("request_id", value_of(&page, "request_id").as_str()),
            ("username", user),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let back = browser
        .post(login.join("consent").unwrap())
        .form(&[
            ("request_id", value_of(&consent_page, "request_id").as_str()),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), 303);
    let location = Url::parse(back.headers()["location"].to_str().unwrap()).unwrap();
    let query: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(query["state"], "state-123");
    adapter
        .exchange_code(&query["code"], &verifier, &redirect)
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
async fn a_full_control_car_is_listed_read_and_commanded_over_http() {
    let f = cloud(SimConfig::default()).await;
    let ids = f.cloud.add_account(
        Brand::Aurora,
        "ann",
        "pw",
        vec![
            SimVehicleSpec::new("VIN1", "Aurora A1"),
            SimVehicleSpec::new("VIN2", "Aurora Classic"),
        ],
    );
    let adapter = SimulatedAdapter::new(Brand::Aurora, &f.base, "coupler", "s3cret").unwrap();
    let tokens = sign_in(&adapter, &Scope::ALL, "ann", "pw").await;
    assert!(tokens.refresh_token.is_some() && tokens.expires_at.is_some());
    let meta = serde_json::json!({});

    let listed = adapter.list_vehicles(creds(&tokens, &meta)).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].information.vin.as_deref(), Some("VIN1"));
    assert!(listed[0].capabilities.set_max_current.is_yes());
    assert!(
        !listed[1].capabilities.set_max_current.is_yes(),
        "per-model capabilities"
    );

    let state = adapter
        .read_state(creds(&tokens, &meta), car(&ids[0], &meta))
        .await
        .unwrap();
    assert_eq!(
        state.charge_state.power_delivery_state,
        Some(PowerDeliveryState::Unplugged)
    );
    assert_eq!(state.charge_state.battery_level, Some(50.0));
    assert!(state.location.is_some(), "location was granted");

    let unplugged = adapter.start_charging(creds(&tokens, &meta), car(&ids[0], &meta)).await;
    assert!(matches!(unplugged, Err(AdapterError::Refused(_))), "{unplugged:?}");
    f.cloud.update_vehicle(&ids[0], |c| c.plugged_in = true);
    adapter
        .stop_charging(creds(&tokens, &meta), car(&ids[0], &meta))
        .await
        .unwrap();
    assert_eq!(f.cloud.vehicle(&ids[0]).unwrap().status(), "stopped");
    adapter
        .start_charging(creds(&tokens, &meta), car(&ids[0], &meta))
        .await
        .unwrap();
    adapter
        .set_max_current(creds(&tokens, &meta), car(&ids[0], &meta), 10)
        .await
        .unwrap();
    let state = adapter
        .read_state(creds(&tokens, &meta), car(&ids[0], &meta))
        .await
        .unwrap();
    assert_eq!(state.charge_state.is_charging, Some(true));
    assert_eq!(state.charge_state.max_current, Some(10.0));

    let classic = adapter
        .set_max_current(creds(&tokens, &meta), car(&ids[1], &meta), 10)
        .await;
    assert!(matches!(classic, Err(AdapterError::NotCapable(_))), "{classic:?}");
}

#[tokio::test]
async fn brands_refuse_what_they_cannot_do_and_ungranted_scopes_are_refused() {
    let f = cloud(SimConfig::default()).await;
    let boreal = f
        .cloud
        .add_account(Brand::Boreal, "bo", "pw", vec![SimVehicleSpec::new("B1", "Boreal B")]);
    let cirrus = f
        .cloud
        .add_account(Brand::Cirrus, "ci", "pw", vec![SimVehicleSpec::new("C1", "Cirrus C")]);
    let meta = serde_json::json!({});

    let b = SimulatedAdapter::new(Brand::Boreal, &f.base, "coupler", "s3cret").unwrap();
    let bt = sign_in(&b, &Scope::ALL, "bo", "pw").await;
    f.cloud.update_vehicle(&boreal[0], |c| c.plugged_in = true);
    let stop = b.stop_charging(creds(&bt, &meta), car(&boreal[0], &meta)).await;
    let Err(AdapterError::NotCapable(why)) = stop else {
        panic!("{stop:?}")
    };
    assert!(why.contains("cannot stop"), "{why}");

    let c = SimulatedAdapter::new(Brand::Cirrus, &f.base, "coupler", "s3cret").unwrap();
    let ct = sign_in(&c, &[Scope::ReadData], "ci", "pw").await;
    let start = c.start_charging(creds(&ct, &meta), car(&cirrus[0], &meta)).await;
    assert!(matches!(start, Err(AdapterError::NotCapable(_))), "{start:?}");
    let state = c.read_state(creds(&ct, &meta), car(&cirrus[0], &meta)).await.unwrap();
    assert_eq!(state.location, None, "location was not granted");
}

#[tokio::test]
async fn a_sleeping_car_is_asleep_until_woken_and_reading_it_does_not_wake_it() {
    let f = cloud(SimConfig::default()).await;
    let ids = f
        .cloud
        .add_account(Brand::Nimbus, "ni", "pw", vec![SimVehicleSpec::new("N1", "Nimbus N")]);
    let adapter = SimulatedAdapter::new(Brand::Nimbus, &f.base, "coupler", "s3cret").unwrap();
    let tokens = sign_in(&adapter, &Scope::ALL, "ni", "pw").await;
    let meta = serde_json::json!({});
    f.cloud.update_vehicle(&ids[0], |c| c.asleep = true);

    for _ in 0..2 {
        let read = adapter.read_state(creds(&tokens, &meta), car(&ids[0], &meta)).await;
        assert!(matches!(read, Err(AdapterError::Asleep(_))), "{read:?}");
    }
    assert!(f.cloud.vehicle(&ids[0]).unwrap().asleep, "reads did not wake it");
    assert_eq!(
        adapter.list_vehicles(creds(&tokens, &meta)).await.unwrap().len(),
        1,
        "listing works asleep"
    );
    adapter.wake(creds(&tokens, &meta), car(&ids[0], &meta)).await.unwrap();
    assert!(adapter
        .read_state(creds(&tokens, &meta), car(&ids[0], &meta))
        .await
        .is_ok());
}

#[tokio::test]
async fn a_rate_limited_brand_answers_429_with_retry_after() {
    let f = cloud(SimConfig {
        rate_limit: 3,
        rate_window: Duration::from_secs(30),
        ..SimConfig::default()
    })
    .await;
    let ids = f
        .cloud
        .add_account(Brand::Nimbus, "ni", "pw", vec![SimVehicleSpec::new("N1", "Nimbus N")]);
    let adapter = SimulatedAdapter::new(Brand::Nimbus, &f.base, "coupler", "s3cret").unwrap();
    let tokens = sign_in(&adapter, &Scope::ALL, "ni", "pw").await;
    let meta = serde_json::json!({});
    for _ in 0..3 {
        adapter
            .read_state(creds(&tokens, &meta), car(&ids[0], &meta))
            .await
            .unwrap();
    }
    let limited = adapter.read_state(creds(&tokens, &meta), car(&ids[0], &meta)).await;
    let Err(AdapterError::RateLimited { retry_after, .. }) = limited else {
        panic!("{limited:?}")
    };
    let wait = retry_after.unwrap();
    assert!(wait > Duration::ZERO && wait <= Duration::from_secs(30), "{wait:?}");
    assert_eq!(f.cloud.request_count(Brand::Nimbus, RequestKind::State), 4);
}

#[tokio::test]
async fn refresh_tokens_rotate_and_revoked_credentials_are_refused() {
    let f = cloud(SimConfig::default()).await;
    f.cloud
        .add_account(Brand::Aurora, "ann", "pw", vec![SimVehicleSpec::new("V1", "Aurora A1")]);
    let adapter = SimulatedAdapter::new(Brand::Aurora, &f.base, "coupler", "s3cret").unwrap();
    let first = sign_in(&adapter, &Scope::ALL, "ann", "pw").await;
    let meta = serde_json::json!({});

    f.cloud.expire_access_tokens(Brand::Aurora, "ann");
    let expired = adapter.list_vehicles(creds(&first, &meta)).await;
    assert!(
        matches!(expired, Err(AdapterError::CredentialsInvalid(_))),
        "{expired:?}"
    );
    let second = adapter.refresh(first.refresh_token.as_ref().unwrap()).await.unwrap();
    assert_ne!(
        second.refresh_token, first.refresh_token,
        "a new refresh token replaces the old"
    );
    assert!(adapter.list_vehicles(creds(&second, &meta)).await.is_ok());
    let reused = adapter.refresh(first.refresh_token.as_ref().unwrap()).await;
    assert!(matches!(reused, Err(AdapterError::CredentialsInvalid(_))), "{reused:?}");

    f.cloud.revoke_account(Brand::Aurora, "ann");
    assert!(matches!(
        adapter.list_vehicles(creds(&second, &meta)).await,
        Err(AdapterError::CredentialsInvalid(_))
    ));
    assert!(matches!(
        adapter.refresh(second.refresh_token.as_ref().unwrap()).await,
        Err(AdapterError::CredentialsInvalid(_))
    ));
}

#[tokio::test]
async fn a_wrong_client_secret_is_not_mistaken_for_revoked_user_credentials() {
    let f = cloud(SimConfig::default()).await;
    f.cloud.add_account(Brand::Aurora, "ann", "pw", vec![]);
    let good = SimulatedAdapter::new(Brand::Aurora, &f.base, "coupler", "s3cret").unwrap();
    let tokens = sign_in(&good, &Scope::ALL, "ann", "pw").await;
    let misconfigured = SimulatedAdapter::new(Brand::Aurora, &f.base, "coupler", "wrong").unwrap();
    let refused = misconfigured.refresh(tokens.refresh_token.as_ref().unwrap()).await;
    assert!(matches!(refused, Err(AdapterError::Upstream(_))), "{refused:?}");
}
