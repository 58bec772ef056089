//! A flexibility program bound to a utility's OpenADR 3 VTN: Coupler registers as the VEN, follows
//! the VTN's events into the program's flex events and reports back.
//!
//! Everything here is pure: the binding's settings and their checks ([`VtnSettings::check`]), how
//! a SIMPLE level maps onto the program's kind of event ([`SimpleAction`]), the back-off after a
//! failed look at the VTN ([`backoff`]), and what is kept of each VTN event interval
//! ([`VtnEventLink`]). The wire types and the HTTP client live in the `coupler-openadr` adapter.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::client::ClientId;
use crate::flex::{FieldProblem, FlexEventId, ProgramId, ProgramKind};

/// The OpenADR 3 version a VTN speaks; 3.1 is not backwards compatible with 3.0.1.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OpenAdrVersion {
    /// OpenADR 3.0.1: resources nested under VENs, reports carry the program id.
    #[serde(rename = "3.0.1")]
    V3_0_1,
    /// OpenADR 3.1: resources at `/resources`, string targets, `active` on `/events`.
    #[serde(rename = "3.1")]
    V3_1,
}

impl OpenAdrVersion {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V3_0_1 => "3.0.1",
            Self::V3_1 => "3.1",
        }
    }
}

/// What a SIMPLE level (0 to 3) asks of the program's sites.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "SCREAMING_SNAKE_CASE", deny_unknown_fields)]
pub enum SimpleAction {
    /// Nothing (the level is normal operation).
    None,
    /// No charging (PAUSE programs).
    Pause,
    /// Each site sheds `kw` below its baseline (SHED programs).
    Shed {
        /// Kilowatts per site.
        kw: f64,
    },
    /// Each site imports at most `kw` (CAPACITY_LIMIT programs).
    Limit {
        /// Kilowatts per site.
        kw: f64,
    },
}

/// How a binding reaches its VTN and maps its events, as the program's owner sets it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VtnSettings {
    /// The VTN's base URL, e.g. `https://vtn.example.com/openadr3/3.1.0`.
    pub base_url: String,
    /// The OAuth 2.0 token endpoint; omitted: `{baseUrl}/auth/token`.
    pub token_url: Option<String>,
    /// The OAuth 2.0 client id the VTN's operator gave Coupler; omitted with `clientSecret` for a
    /// VTN without authentication.
    pub client_id: Option<String>,
    /// The VTN's program: its id or its `programName`.
    pub vtn_program: String,
    /// 3.0.1 or 3.1.
    pub version: OpenAdrVersion,
    /// Seconds between polls of the VTN's events (5 to 86400).
    pub poll_interval_seconds: u32,
    /// The VEN name Coupler registers as (unique on the VTN); omitted: `coupler-{programId}`.
    pub ven_name: Option<String>,
    /// What each SIMPLE level asks for, keyed by level ("0" to "3"); levels not named do nothing.
    #[serde(default)]
    pub simple_levels: BTreeMap<String, SimpleAction>,
    /// The price area (one of this client's) that PRICE payloads are pushed to as a price series;
    /// omitted: PRICE payloads are ignored.
    pub price_area: Option<String>,
    /// The public HTTPS URL a VTN that delivers webhooks calls back (Coupler's
    /// `/openadr/callbacks/{programId}` behind your proxy); omitted: polling only.
    pub callback_url: Option<String>,
}

/// The shortest and longest poll interval a binding may set, seconds.
pub const POLL_INTERVAL_RANGE_S: (u32, u32) = (1, 86_400);

fn problem(pointer: &str, detail: impl Into<String>) -> FieldProblem {
    FieldProblem {
        pointer: pointer.to_owned(),
        detail: detail.into(),
    }
}

