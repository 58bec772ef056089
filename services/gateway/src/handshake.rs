//! What happens before the WebSocket upgrade: subprotocol choice and HTTP Basic authentication.

use axum::http::{header, HeaderMap};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use coupler_core::secret::SecretHash;
use coupler_ocpp::OcppVersion;

/// Picks the subprotocol: the first one in the charger's list of preference that Coupler speaks.
/// `None` when the charger offers none Coupler speaks (or none at all).
pub fn choose_subprotocol(headers: &HeaderMap, supported: &[OcppVersion]) -> Option<OcppVersion> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter_map(OcppVersion::from_subprotocol)
        .find(|version| supported.contains(version))
}

/// Why a charger's credentials are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization: Basic` header.
    Missing,
    /// The header cannot be read as Basic credentials.
    Malformed,
    /// The user name is not the charger's identity, or the password is wrong.
    Wrong,
}

/// The shortest and longest OCPP 2.0.1 `BasicAuthPassword`, in characters.
pub const OCPP201_PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 16..=40;

/// Checks HTTP Basic credentials: the user name must be the identity the charger connects as, and
/// the password must match the stored hash.
///
/// OCPP 1.6's security profile allows the password (AuthorizationKey) to arrive as the text Coupler
/// issued or as the raw bytes that text spells in hex; both are accepted. The password is treated as
/// bytes until compared, because raw keys need not be UTF-8. OCPP 2.0.1 (errata 2023-12 §2.17.3)
/// sends the password as a plain UTF-8 string of 16 to 40 characters, so a 2.0.1 connection
/// (`version`, the subprotocol chosen) is held to that and only the text form counts.
pub fn check_basic_auth(
    headers: &HeaderMap,
    identity: &str,
    password_hash: &SecretHash,
    version: Option<OcppVersion>,
) -> Result<(), AuthFailure> {
    let value = headers.get(header::AUTHORIZATION).ok_or(AuthFailure::Missing)?;
    let value = value.to_str().map_err(|_| AuthFailure::Malformed)?;
    let (scheme, encoded) = value.split_once(' ').ok_or(AuthFailure::Malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(AuthFailure::Malformed);
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| AuthFailure::Malformed)?;
    let colon = decoded.iter().position(|b| *b == b':').ok_or(AuthFailure::Malformed)?;
    let (user, password) = (&decoded[..colon], &decoded[colon + 1..]);
    if user != identity.as_bytes() {
        return Err(AuthFailure::Wrong);
    }
    if version == Some(OcppVersion::V201) {
        let text = std::str::from_utf8(password).map_err(|_| AuthFailure::Wrong)?;
        if !OCPP201_PASSWORD_CHARS.contains(&text.chars().count()) || !password_hash.matches(text) {
            return Err(AuthFailure::Wrong);
        }
        return Ok(());
    }
    let as_text = std::str::from_utf8(password).is_ok_and(|text| password_hash.matches(text));
    let as_raw_key =
        password_hash.matches(&hex::encode(password)) || password_hash.matches(&hex::encode_upper(password));
    if as_text || as_raw_key {
        Ok(())
    } else {
        Err(AuthFailure::Wrong)
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use coupler_core::secret::hash_secret;

    use super::*;

    fn headers(name: header::HeaderName, values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(name.clone(), HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn the_chargers_order_of_preference_wins() {
        let both = [OcppVersion::V201, OcppVersion::V16];
        let offered = headers(header::SEC_WEBSOCKET_PROTOCOL, &["ocpp1.6, ocpp2.0.1"]);
        assert_eq!(choose_subprotocol(&offered, &both), Some(OcppVersion::V16));
        let offered = headers(header::SEC_WEBSOCKET_PROTOCOL, &["ocpp2.0", "ocpp2.0.1,ocpp1.6"]);
        assert_eq!(choose_subprotocol(&offered, &both), Some(OcppVersion::V201));
    }

    #[test]
    fn an_unsupported_or_missing_subprotocol_chooses_nothing() {
        let only16 = [OcppVersion::V16];
        assert_eq!(
            choose_subprotocol(&headers(header::SEC_WEBSOCKET_PROTOCOL, &["ocpp2.0.1"]), &only16),
            None
        );
        assert_eq!(
            choose_subprotocol(&headers(header::SEC_WEBSOCKET_PROTOCOL, &["OCPP1.6"]), &only16),
            None
        );
        assert_eq!(choose_subprotocol(&HeaderMap::new(), &only16), None);
    }

    fn basic(user: &[u8], password: &[u8]) -> HeaderMap {
        let mut raw = user.to_vec();
        raw.push(b':');
        raw.extend_from_slice(password);
        headers(header::AUTHORIZATION, &[&format!("Basic {}", STANDARD.encode(raw))])
    }

    #[test]
    fn the_issued_password_is_accepted_as_text_or_as_the_raw_key_it_spells() {
        let key = [
            0x9a_u8, 0x01, 0xff, 0x10, 0x00, 0x7e, 0x42, 0x13, 0x37, 0xc0, 0xde, 0x55, 0xaa, 0x01, 0x02, 0x03, 0x04,
            0x05, 0x06, 0x07,
        ];
        let issued = hex::encode(key);
        let hash = hash_secret(&issued);
        assert_eq!(
            check_basic_auth(&basic(b"CP1", issued.as_bytes()), "CP1", &hash, None),
            Ok(())
        );
        assert_eq!(check_basic_auth(&basic(b"CP1", &key), "CP1", &hash, None), Ok(()));
    }

    #[test]
    fn a_2_0_1_password_is_plain_text_of_16_to_40_characters() {
        let issued = "9a01ff10007e421337c0de55aa01020304050607";
        let hash = hash_secret(issued);
        let v201 = Some(OcppVersion::V201);
        assert_eq!(
            check_basic_auth(&basic(b"CP1", issued.as_bytes()), "CP1", &hash, v201),
            Ok(())
        );
        let raw = hex::decode(issued).unwrap();
        assert_eq!(
            check_basic_auth(&basic(b"CP1", &raw), "CP1", &hash, v201),
            Err(AuthFailure::Wrong),
            "2.0.1 sends no raw key bytes"
        );
        let short = "fifteen-chars!!";
        assert_eq!(
            check_basic_auth(&basic(b"CP1", short.as_bytes()), "CP1", &hash_secret(short), v201),
            Err(AuthFailure::Wrong)
        );
        let long = "x".repeat(41);
        assert_eq!(
            check_basic_auth(&basic(b"CP1", long.as_bytes()), "CP1", &hash_secret(&long), v201),
            Err(AuthFailure::Wrong)
        );
        let unicode = "Schlüssel-für-die-Garage";
        assert_eq!(
            check_basic_auth(&basic(b"CP1", unicode.as_bytes()), "CP1", &hash_secret(unicode), v201),
            Ok(())
        );
    }

    #[test]
    fn wrong_missing_or_malformed_credentials_are_refused() {
        let hash = hash_secret("secret-password-16");
        assert_eq!(
            check_basic_auth(&basic(b"CP1", b"nope"), "CP1", &hash, None),
            Err(AuthFailure::Wrong)
        );
        assert_eq!(
            check_basic_auth(&basic(b"CP2", b"secret-password-16"), "CP1", &hash, None),
            Err(AuthFailure::Wrong)
        );
        assert_eq!(
            check_basic_auth(&HeaderMap::new(), "CP1", &hash, None),
            Err(AuthFailure::Missing)
        );
        assert_eq!(
            check_basic_auth(&headers(header::AUTHORIZATION, &["Bearer x"]), "CP1", &hash, None),
            Err(AuthFailure::Malformed)
        );
        assert_eq!(
            check_basic_auth(&headers(header::AUTHORIZATION, &["Basic !!!"]), "CP1", &hash, None),
            Err(AuthFailure::Malformed)
        );
    }
}
