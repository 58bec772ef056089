//! A program's binding to an OpenADR 3 VTN: set, read (with how following the VTN goes), removed,
//! polled now; and the callback a VTN that delivers webhooks notifies.

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use coupler_core::openadr::{OpenAdrVersion, SimpleAction, VtnBinding, VtnSettings, VtnStatus};
use coupler_core::secret::generate_secret;

use super::*;

/// A program's binding to a VTN, as set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutVtnBinding {
    /// The VTN's base URL, e.g. `https://vtn.example.com/openadr3/3.1.0`.
    pub base_url: String,
    /// The OAuth 2.0 token endpoint; omitted: `{baseUrl}/auth/token`.
    pub token_url: Option<String>,
    /// The OAuth 2.0 client id the VTN's operator gave you (omit with `clientSecret` for a VTN
    /// without authentication).
    pub client_id: Option<String>,
    /// Its secret; stored encrypted and never shown. Omitted with an unchanged `clientId`: the
    /// stored secret is kept.
    pub client_secret: Option<String>,
    /// The VTN's program: its id or its `programName`.
    pub vtn_program: String,
    /// `3.0.1` or `3.1`.
    pub version: OpenAdrVersion,
    /// Seconds between polls of the VTN's events (1 to 86400; default 60).
    pub poll_interval_seconds: Option<u32>,
    /// The VEN name Coupler registers as; omitted: `coupler-{programId}`.
    pub ven_name: Option<String>,
    /// What each SIMPLE level ("0" to "3") asks for: `{"action": "PAUSE"}` (PAUSE programs),
    /// `{"action": "SHED", "kw": 3}` (SHED), `{"action": "LIMIT", "kw": 4}` (CAPACITY_LIMIT) or
    /// `{"action": "NONE"}`; levels not named do nothing.
    #[serde(default)]
    pub simple_levels: BTreeMap<String, SimpleAction>,
    /// One of your price areas: PRICE payloads are pushed there as a price series, which smart
    /// charging plans on. Omitted: PRICE payloads are ignored.
    pub price_area: Option<String>,
    /// The public URL of Coupler's `/openadr/callbacks/{programId}` a VTN that delivers webhooks
    /// calls (it must answer the VTN's echo check); omitted: polling only.
    pub callback_url: Option<String>,
}

/// What became of one interval of a VTN event.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VtnEventResponse {
    /// The VTN's event id.
    pub vtn_event_id: String,
    /// The interval's id within it.
    pub interval_id: i64,
    /// The flex event it became.
    pub flex_event_id: Option<String>,
    /// What became of it, in words.
    pub outcome: Option<String>,
    /// The report sent back for it.
    pub report_id: Option<String>,
    /// When the VTN stopped showing it (deleted or cancelled there).
    pub gone_at: Option<DateTime<Utc>>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A program's binding to a VTN and how following it goes.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VtnBindingResponse {
    /// The program.
    pub program_id: String,
    /// The settings (the secret is never shown).
    pub settings: VtnSettings,
    /// Whether a client secret is stored.
    pub has_client_secret: bool,
    /// The VEN Coupler registered as on the VTN.
    pub ven_id: Option<String>,
    /// The VTN's id of the program.
    pub vtn_program_id: Option<String>,
    /// The webhook subscription on the VTN, when there is one.
    pub subscription_id: Option<String>,
    /// The last look at the VTN.
    pub last_poll_at: Option<DateTime<Utc>>,
    /// The last look that went through.
    pub last_success_at: Option<DateTime<Utc>>,
    /// What went wrong last (none once a look goes through).
    pub last_error: Option<String>,
    /// Failed looks in a row.
    pub failures: u32,
    /// When the VTN is looked at next (after a failure: the retry, with back-off).
    pub next_poll_at: DateTime<Utc>,
    /// What became of each VTN event interval.
    pub events: Vec<VtnEventResponse>,
    /// When it was bound.
    pub created_at: DateTime<Utc>,
    /// When its settings last changed.
    pub updated_at: DateTime<Utc>,
}

async fn binding_body(state: &AppState, binding: VtnBinding) -> Result<VtnBindingResponse, ApiError> {
    let links = state.store.vtn_event_links(&binding.program_id).await?;
    Ok(VtnBindingResponse {
        program_id: binding.program_id.as_str().to_owned(),
        settings: binding.settings,
        has_client_secret: binding.client_secret_sealed.is_some(),
        ven_id: binding.ven_id,
        vtn_program_id: binding.vtn_program_id,
        subscription_id: binding.subscription_id,
        last_poll_at: binding.status.last_poll_at,
        last_success_at: binding.status.last_success_at,
        last_error: binding.status.last_error,
        failures: binding.status.failures,
        next_poll_at: binding.status.next_poll_at,
        events: links
            .into_iter()
            .map(|l| VtnEventResponse {
                vtn_event_id: l.vtn_event_id,
                interval_id: l.interval_id,
                flex_event_id: l.flex_event_id.map(|id| id.as_str().to_owned()),
                outcome: l.outcome,
                report_id: l.report_id,
                gone_at: l.gone_at,
                updated_at: l.updated_at,
            })
            .collect(),
        created_at: binding.created_at,
        updated_at: binding.updated_at,
    })
}

