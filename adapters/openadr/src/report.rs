//! Reports back to the VTN, built from Coupler's measurement of an event.
//!
//! One report per VTN event interval Coupler acted on. Each enrolled site is a resource whose
//! intervals are the measurement's 15-minute intervals, each carrying `USAGE` (kWh) and `DEMAND`
//! (kW), and whose last interval also carries its `OPERATING_STATE` (an opt-out or an override shows
//! as `RUNNING_OPTED_OUT` or `IDLE_OPTED_OUT`). The whole event's `BASELINE` and `DELTA_USAGE`
//! (kWh, the energy not used against the baseline) ride on the `AGGREGATED_REPORT` resource, over
//! the event's window.

use chrono::{DateTime, Duration, Utc};
use coupler_core::openadr::OpenAdrVersion;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::wire::format_duration;

/// A site's operating state in OpenADR's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatingState {
    /// Charging under the event's cap.
    RunningCurtailed,
    /// Not charging, under the event's cap.
    IdleCurtailed,
    /// Charging with no cap (held back as the control group).
    RunningNormal,
    /// Not charging, with no cap.
    IdleNormal,
    /// The driver opted out (or overrode the cap) and the site is charging.
    RunningOptedOut,
    /// The driver opted out and the site is not charging.
    IdleOptedOut,
}

impl OperatingState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RunningCurtailed => "RUNNING_CURTAILED",
            Self::IdleCurtailed => "IDLE_CURTAILED",
            Self::RunningNormal => "RUNNING_NORMAL",
            Self::IdleNormal => "IDLE_NORMAL",
            Self::RunningOptedOut => "RUNNING_OPTED_OUT",
            Self::IdleOptedOut => "IDLE_OPTED_OUT",
        }
    }

    /// The state of a site that is `charging` (drawing power in its last interval), `opted_out`
    /// (an opt-out or an override), and `treated` (capped, not held back).
    pub fn of(charging: bool, opted_out: bool, treated: bool) -> Self {
        match (opted_out, treated, charging) {
            (true, _, true) => Self::RunningOptedOut,
            (true, _, false) => Self::IdleOptedOut,
            (false, true, true) => Self::RunningCurtailed,
            (false, true, false) => Self::IdleCurtailed,
            (false, false, true) => Self::RunningNormal,
            (false, false, false) => Self::IdleNormal,
        }
    }
}

/// One measured interval of a site.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteInterval {
    /// When it starts.
    pub start: DateTime<Utc>,
    /// When it ends.
    pub end: DateTime<Utc>,
    /// Energy used, kWh.
    pub usage_kwh: f64,
    /// Average power, kW.
    pub demand_kw: f64,
}

/// One enrolled site's part.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteReport {
    /// The resource name it is registered under.
    pub resource_name: String,
    /// Its measured intervals, in order.
    pub intervals: Vec<SiteInterval>,
    /// Its operating state now.
    pub state: OperatingState,
}

/// A report on one VTN event.
#[derive(Debug, Clone, PartialEq)]
pub struct EventReport {
    /// The VTN's event id.
    pub event_id: String,
    /// The VTN's program id (3.0.1 carries it).
    pub program_id: String,
    /// The VEN's name.
    pub client_name: String,
    /// The report's name (Coupler's flex event id, so it can be found again).
    pub report_name: String,
    /// The event's window as measured.
    pub start: DateTime<Utc>,
    /// Its end as measured.
    pub end: DateTime<Utc>,
    /// The event's baseline, kWh (none without one).
    pub baseline_kwh: Option<f64>,
    /// The energy not used against the baseline, kWh.
    pub delta_usage_kwh: Option<f64>,
    /// Each site.
    pub sites: Vec<SiteReport>,
}

/// The resource name of the event-wide figures.
pub const AGGREGATED: &str = "AGGREGATED_REPORT";

