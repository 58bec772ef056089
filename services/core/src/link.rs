//! Link sessions: how a user connects a vendor account through the hosted link page.
//!
//! An app asks for a session (`POST /users/{userId}/link`) and gets a link token. The person opens
//! the link page, picks a vendor (unless the app named one), signs in at the maker (OAuth2
//! authorization code with PKCE and `state`), and comes back to Coupler's callback, which finishes
//! the session and sends the person on to the app's `redirectUri`. A session lives 24 hours and is
//! used once: when it has sent the person back to the app, with success or an error, it is over.
//!
//! Only hashes of the link token and of the OAuth `state` are stored, and the PKCE verifier is
//! sealed, so a database read does not let anyone complete someone else's link.

use chrono::{DateTime, Utc};
use url::Url;

use crate::account::{SealedToken, SealedTokens, VendorAccountId};
use crate::capability::Scope;
use crate::client::ClientId;
use crate::secret::SecretHash;
use crate::user::UserId;
use crate::vehicle::{VehicleId, Vendor, VendorVehicle};

/// How long a link session can be used.
pub const LINK_TTL: chrono::Duration = chrono::Duration::hours(24);

crate::id::time_ordered_id!(
    /// A link session's identifier.
    LinkSessionId
);

/// Where a link session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkStatus {
    /// Created; the person has not been sent to a maker yet.
    Created,
    /// The person was sent to a maker's sign-in; Coupler waits for the callback.
    Authorizing,
    /// The account was linked and the person sent back with success.
    Completed,
    /// The person was sent back with an error.
    Failed,
}

impl LinkStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "CREATED",
            Self::Authorizing => "AUTHORIZING",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
        }
    }

    /// Reads a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Created, Self::Authorizing, Self::Completed, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }

    /// Whether the session is over (used).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }
}

/// A link session as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkSession {
    /// Identifier.
    pub id: LinkSessionId,
    /// The API client that asked for it.
    pub client_id: ClientId,
    /// The user who links an account.
    pub user_id: UserId,
    /// The hash of the link token (the token is the only key to the session).
    pub token_hash: SecretHash,
    /// The vendor the app named, if any (the page then skips vendor selection).
    pub vendor: Option<Vendor>,
    /// The scopes to ask for.
    pub scopes: Vec<Scope>,
    /// Where to send the person at the end.
    pub redirect_uri: String,
    /// The language the app asked for.
    pub language: String,
    /// Where the session is.
    pub status: LinkStatus,
    /// The vendor the person is signing in at, once chosen.
    pub chosen_vendor: Option<Vendor>,
    /// The hash of the OAuth `state` sent to the maker.
    pub state_hash: Option<SecretHash>,
    /// The PKCE code verifier, sealed.
    pub pkce_verifier: Option<SealedToken>,
    /// The error code the session ended with, if it failed.
    pub error: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it stops being usable.
    pub expires_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
}

impl LinkSession {
    /// Whether the session has expired at `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }
}

/// Everything a successful callback stores, in one transaction.
#[derive(Debug, Clone)]
pub struct LinkCompletion {
    /// The session that ends.
    pub session_id: LinkSessionId,
    /// Its client.
    pub client_id: ClientId,
    /// Its user.
    pub user_id: UserId,
    /// The vendor the account is at.
    pub vendor: Vendor,
    /// The scopes granted.
    pub scopes: Vec<Scope>,
    /// The tokens, sealed.
    pub tokens: SealedTokens,
    /// Adapter-private facts about the account.
    pub account_meta: serde_json::Value,
    /// The maker's own identity of the account, when the maker tells it: a user may hold several
    /// accounts at one maker, and only the same account linked again is a relink.
    pub account_ref: Option<String>,
    /// The vehicles on the account.
    pub vehicles: Vec<VendorVehicle>,
    /// When.
    pub now: DateTime<Utc>,
}

/// What [`LinkCompletion`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedAccount {
    /// The account (new, or the one linked before).
    pub account_id: VendorAccountId,
    /// Whether the account was linked before (a re-link).
    pub relinked: bool,
    /// The account's vehicles, in the order given.
    pub vehicle_ids: Vec<VehicleId>,
}

/// A checked `POST /users/{userId}/link` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRequest {
    /// The vendor to skip straight to, if named.
    pub vendor: Option<Vendor>,
    /// The scopes to ask for, without duplicates, in a stable order.
    pub scopes: Vec<Scope>,
    /// Where to send the person at the end.
    pub redirect_uri: Url,
    /// The language of the pages.
    pub language: String,
}

