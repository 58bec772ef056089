//! The Tesla adapter against a local Fleet API that answers as Tesla documents it: success, sleeping
//! cars, rate limits, expired and revoked tokens, signed commands, and garbage.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use std::time::Duration;

use coupler_core::account::{Secret, TokenSet};
use coupler_core::adapter::{AuthorizationRequest, Credentials, VehicleRef};
use coupler_core::capability::Scope;
use coupler_core::vehicle::PowerDeliveryState;
use coupler_core::{AdapterError, VehicleAdapter};
use coupler_tesla::fake::{FakeCar, FakeTesla, FakeTeslaServer, Fault};
use coupler_tesla::{TeslaAdapter, TeslaConfig};
use url::Url;

const CALLBACK: &str = "http://127.0.0.1:9/link/callback";
const VIN: &str = "5YJ3E1EA7KF317000";
const OLD_VIN: &str = "5YJSA1E11GF000001";

fn config(server: &FakeTeslaServer, proxy: bool) -> TeslaConfig {
    let base = Url::parse(&server.base_url).unwrap();
    TeslaConfig {
        client_id: "app".into(),
        client_secret: Secret::new("app-secret"),
        authorize_url: base.join("/oauth2/v3/authorize").unwrap(),
        token_url: base.join("/oauth2/v3/token").unwrap(),
        discovery_url: base.clone(),
        regional_urls: vec![base.clone()],
        command_proxy_url: proxy.then(|| base.join("/proxy").unwrap()),
        timeout: Duration::from_secs(2),
        ..TeslaConfig::production()
    }
}

async fn fleet() -> FakeTeslaServer {
    let mut legacy = FakeCar::model3(OLD_VIN);
    legacy.signed_required = false;
    legacy.display_name = "Old S".into();
    FakeTesla::spawn("app", "app-secret", vec![FakeCar::model3(VIN), legacy]).await
}