fn round(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

fn period(start: DateTime<Utc>, end: DateTime<Utc>) -> Value {
    json!({"start": start.to_rfc3339(), "duration": format_duration((end - start).max(Duration::zero()))})
}

impl EventReport {
    /// The report as `version` writes it (3.0.1 also carries `programID`).
    pub fn to_json(&self, version: OpenAdrVersion) -> Value {
        let mut resources: Vec<Value> = self
            .sites
            .iter()
            .map(|site| {
                let last = site.intervals.len().saturating_sub(1);
                let intervals: Vec<Value> = site
                    .intervals
                    .iter()
                    .enumerate()
                    .map(|(i, interval)| {
                        let mut payloads = vec![
                            json!({"type": "USAGE", "values": [round(interval.usage_kwh)]}),
                            json!({"type": "DEMAND", "values": [round(interval.demand_kw)]}),
                        ];
                        if i == last {
                            payloads.push(json!({"type": "OPERATING_STATE", "values": [site.state.as_str()]}));
                        }
                        json!({"id": i, "intervalPeriod": period(interval.start, interval.end), "payloads": payloads})
                    })
                    .collect();
                // A site with nothing measured yet still says how it stands.
                let intervals = if intervals.is_empty() {
                    vec![json!({"id": 0, "intervalPeriod": period(self.start, self.end),
                                "payloads": [{"type": "OPERATING_STATE", "values": [site.state.as_str()]}]})]
                } else {
                    intervals
                };
                json!({"resourceName": site.resource_name, "intervals": intervals})
            })
            .collect();
        let mut totals = Vec::new();
        if let Some(baseline) = self.baseline_kwh {
            totals.push(json!({"type": "BASELINE", "values": [round(baseline)]}));
        }
        if let Some(delta) = self.delta_usage_kwh {
            totals.push(json!({"type": "DELTA_USAGE", "values": [round(delta)]}));
        }
        if !totals.is_empty() {
            resources.push(json!({
                "resourceName": AGGREGATED,
                "intervals": [{"id": 0, "intervalPeriod": period(self.start, self.end), "payloads": totals}],
            }));
        }
        let mut report = json!({
            "objectType": "REPORT",
            "eventID": self.event_id,
            "clientName": self.client_name,
            "reportName": self.report_name,
            "payloadDescriptors": [
                {"payloadType": "USAGE", "readingType": "DIRECT_READ", "units": "KWH"},
                {"payloadType": "DEMAND", "readingType": "MEAN", "units": "KW"},
                {"payloadType": "BASELINE", "readingType": "ESTIMATED", "units": "KWH"},
                {"payloadType": "DELTA_USAGE", "readingType": "ESTIMATED", "units": "KWH"},
                {"payloadType": "OPERATING_STATE"},
            ],
            "resources": resources,
        });
        if version == OpenAdrVersion::V3_0_1 {
            report["programID"] = json!(self.program_id);
        }
        report
    }

    /// A fingerprint of what the report says, so an unchanged report is not sent again.
    pub fn fingerprint(&self, version: OpenAdrVersion) -> String {
        hex::encode(&Sha256::digest(self.to_json(version).to_string().as_bytes())[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> EventReport {
        let start: DateTime<Utc> = "2026-12-06T10:00:00Z".parse().unwrap();
        EventReport {
            event_id: "ev".to_owned(),
            program_id: "pr".to_owned(),
            client_name: "coupler".to_owned(),
            report_name: "fe-1".to_owned(),
            start,
            end: start + Duration::minutes(30),
            baseline_kwh: Some(5.5),
            delta_usage_kwh: Some(2.25),
            sites: vec![SiteReport {
                resource_name: "charger-1".to_owned(),
                intervals: vec![
                    SiteInterval {
                        start,
                        end: start + Duration::minutes(15),
                        usage_kwh: 1.5,
                        demand_kw: 6.0,
                    },
                    SiteInterval {
                        start: start + Duration::minutes(15),
                        end: start + Duration::minutes(30),
                        usage_kwh: 0.0,
                        demand_kw: 0.0,
                    },
                ],
                state: OperatingState::of(false, true, true),
            }],
        }
    }

    #[test]
    fn a_report_carries_usage_and_demand_per_interval_and_the_event_s_baseline_and_delta() {
        let body = report().to_json(OpenAdrVersion::V3_1);
        let site = &body["resources"][0];
        assert_eq!(
            site["intervals"][0]["payloads"][0],
            json!({"type": "USAGE", "values": [1.5]})
        );
        assert_eq!(
            site["intervals"][0]["payloads"][1],
            json!({"type": "DEMAND", "values": [6.0]})
        );
        assert_eq!(site["intervals"][0]["intervalPeriod"]["duration"], "PT900S");
        assert_eq!(
            site["intervals"][1]["payloads"][2],
            json!({"type": "OPERATING_STATE", "values": ["IDLE_OPTED_OUT"]})
        );
        let totals = &body["resources"][1];
        assert_eq!(totals["resourceName"], AGGREGATED);
        assert_eq!(
            totals["intervals"][0]["payloads"][1],
            json!({"type": "DELTA_USAGE", "values": [2.25]})
        );
        assert!(body.get("programID").is_none(), "3.1 reports carry no program id");
        assert_eq!(report().to_json(OpenAdrVersion::V3_0_1)["programID"], "pr");
    }

    #[test]
    fn the_fingerprint_changes_with_what_the_report_says() {
        let first = report();
        let mut second = report();
        assert_eq!(
            first.fingerprint(OpenAdrVersion::V3_1),
            second.fingerprint(OpenAdrVersion::V3_1)
        );
        second.sites[0].state = OperatingState::RunningCurtailed;
        assert_ne!(
            first.fingerprint(OpenAdrVersion::V3_1),
            second.fingerprint(OpenAdrVersion::V3_1)
        );
    }
}