/// Why a link request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkRequestError {
    /// `redirectUri` is not an absolute http(s) URL.
    #[error("redirectUri must be an absolute http:// or https:// URL without a fragment: {0}")]
    RedirectUri(String),
    /// No scopes, or an unknown one.
    #[error("{0}")]
    Scopes(String),
    /// A vendor type other than `vehicle`.
    #[error("{0}")]
    VendorType(String),
    /// A malformed vendor name.
    #[error("vendor: {0}")]
    Vendor(String),
    /// A language that is not `browser` or a tag like `en-US`.
    #[error("language must be 'browser' or a language tag like 'en-US', got '{0}'")]
    Language(String),
}

/// The longest `redirectUri` accepted, in bytes.
pub const MAX_REDIRECT_URI_LEN: usize = 2048;

impl LinkRequest {
    /// Checks the raw fields of a link request.
    pub fn parse(
        vendor: Option<&str>,
        vendor_type: Option<&str>,
        scopes: &[String],
        redirect_uri: &str,
        language: Option<&str>,
    ) -> Result<Self, LinkRequestError> {
        match vendor_type {
            None | Some("vehicle") => {}
            Some("charger") => {
                return Err(LinkRequestError::VendorType(
                    "chargers are not linked through a vendor account: they connect to Coupler over OCPP".into(),
                ))
            }
            Some(other) => {
                return Err(LinkRequestError::VendorType(format!(
                    "vendorType '{other}' is not supported; use 'vehicle'"
                )))
            }
        }
        let vendor = vendor
            .map(|v| Vendor::parse(v).map_err(|e| LinkRequestError::Vendor(e.to_string())))
            .transpose()?;

        let mut parsed = Vec::new();
        for raw in scopes {
            let scope = Scope::parse(raw).ok_or_else(|| {
                LinkRequestError::Scopes(format!(
                    "unknown scope '{raw}'; vehicle scopes are {}",
                    Scope::ALL.map(Scope::as_str).join(", ")
                ))
            })?;
            if !parsed.contains(&scope) {
                parsed.push(scope);
            }
        }
        if !parsed.contains(&Scope::ReadData) {
            return Err(LinkRequestError::Scopes(
                "scopes must include 'vehicle:read:data'".into(),
            ));
        }
        parsed.sort();

        Ok(Self {
            vendor,
            scopes: parsed,
            redirect_uri: parse_redirect_uri(redirect_uri)?,
            language: parse_language(language)?,
        })
    }
}

