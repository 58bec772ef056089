use coupler_tests::{problem, TestApp};
use reqwest::Method;

#[tokio::test]
async fn a_second_client_cannot_see_or_delete_the_first_clients_users() {
    let app = TestApp::spawn().await;
    let first = app.tenant("first").await;
    let second = app.tenant("second").await;
    let created = app.as_tenant(&first, Method::PUT, "/users/alice").send().await.unwrap();
    assert_eq!(created.status(), 201);
    let original: serde_json::Value = created.json().await.unwrap();

    let seen = app
        .as_tenant(&second, Method::GET, "/users/alice")
        .send()
        .await
        .unwrap();
    assert_eq!(seen.status(), 404);
    problem(seen).await;
    let deleted = app
        .as_tenant(&second, Method::DELETE, "/users/alice")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 404);
    let listed: serde_json::Value = app
        .as_tenant(&second, Method::GET, "/users")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"], serde_json::json!([]));

    // The second client's own "alice" is a different user; making and deleting it leaves the first's.
    assert_eq!(
        app.as_tenant(&second, Method::PUT, "/users/alice")
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(
        app.as_tenant(&second, Method::DELETE, "/users/alice")
            .send()
            .await
            .unwrap()
            .status(),
        204
    );

    let still: serde_json::Value = app
        .as_tenant(&first, Method::GET, "/users/alice")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(still, original, "the first client's user is intact");
}
