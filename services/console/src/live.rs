//! What keeps console pages current without a reload: the signed-in client's events as
//! Server-Sent Events (the same relay and stream as `GET /events`), and the data of a session's
//! chart, which a page fetches again when its charger reports.

use std::convert::Infallible;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use coupler_api::error::ApiError;
use coupler_api::routes::events::event_stream;
use coupler_core::charger::ChargerId;
use coupler_core::costs::EnergyReading;
use coupler_core::ev_system::PowerSample;
use futures::Stream;
use serde::Deserialize;

use crate::view::{Chart, Series};
use crate::{Console, Session};

/// Where a page's stream starts.
#[derive(Debug, Deserialize)]
pub struct StreamFrom {
    /// The last event published before the page read its data.
    after: Option<String>,
}

/// `GET /console/events[?after=N]`: the session's client's events after event `N` (the
/// `Last-Event-ID` a reconnecting browser sends wins; without either, from now on), for the page's
/// script.
pub async fn events(
    session: Session,
    State(console): State<Console>,
    headers: HeaderMap,
    Query(from): Query<StreamFrom>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let resumed = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    let after = match resumed.or(from.after.as_deref()) {
        Some(raw) => raw
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| ApiError::bad_request("after must be an event id from this stream").at_query("after"))?,
        None => console.app.store.latest_seq().await?,
    };
    Ok(event_stream(console.app.clone(), session.client_id, after))
}

/// `GET /console/chargers/{id}/sessions/{session}/chart`: the session's chart data as JSON.
pub async fn session_chart(
    session: Session,
    State(console): State<Console>,
    Path((id, session_id)): Path<(String, i64)>,
) -> Response {
    match session_chart_of(&console, &session, &id, session_id).await {
        Ok(chart) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            chart.json(),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// One session's energy (kWh delivered since its start, not the meter's absolute register) and
/// power (kW) over time. Power is what the charger reported (`Power.Active.Import`) at or before
/// each energy reading; only where it reports none is power worked out from the register's rise
/// between readings. (A sandbox charges faster than real time, so the register's rise per wall
/// second is no plausible power; what the charger reports is.) The charger must be the session's
/// client's (404 otherwise, as in the API).
pub async fn session_chart_of(
    console: &Console,
    session: &Session,
    charger: &str,
    session_id: i64,
) -> Result<Chart, ApiError> {
    let store = &console.app.store;
    let id = ChargerId::new(charger);
    let owned = store.get_charger(&session.client_id, &id).await?;
    let Some(owned) = owned else {
        return Err(ApiError::not_found(format!("no charger '{charger}'")));
    };
    let found = store
        .session(&owned.id, session_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("charger '{charger}' has no session {session_id}")))?;
    let readings = store.session_energy_readings(&found).await?;
    let reported: Vec<PowerSample> = store
        .power_samples_since(&owned.id, found.started_at)
        .await?
        .into_iter()
        .filter(|p| found.stopped_at.is_none_or(|stopped| p.at <= stopped))
        .collect();
    Ok(chart_of_readings(found.meter_start_wh, &readings, &reported))
}

/// The session chart from its energy readings (the first at the session's start) and the power
/// the charger reported during it.
fn chart_of_readings(meter_start_wh: f64, readings: &[EnergyReading], reported: &[PowerSample]) -> Chart {
    let start = readings.first().map(|r| r.register_wh).unwrap_or(meter_start_wh);
    let mut power = Vec::with_capacity(readings.len());
    let mut previous: Option<&EnergyReading> = None;
    for reading in readings {
        let value = if reported.is_empty() {
            previous.and_then(|p| {
                let hours = (reading.at - p.at).num_milliseconds() as f64 / 3_600_000.0;
                (hours > 0.0).then(|| ((reading.register_wh - p.register_wh) / 1000.0 / hours).max(0.0))
            })
        } else {
            reported
                .iter()
                .rev()
                .find(|p| p.at <= reading.at)
                .map(|p| p.kw.max(0.0))
        };
        power.push(value);
        previous = Some(reading);
    }
    Chart {
        x: readings.iter().map(|r| r.at.timestamp()).collect(),
        series: vec![
            Series {
                label: "Power (kW)".to_owned(),
                axis: 0,
                step: true,
                values: power,
            },
            Series {
                label: "Energy delivered (kWh)".to_owned(),
                axis: 1,
                step: false,
                values: readings
                    .iter()
                    .map(|r| Some(((r.register_wh - start) / 1000.0).max(0.0)))
                    .collect(),
            },
        ],
        left: "kW".to_owned(),
        right: Some("kWh".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, Utc};

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn energy_counts_from_the_session_start_and_power_is_what_the_charger_reported() {
        let readings = [
            EnergyReading {
                at: at(0),
                register_wh: 6_400_000.0,
            },
            EnergyReading {
                at: at(1),
                register_wh: 6_402_000.0,
            },
            EnergyReading {
                at: at(2),
                register_wh: 6_404_000.0,
            },
        ];
        let reported = [PowerSample { at: at(1), kw: 11.0 }, PowerSample { at: at(2), kw: 10.5 }];
        let chart = chart_of_readings(6_400_000.0, &readings, &reported);
        assert_eq!(chart.series[1].values, vec![Some(0.0), Some(2.0), Some(4.0)]);
        assert_eq!(chart.series[0].values, vec![None, Some(11.0), Some(10.5)]);
        assert_eq!((chart.left.as_str(), chart.right.as_deref()), ("kW", Some("kWh")));
    }

    #[test]
    fn without_reported_power_it_is_the_register_rise_per_hour() {
        let readings = [
            EnergyReading {
                at: at(0),
                register_wh: 1_000.0,
            },
            EnergyReading {
                at: at(0) + Duration::minutes(30),
                register_wh: 6_500.0,
            },
        ];
        let chart = chart_of_readings(1_000.0, &readings, &[]);
        assert_eq!(chart.series[0].values, vec![None, Some(11.0)]);
    }
}
