//! Operations: liveness, readiness, metrics.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, Problem};
use crate::extract::ApiJson;
use crate::state::AppState;

/// A health answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    #[schema(value_type = crate::wire::HealthStatus, example = "ok")]
    pub status: &'static str,
    /// On readiness: the storage backend that answered (`sqlite` or `postgres`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::wire::DatabaseBackend>)]
    pub database: Option<&'static str>,
}

/// The process is up. Checks nothing else, so a slow database never gets a live process restarted.
#[utoipa::path(get, path = "/health/live", tag = "operations",
    responses(
        (status = 200, description = "The process is running", body = Health),
        (status = "4XX", description = "Bad request (wrong method, oversized headers, rate limited)", body = Problem, content_type = "application/problem+json"),
    ),
    security(()))]
pub async fn live() -> ApiJson<Health> {
    ApiJson(Health {
        status: "ok",
        database: None,
    })
}

/// The process can serve requests: the database answers.
#[utoipa::path(get, path = "/health/ready", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "The database does not answer", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request (wrong method, oversized headers, rate limited)", body = Problem, content_type = "application/problem+json"),
    ),
    security(()))]
pub async fn ready(State(state): State<AppState>) -> Result<ApiJson<Health>, ApiError> {
    state.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        ApiError::unavailable("the database does not answer")
    })?;
    Ok(ApiJson(Health {
        status: "ok",
        database: Some(state.store.backend()),
    }))
}

/// Operational metrics in the Prometheus text format: HTTP, OCPP, actions, webhooks, polling,
/// vendors, the database pool and the process. Open, unless the server sets a metrics token.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4", body = String, content_type = "text/plain"),
        (status = 401, description = "The server sets a metrics token and the request did not carry it", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request (wrong method, oversized headers)", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("metricsToken" = [])))]
pub async fn metrics(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    if state.metrics.has_own_listener() {
        // Served on the metrics listener only: here it answers as any unknown route does.
        return Err(ApiError::not_found("no route for GET /metrics"));
    }
    render_metrics(&state, &headers).await
}

/// `/metrics` on the metrics listener (`[metrics] listen`), guarded by the same token.
pub async fn metrics_on_own_listener(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    render_metrics(&state, &headers).await
}

/// The metrics, to a request carrying the metrics token when the server sets one.
async fn render_metrics(state: &AppState, headers: &axum::http::HeaderMap) -> Result<impl IntoResponse, ApiError> {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if !state.metrics.allows(authorization) {
        return Err(ApiError::unauthorized(
            "/metrics needs Authorization: Bearer <the metrics token>",
        ));
    }
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(state.store.as_ref()).await,
    ))
}
