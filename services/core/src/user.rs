//! Users: the people an API client (an app) serves, named by the app's own identifiers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The app's own identifier for one of its users.
///
/// The app chooses it, so Coupler only guards what would break storage, URLs or logs: it is 1 to 255
/// bytes, has no control characters and no `/`, and does not start or end with white space.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(String);

/// Why a string is not a valid [`UserId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserIdError {
    /// The identifier is empty.
    #[error("the user id is empty")]
    Empty,
    /// The identifier is longer than 255 characters.
    #[error("the user id is longer than 255 characters")]
    TooLong,
    /// The identifier has a character that is not allowed.
    #[error("the user id may not contain control characters or '/'")]
    ForbiddenCharacter,
    /// The identifier starts or ends with white space.
    #[error("the user id may not start or end with white space")]
    SurroundingWhitespace,
}

impl UserId {
    /// The longest identifier accepted, in characters (what the OpenAPI document can state).
    pub const MAX_LEN: usize = 255;

    /// Checks an identifier an app sent.
    pub fn parse(raw: &str) -> Result<Self, UserIdError> {
        if raw.is_empty() {
            return Err(UserIdError::Empty);
        }
        if raw.chars().count() > Self::MAX_LEN {
            return Err(UserIdError::TooLong);
        }
        if raw.chars().any(|c| c.is_control() || c == '/') {
            return Err(UserIdError::ForbiddenCharacter);
        }
        if raw.trim() != raw {
            return Err(UserIdError::SurroundingWhitespace);
        }
        Ok(Self(raw.to_owned()))
    }

    /// The identifier as the app sent it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user of one API client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The app's identifier for the user.
    pub id: UserId,
    /// When Coupler first saw the user.
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_app_may_use_emails_uuids_and_unicode_as_user_ids() {
        for ok in [
            "user-1",
            "a@b.example",
            "0b6f2c9e-1f7d-4c55-9a59-6a0d7b5f3c21",
            "Jürgen Ørsted",
        ] {
            assert!(UserId::parse(ok).is_ok(), "{ok} should be accepted");
        }
    }

    #[test]
    fn a_user_id_that_would_break_urls_or_logs_is_refused() {
        assert_eq!(UserId::parse(""), Err(UserIdError::Empty));
        assert_eq!(UserId::parse(&"x".repeat(256)), Err(UserIdError::TooLong));
        assert_eq!(UserId::parse("a/b"), Err(UserIdError::ForbiddenCharacter));
        assert_eq!(UserId::parse("a\nb"), Err(UserIdError::ForbiddenCharacter));
        assert_eq!(UserId::parse(" a"), Err(UserIdError::SurroundingWhitespace));
    }
}
