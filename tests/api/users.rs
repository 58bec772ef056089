use coupler_tests::{problem, TestApp};
use reqwest::Method;

#[tokio::test]
async fn put_creates_a_user_once_and_then_keeps_it_unchanged() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let first = app
        .as_tenant(&tenant, Method::PUT, "/users/user-1")
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 201);
    let first: serde_json::Value = first.json().await.unwrap();
    assert_eq!(first["id"], "user-1");
    assert_eq!(first["linkedVendors"], serde_json::json!([]));

    let second = app
        .as_tenant(&tenant, Method::PUT, "/users/user-1")
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 200);
    assert_eq!(second.json::<serde_json::Value>().await.unwrap(), first);
}

#[tokio::test]
async fn get_reads_a_user_and_an_unknown_one_is_404() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    app.as_tenant(&tenant, Method::PUT, "/users/a%40b.example")
        .send()
        .await
        .unwrap();
    let found = app
        .as_tenant(&tenant, Method::GET, "/users/a@b.example")
        .send()
        .await
        .unwrap();
    assert_eq!(found.status(), 200);
    assert_eq!(found.json::<serde_json::Value>().await.unwrap()["id"], "a@b.example");

    let missing = app
        .as_tenant(&tenant, Method::GET, "/users/nobody")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(problem(missing).await["detail"], "no user 'nobody'");
}

#[tokio::test]
async fn delete_removes_the_user_and_a_second_delete_is_404() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    app.as_tenant(&tenant, Method::PUT, "/users/gone").send().await.unwrap();
    assert_eq!(
        app.as_tenant(&tenant, Method::DELETE, "/users/gone")
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        app.as_tenant(&tenant, Method::GET, "/users/gone")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        app.as_tenant(&tenant, Method::DELETE, "/users/gone")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn a_user_id_that_breaks_the_rules_gets_422_and_nothing_is_created() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let long = "x".repeat(256);
    for bad in ["a%2Fb", "a%0Ab", "%20padded", long.as_str()] {
        let response = app
            .as_tenant(&tenant, Method::PUT, &format!("/users/{bad}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{bad}");
        problem(response).await;
    }
    // Not valid UTF-8 once percent-decoded.
    let response = app
        .as_tenant(&tenant, Method::PUT, "/users/%FF%FE")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    problem(response).await;

    let listed: serde_json::Value = app
        .as_tenant(&tenant, Method::GET, "/users")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"], serde_json::json!([]));
}

async fn page(app: &TestApp, tenant: &coupler_tests::Tenant, query: &str) -> (Vec<String>, serde_json::Value) {
    let response = app
        .as_tenant(tenant, Method::GET, &format!("/users{query}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{query}");
    let body: serde_json::Value = response.json().await.unwrap();
    let ids = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect();
    (ids, body["pagination"].clone())
}

#[tokio::test]
async fn users_are_listed_newest_first_and_cursors_walk_both_ways() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    for i in 1..=5 {
        app.as_tenant(&tenant, Method::PUT, &format!("/users/u{i}"))
            .send()
            .await
            .unwrap();
    }
    let (ids, p1) = page(&app, &tenant, "?pageSize=2").await;
    assert_eq!(ids, ["u5", "u4"]);
    assert!(p1["before"].is_null());
    let (ids, p2) = page(
        &app,
        &tenant,
        &format!("?pageSize=2&after={}", p1["after"].as_str().unwrap()),
    )
    .await;
    assert_eq!(ids, ["u3", "u2"]);
    let (ids, p3) = page(
        &app,
        &tenant,
        &format!("?pageSize=2&after={}", p2["after"].as_str().unwrap()),
    )
    .await;
    assert_eq!(ids, ["u1"]);
    assert!(p3["after"].is_null());
    let (ids, _) = page(
        &app,
        &tenant,
        &format!("?pageSize=2&before={}", p3["before"].as_str().unwrap()),
    )
    .await;
    assert_eq!(ids, ["u3", "u2"]);

    let (all, _) = page(&app, &tenant, "").await;
    assert_eq!(all, ["u5", "u4", "u3", "u2", "u1"], "the default page holds them all");
}

#[tokio::test]
async fn bad_pagination_parameters_get_422() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    for query in [
        "?pageSize=0",
        "?pageSize=201",
        "?pageSize=abc",
        "?pageSize=-1",
        "?after=not-a-cursor",
        "?before=%%%",
        "?after=a&before=b",
    ] {
        let response = app
            .as_tenant(&tenant, Method::GET, &format!("/users{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{query}");
        problem(response).await;
    }
}
