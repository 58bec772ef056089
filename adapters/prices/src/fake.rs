//! A local aWATTar that answers `GET /v1/marketdata` as aWATTar documents it, for tests over real
//! HTTP. It has hourly prices up to a publication horizon the test moves (the next day's prices
//! come out in the afternoon), and tests script failures ([`Fault`]) and count what it received.

#![allow(
    clippy::unwrap_used,
    reason = "test support: a poisoned lock should fail the test loudly"
)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::Deserialize;
use serde_json::json;
use tokio::task::JoinHandle;

/// A way for the fake to fail, until cleared.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// HTTP 500 with an error page.
    ServerError,
    /// HTTP 200 with a body that is not the documented JSON.
    Garbage,
    /// The documented JSON without the hour starting at this time.
    MissingHour(DateTime<Utc>),
    /// Prices in another unit than Eur/MWh.
    WrongUnit,
}

#[derive(Debug)]
struct FakeState {
    /// Prices exist for hours that end by this time.
    published_until: DateTime<Utc>,
    /// Added to every price, EUR/MWh: a test changes it to make the next answer differ.
    offset: f64,
    fault: Option<Fault>,
    requests: usize,
}

/// A running fake aWATTar.
#[derive(Debug)]
pub struct FakeAwattar {
    /// Its base URL (`http://127.0.0.1:<port>`), as `[prices] awattar_url` takes it.
    pub base_url: String,
    state: Arc<Mutex<FakeState>>,
    task: JoinHandle<()>,
}

impl Drop for FakeAwattar {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The fake's price of the hour starting at `start`, EUR/MWh: cheap at night, dear in the
/// evening, different every day.
pub fn price_of_hour(start: DateTime<Utc>) -> f64 {
    let hour = start.timestamp().div_euclid(3600);
    let of_day = hour.rem_euclid(24) as f64;
    let day = hour.div_euclid(24) as f64;
    40.0 + 4.0 * of_day + (day % 7.0)
}

#[derive(Debug, Deserialize)]
struct Window {
    start: Option<i64>,
    end: Option<i64>,
}

async fn marketdata(State(state): State<Arc<Mutex<FakeState>>>, Query(window): Query<Window>) -> Response {
    let (published_until, offset, fault) = {
        let mut state = state.lock().unwrap();
        state.requests += 1;
        (state.published_until, state.offset, state.fault.clone())
    };
    match fault {
        Some(Fault::ServerError) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "<html><body>Internal Server Error</body></html>",
            )
                .into_response()
        }
        Some(Fault::Garbage) => {
            return (StatusCode::OK, "{\"object\": \"list\", \"data\": [{\"start_ti").into_response()
        }
        _ => {}
    }
    // Without a window aWATTar answers the next 24 hours.
    let now = Utc::now();
    let start = window.start.and_then(DateTime::from_timestamp_millis).unwrap_or(now);
    let end = window
        .end
        .and_then(DateTime::from_timestamp_millis)
        .unwrap_or(start + Duration::hours(24));
    let mut at = start.duration_trunc(Duration::hours(1)).unwrap_or(start);
    let mut data = Vec::new();
    while at < end && at + Duration::hours(1) <= published_until {
        let missing = fault == Some(Fault::MissingHour(at));
        if !missing {
            data.push(json!({
                "start_timestamp": at.timestamp_millis(),
                "end_timestamp": (at + Duration::hours(1)).timestamp_millis(),
                "marketprice": price_of_hour(at) + offset,
                "unit": if fault == Some(Fault::WrongUnit) { "Eur/kWh" } else { "Eur/MWh" },
            }));
        }
        at += Duration::hours(1);
    }
    Json(json!({ "object": "list", "data": data, "url": "/v1/marketdata" })).into_response()
}

impl FakeAwattar {
    /// Starts a fake on a random local port with prices published until `published_until`.
    pub async fn spawn(published_until: DateTime<Utc>) -> Self {
        let state = Arc::new(Mutex::new(FakeState {
            published_until,
            offset: 0.0,
            fault: None,
            requests: 0,
        }));
        let app = Router::new()
            .route("/v1/marketdata", get(marketdata))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base_url: format!("http://{addr}"),
            state,
            task,
        }
    }

    /// Fails every request from now on in the way given (`None` heals it).
    pub fn set_fault(&self, fault: Option<Fault>) {
        self.state.lock().unwrap().fault = fault;
    }

    /// Publishes prices up to `until`.
    pub fn publish_until(&self, until: DateTime<Utc>) {
        self.state.lock().unwrap().published_until = until;
    }

    /// Shifts every price by `offset` EUR/MWh, so that the next answer differs from the last.
    pub fn set_offset(&self, offset: f64) {
        self.state.lock().unwrap().offset = offset;
    }

    /// How many requests it has answered.
    pub fn requests(&self) -> usize {
        self.state.lock().unwrap().requests
    }
}
