//! API clients (tenants) and the access tokens they are issued.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::secret::SecretHash;

/// The public identifier of an API client.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientId(String);

impl ClientId {
    /// A fresh random identifier.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// Wraps an identifier read from storage or sent by a caller. Any string is accepted: an unknown
    /// one simply matches no client.
    pub fn new(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    /// The identifier as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ClientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An API client: an app or a utility that owns users. It is a tenant: it sees only its own data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// Public identifier, used as the OAuth client id.
    pub id: ClientId,
    /// A name for operators.
    pub name: String,
    /// The client secret, hashed; the secret itself is shown once and never stored.
    pub secret_hash: SecretHash,
    /// When the client was created.
    pub created_at: DateTime<Utc>,
    /// When the client was revoked, if it was; a revoked client gets no tokens and its tokens stop working.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A bearer token issued to a client by `POST /oauth/token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    /// The token, hashed: a database leak does not hand out working tokens.
    pub token_hash: SecretHash,
    /// The client the token speaks for.
    pub client_id: ClientId,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Why a presented token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    /// No token with that value was ever issued.
    #[error("the access token is not known")]
    Unknown,
    /// The token's lifetime is over.
    #[error("the access token has expired")]
    Expired,
    /// The token, or its client, was revoked.
    #[error("the access token has been revoked")]
    Revoked,
}

impl AccessToken {
    /// Whether the token may be used at `now`.
    pub fn check(&self, now: DateTime<Utc>) -> Result<(), TokenRejection> {
        if self.revoked_at.is_some() {
            Err(TokenRejection::Revoked)
        } else if now >= self.expires_at {
            Err(TokenRejection::Expired)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::hash_secret;
    use chrono::Duration;

    fn token(expires_in: Duration, revoked: bool) -> AccessToken {
        let now = Utc::now();
        AccessToken {
            token_hash: hash_secret("t"),
            client_id: ClientId::new("c"),
            created_at: now,
            expires_at: now + expires_in,
            revoked_at: revoked.then_some(now),
        }
    }

    #[test]
    fn a_token_works_until_it_expires() {
        let live = token(Duration::seconds(60), false);
        assert_eq!(live.check(Utc::now()), Ok(()));
        assert_eq!(live.check(live.expires_at), Err(TokenRejection::Expired));
    }

    #[test]
    fn a_revoked_token_is_refused_even_before_it_expires() {
        assert_eq!(
            token(Duration::seconds(60), true).check(Utc::now()),
            Err(TokenRejection::Revoked)
        );
    }
}