/// Checks an app's `redirectUri`: an absolute http(s) URL with a host, no fragment and no
/// credentials (the hosted pages send people there).
pub(crate) fn parse_redirect_uri(raw: &str) -> Result<Url, LinkRequestError> {
    let refuse = |why: &str| LinkRequestError::RedirectUri(why.to_owned());
    if raw.len() > MAX_REDIRECT_URI_LEN {
        return Err(refuse("it is longer than 2048 bytes"));
    }
    let url = Url::parse(raw).map_err(|e| refuse(&format!("'{raw}' is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refuse(&format!("the scheme is '{}'", url.scheme())));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(refuse("it has no host"));
    }
    if url.fragment().is_some() {
        return Err(refuse("it has a fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("it carries credentials"));
    }
    Ok(url)
}

/// Checks a page language: `browser` or a tag like `en-US`; none is `browser` (the person's
/// browser says which language it prefers).
pub(crate) fn parse_language(raw: Option<&str>) -> Result<String, LinkRequestError> {
    let Some(raw) = raw else {
        return Ok("browser".to_owned());
    };
    let b = raw.as_bytes();
    let tag = b.len() == 5
        && b[0].is_ascii_lowercase()
        && b[1].is_ascii_lowercase()
        && b[2] == b'-'
        && b[3].is_ascii_uppercase()
        && b[4].is_ascii_uppercase();
    if raw == "browser" || tag {
        Ok(raw.to_owned())
    } else {
        Err(LinkRequestError::Language(raw.chars().take(40).collect()))
    }
}

/// How a link ended badly, as the app's `redirectUri` receives it in `error` and `error_message`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkFailure {
    /// The person declined at the maker.
    AccessDenied,
    /// The link session expired before it was completed.
    Expired,
    /// The callback's `state` does not belong to this session.
    InvalidState,
    /// The maker refused the authorization code (used, expired or forged).
    InvalidGrant,
    /// The maker failed or did not answer in time.
    VendorUnavailable,
    /// The maker reported another error at sign-in.
    VendorError,
}

impl LinkFailure {
    /// The `error` code.
    pub fn code(self) -> &'static str {
        match self {
            Self::AccessDenied => "access_denied",
            Self::Expired => "expired",
            Self::InvalidState => "invalid_state",
            Self::InvalidGrant => "invalid_grant",
            Self::VendorUnavailable => "vendor_unavailable",
            Self::VendorError => "vendor_error",
        }
    }

    /// A default `error_message`.
    pub fn message(self) -> &'static str {
        match self {
            Self::AccessDenied => "The account owner declined access.",
            Self::Expired => "The link session expired; ask the app for a new link.",
            Self::InvalidState => "The sign-in response did not match this link session.",
            Self::InvalidGrant => {
                "The vendor refused the sign-in (the authorization code was used, expired or invalid)."
            }
            Self::VendorUnavailable => "The vendor did not answer in time or failed; try again later.",
            Self::VendorError => "The vendor reported an error during sign-in.",
        }
    }
}

/// `redirect_uri` with `params` added to its query (keeping the app's own parameters).
pub fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    match Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut query = url.query_pairs_mut();
                for (name, value) in params {
                    query.append_pair(name, value);
                }
            }
            url.to_string()
        }
        // Stored redirect URIs were checked when the session was made; keep the raw value otherwise.
        Err(_) => redirect_uri.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_valid_request_is_normalised() {
        let request = LinkRequest::parse(
            Some("TESLA"),
            Some("vehicle"),
            &scopes(&["vehicle:control:charging", "vehicle:read:data", "vehicle:read:data"]),
            "https://app.example/done?x=1",
            None,
        )
        .unwrap();
        assert_eq!(request.scopes, vec![Scope::ReadData, Scope::ControlCharging]);
        assert_eq!(request.language, "browser");
        assert_eq!(request.vendor.unwrap().as_str(), "TESLA");
    }

    #[test]
    fn redirect_uris_that_are_not_http_are_refused() {
        for bad in [
            "javascript:alert(1)",
            "ftp://files.example/x",
            "myapp://callback",
            "/relative",
            "https://app.example/#frag",
            "https://user:pw@app.example/",
            "",
        ] {
            let err = LinkRequest::parse(None, None, &scopes(&["vehicle:read:data"]), bad, None).unwrap_err();
            assert!(matches!(err, LinkRequestError::RedirectUri(_)), "{bad}: {err:?}");
        }
    }

    #[test]
    fn scopes_must_be_known_and_include_read_data() {
        let unknown = LinkRequest::parse(None, None, &scopes(&["vehicle:fly"]), "https://a.example/", None);
        assert!(matches!(unknown, Err(LinkRequestError::Scopes(_))));
        let none = LinkRequest::parse(None, None, &[], "https://a.example/", None);
        assert!(matches!(none, Err(LinkRequestError::Scopes(_))));
        let no_read = LinkRequest::parse(
            None,
            None,
            &scopes(&["vehicle:control:charging"]),
            "https://a.example/",
            None,
        );
        assert!(matches!(no_read, Err(LinkRequestError::Scopes(_))));
    }

    #[test]
    fn chargers_and_bad_languages_are_refused_with_a_reason() {
        let read = scopes(&["vehicle:read:data"]);
        let charger = LinkRequest::parse(None, Some("charger"), &read, "https://a.example/", None).unwrap_err();
        assert!(charger.to_string().contains("OCPP"));
        assert!(LinkRequest::parse(None, None, &read, "https://a.example/", Some("klingon")).is_err());
        assert!(LinkRequest::parse(None, None, &read, "https://a.example/", Some("de-DE")).is_ok());
        assert!(LinkRequest::parse(Some("tesla"), None, &read, "https://a.example/", None).is_err());
    }

    #[test]
    fn the_redirect_keeps_the_apps_query_and_adds_the_outcome() {
        assert_eq!(
            redirect_with(
                "https://app.example/done?x=1",
                &[("error", "expired"), ("error_message", "a b")]
            ),
            "https://app.example/done?x=1&error=expired&error_message=a+b"
        );
    }
}
