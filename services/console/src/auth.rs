//! Signing in to the console: passwords hashed with Argon2id, the session cookie, the CSRF token
//! that every state-changing request must carry, and the sign-in rate limit.
//!
//! The session cookie holds a random token; Coupler stores only its SHA-256 hash, with the time the
//! session ends. The cookie is `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's
//! request carries it) and `Secure` when Coupler's public URL is https. The CSRF token is derived
//! from the session token (a keyed hash of it), so it needs no storage, differs per session, and
//! cannot be computed from anything a page or another site can see.

use std::num::NonZeroU32;
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::http::HeaderMap;
use coupler_core::secret::{generate_secret, hash_secret, SecretHash};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The session cookie.
pub const SESSION_COOKIE: &str = "coupler_console";
/// The cookie that carries the sign-in form's CSRF token before there is a session.
pub const SIGN_IN_COOKIE: &str = "coupler_console_sign_in";
/// The form field a CSRF token is sent in.
pub const CSRF_FIELD: &str = "_csrf";
/// The header a CSRF token is sent in by script (`fetch`).
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a session lasts from sign-in.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 60 * 60);
/// The shortest password a login may have.
pub const MIN_PASSWORD_LEN: usize = 12;
/// The longest password accepted (hashing is deliberately slow; a huge one must not be hashed).
pub const MAX_PASSWORD_LEN: usize = 256;

/// Why a password was refused when making a login.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    /// Shorter than [`MIN_PASSWORD_LEN`].
    #[error("the password must have at least {MIN_PASSWORD_LEN} characters")]
    TooShort,
    /// Longer than [`MAX_PASSWORD_LEN`].
    #[error("the password must have at most {MAX_PASSWORD_LEN} characters")]
    TooLong,
    /// The hasher failed (it does not, for valid parameters).
    #[error("cannot hash the password: {0}")]
    Hashing(String),
}

/// The Argon2id hash of `password` in PHC string form, with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let length = password.chars().count();
    if length < MIN_PASSWORD_LEN {
        return Err(PasswordError::TooShort);
    }
    if length > MAX_PASSWORD_LEN {
        return Err(PasswordError::TooLong);
    }
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hashing(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError::Hashing(e.to_string()))
}

/// Whether `password` is the one `stored` (a PHC string) was made from. A stored value that is not
/// a valid hash matches nothing.
pub fn verify_password(stored: &str, password: &str) -> bool {
    if password.chars().count() > MAX_PASSWORD_LEN {
        return false;
    }
    PasswordHash::new(stored).is_ok_and(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
}

/// A hash no password matches, verified when an e-mail address has no login, so a wrong address
/// takes as long to refuse as a wrong password and does not tell which logins exist.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&generate_secret()).unwrap_or_default())
}

/// A password for a login made without one: 24 random characters of the URL-safe alphabet.
pub fn generate_password() -> String {
    generate_secret().chars().take(24).collect()
}

/// A new session token (for the cookie) and its hash (for the store).
pub fn new_session_token() -> (String, SecretHash) {
    let token = generate_secret();
    let hash = hash_secret(&token);
    (token, hash)
}

/// The CSRF token of the session whose cookie holds `session_token`.
pub fn csrf_token(session_token: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"coupler console csrf\0");
    hasher.update(session_token.as_bytes());
    hex::encode(hasher.finalize())
}

/// Whether `sent` is `expected`, compared in constant time.
pub fn tokens_match(expected: &str, sent: &str) -> bool {
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(sent.as_bytes()))
}

/// The `Set-Cookie` value of the session cookie holding `token`.
pub fn session_cookie(token: &str, secure: &str) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/console; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
        SESSION_TTL.as_secs()
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn cleared_session_cookie(secure: &str) -> String {
    format!("{SESSION_COOKIE}=; Path=/console; Max-Age=0; HttpOnly; SameSite=Strict{secure}")
}

/// The `Set-Cookie` value of the sign-in form's CSRF cookie.
pub fn sign_in_cookie(token: &str, secure: &str) -> String {
    format!("{SIGN_IN_COOKIE}={token}; Path=/console/sign-in; Max-Age=3600; HttpOnly; SameSite=Strict{secure}")
}

/// The CSRF token a request sent in the header, if any.
pub fn csrf_header(headers: &HeaderMap) -> Option<&str> {
    headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok())
}

/// Sign-in attempts per e-mail address, whichever address they come from: failed attempts from one
/// source address also spend the API's failed-authentication bucket of that address.
#[derive(Debug)]
pub struct SignInLimit(DefaultKeyedRateLimiter<String>);

impl SignInLimit {
    /// A burst of `burst` attempts per address, then `per_minute`.
    pub fn new(burst: u32, per_minute: u32) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN));
        Self(RateLimiter::keyed(quota))
    }

    /// Whether another attempt at `email` may be made now.
    pub fn allows(&self, email: &str) -> bool {
        if self.0.len() > 50_000 {
            self.0.retain_recent();
        }
        self.0.check_key(&email.to_owned()).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_matches_its_hash_and_no_other_password_does() {
        let hash = hash_password("correct horse battery").unwrap_or_default();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password(&hash, "correct horse battery"));
        assert!(!verify_password(&hash, "correct horse battery!"));
        assert!(!verify_password("not a hash", "correct horse battery"));
    }

    #[test]
    fn a_short_or_huge_password_is_refused() {
        assert_eq!(hash_password("short"), Err(PasswordError::TooShort));
        assert_eq!(hash_password(&"x".repeat(300)), Err(PasswordError::TooLong));
    }

    #[test]
    fn each_session_has_its_own_csrf_token() {
        let (a, _) = new_session_token();
        let (b, _) = new_session_token();
        assert_ne!(csrf_token(&a), csrf_token(&b));
        assert!(tokens_match(&csrf_token(&a), &csrf_token(&a)));
        assert!(!tokens_match(&csrf_token(&a), &csrf_token(&b)));
        assert!(!tokens_match("", ""));
    }

    #[test]
    fn the_session_cookie_is_http_only_and_strict() {
        let cookie = session_cookie("t", "; Secure");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.ends_with("; Secure"));
    }

    #[test]
    fn sign_in_attempts_at_one_address_run_out() {
        let limit = SignInLimit::new(2, 1);
        assert!(limit.allows("a@example.com"));
        assert!(limit.allows("a@example.com"));
        assert!(!limit.allows("a@example.com"));
        assert!(limit.allows("b@example.com"));
    }
}
