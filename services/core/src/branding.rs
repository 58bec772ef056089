//! How an API client presents itself to its users on Coupler's hosted pages (the link page and the
//! enrolment page): the app's name, its logo, its privacy policy and the page people go back to.
//!
//! The rules here are pure: a logo is accepted only when its bytes are a PNG, JPEG or WebP image
//! (read from the bytes themselves, never from what the sender claims), and small. SVG is refused:
//! it is a document that can carry scripts, and Coupler serves logos from its own origin.

use chrono::{DateTime, Utc};

use crate::link::{parse_redirect_uri, LinkRequestError};

/// The largest logo Coupler keeps, in bytes: enough for a crisp square logo, small enough to store
/// in a row and serve with every page.
pub const MAX_LOGO_BYTES: usize = 128 * 1024;

/// The longest app name, in characters.
pub const MAX_APP_NAME_CHARS: usize = 80;

/// The longest URL Coupler keeps for a privacy policy or a return page.
pub const MAX_URL_CHARS: usize = 2048;

/// What an API client set about how its pages look: everything but the logo's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Branding {
    /// The app's name as people know it; the client's own name when unset.
    pub app_name: Option<String>,
    /// The app's privacy policy (http or https).
    pub privacy_policy_url: Option<String>,
    /// The app's page a person goes back to from a page whose link has ended (http or https).
    pub return_url: Option<String>,
    /// The logo, if one was uploaded.
    pub logo: Option<LogoInfo>,
    /// When it last changed.
    pub updated_at: Option<DateTime<Utc>>,
}

/// The text fields of a branding, as a client sets them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BrandingText {
    /// See [`Branding::app_name`].
    pub app_name: Option<String>,
    /// See [`Branding::privacy_policy_url`].
    pub privacy_policy_url: Option<String>,
    /// See [`Branding::return_url`].
    pub return_url: Option<String>,
}

/// Why a branding or a logo was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrandingError {
    /// The app name is empty, too long, or has control characters.
    #[error("appName must be 1 to {MAX_APP_NAME_CHARS} characters without control characters")]
    AppName,
    /// A URL is not an absolute http(s) URL.
    #[error("{field} must be an absolute http or https URL of at most {MAX_URL_CHARS} characters: {reason}")]
    Url {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The logo is empty.
    #[error("the logo is empty")]
    EmptyLogo,
    /// The logo is larger than [`MAX_LOGO_BYTES`].
    #[error("the logo is {size} bytes; at most {MAX_LOGO_BYTES} bytes are accepted")]
    LogoTooLarge {
        /// Its size.
        size: usize,
    },
    /// The bytes are SVG, which is refused.
    #[error("SVG logos are not accepted (an SVG can carry scripts); send a PNG, JPEG or WebP image")]
    Svg,
    /// The bytes are no image Coupler accepts.
    #[error("the logo is not a PNG, JPEG or WebP image")]
    NotAnImage,
    /// The declared content type differs from what the bytes are.
    #[error("the logo was sent as {declared} but its bytes are {actual}")]
    TypeMismatch {
        /// What the sender said.
        declared: String,
        /// What the bytes are.
        actual: &'static str,
    },
}

impl BrandingText {
    /// Checks and tidies the fields (names trimmed; empty strings are unset).
    pub fn parse(
        app_name: Option<&str>,
        privacy_policy_url: Option<&str>,
        return_url: Option<&str>,
    ) -> Result<Self, BrandingError> {
        let app_name = match app_name.map(str::trim).filter(|n| !n.is_empty()) {
            Some(name) if name.chars().count() > MAX_APP_NAME_CHARS || name.chars().any(char::is_control) => {
                return Err(BrandingError::AppName)
            }
            other => other.map(str::to_owned),
        };
        let url = |field: &'static str, raw: Option<&str>| -> Result<Option<String>, BrandingError> {
            match raw.map(str::trim).filter(|u| !u.is_empty()) {
                None => Ok(None),
                Some(u) if u.chars().count() > MAX_URL_CHARS => Err(BrandingError::Url {
                    field,
                    reason: "too long".to_owned(),
                }),
                Some(u) => parse_redirect_uri(u)
                    .map(|_| Some(u.to_owned()))
                    .map_err(|e| BrandingError::Url {
                        field,
                        reason: match e {
                            LinkRequestError::RedirectUri(why) => why,
                            other => other.to_string(),
                        },
                    }),
            }
        };
        Ok(Self {
            app_name,
            privacy_policy_url: url("privacyPolicyUrl", privacy_policy_url)?,
            return_url: url("returnUrl", return_url)?,
        })
    }
}

/// The kinds of image a logo may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoType {
    /// `image/png`.
    Png,
    /// `image/jpeg`.
    Jpeg,
    /// `image/webp`.
    Webp,
}

