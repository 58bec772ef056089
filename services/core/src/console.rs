//! Logins to the console: the people of an API client who may look at its data in a browser.
//!
//! A login belongs to exactly one client and sees only that client's data, as the client's own
//! access tokens do. Coupler keeps a password hash (made and checked outside `core`, which does no
//! hashing work of its own) and, for each signed-in browser, only the hash of its session token.

use chrono::{DateTime, Utc};

use crate::client::ClientId;
use crate::id::time_ordered_id;
use crate::secret::SecretHash;

time_ordered_id!(
    /// Identifies a console login.
    ConsoleLoginId
);

/// The longest e-mail address accepted (RFC 5321's limit on a path).
pub const MAX_EMAIL_LEN: usize = 254;

/// One person's login to the console of one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleLogin {
    /// Identifier.
    pub id: ConsoleLoginId,
    /// The client whose data the login sees.
    pub client_id: ClientId,
    /// The e-mail address the person signs in with, as [`normalise_email`] left it; unique across
    /// every client, so signing in needs no client id.
    pub email: String,
    /// The password hash in PHC string form (`$argon2id$…`); never the password.
    pub password_hash: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// A signed-in browser: the hash of the session cookie's token, whose login it is, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    /// The hash of the token in the cookie; the token itself is never stored.
    pub token_hash: SecretHash,
    /// The login that signed in.
    pub login_id: ConsoleLoginId,
    /// The login's client, whose data the session sees.
    pub client_id: ClientId,
    /// The login's e-mail address, to show who is signed in.
    pub email: String,
    /// When it began.
    pub created_at: DateTime<Utc>,
    /// When it ends; the session is refused from then on.
    pub expires_at: DateTime<Utc>,
}

/// Why an e-mail address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Nothing but spaces.
    #[error("the e-mail address is empty")]
    Empty,
    /// Longer than [`MAX_EMAIL_LEN`].
    #[error("the e-mail address is longer than {MAX_EMAIL_LEN} characters")]
    TooLong,
    /// Not of the form `name@domain`, or with spaces or control characters in it.
    #[error("'{0}' is not an e-mail address (name@domain)")]
    Malformed(String),
}

/// The address as logins keep and look it up: trimmed and in lower case (so `Ann@Example.com` and
/// `ann@example.com` are one login), with one `@` between a non-empty name and domain.
pub fn normalise_email(raw: &str) -> Result<String, EmailError> {
    let email = raw.trim().to_lowercase();
    if email.is_empty() {
        return Err(EmailError::Empty);
    }
    if email.len() > MAX_EMAIL_LEN {
        return Err(EmailError::TooLong);
    }
    let well_formed = matches!(email.split_once('@'), Some((name, domain))
        if !name.is_empty() && !domain.is_empty() && !domain.contains('@'))
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if !well_formed {
        return Err(EmailError::Malformed(raw.trim().to_owned()));
    }
    Ok(email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_trimmed_and_lowered() {
        assert_eq!(normalise_email("  Ann@Example.COM ").as_deref(), Ok("ann@example.com"));
    }

    #[test]
    fn an_address_without_a_name_a_domain_or_with_spaces_is_refused() {
        for bad in ["ann", "@example.com", "ann@", "a b@example.com", "a@b@c"] {
            assert!(matches!(normalise_email(bad), Err(EmailError::Malformed(_))), "{bad}");
        }
        assert_eq!(normalise_email("  "), Err(EmailError::Empty));
        assert_eq!(
            normalise_email(&format!("{}@x.org", "a".repeat(260))),
            Err(EmailError::TooLong)
        );
    }
}
