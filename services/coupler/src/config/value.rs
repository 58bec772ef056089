//! The kinds of value a setting holds, each read from text (a file's value or an environment
//! variable) with a message saying what was expected, and shown as a person would write it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use coupler_core::account::Secret;
use coupler_core::secret::SecretKey;
use url::Url;

/// A value a setting can hold: read from text (a file's value or an environment variable) and
/// shown as text (defaults in `--help` and the README).
pub trait SettingValue: Sized {
    /// Reads the value; the error says what was expected, without repeating the input.
    fn parse(text: &str) -> Result<Self, String>;
    /// The value as a person would write it.
    fn show(&self) -> String;
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, with the request's span fields (request id, route, client).
    Json,
}

impl SettingValue for LogFormat {
    fn parse(text: &str) -> Result<Self, String> {
        match text {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err("must be 'text' or 'json'".into()),
        }
    }
    fn show(&self) -> String {
        match self {
            Self::Text => "text",
            Self::Json => "json",
        }
        .into()
    }
}

/// Smartcar Connect's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmartcarMode {
    /// Real cars.
    Live,
    /// Smartcar's simulated cars.
    Simulated,
    /// Smartcar's test mode.
    Test,
}

impl SmartcarMode {
    /// The name Smartcar uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Simulated => "simulated",
            Self::Test => "test",
        }
    }
}

impl SettingValue for SmartcarMode {
    fn parse(text: &str) -> Result<Self, String> {
        match text {
            "live" => Ok(Self::Live),
            "simulated" => Ok(Self::Simulated),
            "test" => Ok(Self::Test),
            _ => Err("must be live, simulated or test".into()),
        }
    }
    fn show(&self) -> String {
        self.as_str().into()
    }
}

/// Which day-ahead price provider Coupler fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceProviderSetting {
    /// None: prices come from tariffs and pushed series only.
    None,
    /// aWATTar: the EPEX Spot day-ahead prices of Germany-Luxembourg and Austria.
    Awattar,
}

impl SettingValue for PriceProviderSetting {
    fn parse(text: &str) -> Result<Self, String> {
        match text {
            "none" => Ok(Self::None),
            "awattar" => Ok(Self::Awattar),
            _ => Err("must be none or awattar".into()),
        }
    }
    fn show(&self) -> String {
        match self {
            Self::None => "none",
            Self::Awattar => "awattar",
        }
        .into()
    }
}

/// An `http://` or `https://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl(pub Url);

impl SettingValue for HttpUrl {
    fn parse(text: &str) -> Result<Self, String> {
        let url = Url::parse(text).map_err(|e| format!("is not a URL ({e})"))?;
        match url.scheme() {
            "http" | "https" => Ok(Self(url)),
            _ => Err("must be http:// or https://".into()),
        }
    }
    fn show(&self) -> String {
        self.0.to_string()
    }
}

/// A `ws://` or `wss://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsUrl(pub Url);

impl SettingValue for WsUrl {
    fn parse(text: &str) -> Result<Self, String> {
        let url = Url::parse(text).map_err(|e| format!("is not a URL ({e})"))?;
        match url.scheme() {
            "ws" | "wss" => Ok(Self(url)),
            _ => Err("must be ws:// or wss://".into()),
        }
    }
    fn show(&self) -> String {
        self.0.to_string()
    }
}

/// A number of whole days, from 1 to 3650.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days(pub u64);

impl Days {
    /// As a duration.
    pub fn duration(self) -> Duration {
        Duration::from_secs(self.0 * 24 * 3600)
    }
}

impl SettingValue for Days {
    fn parse(text: &str) -> Result<Self, String> {
        text.parse::<u64>()
            .ok()
            .filter(|d| (1..=3650).contains(d))
            .map(Self)
            .ok_or_else(|| "must be a number of days from 1 to 3650".into())
    }
    fn show(&self) -> String {
        self.0.to_string()
    }
}

/// The longest duration any setting accepts: a year.
const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

impl SettingValue for Duration {
    /// A number of seconds (`30`), or a number with a unit: `250ms`, `30s`, `5m`, `4h`, `2d`.
    /// Zero is refused: every duration here is a wait or an interval, and zero would spin.
    fn parse(text: &str) -> Result<Self, String> {
        const EXPECTED: &str = "must be a duration: seconds (30), or a number with ms, s, m, h or d (250ms, 5m)";
        let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: u64 = number.parse().map_err(|_| EXPECTED.to_owned())?;
        let millis = match unit {
            "" | "s" => number.checked_mul(1000),
            "ms" => Some(number),
            "m" => number.checked_mul(60_000),
            "h" => number.checked_mul(3_600_000),
            "d" => number.checked_mul(86_400_000),
            _ => return Err(EXPECTED.into()),
        };
        let duration = millis.map(Duration::from_millis).ok_or_else(|| EXPECTED.to_owned())?;
        if duration.is_zero() || duration > MAX_DURATION {
            return Err("must be more than zero and at most a year".into());
        }
        Ok(duration)
    }
    fn show(&self) -> String {
        if self.subsec_millis() != 0 {
            return format!("{}ms", self.as_millis());
        }
        let secs = self.as_secs();
        if secs == 0 {
            return "0s".to_owned();
        }
        for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
            if secs.rem_euclid(size) == 0 {
                return format!("{}{unit}", secs / size);
            }
        }
        format!("{secs}s")
    }
}

