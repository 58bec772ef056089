//! The console's buttons: operator operations on a charger, starting and stopping charging, and
//! retrying a webhook delivery. Each form is turned into the API's request body and handed to the
//! API's own handler as the session's client, so the checks, the stored records and the answers are
//! the API's; the browser is then sent to the page that shows the outcome.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use coupler_api::error::ApiError;
use coupler_api::extract::{ApiJson, ApiPath};
use coupler_api::routes::pages::see_other;
use coupler_api::routes::{chargers, control, operations, webhooks};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::view::PageError;
use crate::{Console, Session};

/// The form's fields (the CSRF token left out), empty ones dropped.
fn fields(body: &[u8]) -> Map<String, Value> {
    form_urlencoded::parse(body)
        .filter(|(name, value)| name != crate::auth::CSRF_FIELD && !value.trim().is_empty())
        .map(|(name, value)| (name.into_owned(), Value::String(value.trim().to_owned())))
        .collect()
}

/// A field as a whole number, for fields the API takes as numbers.
fn numbers(mut fields: Map<String, Value>, names: &[&str]) -> Result<Map<String, Value>, ApiError> {
    for name in names {
        if let Some(Value::String(raw)) = fields.get(*name) {
            let number: i64 = raw
                .parse()
                .map_err(|_| ApiError::invalid(format!("{name} must be a whole number, not '{raw}'")))?;
            fields.insert((*name).to_owned(), Value::from(number));
        }
    }
    Ok(fields)
}

/// Times from `datetime-local` inputs (`2026-12-06T17:50`, meant as UTC, as the forms say) as the
/// API's RFC 3339; a time with its offset is passed on as it is, and anything else is the API's 422.
fn times(mut fields: Map<String, Value>, names: &[&str]) -> Result<Map<String, Value>, ApiError> {
    for name in names {
        if let Some(Value::String(raw)) = fields.get(*name) {
            if chrono::DateTime::parse_from_rfc3339(raw).is_ok() {
                continue;
            }
            let local = chrono::NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M")
                .or_else(|_| chrono::NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S"))
                .map_err(|_| ApiError::invalid(format!("{name} must be a date and time, not '{raw}'")))?;
            let utc = local.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            fields.insert((*name).to_owned(), Value::String(utc));
        }
    }
    Ok(fields)
}

/// The form as the API's request body `T`; a value that does not fit is the API's 422.
fn body<T: DeserializeOwned>(fields: Map<String, Value>) -> Result<T, ApiError> {
    serde_json::from_value(Value::Object(fields)).map_err(|e| ApiError::invalid(format!("the form does not fit: {e}")))
}

/// `POST /console/chargers/{id}/operations/{operation}`: runs one operator operation (`reset`,
/// `unlock`, `availability`, `configuration`, `trigger`, `clear-cache`, `firmware`, `diagnostics`,
/// `reserve`, `cancel-reservation`, `data-transfer`, `clear-profile`) and goes back to the
/// charger's page, where the operation is listed with the charger's answer.
pub async fn operate(
    session: Session,
    State(console): State<Console>,
    Path((id, operation)): Path<(String, String)>,
    form: Bytes,
) -> Result<Response, PageError> {
    let caller = session.caller();
    let app = State(console.app.clone());
    let path = ApiPath(id.clone());
    let form = fields(&form);
    let answered = match operation.as_str() {
        "reset" => operations::reset(caller, app, path, ApiJson(body(numbers(form, &["evseId"])?)?)).await,
        "unlock" => {
            let form = numbers(form, &["connectorId", "evseConnectorId"])?;
            operations::unlock_connector(caller, app, path, ApiJson(body(form)?)).await
        }
        "availability" => {
            let form = numbers(form, &["connectorId", "evseConnectorId"])?;
            operations::change_availability(caller, app, path, ApiJson(body(form)?)).await
        }
        "configuration" => operations::change_configuration(caller, app, path, ApiJson(body(form)?)).await,
        "trigger" => {
            let form = numbers(form, &["connectorId"])?;
            operations::trigger_message(caller, app, path, ApiJson(body(form)?)).await
        }
        "clear-cache" => operations::clear_cache(caller, app, path).await,
        "firmware" => {
            let form = times(
                numbers(form, &["retries", "retryInterval"])?,
                &["retrieveAt", "installAt"],
            )?;
            operations::update_firmware(caller, app, path, ApiJson(body(form)?)).await
        }
        "diagnostics" => {
            let form = times(numbers(form, &["retries", "retryInterval"])?, &["from", "to"])?;
            operations::get_diagnostics(caller, app, path, ApiJson(body(form)?)).await
        }
        "reserve" => {
            let form = times(numbers(form, &["connectorId"])?, &["expiresAt"])?;
            operations::reserve_now(caller, app, path, ApiJson(body(form)?)).await
        }
        "cancel-reservation" => {
            let form = numbers(form, &["reservationId"])?;
            operations::cancel_reservation(caller, app, path, ApiJson(body(form)?)).await
        }
        "data-transfer" => operations::data_transfer(caller, app, path, ApiJson(body(form)?)).await,
        "clear-profile" => {
            let form = numbers(form, &["chargingProfileId", "connectorId", "stackLevel"])?;
            operations::clear_charging_profile(caller, app, path, ApiJson(body(form)?)).await
        }
        other => {
            return Err(ApiError::not_found(format!("the console has no operation '{other}'")).into());
        }
    };
    let (_, ApiJson(done)) = answered?;
    tracing::info!(charger_id = %id, operation_id = %done.id, "operation sent from the console");
    Ok(see_other(
        &format!("/console/chargers/{}#operations", encode(&id)),
        None,
    ))
}

/// `POST /console/chargers/{id}/charging`: starts or stops charging (`action=START|STOP`), an action
/// the engine settles by observed state; the browser goes to the action's page to watch it.
pub async fn charging(
    session: Session,
    State(console): State<Console>,
    Path(id): Path<String>,
    form: Bytes,
) -> Result<Response, PageError> {
    let request: control::ChargingRequest = body(fields(&form))?;
    let ApiJson(action) = chargers::charge(
        session.caller(),
        State(console.app.clone()),
        ApiPath(id),
        HeaderMap::new(),
        ApiJson(request),
    )
    .await?;
    Ok(see_other(&format!("/console/actions/{}", encode(&action.id)), None))
}

/// `POST /console/webhooks/{id}/deliveries/{delivery}/retry`: sends a delivery again (the API's
/// retry) and goes back to the webhook's page.
pub async fn retry_delivery(
    session: Session,
    State(console): State<Console>,
    Path((id, delivery)): Path<(String, String)>,
) -> Response {
    let retried = webhooks::retry_delivery(
        session.caller(),
        State(console.app.clone()),
        ApiPath((id.clone(), delivery)),
    )
    .await;
    match retried {
        Ok(_) => see_other(&format!("/console/webhooks/{}", encode(&id)), None),
        Err(e) => PageError(e).into_response(),
    }
}

/// A path segment, percent-encoded.
fn encode(segment: &str) -> String {
    form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}
