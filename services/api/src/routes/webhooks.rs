//! Webhooks: `POST|GET /webhooks`, `GET|PATCH|DELETE /webhooks/{webhookId}`,
//! `POST /webhooks/{webhookId}/test`, `GET /webhooks/{webhookId}/deliveries`.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use coupler_core::event::{
    check_webhook_url, Delivery, DeliveryId, DeliveryState, EventFilter, EventType, Webhook, WebhookId, TEST_EVENT,
};
use coupler_core::secret::generate_secret;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::state::AppState;

/// The shortest secret a client may choose: 128 bits as hex.
const MIN_SECRET_LEN: usize = 32;
/// The longest secret accepted.
const MAX_SECRET_LEN: usize = 256;
/// The longest URL accepted.
const MAX_URL_LEN: usize = 2048;

/// A new webhook.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where deliveries are POSTed (http or https; private and loopback addresses are refused unless
    /// the server allows them).
    #[schema(
        example = "https://app.example.com/coupler/webhooks",
        format = "uri",
        min_length = 1,
        max_length = 2048
    )]
    pub url: String,
    /// The signing secret, at least 32 characters. When omitted Coupler generates one and returns
    /// it in this response only.
    #[schema(min_length = 32, max_length = 256, pattern = "^[^\\x00-\\x1F\\x7F-\\x9F]*$")]
    pub secret: Option<String>,
    /// Event types to receive, or `["*"]` (the default) for all.
    #[schema(example = json!(["*"]))]
    #[schema(value_type = Option<Vec<crate::wire::EventSelector>>, min_items = 1)]
    pub events: Option<Vec<String>>,
}

/// Changes to a webhook; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateWebhook {
    /// A new URL.
    #[schema(format = "uri", min_length = 1, max_length = 2048)]
    pub url: Option<String>,
    /// A new signing secret, 32 to 256 characters without control characters.
    #[schema(min_length = 32, max_length = 256, pattern = "^[^\\x00-\\x1F\\x7F-\\x9F]*$")]
    pub secret: Option<String>,
    /// New event types, or `["*"]`.
    #[schema(value_type = Option<Vec<crate::wire::EventSelector>>, min_items = 1)]
    pub events: Option<Vec<String>>,
    /// `true` turns a webhook that was deactivated back on (and forgets its failures); `false`
    /// pauses it.
    pub is_active: Option<bool>,
}

/// A webhook. The secret is never shown again after creation.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookResponse {
    /// Identifier.
    pub id: String,
    /// Where deliveries go.
    pub url: String,
    /// Event types it receives (`*` for all).
    #[schema(value_type = Vec<crate::wire::EventSelector>)]
    pub events: Vec<String>,
    /// Whether deliveries are made; false after a day of failed retries until a test call succeeds
    /// or it is PATCHed active.
    pub is_active: bool,
    /// Failed attempts since the last success.
    pub failure_count: i64,
    /// When a delivery last succeeded.
    pub last_success: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
    /// The generated signing secret: only in the answer to a create without a secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl From<Webhook> for WebhookResponse {
    fn from(w: Webhook) -> Self {
        Self {
            id: w.id.as_str().to_owned(),
            url: w.url,
            events: w.events.names().to_vec(),
            is_active: w.is_active,
            failure_count: w.failure_count,
            last_success: w.last_success,
            created_at: w.created_at,
            updated_at: w.updated_at,
            secret: None,
        }
    }
}

/// The client's webhooks.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    /// Newest first.
    pub data: Vec<WebhookResponse>,
}

