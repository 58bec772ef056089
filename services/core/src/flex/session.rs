//! Enrolment sessions: how a driver enrols devices in a program through the hosted enrolment page.
//!
//! An app asks for a session for one of its users and one of its programs
//! (`POST /programs/{programId}/enrolment-sessions`) with the consent terms the driver is to agree
//! to, and gets a one-time URL. The driver opens it, reads what the program does and what it asks,
//! ticks the devices to enrol and agrees (or declines), and is sent on to the app's `redirectUri`.
//! A session lives 24 hours and is used once: when it has sent the driver back, it is over.
//!
//! Only the hash of the page's token is stored (as for link sessions); the form's CSRF token is
//! sealed, so the page can show it again and a database read alone cannot forge a form.

use url::Url;

use super::*;
use crate::account::SealedToken;
use crate::link::{parse_language, parse_redirect_uri};
use crate::secret::SecretHash;

/// How long an enrolment session can be used.
pub const ENROLMENT_SESSION_TTL: Duration = Duration::hours(24);

/// The most devices a session may name to offer.
pub const MAX_OFFERED_DEVICES: usize = 50;

time_ordered_id!(
    /// Identifies an enrolment session.
    EnrolmentSessionId
);

/// Where an enrolment session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EnrolmentSessionStatus {
    /// Created; the driver has not answered yet.
    Open,
    /// The driver agreed: the enrolments were made and the driver sent back with their ids.
    Completed,
    /// The driver declined and was sent back with `error=declined`.
    Declined,
    /// The session expired before the driver answered.
    Expired,
}

impl EnrolmentSessionStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "OPEN",
            Self::Completed => "COMPLETED",
            Self::Declined => "DECLINED",
            Self::Expired => "EXPIRED",
        }
    }

    /// Reads a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Open, Self::Completed, Self::Declined, Self::Expired]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }

    /// Whether the session is over (used or expired).
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Open)
    }
}

/// What the driver is asked to agree to: it becomes each enrolment's [`Consent`], with the moment
/// the driver agreed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsentTerms {
    /// What is shared with the program.
    pub data_shared: Vec<String>,
    /// How the driver leaves the program, in the program's words.
    pub how_to_leave: String,
}

impl ConsentTerms {
    /// Checks terms as an app sends them (trimmed here); every problem, each naming its field under
    /// `/consent`.
    pub fn parse(data_shared: &[String], how_to_leave: &str) -> Result<Self, Vec<FieldProblem>> {
        let mut problems = Vec::new();
        if data_shared.is_empty() || data_shared.iter().any(|d| d.trim().is_empty() || d.len() > 100) {
            problems.push(problem(
                "/consent/dataShared",
                "name what is shared: 1 or more items of 1 to 100 characters",
            ));
        }
        if how_to_leave.trim().is_empty() || how_to_leave.len() > 2000 {
            problems.push(problem(
                "/consent/howToLeave",
                "say how the user leaves the program (1 to 2000 characters)",
            ));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Self {
            data_shared: data_shared.iter().map(|d| d.trim().to_owned()).collect(),
            how_to_leave: how_to_leave.trim().to_owned(),
        })
    }

    /// The consent record of an enrolment agreed to at `given_at`.
    pub fn given_at(&self, given_at: DateTime<Utc>) -> Consent {
        Consent {
            data_shared: self.data_shared.clone(),
            how_to_leave: self.how_to_leave.clone(),
            given_at,
        }
    }
}

/// A checked request for an enrolment session (the user and program are checked against the
/// client's by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolmentSessionRequest {
    /// The devices to offer, without duplicates; empty: every device of the user's of a kind the
    /// program takes.
    pub devices: Vec<EnrolledDevice>,
    /// What the driver agrees to.
    pub consent: ConsentTerms,
    /// Where to send the driver at the end.
    pub redirect_uri: Url,
    /// The language the app asked for.
    pub language: String,
}

