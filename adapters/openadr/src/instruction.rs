//! What a VTN event asks for, interval by interval, in Coupler's terms.
//!
//! An OpenADR event has no type: its payloads say what it means. Each interval becomes one
//! [`Instruction`] with its own window (intervals without a period of their own follow each other,
//! each lasting the event's duration), and each payload Coupler acts on becomes an [`Ask`]:
//! an import or export cap in kW, a SIMPLE level, or a price. A "do it now" event (start
//! `0001-01-01`) starts at the moment it is read; one whose duration is `P9999Y` has no end.
//! A cancelled event (start `0001-01-01` with `PT0S`) asks for nothing: the VEN drops it.

use chrono::{DateTime, Datelike, Duration, Utc};
use sha2::{Digest, Sha256};

use crate::wire::{parse_duration, Event, IsoDuration, PayloadDescriptor};

/// One thing an interval asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Ask {
    /// The site imports at most this many kW (`IMPORT_CAPACITY_LIMIT`).
    ImportLimitKw(f64),
    /// The site exports at most this many kW (`EXPORT_CAPACITY_LIMIT`).
    ExportLimitKw(f64),
    /// A SIMPLE level, 0 to 3.
    Simple(i64),
    /// The price of energy (`PRICE`), per kWh in the descriptor's currency.
    Price(f64),
}

/// One interval of an event: its window and what it asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Instruction {
    /// The interval's id within its event.
    pub interval_id: i64,
    /// When it starts.
    pub start: DateTime<Utc>,
    /// Whether the VTN said "now" (`0001-01-01`): `start` is the moment it was read, and a VEN
    /// that acted on it before keeps the start it acted on.
    pub starts_now: bool,
    /// When it ends; `None`: until further notice.
    pub end: Option<DateTime<Utc>>,
    /// What it asks for (payload types Coupler does not act on are left out).
    pub asks: Vec<Ask>,
    /// A fingerprint of what the VTN said of this interval (its period as written, its place among
    /// the event's intervals, payloads, units), so that a change is noticed; the same for an
    /// unchanged "now" event read at another moment.
    pub fingerprint: String,
}

/// Why an event cannot be read into instructions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// A duration is not ISO 8601.
    #[error("event {event}: {error}")]
    Duration {
        /// The event.
        event: String,
        /// What is wrong.
        error: crate::wire::DurationError,
    },
    /// An interval has no period and the event none to follow.
    #[error("event {0}: an interval has no intervalPeriod and the event has none either")]
    NoPeriod(String),
    /// A payload value is not the number it must be.
    #[error("event {event}: a {kind} value is not a number ({value})")]
    NotANumber {
        /// The event.
        event: String,
        /// The payload type.
        kind: String,
        /// The value as sent.
        value: String,
    },
}

/// Whether the start is OpenADR's "now" (year 1).
fn is_now(start: DateTime<Utc>) -> bool {
    start.year() <= 1
}

/// Whether the VTN cancelled the event by giving it the zero window (`0001-01-01`, `PT0S`).
pub fn is_cancelled(event: &Event) -> bool {
    event.interval_period.as_ref().is_some_and(|p| {
        is_now(p.start)
            && p.duration
                .as_deref()
                .is_none_or(|d| parse_duration(d) == Ok(IsoDuration::Finite(Duration::zero())))
    })
}

fn units<'a>(kind: &str, event: &'a Event, program: Option<&'a [PayloadDescriptor]>) -> Option<&'a PayloadDescriptor> {
    let find = |list: Option<&'a [PayloadDescriptor]>| list.and_then(|l| l.iter().find(|d| d.payload_type == kind));
    find(event.payload_descriptors.as_deref()).or_else(|| find(program))
}

/// A power in kW from a value in the descriptor's units (kW unless it says W or MW).
fn kw(value: f64, descriptor: Option<&PayloadDescriptor>) -> f64 {
    match descriptor
        .and_then(|d| d.units.as_deref())
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        Some("W") => value / 1000.0,
        Some("MW") => value * 1000.0,
        _ => value,
    }
}

/// A price per kWh from a value in the descriptor's units (per kWh unless it says MWH).
fn per_kwh(value: f64, descriptor: Option<&PayloadDescriptor>) -> f64 {
    match descriptor
        .and_then(|d| d.units.as_deref())
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        Some("MWH") => value / 1000.0,
        _ => value,
    }
}