/// Binds a program to an OpenADR 3 VTN, or changes its binding. Coupler registers as a VEN (its
/// program's enrolled devices as resources), polls the VTN's events of the program at the interval
/// set (and subscribes for webhooks when `callbackUrl` is given), turns them into the program's
/// flex events (IMPORT_CAPACITY_LIMIT into caps, SIMPLE levels by `simpleLevels`, PRICE into the
/// price area's series), follows their changes and deletions, and reports back USAGE, DEMAND,
/// BASELINE, DELTA_USAGE and OPERATING_STATE. The first look is due at once.
#[utoipa::path(
    put,
    path = "/programs/{programId}/vtn",
    tag = "flex",
    params(("programId" = String, Path, description = "The program's id")),
    request_body = PutVtnBinding,
    responses(
        (status = 200, description = "Bound; the first look at the VTN is due at once", body = VtnBindingResponse),
        (status = 404, description = "The client has no such program", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad setting, each named; nothing was changed", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn put_vtn_binding(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PutVtnBinding>,
) -> Result<ApiJson<VtnBindingResponse>, ApiError> {
    let program = owned_program(&state, &caller, &id).await?;
    let existing = state.store.get_vtn_binding(&caller.client_id, &program.id).await?;
    let settings = VtnSettings {
        base_url: body.base_url.trim().to_owned(),
        token_url: body.token_url.map(|u| u.trim().to_owned()),
        client_id: body.client_id.map(|c| c.trim().to_owned()),
        vtn_program: body.vtn_program.trim().to_owned(),
        version: body.version,
        poll_interval_seconds: body.poll_interval_seconds.unwrap_or(60),
        ven_name: body.ven_name.map(|n| n.trim().to_owned()),
        simple_levels: body.simple_levels,
        price_area: body.price_area.map(|a| a.trim().to_ascii_uppercase()),
        callback_url: body.callback_url.map(|u| u.trim().to_owned()),
    };
    // A secret left out of a PUT that keeps the client id keeps the stored secret.
    let kept_secret = existing
        .as_ref()
        .filter(|b| b.settings.client_id == settings.client_id)
        .and_then(|b| b.client_secret_sealed.clone());
    let secret = body.client_secret.filter(|s| !s.is_empty());
    if secret.as_ref().is_some_and(|s| s.len() > 1024) {
        return Err(ApiError::invalid("clientSecret must be at most 1024 characters").at_field("/clientSecret"));
    }
    let mut problems = settings.check(program.kind, secret.is_some() || kept_secret.is_some());
    // Coupler calls these: the same address rules as webhooks (no loopback or private hosts unless
    // COUPLER_WEBHOOK_ALLOW_PRIVATE), so a client cannot point Coupler at its own network.
    let called = [
        ("/baseUrl", Some(&settings.base_url)),
        ("/tokenUrl", settings.token_url.as_ref()),
    ];
    for (pointer, url) in called {
        let Some(url) = url else { continue };
        if problems.iter().any(|p| p.pointer == pointer) {
            continue;
        }
        if let Err(e) = coupler_core::event::check_webhook_url(url, state.webhooks.allows_private()) {
            problems.push(FieldProblem {
                pointer: pointer.to_owned(),
                detail: format!("Coupler cannot call this URL: {e}"),
            });
        }
    }
    if !problems.is_empty() {
        return Err(field_errors("the VTN binding's settings cannot be used", problems));
    }
    let now = state.now();
    let same_vtn = existing.as_ref().is_some_and(|b| {
        b.settings.base_url == settings.base_url
            && b.settings.vtn_program == settings.vtn_program
            && b.settings.version == settings.version
            && b.settings.client_id == settings.client_id
            && b.settings.ven_name == settings.ven_name
            && b.settings.callback_url == settings.callback_url
    });
    let binding = VtnBinding {
        program_id: program.id.clone(),
        client_id: caller.client_id.clone(),
        client_secret_sealed: secret.map(|s| state.cipher.encrypt(&s)).or(kept_secret),
        callback_token_sealed: existing
            .as_ref()
            .map(|b| b.callback_token_sealed.clone())
            .unwrap_or_else(|| state.cipher.encrypt(&generate_secret())),
        ven_id: None,
        vtn_program_id: None,
        subscription_id: None,
        status: VtnStatus {
            next_poll_at: now,
            ..VtnStatus::default()
        },
        wakes: 0,
        created_at: existing.as_ref().map_or(now, |b| b.created_at),
        updated_at: now,
        settings,
    };
    state.store.put_vtn_binding(&binding, same_vtn).await?;
    tracing::info!(program_id = %program.id, base_url = %binding.settings.base_url, "program bound to a VTN");
    let stored = state
        .store
        .get_vtn_binding(&caller.client_id, &program.id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no program '{id}'")))?;
    Ok(ApiJson(binding_body(&state, stored).await?))
}

async fn owned_binding(state: &AppState, caller: &Caller, id: &str) -> Result<VtnBinding, ApiError> {
    state
        .store
        .get_vtn_binding(&caller.client_id, &ProgramId::new(id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("program '{id}' is not bound to a VTN")))
}

/// Reads a program's VTN binding: its settings (never the secret), how following the VTN goes
/// (last poll, last error, failures in a row, next retry) and what became of each VTN event.
#[utoipa::path(
    get,
    path = "/programs/{programId}/vtn",
    tag = "flex",
    params(("programId" = String, Path, description = "The program's id")),
    responses(
        (status = 200, description = "The binding", body = VtnBindingResponse),
        (status = 404, description = "The client has no such program, or it is not bound", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_vtn_binding(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<VtnBindingResponse>, ApiError> {
    let binding = owned_binding(&state, &caller, &id).await?;
    Ok(ApiJson(binding_body(&state, binding).await?))
}

/// Unbinds a program from its VTN. The flex events made of the VTN's events stay as they are
/// (cancel them through the program's events if they should not run).
#[utoipa::path(
    delete,
    path = "/programs/{programId}/vtn",
    tag = "flex",
    params(("programId" = String, Path, description = "The program's id")),
    responses(
        (status = 204, description = "Unbound"),
        (status = 404, description = "The client has no such program, or it is not bound", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn delete_vtn_binding(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    if state
        .store
        .delete_vtn_binding(&caller.client_id, &ProgramId::new(id.as_str()))
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("program '{id}' is not bound to a VTN")))
    }
}

/// Asks for a look at the VTN now rather than at the next poll (also after failures: the back-off
/// is cut short). The look happens in the background; read the binding for its outcome.
#[utoipa::path(
    post,
    path = "/programs/{programId}/vtn/poll",
    tag = "flex",
    params(("programId" = String, Path, description = "The program's id")),
    responses(
        (status = 202, description = "The look is due now", body = VtnBindingResponse),
        (status = 404, description = "The client has no such program, or it is not bound", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn poll_vtn_now(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<(StatusCode, ApiJson<VtnBindingResponse>), ApiError> {
    let binding = owned_binding(&state, &caller, &id).await?;
    state.store.wake_vtn_binding(&binding.program_id, state.now()).await?;
    crate::openadr::wake();
    let binding = owned_binding(&state, &caller, &id).await?;
    Ok((StatusCode::ACCEPTED, ApiJson(binding_body(&state, binding).await?)))
}

/// The echo check a VTN makes of a webhook callback before it takes a subscription.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EchoQuery {
    /// The value to answer with.
    pub echo: Option<String>,
}

/// Answers a VTN's echo check of the callback: the `echo` query value, as the body.
#[utoipa::path(
    get,
    path = "/openadr/callbacks/{programId}",
    tag = "flex",
    params(("programId" = String, Path, description = "The program's id"), EchoQuery),
    responses(
        (status = 200, description = "The echo value", body = String, content_type = "text/plain"),
        (status = 404, description = "No program of that id is bound to a VTN", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn vtn_callback_echo(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<EchoQuery>,
) -> Result<Response, ApiError> {
    let unknown = || ApiError::not_found(format!("no program '{id}' is bound to a VTN"));
    state
        .store
        .vtn_binding_of_program(&ProgramId::new(id.as_str()))
        .await?
        .ok_or_else(unknown)?;
    let echo = query.echo.unwrap_or_default();
    if echo.len() > 1024 {
        return Err(ApiError::bad_request("echo must be at most 1024 characters").at_query("echo"));
    }
    Ok((
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        echo,
    )
        .into_response())
}

/// Takes a VTN's webhook notification (with the bearer token Coupler gave it when subscribing):
/// the binding's next look is due at once, so the change is followed as a poll follows it (the
/// notification only says that something changed; what changed is read from the VTN).
#[utoipa::path(
    post,
    path = "/openadr/callbacks/{programId}",
    tag = "flex",
    params(("programId" = String, Path, description = "The program's id")),
    request_body(content = Object, description = "An OpenADR notification: objectType, operation, object"),
    responses(
        (status = 200, description = "Taken; the VTN is looked at now"),
        (status = 401, description = "No or a wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No program of that id is bound to a VTN", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn vtn_callback_notify(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(notification): ApiJson<serde_json::Value>,
) -> Result<StatusCode, ApiError> {
    let binding = state
        .store
        .vtn_binding_of_program(&ProgramId::new(id.as_str()))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no program '{id}' is bound to a VTN")))?;
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let expected = state.cipher.decrypt(&binding.callback_token_sealed).unwrap_or_default();
    let matches: bool =
        !expected.is_empty() && subtle::ConstantTimeEq::ct_eq(presented.as_bytes(), expected.as_bytes()).into();
    if !matches {
        return Err(ApiError::unauthorized(
            "the notification does not carry this binding's bearer token",
        ));
    }
    let object_type = notification.get("objectType").and_then(|v| v.as_str()).unwrap_or("?");
    let operation = notification.get("operation").and_then(|v| v.as_str()).unwrap_or("?");
    tracing::info!(program_id = %binding.program_id, object_type, operation, "VTN notification");
    state.store.wake_vtn_binding(&binding.program_id, state.now()).await?;
    crate::openadr::wake();
    Ok(StatusCode::OK)
}
