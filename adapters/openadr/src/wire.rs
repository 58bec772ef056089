//! The VTN's objects as Coupler reads them, for 3.0.1 and 3.1 alike.
//!
//! Only what a VEN needs is read; everything else a VTN sends is ignored, so a VTN on a later patch
//! release, or one adding private fields, still reads. Where 3.0.1 and 3.1 differ in what Coupler
//! reads (targets, the report's program id, where resources live) the client and the report
//! builder decide by [`coupler_core::openadr::OpenAdrVersion`]; the shapes read here are common.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// When an interval (or an event's intervals) start and how long each lasts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntervalPeriod {
    /// The start; `0001-01-01T00:00:00Z` means "now".
    pub start: DateTime<Utc>,
    /// ISO 8601 duration; absent: `PT0S`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// The largest random shift of the start, ISO 8601.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub randomize_start: Option<String>,
}

/// One payload: its type and values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValuesMap {
    /// The payload type (`IMPORT_CAPACITY_LIMIT`, `SIMPLE`, `PRICE`, `USAGE`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// Its values.
    pub values: Vec<serde_json::Value>,
}

/// One interval of an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Interval {
    /// The id the VTN chose (not a sequence number).
    pub id: i64,
    /// Its own period; absent: it follows the one before, each lasting the event's duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_period: Option<IntervalPeriod>,
    /// What it asks for.
    #[serde(default)]
    pub payloads: Vec<ValuesMap>,
}

/// The units and currency of an event's payload type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayloadDescriptor {
    /// The payload type it describes.
    pub payload_type: String,
    /// Its units (`KW`, `W`, …).
    #[serde(default)]
    pub units: Option<String>,
    /// Its currency (`EUR`, …).
    #[serde(default)]
    pub currency: Option<String>,
}

/// A report the event asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportDescriptor {
    /// The report payload type (`USAGE`, `BASELINE`, …).
    pub payload_type: String,
    /// Its units.
    #[serde(default)]
    pub units: Option<String>,
}

/// An event as the VTN shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// The VTN's id.
    pub id: String,
    /// Its program.
    #[serde(rename = "programID")]
    pub program_id: String,
    /// Its name.
    #[serde(default)]
    pub event_name: Option<String>,
    /// Lower wins; absent: lowest.
    #[serde(default)]
    pub priority: Option<u32>,
    /// When it last changed.
    #[serde(default)]
    pub modification_date_time: Option<DateTime<Utc>>,
    /// The period every interval without its own follows.
    #[serde(default)]
    pub interval_period: Option<IntervalPeriod>,
    /// Its intervals.
    #[serde(default)]
    pub intervals: Vec<Interval>,
    /// Units of its payloads (the program's apply where absent).
    #[serde(default)]
    pub payload_descriptors: Option<Vec<PayloadDescriptor>>,
    /// Reports it asks for.
    #[serde(default)]
    pub report_descriptors: Option<Vec<ReportDescriptor>>,
}

/// A program as the VTN shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Program {
    /// The VTN's id.
    pub id: String,
    /// Its name, unique on the VTN.
    pub program_name: String,
    /// Default units of its events' payloads.
    #[serde(default)]
    pub payload_descriptors: Option<Vec<PayloadDescriptor>>,
}

/// A VEN as the VTN shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ven {
    /// The VTN's id.
    pub id: String,
    /// Its name, unique on the VTN.
    pub ven_name: String,
}

/// A resource of a VEN as the VTN shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// The VTN's id.
    pub id: String,
    /// Its name, unique within its VEN.
    pub resource_name: String,
}

/// Any object the VTN created, read for its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Created {
    /// The VTN's id.
    pub id: String,
}

/// A webhook notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// `EVENT`, `PROGRAM`, `REPORT`, …
    pub object_type: String,
    /// `CREATE`, `UPDATE`, `DELETE` (3.1 also `READ`).
    pub operation: String,
    /// The object, whole.
    #[serde(default)]
    pub object: serde_json::Value,
}

/// The answer of a token endpoint.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    /// The bearer token.
    pub access_token: String,
    /// Seconds it lives.
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// Why an ISO 8601 duration cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an ISO 8601 duration")]
pub struct DurationError(pub String);

