//! The simulated maker served by Coupler itself under `/sim` (as `COUPLER_SIMULATED_OEM` and the
//! sandbox have it): a person links its demo account through Coupler's own listener.

use coupler::config::Config;
use coupler::server::Server;
use coupler_core::secret::{generate_secret, hash_secret, SecretKey};
use coupler_core::{time, Client, ClientId};
use coupler_store::testing::TestDatabase;
use coupler_tests::vehicles::{browser, continue_from_consent, eventually, sign_in, AppSite};
use serde_json::json;

#[tokio::test]
async fn with_the_simulated_oem_setting_coupler_serves_the_maker_under_sim_and_its_demo_account_links() {
    let db = TestDatabase::sqlite();
    let key = SecretKey::generate().encode();
    let vars = [
        ("COUPLER_LISTEN", "127.0.0.1:0"),
        ("COUPLER_DATABASE_URL", db.url()),
        ("COUPLER_SECRET_KEY", key.as_str()),
        ("COUPLER_SIMULATED_OEM", "true"),
    ];
    let config = Config::from_sources(None, |name| {
        vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    })
    .unwrap();
    let server = Server::start(&config).await.unwrap();
    let base = server.public_url.as_str().trim_end_matches('/').to_owned();
    let store = server.state.store.clone();
    assert!(server.simulated_oem.is_some());

    let secret = generate_secret();
    let client = ClientId::generate();
    store
        .insert_client(&Client {
            id: client.clone(),
            name: "sandbox".into(),
            secret_hash: hash_secret(&secret),
            created_at: time::now(),
            revoked_at: None,
        })
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("{base}/oauth/token"))
        .basic_auth(client.as_str(), Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();

    // The simulated maker's control API lists the demo cars.
    let cars: serde_json::Value = http
        .get(format!("{base}/sim/control/vehicles"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cars["vehicles"].as_array().unwrap().len(), 5);

    let site = AppSite::start().await;
    let link: serde_json::Value = http
        .post(format!("{base}/users/demo-user/link"))
        .bearer_auth(&token)
        .json(&json!({"vendor": "SIM_AURORA", "scopes": ["vehicle:read:data"], "redirectUri": site.redirect_uri()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let b = browser();
    let login = continue_from_consent(&b, link["linkUrl"].as_str().unwrap()).await;
    assert!(login
        .url()
        .as_str()
        .starts_with(&format!("{base}/sim/aurora/oauth/authorize")));
    let landed = sign_in(&b, login, "demo", "demo", "approve").await;
    assert_eq!(landed.status(), 200);
    assert_eq!(site.last_visit().unwrap()["success"], "true");

    eventually("the demo cars were read", || async {
        let list: serde_json::Value = http
            .get(format!("{base}/users/demo-user/vehicles"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let data = list["data"].as_array().cloned().unwrap_or_default();
        data.len() == 2 && data.iter().all(|v| v["isReachable"] == true)
    })
    .await;
    // Errors under /sim are the maker's own, not Coupler's problem+json.
    let refused = http
        .get(format!("{base}/sim/aurora/api/v1/vehicles"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["content-type"], "application/json");
    server.stop().await.unwrap();
}