/// The authorization-code flow: the fake approves at once and redirects with a code.
async fn link(adapter: &TeslaAdapter) -> TokenSet {
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
    assert_eq!(query["code_challenge_method"], "S256");
    assert!(query["scope"].contains("offline_access") && query["scope"].contains("vehicle_charging_cmds"));
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let back = browser.get(url).send().await.unwrap();
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

fn car<'a>(vin: &'a str, meta: &'a serde_json::Value) -> VehicleRef<'a> {
    VehicleRef {
        vendor_vehicle_id: vin,
        vin: Some(vin),
        meta,
    }
}

#[tokio::test]
async fn a_linked_tesla_account_is_discovered_listed_and_read() {
    let server = fleet().await;
    let adapter = TeslaAdapter::new(config(&server, true)).unwrap();
    let tokens = link(&adapter).await;
    assert!(tokens.refresh_token.is_some());
    let meta = adapter.discover_account(&tokens.access_token).await.unwrap();
    assert_eq!(meta["fleetApiBaseUrl"], server.base_url.as_str());

    let vehicles = adapter.list_vehicles(creds(&tokens, &meta)).await.unwrap();
    assert_eq!(vehicles.len(), 2);
    assert_eq!(vehicles[0].vendor_vehicle_id, VIN);
    assert_eq!(vehicles[0].information.model.as_deref(), Some("Model 3"));
    assert_eq!(vehicles[0].information.year, Some(2019));
    assert_eq!(vehicles[0].meta["signedCommands"], true);
    assert_eq!(vehicles[1].meta["signedCommands"], false);

    let state = adapter
        .read_state(creds(&tokens, &meta), car(VIN, &vehicles[0].meta))
        .await
        .unwrap();
    let charge = state.charge_state;
    assert_eq!(charge.battery_level, Some(55.0));
    assert_eq!(charge.range, Some(289.7), "miles become km");
    assert_eq!(charge.power_delivery_state, Some(PowerDeliveryState::Stopped));
    assert_eq!(charge.is_plugged_in, Some(true));
    assert_eq!(charge.is_charging, Some(false));
    assert_eq!(charge.charge_limit, Some(80.0));
    assert_eq!(charge.max_current, Some(16.0));
    assert!(
        charge.last_updated.unwrap() < chrono::Utc::now(),
        "the car's own timestamp"
    );
    assert_eq!(state.location.unwrap().latitude, Some(59.91));
}

#[tokio::test]
async fn a_sleeping_tesla_is_reported_asleep_without_asking_it_for_data() {
    let server = fleet().await;
    let adapter = TeslaAdapter::new(config(&server, true)).unwrap();
    let tokens = link(&adapter).await;
    let meta = adapter.discover_account(&tokens.access_token).await.unwrap();
    let vmeta = serde_json::json!({"signedCommands": true});
    server.fake.update_car(VIN, |c| c.state = "asleep".into());

    let read = adapter.read_state(creds(&tokens, &meta), car(VIN, &vmeta)).await;
    assert!(matches!(read, Err(AdapterError::Asleep(_))), "{read:?}");
    assert_eq!(
        server.fake.count("vehicle_data"),
        0,
        "vehicle_data was not called, so the car was not woken"
    );
    assert_eq!(server.fake.count("wake_up"), 0);

    // A car that falls asleep between the cloud's answer and the data request answers 408, which
    // also means asleep: the cloud still says online here, the car does not answer.
    server.fake.fail_next(Fault::Status(
        200,
        r#"{"response":{"id":1,"vin":"x","state":"online"}}"#.into(),
    ));
    let read = adapter.read_state(creds(&tokens, &meta), car(VIN, &vmeta)).await;
    assert!(
        matches!(read, Err(AdapterError::Asleep(_))),
        "408 from vehicle_data: {read:?}"
    );
    assert_eq!(server.fake.count("vehicle_data"), 1);

    adapter.wake(creds(&tokens, &meta), car(VIN, &vmeta)).await.unwrap();
    assert_eq!(server.fake.count("wake_up"), 1);
    assert!(adapter
        .read_state(creds(&tokens, &meta), car(VIN, &vmeta))
        .await
        .is_ok());
}

#[tokio::test]
async fn a_rate_limit_is_reported_with_its_retry_after() {
    let server = fleet().await;
    let adapter = TeslaAdapter::new(config(&server, true)).unwrap();
    let tokens = link(&adapter).await;
    let meta = adapter.discover_account(&tokens.access_token).await.unwrap();
    server.fake.fail_next(Fault::RateLimited(86_400));
    let read = adapter
        .read_state(creds(&tokens, &meta), car(VIN, &serde_json::json!({})))
        .await;
    let Err(AdapterError::RateLimited { retry_after, .. }) = read else {
        panic!("{read:?}")
    };
    assert_eq!(retry_after, Some(Duration::from_secs(86_400)));
}

#[tokio::test]
async fn an_expired_access_token_is_refused_and_a_refresh_replaces_both_tokens_once() {
    let server = fleet().await;
    let adapter = TeslaAdapter::new(config(&server, true)).unwrap();
    let first = link(&adapter).await;
    let meta = adapter.discover_account(&first.access_token).await.unwrap();
    server.fake.expire_access_tokens();
    let refused = adapter.list_vehicles(creds(&first, &meta)).await;
    assert!(
        matches!(refused, Err(AdapterError::CredentialsInvalid(_))),
        "{refused:?}"
    );

    let second = adapter.refresh(first.refresh_token.as_ref().unwrap()).await.unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    assert!(adapter.list_vehicles(creds(&second, &meta)).await.is_ok());
    // Tesla's refresh tokens are single use: the old one is now refused as `login_required`.
    let reused = adapter.refresh(first.refresh_token.as_ref().unwrap()).await;
    assert!(matches!(reused, Err(AdapterError::CredentialsInvalid(_))), "{reused:?}");
}

#[tokio::test]
async fn revoked_credentials_are_refused_for_data_and_for_refresh() {
    let server = fleet().await;
    let adapter = TeslaAdapter::new(config(&server, true)).unwrap();
    let tokens = link(&adapter).await;
    let meta = adapter.discover_account(&tokens.access_token).await.unwrap();
    server.fake.revoke_all();
    assert!(matches!(
        adapter.list_vehicles(creds(&tokens, &meta)).await,
        Err(AdapterError::CredentialsInvalid(_))
    ));
    assert!(matches!(
        adapter.refresh(tokens.refresh_token.as_ref().unwrap()).await,
        Err(AdapterError::CredentialsInvalid(_))
    ));
}

#[tokio::test]
async fn a_used_authorization_code_is_refused() {
    let server = fleet().await;
    let adapter = TeslaAdapter::new(config(&server, true)).unwrap();
    let redirect = Url::parse(CALLBACK).unwrap();
    let verifier = Secret::new(coupler_core::secret::generate_secret());
    let url = adapter
        .authorization_url(&AuthorizationRequest {
            redirect_uri: &redirect,
            scopes: &[Scope::ReadData],
            state: "s",
            pkce_verifier: &verifier,
            language: "en-US",
        })
        .unwrap();
    let back = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .unwrap();
    let location = Url::parse(back.headers()["location"].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    adapter.exchange_code(&code, &verifier, &redirect).await.unwrap();
    let again = adapter.exchange_code(&code, &verifier, &redirect).await;
    assert!(matches!(again, Err(AdapterError::CredentialsInvalid(_))), "{again:?}");
}

#[tokio::test]
async fn garbage_html_truncated_json_server_errors_and_stalls_are_upstream_failures_or_timeouts() {
    let server = fleet().await;
    let adapter = TeslaAdapter::new(config(&server, true)).unwrap();
    let tokens = link(&adapter).await;
    let meta = adapter.discover_account(&tokens.access_token).await.unwrap();
    let vmeta = serde_json::json!({});
    for fault in [
        Fault::Html,
        Fault::TruncatedJson,
        Fault::Status(503, "upstream connect error".into()),
        Fault::Status(540, "{\"error\":\"Device Unexpected response\"}".into()),
        Fault::Status(200, "{\"response\": 42}".into()),
    ] {
        server.fake.fail_next(fault.clone());
        let read = adapter.read_state(creds(&tokens, &meta), car(VIN, &vmeta)).await;
        assert!(matches!(read, Err(AdapterError::Upstream(_))), "{fault:?}: {read:?}");
    }
    server.fake.fail_next(Fault::Stall(Duration::from_secs(5)));
    let read = adapter.read_state(creds(&tokens, &meta), car(VIN, &vmeta)).await;
    assert!(matches!(read, Err(AdapterError::Timeout(_))), "{read:?}");
    server.fake.fail_next(Fault::Html);
    let listed = adapter.list_vehicles(creds(&tokens, &meta)).await;
    assert!(matches!(listed, Err(AdapterError::Upstream(_))), "{listed:?}");
}

#[tokio::test]
async fn a_region_coupler_does_not_know_is_refused_so_tokens_go_nowhere_else() {
    let server = fleet().await;
    let mut cfg = config(&server, true);
    cfg.regional_urls = vec![Url::parse("https://fleet-api.prd.eu.vn.cloud.tesla.com").unwrap()];
    let adapter = TeslaAdapter::new(cfg).unwrap();
    let tokens = link(&adapter).await;
    let found = adapter.discover_account(&tokens.access_token).await;
    assert!(matches!(found, Err(AdapterError::Upstream(_))), "{found:?}");
}

#[tokio::test]
async fn signed_commands_go_through_the_proxy_and_legacy_cars_straight_to_the_fleet_api() {
    let server = fleet().await;
    let adapter = TeslaAdapter::new(config(&server, true)).unwrap();
    let tokens = link(&adapter).await;
    let meta = adapter.discover_account(&tokens.access_token).await.unwrap();
    let vehicles = adapter.list_vehicles(creds(&tokens, &meta)).await.unwrap();
    let (new, old) = (&vehicles[0], &vehicles[1]);
    assert!(new.capabilities.start_charging.is_yes(), "the proxy can sign");

    adapter
        .start_charging(creds(&tokens, &meta), car(VIN, &new.meta))
        .await
        .unwrap();
    adapter
        .set_max_current(creds(&tokens, &meta), car(VIN, &new.meta), 10)
        .await
        .unwrap();
    assert_eq!(server.fake.count("proxy:charge_start"), 1);
    assert_eq!(server.fake.count("proxy:set_charging_amps"), 1);
    assert_eq!(server.fake.car(VIN).unwrap().charging_state, "Charging");
    assert_eq!(server.fake.car(VIN).unwrap().charge_current_request, 10.0);

    adapter
        .start_charging(creds(&tokens, &meta), car(OLD_VIN, &old.meta))
        .await
        .unwrap();
    assert_eq!(server.fake.count("command:charge_start"), 1, "no signing needed");
    adapter
        .stop_charging(creds(&tokens, &meta), car(OLD_VIN, &old.meta))
        .await
        .unwrap();
    // Stopping a car that is not charging is not an error: the state is what was asked.
    adapter
        .stop_charging(creds(&tokens, &meta), car(OLD_VIN, &old.meta))
        .await
        .unwrap();

    server
        .fake
        .update_car(OLD_VIN, |c| c.conn_charge_cable = "<invalid>".into());
    let unplugged = adapter
        .start_charging(creds(&tokens, &meta), car(OLD_VIN, &old.meta))
        .await;
    assert!(matches!(unplugged, Err(AdapterError::Refused(_))), "{unplugged:?}");
}

#[tokio::test]
async fn without_a_proxy_a_car_that_needs_signed_commands_is_not_capable_and_says_why() {
    let server = fleet().await;
    let adapter = TeslaAdapter::new(config(&server, false)).unwrap();
    let tokens = link(&adapter).await;
    let meta = adapter.discover_account(&tokens.access_token).await.unwrap();
    let vehicles = adapter.list_vehicles(creds(&tokens, &meta)).await.unwrap();
    let coupler_core::capability::Support::No(why) = &vehicles[0].capabilities.start_charging else {
        panic!("a car that needs signing is not capable without the proxy")
    };
    assert!(why.contains("COUPLER_TESLA_COMMAND_PROXY_URL"), "{why}");
    assert!(
        vehicles[1].capabilities.start_charging.is_yes(),
        "the legacy car needs no signing"
    );
    let sent = adapter
        .start_charging(creds(&tokens, &meta), car(VIN, &vehicles[0].meta))
        .await;
    assert!(matches!(sent, Err(AdapterError::NotCapable(_))), "{sent:?}");
    assert_eq!(server.fake.count("command:charge_start"), 0, "nothing was sent");

    // A car whose signing need was not known is sent unsigned only if Tesla said so.
    let unsigned = adapter
        .start_charging(
            creds(&tokens, &meta),
            car(VIN, &serde_json::json!({"signedCommands": false})),
        )
        .await;
    assert!(
        matches!(unsigned, Err(AdapterError::NotCapable(_))),
        "Tesla's 403: {unsigned:?}"
    );
}