/// A duration as OpenADR writes it: finite, or `P9999Y` ("until further notice").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsoDuration {
    /// This long.
    Finite(Duration),
    /// Unbounded (9999 years or more).
    Unbounded,
}

/// Reads an ISO 8601 duration (`PnYnMnWnDTnHnMnS`, fractions of seconds allowed; a year counts 365
/// days and a month 30, which only matters for the `P9999Y` that means "unbounded").
pub fn parse_duration(raw: &str) -> Result<IsoDuration, DurationError> {
    let bad = || DurationError(raw.to_owned());
    let text = raw.trim();
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let body = text.strip_prefix('P').ok_or_else(bad)?;
    if body.is_empty() {
        return Err(bad());
    }
    let mut seconds = 0f64;
    let mut years = 0f64;
    let mut in_time = false;
    let mut number = String::new();
    let mut seen_any = false;
    for c in body.chars() {
        match c {
            'T' if !in_time && number.is_empty() => in_time = true,
            '0'..='9' | '.' | ',' => number.push(if c == ',' { '.' } else { c }),
            unit => {
                let value: f64 = number.parse().map_err(|_| bad())?;
                number.clear();
                seen_any = true;
                seconds += value
                    * match (in_time, unit) {
                        (false, 'Y') => {
                            years += value;
                            365.0 * 86_400.0
                        }
                        (false, 'M') => 30.0 * 86_400.0,
                        (false, 'W') => 7.0 * 86_400.0,
                        (false, 'D') => 86_400.0,
                        (true, 'H') => 3_600.0,
                        (true, 'M') => 60.0,
                        (true, 'S') => 1.0,
                        _ => return Err(bad()),
                    };
            }
        }
    }
    if !number.is_empty() || !seen_any {
        return Err(bad());
    }
    if years >= 9999.0 {
        return Ok(IsoDuration::Unbounded);
    }
    if !seconds.is_finite() || seconds > 1e12 {
        return Err(bad());
    }
    // Whole milliseconds: nothing in OpenADR is finer.
    let millis = (seconds * 1000.0).round() as i64;
    Ok(IsoDuration::Finite(Duration::milliseconds(if negative {
        -millis
    } else {
        millis
    })))
}

/// Writes a duration as ISO 8601 seconds (`PT900S`).
pub fn format_duration(duration: Duration) -> String {
    format!("PT{}S", duration.num_seconds())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_every_unit_and_p9999y_is_unbounded() {
        assert_eq!(parse_duration("PT15M"), Ok(IsoDuration::Finite(Duration::minutes(15))));
        assert_eq!(
            parse_duration("PT1H30M"),
            Ok(IsoDuration::Finite(Duration::minutes(90)))
        );
        assert_eq!(parse_duration("P1DT2H"), Ok(IsoDuration::Finite(Duration::hours(26))));
        assert_eq!(parse_duration("PT0S"), Ok(IsoDuration::Finite(Duration::zero())));
        assert_eq!(
            parse_duration("PT0.5S"),
            Ok(IsoDuration::Finite(Duration::milliseconds(500)))
        );
        assert_eq!(parse_duration("P1W"), Ok(IsoDuration::Finite(Duration::days(7))));
        assert_eq!(parse_duration("P9999Y"), Ok(IsoDuration::Unbounded));
        for bad in ["", "P", "PT", "15M", "PT15", "PTXM", "P1H"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_event_reads_with_fields_coupler_does_not_know() {
        let event: Event = serde_json::from_value(serde_json::json!({
            "id": "ev-1", "programID": "p-1", "objectType": "EVENT", "createdDateTime": "2026-01-01T00:00:00Z",
            "modificationDateTime": "2026-01-01T00:00:00Z", "priority": null, "targets": [],
            "intervalPeriod": {"start": "2026-01-01T10:00:00Z", "duration": "PT1H"},
            "intervals": [{"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [7.5]}]}],
            "payloadDescriptors": [{"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "IMPORT_CAPACITY_LIMIT", "units": "KW"}],
            "somethingPrivate": {"x": 1}
        }))
        .unwrap();
        assert_eq!(event.intervals[0].payloads[0].values[0], 7.5);
        assert_eq!(event.payload_descriptors.unwrap()[0].units.as_deref(), Some("KW"));
    }
}