impl SettingValue for bool {
    fn parse(text: &str) -> Result<Self, String> {
        match text {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err("must be true or false".into()),
        }
    }
    fn show(&self) -> String {
        self.to_string()
    }
}

impl SettingValue for u32 {
    fn parse(text: &str) -> Result<Self, String> {
        text.parse::<u32>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| "must be a whole number, at least 1".into())
    }
    fn show(&self) -> String {
        self.to_string()
    }
}

impl SettingValue for usize {
    fn parse(text: &str) -> Result<Self, String> {
        text.parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| "must be a whole number, at least 1".into())
    }
    fn show(&self) -> String {
        self.to_string()
    }
}

impl SettingValue for f64 {
    fn parse(text: &str) -> Result<Self, String> {
        text.parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && *x > 0.0)
            .ok_or_else(|| "must be a number above zero".into())
    }
    fn show(&self) -> String {
        self.to_string()
    }
}

impl SettingValue for String {
    fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Err("must not be empty".into());
        }
        Ok(text.to_owned())
    }
    fn show(&self) -> String {
        self.clone()
    }
}

/// A comma-separated list.
impl SettingValue for Vec<String> {
    fn parse(text: &str) -> Result<Self, String> {
        let items: Vec<String> = text.split(',').map(|s| s.trim().to_owned()).collect();
        if items.iter().any(String::is_empty) {
            return Err("must be a comma-separated list with no empty items".into());
        }
        Ok(items)
    }
    fn show(&self) -> String {
        self.join(",")
    }
}

impl SettingValue for SocketAddr {
    fn parse(text: &str) -> Result<Self, String> {
        text.parse()
            .map_err(|_| "must be an address like 127.0.0.1:8080".into())
    }
    fn show(&self) -> String {
        self.to_string()
    }
}

impl SettingValue for SecretKey {
    fn parse(text: &str) -> Result<Self, String> {
        SecretKey::parse(text).map_err(|e| format!("is not usable: {e}"))
    }
    fn show(&self) -> String {
        "(set)".into()
    }
}

impl SettingValue for Secret {
    fn parse(text: &str) -> Result<Self, String> {
        String::parse(text).map(Secret::new)
    }
    fn show(&self) -> String {
        "(set)".into()
    }
}

/// A bearer token a client presents (`Authorization: Bearer <token>`): 16 to 256 visible ASCII
/// characters, no spaces, so it fits a header as written and is not trivially guessed. Never shown.
#[derive(Debug, Clone)]
pub struct BearerToken(pub Secret);

impl SettingValue for BearerToken {
    fn parse(text: &str) -> Result<Self, String> {
        let visible = text.bytes().all(|b| b.is_ascii_graphic());
        if !(16..=256).contains(&text.len()) || !visible {
            return Err(
                "must be 16 to 256 visible characters without spaces (generate one with: openssl rand -hex 32)".into(),
            );
        }
        Ok(Self(Secret::new(text)))
    }
    fn show(&self) -> String {
        "(set)".into()
    }
}

/// Unset when empty.
impl SettingValue for PathBuf {
    fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("must be a file path".into());
        }
        Ok(PathBuf::from(text))
    }
    fn show(&self) -> String {
        self.display().to_string()
    }
}

impl<T: SettingValue> SettingValue for Option<T> {
    fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Ok(None);
        }
        T::parse(text).map(Some)
    }
    fn show(&self) -> String {
        match self {
            Some(value) => value.show(),
            None => "none".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_seconds_or_a_unit_and_show_the_largest_whole_unit() {
        let read = |text: &str| <Duration as SettingValue>::parse(text);
        assert_eq!(read("30"), Ok(Duration::from_secs(30)));
        assert_eq!(read("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(read("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(read("4h"), Ok(Duration::from_secs(4 * 3600)));
        assert_eq!(read("2d"), Ok(Duration::from_secs(2 * 86_400)));
        for bad in [
            "",
            "0",
            "0ms",
            "1.5s",
            "5 m",
            "1w",
            "-3",
            "400d",
            "99999999999999999999",
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
        assert_eq!(Duration::from_millis(100).show(), "100ms");
        assert_eq!(Duration::from_secs(90).show(), "90s");
        assert_eq!(Duration::from_secs(14_400).show(), "4h");
    }
}