/// One batch of events sent to a webhook, and how its latest attempt went.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryResponse {
    /// The delivery id (`Coupler-Delivery-Id`), the same on every retry.
    pub id: String,
    /// The first event sequence number the batch covers.
    pub first_event_id: String,
    /// The last event sequence number the batch covers.
    pub last_event_id: String,
    /// How many events it carries.
    pub event_count: i64,
    /// `PENDING` (will be retried), `SUCCEEDED` or `FAILED` (given up).
    #[schema(example = "SUCCEEDED")]
    pub state: DeliveryState,
    /// Attempts made.
    pub attempts: i64,
    /// The HTTP status of the latest attempt, if the receiver answered.
    pub status_code: Option<i64>,
    /// Why the latest attempt failed.
    pub error: Option<String>,
    /// How long the latest attempt took.
    pub duration_ms: Option<i64>,
    /// When the next attempt is due (pending deliveries).
    pub next_retry_at: Option<DateTime<Utc>>,
    /// When the batch was formed.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<Delivery> for DeliveryResponse {
    fn from(d: Delivery) -> Self {
        Self {
            id: d.id.as_str().to_owned(),
            first_event_id: d.first_seq.to_string(),
            last_event_id: d.last_seq.to_string(),
            event_count: d.event_count,
            state: d.state,
            attempts: d.attempts,
            status_code: d.last_status,
            error: d.last_error,
            duration_ms: d.last_duration_ms,
            next_retry_at: d.next_attempt_at.filter(|_| d.state == DeliveryState::Pending),
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// A webhook's latest deliveries.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    /// Newest first.
    pub data: Vec<DeliveryResponse>,
}

/// How many deliveries to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<u32>,
}

/// How a test call went.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestResult {
    /// `SUCCESS` when the receiver answered 2xx, else `FAILURE`.
    #[schema(value_type = crate::wire::TestStatus, example = "SUCCESS")]
    pub status: &'static str,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<u16>,
    /// Why it failed.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: u64,
    /// The delivery id the test request carried.
    pub delivery_id: String,
    /// Whether the webhook is active now (a successful test reactivates it).
    pub is_active: bool,
}

fn checked_url(state: &AppState, raw: &str) -> Result<String, ApiError> {
    if raw.len() > MAX_URL_LEN {
        return Err(ApiError::bad_request(format!("url is longer than {MAX_URL_LEN} characters")).at_field("/url"));
    }
    let url = check_webhook_url(raw.trim(), state.webhooks.allows_private())
        .map_err(|e| ApiError::bad_request(e.to_string()).at_field("/url"))?;
    Ok(url.to_string())
}

fn checked_secret(secret: &str) -> Result<&str, ApiError> {
    let length = secret.chars().count();
    if !(MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&length) || secret.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "secret must be {MIN_SECRET_LEN} to {MAX_SECRET_LEN} printable characters"
        ))
        .at(
            crate::error::InvalidValue::body("/secret", "wrong length or control characters")
                .expected(format!("{MIN_SECRET_LEN} to {MAX_SECRET_LEN} printable characters")),
        ));
    }
    Ok(secret)
}

fn checked_events(names: &[String]) -> Result<EventFilter, ApiError> {
    EventFilter::parse(names).map_err(|e| {
        let allowed = std::iter::once("*").chain(EventType::ALL.iter().map(|t| t.as_str()));
        ApiError::bad_request(e.to_string())
            .at(crate::error::InvalidValue::body("/events", e.to_string()).allowed(allowed))
    })
}

fn no_webhook(id: &WebhookId) -> ApiError {
    ApiError::not_found(format!("no webhook '{id}'"))
}

async fn owned_webhook(state: &AppState, caller: &Caller, id: &WebhookId) -> Result<Webhook, ApiError> {
    state
        .store
        .get_webhook(&caller.client_id, id)
        .await?
        .ok_or_else(|| no_webhook(id))
}