/// The event's intervals as instructions, read at `now` (the moment a "do it now" event starts).
/// `program_descriptors`: the program's payload descriptors, the defaults of the event's.
pub fn instructions(
    event: &Event,
    program_descriptors: Option<&[PayloadDescriptor]>,
    now: DateTime<Utc>,
) -> Result<Vec<Instruction>, EventError> {
    if is_cancelled(event) {
        return Ok(Vec::new());
    }
    let read = |raw: &Option<String>| -> Result<IsoDuration, EventError> {
        raw.as_deref().map_or(Ok(IsoDuration::Finite(Duration::zero())), |d| {
            parse_duration(d).map_err(|error| EventError::Duration {
                event: event.id.clone(),
                error,
            })
        })
    };
    let mut out = Vec::new();
    let mut next_start: Option<DateTime<Utc>> = None;
    for interval in &event.intervals {
        let (start, duration) = match (&interval.interval_period, &event.interval_period) {
            (Some(own), _) => (own.start, read(&own.duration)?),
            (None, Some(shared)) => (next_start.unwrap_or(shared.start), read(&shared.duration)?),
            (None, None) => return Err(EventError::NoPeriod(event.id.clone())),
        };
        let starts_now = is_now(start);
        let start = if starts_now { now } else { start };
        let end = match duration {
            IsoDuration::Finite(d) => Some(start + d),
            IsoDuration::Unbounded => None,
        };
        next_start = end;
        let mut asks = Vec::new();
        let mut hasher = Sha256::new();
        hasher.update(
            format!(
                "{}|{:?}|{:?}|",
                out.len(),
                interval.interval_period,
                event.interval_period
            )
            .as_bytes(),
        );
        for payload in &interval.payloads {
            let descriptor = units(&payload.kind, event, program_descriptors);
            hasher.update(payload.kind.as_bytes());
            hasher.update(serde_json::to_string(&payload.values).unwrap_or_default().as_bytes());
            hasher.update(format!("{descriptor:?}").as_bytes());
            let Some(first) = payload.values.first() else {
                continue;
            };
            let number = || {
                first
                    .as_f64()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| EventError::NotANumber {
                        event: event.id.clone(),
                        kind: payload.kind.clone(),
                        value: first.to_string(),
                    })
            };
            match payload.kind.as_str() {
                "IMPORT_CAPACITY_LIMIT" => asks.push(Ask::ImportLimitKw(kw(number()?, descriptor))),
                "EXPORT_CAPACITY_LIMIT" => asks.push(Ask::ExportLimitKw(kw(number()?, descriptor))),
                "SIMPLE" => asks.push(Ask::Simple(number()?.round() as i64)),
                "PRICE" => asks.push(Ask::Price(per_kwh(number()?, descriptor))),
                _ => {}
            }
        }
        out.push(Instruction {
            interval_id: interval.id,
            start,
            starts_now,
            end,
            asks,
            fingerprint: hex::encode(&hasher.finalize()[..16]),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(body: serde_json::Value) -> Event {
        serde_json::from_value(body).unwrap()
    }

    fn at(raw: &str) -> DateTime<Utc> {
        raw.parse().unwrap()
    }

    #[test]
    fn intervals_without_their_own_period_follow_each_other() {
        let e = event(json!({
            "id": "e", "programID": "p",
            "intervalPeriod": {"start": "2026-12-06T10:00:00Z", "duration": "PT30M"},
            "intervals": [
                {"id": 4, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [10.0]}]},
                {"id": 9, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [8000]}]},
            ],
            "payloadDescriptors": [{"payloadType": "IMPORT_CAPACITY_LIMIT", "units": "W"}],
        }));
        let got = instructions(&e, None, at("2026-12-06T09:00:00Z")).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].interval_id, got[0].start), (4, at("2026-12-06T10:00:00Z")));
        assert_eq!(got[1].start, at("2026-12-06T10:30:00Z"));
        assert_eq!(got[1].end, Some(at("2026-12-06T11:00:00Z")));
        assert_eq!(got[0].asks, vec![Ask::ImportLimitKw(0.01)]);
        assert_eq!(got[1].asks, vec![Ask::ImportLimitKw(8.0)]);
        assert_ne!(got[0].fingerprint, got[1].fingerprint);
    }

    #[test]
    fn a_do_it_now_event_starts_when_read_and_p9999y_has_no_end() {
        let e = event(json!({
            "id": "e", "programID": "p",
            "intervalPeriod": {"start": "0001-01-01T00:00:00Z", "duration": "P9999Y"},
            "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [2]}]}],
        }));
        let now = at("2026-12-06T12:00:00Z");
        let got = instructions(&e, None, now).unwrap();
        assert_eq!((got[0].start, got[0].end, got[0].starts_now), (now, None, true));
        assert_eq!(got[0].asks, vec![Ask::Simple(2)]);
        let later = instructions(&e, None, now + Duration::minutes(5)).unwrap();
        assert_eq!(
            later[0].fingerprint, got[0].fingerprint,
            "the same event read later is unchanged"
        );
    }

    #[test]
    fn the_zero_window_cancels_and_asks_nothing() {
        let e = event(json!({
            "id": "e", "programID": "p",
            "intervalPeriod": {"start": "0001-01-01T00:00:00Z", "duration": "PT0S"},
            "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [3]}]}],
        }));
        assert!(is_cancelled(&e));
        assert!(instructions(&e, None, Utc::now()).unwrap().is_empty());
    }

    #[test]
    fn program_descriptors_are_the_defaults_and_prices_per_mwh_become_per_kwh() {
        let e = event(json!({
            "id": "e", "programID": "p",
            "intervals": [{"id": 1, "intervalPeriod": {"start": "2026-12-06T10:00:00Z", "duration": "PT1H"},
                           "payloads": [{"type": "PRICE", "values": [120.0]}, {"type": "GHG", "values": [300]}]}],
        }));
        let program = [PayloadDescriptor {
            payload_type: "PRICE".to_owned(),
            units: Some("MWH".to_owned()),
            currency: Some("EUR".to_owned()),
        }];
        let got = instructions(&e, Some(&program), Utc::now()).unwrap();
        assert_eq!(got[0].asks, vec![Ask::Price(0.12)]);
    }

    #[test]
    fn a_value_that_is_not_a_number_is_refused_with_the_event_named() {
        let e = event(json!({
            "id": "bad", "programID": "p",
            "intervals": [{"id": 1, "intervalPeriod": {"start": "2026-12-06T10:00:00Z", "duration": "PT1H"},
                           "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": ["lots"]}]}],
        }));
        let error = instructions(&e, None, Utc::now()).unwrap_err();
        assert!(error.to_string().contains("event bad"), "{error}");
        let e = event(json!({"id": "nope", "programID": "p", "intervals": [{"id": 1, "payloads": []}]}));
        assert_eq!(
            instructions(&e, None, Utc::now()),
            Err(EventError::NoPeriod("nope".to_owned()))
        );
    }
}
