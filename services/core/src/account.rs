//! Vendor accounts: a user's linked account at a maker's cloud, with its OAuth tokens.
//!
//! Tokens are held in two forms. [`Secret`] is a token in memory, on its way to or from a maker; its
//! `Debug` is redacted so it cannot reach a log by accident. In storage, tokens exist only as
//! ciphertext made by [`crate::secret::Cipher`]: a [`VendorAccount`] carries the sealed form, and the
//! store never sees a token in clear.

use chrono::{DateTime, Utc};

use crate::capability::Scope;
use crate::client::ClientId;
use crate::intervention::InterventionId;
use crate::secret::{Cipher, DecryptError};
use crate::user::UserId;
use crate::vehicle::Vendor;

/// A secret value in memory (an OAuth token), redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Tokens a maker's OAuth server issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSet {
    /// The access token.
    pub access_token: Secret,
    /// The refresh token, if the maker issued one. Some makers' refresh tokens are single-use: the
    /// new one must replace the old one in the same write as the new access token.
    pub refresh_token: Option<Secret>,
    /// When the access token expires, if the maker said.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A token encrypted for storage.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedToken(String);

impl SealedToken {
    /// Encrypts a token.
    pub fn seal(cipher: &Cipher, token: &Secret) -> Self {
        Self(cipher.encrypt(token.expose()))
    }

    /// Wraps ciphertext read from storage.
    pub fn from_stored(ciphertext: impl Into<String>) -> Self {
        Self(ciphertext.into())
    }

    /// The ciphertext, for storage.
    pub fn as_stored(&self) -> &str {
        &self.0
    }

    /// Decrypts the token.
    pub fn open(&self, cipher: &Cipher) -> Result<Secret, DecryptError> {
        cipher.decrypt(&self.0).map(Secret)
    }
}

impl std::fmt::Debug for SealedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealedToken(..)")
    }
}

/// Tokens as stored: sealed, with their expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedTokens {
    /// The sealed access token.
    pub access_token: SealedToken,
    /// The sealed refresh token.
    pub refresh_token: Option<SealedToken>,
    /// When the access token expires.
    pub expires_at: Option<DateTime<Utc>>,
}

impl SealedTokens {
    /// Seals freshly issued tokens.
    pub fn seal(cipher: &Cipher, tokens: &TokenSet) -> Self {
        Self {
            access_token: SealedToken::seal(cipher, &tokens.access_token),
            refresh_token: tokens.refresh_token.as_ref().map(|t| SealedToken::seal(cipher, t)),
            expires_at: tokens.expires_at,
        }
    }
}

crate::id::time_ordered_id!(
    /// A vendor account's identifier.
    VendorAccountId
);

/// A user's linked account at one vendor. A user has at most one account per vendor; linking again
/// replaces its tokens (re-linking).
#[derive(Debug, Clone, PartialEq)]
pub struct VendorAccount {
    /// Identifier.
    pub id: VendorAccountId,
    /// The API client that owns it (through its user).
    pub client_id: ClientId,
    /// Its user.
    pub user_id: UserId,
    /// The vendor.
    pub vendor: Vendor,
    /// The scopes the user granted.
    pub scopes: Vec<Scope>,
    /// The tokens, sealed.
    pub tokens: SealedTokens,
    /// Increases with every token change, so a refresh can replace exactly the tokens it used.
    pub token_version: i64,
    /// Adapter-private facts about the account (for example Tesla's regional API URL).
    pub meta: serde_json::Value,
    /// Whether the credentials still work. `false` after a refresh was refused: the user must relink.
    pub is_valid: bool,
    /// The open "relink needed" intervention, while the account is invalid.
    pub intervention_id: Option<InterventionId>,
    /// When it was first linked.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl VendorAccount {
    /// Whether the access token should be refreshed at `now`: it expires within `margin`.
    pub fn needs_refresh(&self, now: DateTime<Utc>, margin: chrono::Duration) -> bool {
        self.is_valid
            && self.tokens.refresh_token.is_some()
            && self.tokens.expires_at.is_some_and(|at| at - margin <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretKey;

    #[test]
    fn tokens_are_sealed_for_storage_and_open_with_the_same_key() {
        let cipher = Cipher::new(&SecretKey::generate());
        let tokens = TokenSet {
            access_token: Secret::new("access-abc"),
            refresh_token: Some(Secret::new("refresh-xyz")),
            expires_at: None,
        };
        let sealed = SealedTokens::seal(&cipher, &tokens);
        assert!(!sealed.access_token.as_stored().contains("access-abc"));
        assert_eq!(sealed.access_token.open(&cipher).unwrap(), tokens.access_token);
        assert_eq!(
            sealed.refresh_token.unwrap().open(&cipher).unwrap().expose(),
            "refresh-xyz"
        );
    }

    #[test]
    fn tokens_never_show_in_debug_output() {
        let text = format!(
            "{:?}",
            TokenSet {
                access_token: Secret::new("access-abc"),
                refresh_token: Some(Secret::new("refresh-xyz")),
                expires_at: None,
            }
        );
        assert!(!text.contains("access-abc") && !text.contains("refresh-xyz"), "{text}");
    }
}