impl LogoType {
    /// The media type it is served with.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
        }
    }

    /// Reads a stored media type.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Png, Self::Jpeg, Self::Webp]
            .into_iter()
            .find(|t| t.content_type() == raw)
    }

    /// What `bytes` are, judged by their first bytes (their signature), or why they are refused.
    pub fn sniff(bytes: &[u8]) -> Result<Self, BrandingError> {
        const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
        if bytes.starts_with(PNG) {
            return Ok(Self::Png);
        }
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            return Ok(Self::Jpeg);
        }
        if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            return Ok(Self::Webp);
        }
        if looks_like_svg(bytes) {
            return Err(BrandingError::Svg);
        }
        Err(BrandingError::NotAnImage)
    }
}

/// Whether `bytes` look like an SVG or other XML document (so the refusal can say why).
fn looks_like_svg(bytes: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).to_ascii_lowercase();
    let head = head.trim_start_matches('\u{feff}').trim_start();
    head.starts_with("<?xml") || head.starts_with("<svg") || head.contains("<svg")
}

/// A logo's bytes, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logo {
    /// What kind of image it is.
    pub kind: LogoType,
    /// The image.
    pub bytes: Vec<u8>,
}

impl Logo {
    /// Checks `bytes` sent with the media type `declared` (parameters after `;` ignored).
    pub fn parse(declared: Option<&str>, bytes: Vec<u8>) -> Result<Self, BrandingError> {
        if bytes.is_empty() {
            return Err(BrandingError::EmptyLogo);
        }
        if bytes.len() > MAX_LOGO_BYTES {
            return Err(BrandingError::LogoTooLarge { size: bytes.len() });
        }
        let kind = LogoType::sniff(&bytes)?;
        if let Some(declared) = declared {
            let essence = declared
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            if essence.contains("svg") {
                return Err(BrandingError::Svg);
            }
            if essence != kind.content_type() {
                return Err(BrandingError::TypeMismatch {
                    declared: essence,
                    actual: kind.content_type(),
                });
            }
        }
        Ok(Self { kind, bytes })
    }

    /// What the pages need to know about it.
    pub fn info(&self) -> LogoInfo {
        use sha2::Digest;
        LogoInfo {
            kind: self.kind,
            size: self.bytes.len(),
            sha256: hex::encode(sha2::Sha256::digest(&self.bytes)),
        }
    }
}

/// A stored logo, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoInfo {
    /// What kind of image it is.
    pub kind: LogoType,
    /// Its size in bytes.
    pub size: usize,
    /// The SHA-256 of its bytes, hex: a version for caches.
    pub sha256: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    #[test]
    fn a_logo_is_what_its_bytes_are_not_what_it_claims() {
        assert_eq!(
            Logo::parse(Some("image/png"), PNG.to_vec()).map(|l| l.kind),
            Ok(LogoType::Png)
        );
        assert_eq!(
            Logo::parse(None, vec![0xFF, 0xD8, 0xFF, 0xE0]).map(|l| l.kind),
            Ok(LogoType::Jpeg)
        );
        assert_eq!(
            Logo::parse(Some("image/webp"), b"RIFF\x10\0\0\0WEBPVP8 ".to_vec()).map(|l| l.kind),
            Ok(LogoType::Webp)
        );
        assert!(matches!(
            Logo::parse(Some("image/jpeg"), PNG.to_vec()),
            Err(BrandingError::TypeMismatch { .. })
        ));
    }

    #[test]
    fn svg_and_other_documents_are_refused() {
        let svg = b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>";
        assert_eq!(Logo::parse(Some("image/png"), svg.to_vec()), Err(BrandingError::Svg));
        assert_eq!(Logo::parse(None, b"  <svg></svg>".to_vec()), Err(BrandingError::Svg));
        assert_eq!(
            Logo::parse(Some("image/svg+xml"), PNG.to_vec()),
            Err(BrandingError::Svg)
        );
        assert_eq!(Logo::parse(None, b"<html>".to_vec()), Err(BrandingError::NotAnImage));
        assert_eq!(Logo::parse(None, Vec::new()), Err(BrandingError::EmptyLogo));
    }

    #[test]
    fn a_logo_larger_than_the_limit_is_refused() {
        let mut big = PNG.to_vec();
        big.resize(MAX_LOGO_BYTES + 1, 0);
        assert_eq!(
            Logo::parse(None, big),
            Err(BrandingError::LogoTooLarge {
                size: MAX_LOGO_BYTES + 1
            })
        );
    }

    #[test]
    fn names_and_urls_are_checked_and_blanks_unset() {
        let text = BrandingText::parse(Some("  Volt App "), Some("https://volt.example/privacy"), Some("")).unwrap();
        assert_eq!(text.app_name.as_deref(), Some("Volt App"));
        assert_eq!(text.return_url, None);
        assert_eq!(
            BrandingText::parse(Some("a\u{7}b"), None, None),
            Err(BrandingError::AppName)
        );
        assert_eq!(
            BrandingText::parse(Some(&"x".repeat(81)), None, None),
            Err(BrandingError::AppName)
        );
        assert!(matches!(
            BrandingText::parse(None, Some("javascript:alert(1)"), None),
            Err(BrandingError::Url {
                field: "privacyPolicyUrl",
                ..
            })
        ));
    }
}
