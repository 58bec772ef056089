//! Each API client's branding (app name, privacy policy, return page, logo), on SQLite and on
//! PostgreSQL (the latter when `COUPLER_TEST_POSTGRES_URL` is set).

#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use std::sync::Arc;

use coupler_core::branding::{BrandingText, Logo, LogoType};
use coupler_core::secret::hash_secret;
use coupler_core::{time, Client, ClientId, Store};

use coupler_store::on_both_backends;

on_both_backends!(
    a_client_without_branding_reads_as_nothing_set,
    text_and_logo_are_set_apart_and_each_keeps_the_other,
    a_logo_can_be_removed,
    one_client_s_branding_is_not_another_s,
);

async fn stored_client(store: &Arc<dyn Store>, name: &str) -> ClientId {
    let client = Client {
        id: ClientId::generate(),
        name: name.to_owned(),
        secret_hash: hash_secret("secret"),
        created_at: time::now(),
        revoked_at: None,
    };
    store.insert_client(&client).await.unwrap();
    client.id
}

fn png(extra: u8) -> Logo {
    Logo::parse(
        Some("image/png"),
        vec![0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n', extra],
    )
    .unwrap()
}

fn at(raw: &str) -> chrono::DateTime<chrono::Utc> {
    raw.parse().unwrap()
}

async fn a_client_without_branding_reads_as_nothing_set(store: Arc<dyn Store>) {
    let client = stored_client(&store, "plain").await;
    let branding = store.get_branding(&client).await.unwrap();
    assert_eq!(branding, Default::default());
    assert!(store.get_logo(&client).await.unwrap().is_none());
}

async fn text_and_logo_are_set_apart_and_each_keeps_the_other(store: Arc<dyn Store>) {
    let client = stored_client(&store, "volt").await;
    let text = BrandingText::parse(Some("Volt"), Some("https://volt.example/privacy"), None).unwrap();
    let stored = store
        .put_branding(&client, &text, at("2026-02-01T10:00:00Z"))
        .await
        .unwrap();
    assert_eq!(stored.app_name.as_deref(), Some("Volt"));
    assert!(stored.logo.is_none());

    let logo = png(1);
    let stored = store
        .put_logo(&client, Some(&logo), at("2026-02-01T11:00:00Z"))
        .await
        .unwrap();
    assert_eq!(
        stored.app_name.as_deref(),
        Some("Volt"),
        "the name stays when the logo changes"
    );
    let info = stored.logo.unwrap();
    assert_eq!(info.kind, LogoType::Png);
    assert_eq!(info.size, logo.bytes.len());
    assert_eq!(info.sha256, logo.info().sha256);
    assert_eq!(stored.updated_at, Some(at("2026-02-01T11:00:00Z")));

    let renamed = BrandingText::parse(Some("Volt Home"), None, Some("https://volt.example/")).unwrap();
    let stored = store
        .put_branding(&client, &renamed, at("2026-02-02T10:00:00Z"))
        .await
        .unwrap();
    assert_eq!(stored.app_name.as_deref(), Some("Volt Home"));
    assert_eq!(stored.privacy_policy_url, None, "the text is replaced whole");
    assert_eq!(stored.return_url.as_deref(), Some("https://volt.example/"));
    assert!(stored.logo.is_some(), "the logo stays when the text changes");
    assert_eq!(store.get_logo(&client).await.unwrap(), Some(logo));
}

async fn a_logo_can_be_removed(store: Arc<dyn Store>) {
    let client = stored_client(&store, "volt").await;
    store
        .put_logo(&client, Some(&png(2)), at("2026-02-01T10:00:00Z"))
        .await
        .unwrap();
    let stored = store.put_logo(&client, None, at("2026-02-01T11:00:00Z")).await.unwrap();
    assert!(stored.logo.is_none());
    assert!(store.get_logo(&client).await.unwrap().is_none());
}

async fn one_client_s_branding_is_not_another_s(store: Arc<dyn Store>) {
    let first = stored_client(&store, "first").await;
    let second = stored_client(&store, "second").await;
    let text = BrandingText::parse(Some("First App"), None, None).unwrap();
    store
        .put_branding(&first, &text, at("2026-02-01T10:00:00Z"))
        .await
        .unwrap();
    store
        .put_logo(&first, Some(&png(3)), at("2026-02-01T10:00:00Z"))
        .await
        .unwrap();
    assert_eq!(store.get_branding(&second).await.unwrap(), Default::default());
    assert!(store.get_logo(&second).await.unwrap().is_none());
}