/// Creates a webhook. It receives events from now on, in order, in signed batches.
#[utoipa::path(
    post,
    path = "/webhooks",
    tag = "webhooks",
    request_body = CreateWebhook,
    responses(
        (status = 201, description = "Created; `secret` is present only when Coupler generated it", body = WebhookResponse),
        (status = "4XX", description = "Bad request (for example a private address) or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn create_webhook(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateWebhook>,
) -> Result<(StatusCode, ApiJson<WebhookResponse>), ApiError> {
    let url = checked_url(&state, &body.url)?;
    let events = match &body.events {
        Some(names) => checked_events(names)?,
        None => EventFilter::all(),
    };
    let (secret, generated) = match &body.secret {
        Some(secret) => (checked_secret(secret)?.to_owned(), false),
        None => (generate_secret(), true),
    };
    let now = state.now();
    let webhook = Webhook {
        id: WebhookId::generate(),
        client_id: caller.client_id.clone(),
        url,
        secret_sealed: state.cipher.encrypt(&secret),
        events,
        is_active: true,
        // Events published before the webhook existed are not sent to it.
        cursor_seq: state.store.latest_seq().await?,
        failure_count: 0,
        last_success: None,
        created_at: now,
        updated_at: now,
    };
    state.store.insert_webhook(&webhook).await?;
    let mut response = WebhookResponse::from(webhook);
    response.secret = generated.then_some(secret);
    Ok((StatusCode::CREATED, ApiJson(response)))
}

/// Lists the client's webhooks, newest first.
#[utoipa::path(
    get,
    path = "/webhooks",
    tag = "webhooks",
    responses(
        (status = 200, description = "The webhooks", body = WebhookList),
        (status = "4XX", description = "Authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn list_webhooks(caller: Caller, State(state): State<AppState>) -> Result<ApiJson<WebhookList>, ApiError> {
    let webhooks = state.store.list_webhooks(&caller.client_id).await?;
    Ok(ApiJson(WebhookList {
        data: webhooks.into_iter().map(Into::into).collect(),
    }))
}

/// Reads one webhook.
#[utoipa::path(
    get,
    path = "/webhooks/{webhookId}",
    tag = "webhooks",
    params(("webhookId" = String, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "The webhook", body = WebhookResponse),
        (status = 404, description = "The client has no such webhook", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_webhook(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<WebhookResponse>, ApiError> {
    let webhook = owned_webhook(&state, &caller, &WebhookId::new(id)).await?;
    Ok(ApiJson(webhook.into()))
}

/// Changes a webhook's url, secret, events or activity.
#[utoipa::path(
    patch,
    path = "/webhooks/{webhookId}",
    tag = "webhooks",
    params(("webhookId" = String, Path, description = "The webhook's id")),
    request_body = UpdateWebhook,
    responses(
        (status = 200, description = "The updated webhook", body = WebhookResponse),
        (status = 404, description = "The client has no such webhook", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn update_webhook(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateWebhook>,
) -> Result<ApiJson<WebhookResponse>, ApiError> {
    // Everything is checked before anything is written.
    let url = body.url.as_deref().map(|u| checked_url(&state, u)).transpose()?;
    let secret = body.secret.as_deref().map(checked_secret).transpose()?;
    let events = body.events.as_deref().map(checked_events).transpose()?;
    let id = WebhookId::new(id);
    let mut webhook = owned_webhook(&state, &caller, &id).await?;
    if let Some(url) = url {
        webhook.url = url;
    }
    if let Some(secret) = secret {
        webhook.secret_sealed = state.cipher.encrypt(secret);
    }
    if let Some(events) = events {
        webhook.events = events;
    }
    if let Some(active) = body.is_active {
        webhook.is_active = active;
    }
    webhook.updated_at = state.now();
    if !state.store.update_webhook(&webhook).await? {
        return Err(no_webhook(&id));
    }
    let updated = owned_webhook(&state, &caller, &id).await?;
    Ok(ApiJson(updated.into()))
}

/// Deletes a webhook and its delivery history; nothing more is sent to it.
#[utoipa::path(
    delete,
    path = "/webhooks/{webhookId}",
    tag = "webhooks",
    params(("webhookId" = String, Path, description = "The webhook's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "The client has no such webhook", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn delete_webhook(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = WebhookId::new(id);
    if !state.store.delete_webhook(&caller.client_id, &id).await? {
        return Err(no_webhook(&id));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Sends a signed `coupler:webhook:test` event now and reports how the receiver answered. A
/// success reactivates a deactivated webhook.
#[utoipa::path(
    post,
    path = "/webhooks/{webhookId}/test",
    tag = "webhooks",
    params(("webhookId" = String, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "The test was made (see `status` for how the receiver answered)", body = TestResult),
        (status = 404, description = "The client has no such webhook", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn test_webhook(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<TestResult>, ApiError> {
    let id = WebhookId::new(id);
    let webhook = owned_webhook(&state, &caller, &id).await?;
    let secret = state
        .cipher
        .decrypt(&webhook.secret_sealed)
        .map_err(ApiError::internal)?;
    let delivery_id = DeliveryId::generate();
    let now = state.now();
    let body = serde_json::json!([{
        "id": format!("test-{delivery_id}"),
        "event": TEST_EVENT,
        "createdAt": now,
        "webhook": { "id": webhook.id.as_str() },
    }]);
    let body = serde_json::to_vec(&body).map_err(ApiError::internal)?;
    let outcome = state
        .webhooks
        .send(&webhook.url, &secret, delivery_id.as_str(), body)
        .await;
    state
        .store
        .record_test(&caller.client_id, &id, outcome.succeeded, state.now())
        .await?;
    let is_active = owned_webhook(&state, &caller, &id).await?.is_active;
    Ok(ApiJson(TestResult {
        status: if outcome.succeeded { "SUCCESS" } else { "FAILURE" },
        status_code: outcome.status,
        error: outcome.error,
        duration_ms: u64::try_from(outcome.duration.as_millis()).unwrap_or(u64::MAX),
        delivery_id: delivery_id.as_str().to_owned(),
        is_active,
    }))
}

/// Lists a webhook's latest deliveries with how their latest attempt went, newest first.
#[utoipa::path(
    get,
    path = "/webhooks/{webhookId}/deliveries",
    tag = "webhooks",
    params(("webhookId" = String, Path, description = "The webhook's id"), DeliveryQuery),
    responses(
        (status = 200, description = "The deliveries", body = DeliveryList),
        (status = 404, description = "The client has no such webhook", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn list_deliveries(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<DeliveryQuery>,
) -> Result<ApiJson<DeliveryList>, ApiError> {
    let size = query.page_size.unwrap_or(50);
    if !(1..=100).contains(&size) {
        return Err(
            ApiError::bad_request("pageSize must be between 1 and 100").at(crate::error::InvalidValue::named(
                crate::error::ValueLocation::Query,
                "pageSize",
                "out of range",
            )
            .expected("an integer from 1 to 100")),
        );
    }
    let id = WebhookId::new(id);
    let deliveries = state
        .store
        .list_deliveries(&caller.client_id, &id, size)
        .await?
        .ok_or_else(|| no_webhook(&id))?;
    Ok(ApiJson(DeliveryList {
        data: deliveries.into_iter().map(Into::into).collect(),
    }))
}

/// Sends a delivery again: a `FAILED` delivery (retries exhausted, webhook deactivated) or a
/// `PENDING` one waiting for its next retry is made due now, and its webhook active, so the sender
/// attempts it next with the same delivery id and events. The attempt count goes on from where it
/// was: a failed delivery whose new attempt fails again stays failed. A delivery that `SUCCEEDED`
/// is not sent again (409), nor one that would overtake another pending delivery of the webhook
/// (409): deliveries reach a webhook in order.
#[utoipa::path(
    post,
    path = "/webhooks/{webhookId}/deliveries/{deliveryId}/retry",
    tag = "webhooks",
    params(
        ("webhookId" = String, Path, description = "The webhook's id"),
        ("deliveryId" = String, Path, description = "The delivery's id"),
    ),
    responses(
        (status = 202, description = "The delivery, due now", body = DeliveryResponse),
        (status = 404, description = "The client has no such webhook, or the webhook no such delivery", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The delivery succeeded already, or another delivery of the webhook is pending", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn retry_delivery(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath((webhook, delivery)): ApiPath<(String, String)>,
) -> Result<(StatusCode, ApiJson<DeliveryResponse>), ApiError> {
    use coupler_core::store::RetryOutcome;
    let webhook = WebhookId::new(webhook);
    let delivery = DeliveryId::new(delivery);
    let outcome = state
        .store
        .retry_delivery(&caller.client_id, &webhook, &delivery, state.now())
        .await?;
    match outcome {
        RetryOutcome::Retried(retried) => {
            tracing::info!(webhook_id = %webhook, delivery_id = %delivery, "delivery retried on request");
            Ok((StatusCode::ACCEPTED, ApiJson(retried.into())))
        }
        RetryOutcome::NotFound => Err(ApiError::not_found(format!(
            "webhook '{webhook}' has no delivery '{delivery}'"
        ))),
        RetryOutcome::AlreadyDelivered => Err(ApiError::new(
            StatusCode::CONFLICT,
            "already-delivered",
            format!("delivery '{delivery}' succeeded already; it is not sent again"),
        )),
        RetryOutcome::AnotherPending => Err(ApiError::new(
            StatusCode::CONFLICT,
            "another-delivery-pending",
            format!("webhook '{webhook}' has another delivery pending; it is sent first, in order"),
        )),
    }
}