fn is_http_url(raw: &str) -> bool {
    url::Url::parse(raw).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

impl VtnSettings {
    /// Checks the settings against the program's kind; every problem, each naming its field.
    /// `has_secret`: the request carries a client secret (a client id needs one, and the other way
    /// round).
    pub fn check(&self, kind: ProgramKind, has_secret: bool) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        if !is_http_url(&self.base_url) {
            problems.push(problem("/baseUrl", "baseUrl must be an http or https URL"));
        }
        if self.token_url.as_deref().is_some_and(|u| !is_http_url(u)) {
            problems.push(problem("/tokenUrl", "tokenUrl must be an http or https URL"));
        }
        if self.callback_url.as_deref().is_some_and(|u| !is_http_url(u)) {
            problems.push(problem("/callbackUrl", "callbackUrl must be an http or https URL"));
        }
        match (&self.client_id, has_secret) {
            (Some(id), true) if !id.trim().is_empty() && id.len() <= 255 => {}
            (Some(_), true) => problems.push(problem("/clientId", "clientId must be 1 to 255 characters")),
            (Some(_), false) => problems.push(problem("/clientSecret", "a clientId needs its clientSecret")),
            (None, true) => problems.push(problem("/clientId", "a clientSecret needs its clientId")),
            (None, false) => {}
        }
        let text_ok = |s: &str| !s.trim().is_empty() && s.chars().count() <= 128 && !s.chars().any(char::is_control);
        if !text_ok(&self.vtn_program) {
            problems.push(problem("/vtnProgram", "vtnProgram must be 1 to 128 characters"));
        }
        if self.ven_name.as_deref().is_some_and(|n| !text_ok(n)) {
            problems.push(problem("/venName", "venName must be 1 to 128 characters"));
        }
        let (least, most) = POLL_INTERVAL_RANGE_S;
        if !(least..=most).contains(&self.poll_interval_seconds) {
            problems.push(problem(
                "/pollIntervalSeconds",
                format!("pollIntervalSeconds must be from {least} to {most}"),
            ));
        }
        for (level, action) in &self.simple_levels {
            let pointer = format!("/simpleLevels/{level}");
            if !matches!(level.as_str(), "0" | "1" | "2" | "3") {
                problems.push(problem(&pointer, "SIMPLE levels are 0, 1, 2 and 3"));
                continue;
            }
            let fits = match action {
                SimpleAction::None => true,
                SimpleAction::Pause => kind == ProgramKind::Pause,
                SimpleAction::Shed { kw } => kind == ProgramKind::Shed && kw.is_finite() && *kw > 0.0 && *kw <= 1000.0,
                SimpleAction::Limit { kw } => {
                    kind == ProgramKind::CapacityLimit && kw.is_finite() && (0.0..=1000.0).contains(kw)
                }
            };
            if !fits {
                problems.push(problem(
                    &pointer,
                    format!(
                        "a {} program maps SIMPLE levels to {} (kW from 0 to 1000) or NONE",
                        kind.as_str(),
                        match kind {
                            ProgramKind::Pause => "PAUSE",
                            ProgramKind::Shed => "SHED",
                            ProgramKind::CapacityLimit => "LIMIT",
                        }
                    ),
                ));
            }
        }
        if self.price_area.as_deref().is_some_and(|a| {
            a.is_empty() || a.len() > 32 || !a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        }) {
            problems.push(problem(
                "/priceArea",
                "priceArea must be 1 to 32 letters, digits, '-' or '_'",
            ));
        }
        problems
    }

    /// The action a SIMPLE `level` maps to.
    pub fn simple_action(&self, level: i64) -> SimpleAction {
        self.simple_levels
            .get(&level.to_string())
            .copied()
            .unwrap_or(SimpleAction::None)
    }
}

/// A program's binding to a VTN, with how following it goes.
#[derive(Debug, Clone, PartialEq)]
pub struct VtnBinding {
    /// The program.
    pub program_id: ProgramId,
    /// The program's owner.
    pub client_id: ClientId,
    /// How to reach the VTN and map its events.
    pub settings: VtnSettings,
    /// The OAuth client secret, sealed with the secret key.
    pub client_secret_sealed: Option<String>,
    /// The bearer token a VTN's webhook notifications carry, sealed with the secret key (it is
    /// handed to the VTN when Coupler subscribes, so it is kept readable, not hashed).
    pub callback_token_sealed: String,
    /// The VEN object Coupler registered on the VTN.
    pub ven_id: Option<String>,
    /// The VTN's id of the program.
    pub vtn_program_id: Option<String>,
    /// The webhook subscription on the VTN.
    pub subscription_id: Option<String>,
    /// How following the VTN goes.
    pub status: VtnStatus,
    /// How many looks were asked for now (a poll-now, a webhook); a look that ends having seen
    /// fewer than there are leaves the next look due at once.
    pub wakes: i64,
    /// When it was bound.
    pub created_at: DateTime<Utc>,
    /// When its settings last changed.
    pub updated_at: DateTime<Utc>,
}

