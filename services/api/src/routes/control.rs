//! What the control routes of chargers and vehicles share: their request bodies and the
//! `Idempotency-Key` header.

use axum::http::HeaderMap;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::ApiError;

/// Starts or stops charging.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChargingRequest {
    /// Whether to start or stop.
    pub action: ChargingAction,
}

/// What a charging request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChargingAction {
    /// Start charging.
    Start,
    /// Stop charging.
    Stop,
}

/// Limits the charging current of a vehicle (or an EV system): whole amperes, as the makers' APIs
/// take them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MaxCurrentRequest {
    /// The limit in amperes per phase, a whole number from 1 to 80.
    #[schema(example = 16, minimum = 1, maximum = 80, multiple_of = 1)]
    pub max_current: f64,
}

/// Limits the charging current of a charger.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChargerMaxCurrentRequest {
    /// The limit in amperes per phase, 0 to 500 in steps of 0.1 (0 pauses charging).
    #[schema(example = 16, minimum = 0, maximum = 500, multiple_of = 0.1)]
    pub max_current: f64,
}

/// The longest `Idempotency-Key` accepted.
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The `Idempotency-Key` header, checked: 1 to 255 visible ASCII characters.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::bad_request("Idempotency-Key must be 1 to 255 visible ASCII characters").at(
                crate::error::InvalidValue::named(
                    crate::error::ValueLocation::Header,
                    "Idempotency-Key",
                    "not allowed",
                )
                .expected("1 to 255 visible ASCII characters"),
            )
        })?;
    Ok(Some(key.to_owned()))
}

/// A key used before for a different request: 422, as the IETF Idempotency-Key draft answers it.
pub(crate) fn idempotency_key_reused(detail: impl Into<String>) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency-key-reused",
        detail,
    )
}