impl EnrolmentSessionRequest {
    /// Checks the raw fields; every problem, each naming its field.
    pub fn parse(
        devices: &[(FlexDeviceKind, String)],
        data_shared: &[String],
        how_to_leave: &str,
        redirect_uri: &str,
        language: Option<&str>,
    ) -> Result<Self, Vec<FieldProblem>> {
        let mut problems = Vec::new();
        if devices.len() > MAX_OFFERED_DEVICES {
            problems.push(problem(
                "/devices",
                format!("offer at most {MAX_OFFERED_DEVICES} devices"),
            ));
        }
        let mut offered: Vec<EnrolledDevice> = Vec::new();
        for (i, (kind, id)) in devices.iter().enumerate() {
            let id = id.trim();
            if id.is_empty() || id.len() > 255 {
                problems.push(problem(
                    format!("/devices/{i}/deviceId"),
                    "a device id is 1 to 255 characters",
                ));
                continue;
            }
            if !offered.iter().any(|d| d.kind == *kind && d.id == id) {
                offered.push(EnrolledDevice {
                    kind: *kind,
                    id: id.to_owned(),
                });
            }
        }
        let consent = ConsentTerms::parse(data_shared, how_to_leave).map_err(|more| problems.extend(more));
        let redirect_uri =
            parse_redirect_uri(redirect_uri).map_err(|e| problems.push(problem("/redirectUri", e.to_string())));
        let language = parse_language(language).map_err(|e| problems.push(problem("/language", e.to_string())));
        match (consent, redirect_uri, language) {
            (Ok(consent), Ok(redirect_uri), Ok(language)) if problems.is_empty() => Ok(Self {
                devices: offered,
                consent,
                redirect_uri,
                language,
            }),
            _ => Err(problems),
        }
    }
}

/// An enrolment session as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct EnrolmentSession {
    /// Identifier.
    pub id: EnrolmentSessionId,
    /// The API client that asked for it (it runs the program).
    pub client_id: ClientId,
    /// The program the driver enrols in.
    pub program_id: ProgramId,
    /// The driver.
    pub user_id: UserId,
    /// The hash of the page's token (the token is the only key to the session).
    pub token_hash: SecretHash,
    /// The devices to offer; empty: every device of the user's of a kind the program takes.
    pub devices: Vec<EnrolledDevice>,
    /// What the driver agrees to.
    pub consent: ConsentTerms,
    /// Where to send the driver at the end.
    pub redirect_uri: String,
    /// The language the app asked for.
    pub language: String,
    /// The form's CSRF token, sealed.
    pub csrf_token: SealedToken,
    /// Where the session is.
    pub status: EnrolmentSessionStatus,
    /// The enrolments the driver made, once completed.
    pub enrolment_ids: Vec<EnrolmentId>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it stops being usable.
    pub expires_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
}

impl EnrolmentSession {
    /// Whether the session has expired at `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Vec<String> {
        vec![" chargingSessions ".to_owned()]
    }

    #[test]
    fn a_valid_request_is_trimmed_and_its_repeated_devices_offered_once() {
        let charger = (FlexDeviceKind::Charger, "c-1".to_owned());
        let request = EnrolmentSessionRequest::parse(
            &[charger.clone(), charger],
            &shared(),
            " Unenrol in the app ",
            "https://app.example/enrolled?x=1",
            None,
        )
        .unwrap();
        assert_eq!(request.devices.len(), 1);
        assert_eq!(request.consent.data_shared, vec!["chargingSessions"]);
        assert_eq!(request.consent.how_to_leave, "Unenrol in the app");
        assert_eq!(request.language, "browser");
    }

    #[test]
    fn every_bad_field_is_named_at_once() {
        let problems = EnrolmentSessionRequest::parse(
            &[(FlexDeviceKind::Vehicle, " ".to_owned())],
            &[],
            "",
            "javascript:alert(1)",
            Some("klingon"),
        )
        .unwrap_err();
        let pointers: Vec<&str> = problems.iter().map(|p| p.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            vec![
                "/devices/0/deviceId",
                "/consent/dataShared",
                "/consent/howToLeave",
                "/redirectUri",
                "/language"
            ]
        );
    }

    #[test]
    fn a_session_is_over_once_it_left_open() {
        assert!(!EnrolmentSessionStatus::Open.is_final());
        for status in [
            EnrolmentSessionStatus::Completed,
            EnrolmentSessionStatus::Declined,
            EnrolmentSessionStatus::Expired,
        ] {
            assert!(status.is_final());
            assert_eq!(EnrolmentSessionStatus::parse(status.as_str()), Some(status));
        }
    }
}
