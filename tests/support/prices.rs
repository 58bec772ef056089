//! Prices a test sets the way a client does: a home location of user `alice` (in UTC), hourly
//! prices pushed for it through the API, and chargers placed there. Each push is announced to the
//! plan keeper by Coupler itself, as any price change is.

use chrono::{DateTime, DurationRound, Utc};
use serde_json::json;

use crate::{Tenant, TestApp};

/// Alice's home location and the prices pushed for it.
#[derive(Debug, Clone)]
pub struct HomePrices {
    /// The location's id.
    pub location: String,
}

impl HomePrices {
    /// Creates alice's home and pushes one price per hour from the hour `from` falls in.
    pub async fn hourly(app: &TestApp, tenant: &Tenant, from: DateTime<Utc>, prices: &[f64]) -> Self {
        let home = app
            .post_json_status(
                tenant,
                "/users/alice/locations",
                json!({"name": "Home", "latitude": 59.91, "longitude": 10.75, "timezoneName": "UTC"}),
                201,
            )
            .await;
        let home = Self {
            location: home["id"].as_str().expect("the location has an id").to_owned(),
        };
        home.set_hourly(app, tenant, from, prices).await;
        home
    }

    /// Pushes new prices, one per hour from the hour `from` falls in, over the earlier ones.
    pub async fn set_hourly(&self, app: &TestApp, tenant: &Tenant, from: DateTime<Utc>, prices: &[f64]) {
        let hour = from
            .duration_trunc(chrono::Duration::hours(1))
            .expect("a time within range");
        let slots: Vec<serde_json::Value> = prices
            .iter()
            .enumerate()
            .map(|(i, price)| {
                let i = i64::try_from(i).expect("few prices");
                json!({
                    "start": (hour + chrono::Duration::hours(i)).to_rfc3339(),
                    "end": (hour + chrono::Duration::hours(i + 1)).to_rfc3339(),
                    "pricePerKwh": price,
                })
            })
            .collect();
        app.post_json_status(
            tenant,
            &format!("/locations/{}/prices", self.location),
            json!({"slots": slots}),
            201,
        )
        .await;
    }

    /// Places a charger at the home, so its plans are priced there.
    pub async fn place(&self, app: &TestApp, tenant: &Tenant, charger_id: &str) {
        let placed = app
            .as_tenant(tenant, reqwest::Method::PUT, &format!("/chargers/{charger_id}"))
            .json(&json!({"locationId": self.location}))
            .send()
            .await
            .expect("PUT the charger");
        assert_eq!(placed.status(), 200, "the charger is placed at home");
    }
}