/// How following a VTN goes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VtnStatus {
    /// The last look at the VTN, whatever came of it.
    pub last_poll_at: Option<DateTime<Utc>>,
    /// The last look that went through.
    pub last_success_at: Option<DateTime<Utc>>,
    /// What went wrong last (cleared by a look that goes through).
    pub last_error: Option<String>,
    /// Failed looks in a row.
    pub failures: u32,
    /// When the VTN is looked at next.
    pub next_poll_at: DateTime<Utc>,
}

/// The longest wait between looks at a VTN that keeps failing.
pub const MAX_BACKOFF: Duration = Duration::minutes(15);

/// How long to wait after `failures` failed looks in a row (1 or more): the poll interval's
/// doubling from 2 s up to [`MAX_BACKOFF`], never longer than the poll interval when that is
/// longer still, so a VTN that is back is seen no later than a healthy one would be.
pub fn backoff(failures: u32, poll_interval_s: u32) -> Duration {
    let doubled = 2i64.saturating_pow(failures.min(20));
    let wait = Duration::seconds(doubled).min(MAX_BACKOFF);
    wait.min(Duration::seconds(i64::from(poll_interval_s)).max(Duration::seconds(1)))
        .max(Duration::seconds(1))
}

/// One interval of a VTN event and the flex event Coupler made of it.
#[derive(Debug, Clone, PartialEq)]
pub struct VtnEventLink {
    /// The program.
    pub program_id: ProgramId,
    /// The VTN's event id.
    pub vtn_event_id: String,
    /// The interval's id within the event.
    pub interval_id: i64,
    /// The flex event it became (none when it asked for nothing, or was refused).
    pub flex_event_id: Option<FlexEventId>,
    /// What the VTN said of it last, as a fingerprint: a change is noticed by comparing.
    pub fingerprint: String,
    /// What became of it, in words (a refusal says why).
    pub outcome: Option<String>,
    /// The report sent back to the VTN for it.
    pub report_id: Option<String>,
    /// The fingerprint of the report's content, so an unchanged report is not sent again.
    pub report_fingerprint: Option<String>,
    /// When the VTN stopped showing it (deleted or cancelled there).
    pub gone_at: Option<DateTime<Utc>>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> VtnSettings {
        VtnSettings {
            base_url: "http://127.0.0.1:3000".to_owned(),
            token_url: None,
            client_id: Some("ven".to_owned()),
            vtn_program: "peak".to_owned(),
            version: OpenAdrVersion::V3_1,
            poll_interval_seconds: 30,
            ven_name: None,
            simple_levels: BTreeMap::new(),
            price_area: None,
            callback_url: None,
        }
    }

    #[test]
    fn good_settings_pass_and_bad_ones_name_each_field() {
        assert!(settings().check(ProgramKind::CapacityLimit, true).is_empty());
        let mut bad = settings();
        bad.base_url = "ftp://x".to_owned();
        bad.poll_interval_seconds = 0;
        bad.simple_levels.insert("2".to_owned(), SimpleAction::Pause);
        bad.simple_levels.insert("7".to_owned(), SimpleAction::None);
        let pointers: Vec<String> = bad
            .check(ProgramKind::Shed, false)
            .into_iter()
            .map(|p| p.pointer)
            .collect();
        assert_eq!(
            pointers,
            [
                "/baseUrl",
                "/clientSecret",
                "/pollIntervalSeconds",
                "/simpleLevels/2",
                "/simpleLevels/7"
            ]
        );
    }

    #[test]
    fn a_simple_level_maps_by_the_program_s_table_and_unnamed_levels_do_nothing() {
        let mut s = settings();
        s.simple_levels.insert("3".to_owned(), SimpleAction::Shed { kw: 4.0 });
        assert_eq!(s.simple_action(3), SimpleAction::Shed { kw: 4.0 });
        assert_eq!(s.simple_action(1), SimpleAction::None);
        assert!(s.check(ProgramKind::Shed, true).is_empty());
        assert_eq!(s.check(ProgramKind::Pause, true)[0].pointer, "/simpleLevels/3");
    }

    #[test]
    fn the_backoff_doubles_up_to_its_cap_and_never_exceeds_the_poll_interval() {
        assert_eq!(backoff(1, 3600), Duration::seconds(2));
        assert_eq!(backoff(3, 3600), Duration::seconds(8));
        assert_eq!(backoff(30, 3600), MAX_BACKOFF);
        assert_eq!(backoff(5, 10), Duration::seconds(10));
        assert_eq!(backoff(1, 1), Duration::seconds(1));
    }
}
