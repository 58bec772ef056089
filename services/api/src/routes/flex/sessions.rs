//! Enrolment sessions through the API: `POST /programs/{programId}/enrolment-sessions` gives an app a
//! one-time URL to the hosted enrolment page for one of its users. The page the driver sees is in
//! [`crate::routes::enrol_pages`].

use coupler_core::account::{SealedToken, Secret};
use coupler_core::flex::ENROLMENT_SESSION_TTL;
use coupler_core::flex::{EnrolmentSession, EnrolmentSessionId, EnrolmentSessionRequest, EnrolmentSessionStatus};
use coupler_core::secret::{generate_secret, hash_secret};

use super::*;

/// A device to offer on the page.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OfferedDevice {
    /// What kind of device.
    pub device_type: FlexDeviceKind,
    /// The charger's, vehicle's or EV system's id.
    pub device_id: String,
}

/// The terms the driver agrees to on the page; each enrolment made there keeps them as its consent,
/// with the moment the driver agreed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConsentTermsBody {
    /// What is shared with the program (for example `chargingSessions`, `meterReadings`), at least
    /// one item; the page lists them.
    pub data_shared: Vec<String>,
    /// How the driver leaves the program, in the program's words; the page shows it.
    pub how_to_leave: String,
}

/// A request for an enrolment session.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateEnrolmentSession {
    /// The driver (the app's own id for them); the client must have this user.
    pub user_id: String,
    /// The devices to offer (each must be the user's); omitted or empty: every device of the
    /// user's of a kind the program takes. At most 50.
    #[serde(default)]
    pub devices: Vec<OfferedDevice>,
    /// What the driver agrees to.
    pub consent: ConsentTermsBody,
    /// Where the driver is sent at the end (http or https): with `success=true&enrolment_ids=a,b`,
    /// or with `error=declined` (or `error=expired`).
    #[schema(example = "https://app.example/enrolled")]
    pub redirect_uri: String,
    /// `browser` or a language tag like `en-US` (the page is in English for now; the tag is kept).
    #[schema(example = "en-GB")]
    pub language: Option<String>,
}

/// An enrolment session: open `enrolmentUrl` in the driver's browser.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnrolmentSessionResponse {
    /// The session's id, for logs and support.
    pub id: String,
    /// The hosted enrolment page; single use, valid until `expiresAt`.
    pub enrolment_url: String,
    /// The token inside the URL, for apps that build the URL themselves.
    pub enrolment_token: String,
    /// When the URL stops working.
    pub expires_at: DateTime<Utc>,
}

/// Creates an enrolment session: a one-time URL to the hosted enrolment page for a user.
///
/// On the page the driver reads what the program does (its kind, limits and incentive), what is
/// shared and how to leave, ticks the eligible devices to enrol (ineligible ones are shown with
/// their reasons) and agrees or declines. Agreeing makes the enrolments exactly as `POST /programs/{programId}/enrolments` does, with the
/// same consent record and `user:flex-enrolment:updated` events, and sends the driver to
/// `redirectUri` with `success=true&enrolment_ids=...`; declining sends `error=declined`. The URL
/// works once and for 24 hours.
#[utoipa::path(
    post,
    path = "/programs/{programId}/enrolment-sessions",
    tag = "flex",
    params(("programId" = String, Path, description = "The program's id")),
    request_body = CreateEnrolmentSession,
    responses(
        (status = 201, description = "The session and its one-time URL", body = EnrolmentSessionResponse),
        (status = 404, description = "The client has no such program, user, or device of the user", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad redirectUri, consent, device or language (each in `errors`)", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn create_enrolment_session(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CreateEnrolmentSession>,
) -> Result<(StatusCode, ApiJson<EnrolmentSessionResponse>), ApiError> {
    let program = owned_program(&state, &caller, &id).await?;
    let user = UserId::parse(&body.user_id).map_err(|e| ApiError::invalid(e.to_string()).at_field("/userId"))?;
    let devices: Vec<(FlexDeviceKind, String)> = body
        .devices
        .iter()
        .map(|d| (d.device_type, d.device_id.clone()))
        .collect();
    let request = EnrolmentSessionRequest::parse(
        &devices,
        &body.consent.data_shared,
        &body.consent.how_to_leave,
        &body.redirect_uri,
        body.language.as_deref(),
    )
    .map_err(|problems| {
        problems.into_iter().fold(
            ApiError::invalid("the enrolment session request is not valid"),
            |error, p| error.at(InvalidValue::body(p.pointer, p.detail)),
        )
    })?;
    if state.store.get_user(&caller.client_id, &user).await?.is_none() {
        return Err(ApiError::not_found(format!("no user '{user}'")));
    }
    // Each offered device must be the user's: judging it answers 404 when it is not.
    for device in &request.devices {
        verdict_for(&state, &caller.client_id, &program, &user, device, None).await?;
    }

    let now = state.now();
    let token = generate_secret();
    let session = EnrolmentSession {
        id: EnrolmentSessionId::generate(),
        client_id: caller.client_id.clone(),
        program_id: program.id.clone(),
        user_id: user,
        token_hash: hash_secret(&token),
        devices: request.devices,
        consent: request.consent,
        redirect_uri: request.redirect_uri.to_string(),
        language: request.language,
        csrf_token: SealedToken::seal(&state.cipher, &Secret::new(generate_secret())),
        status: EnrolmentSessionStatus::Open,
        enrolment_ids: Vec::new(),
        created_at: now,
        expires_at: now + ENROLMENT_SESSION_TTL,
        finished_at: None,
    };
    state
        .store
        .insert_enrolment_session(&session)
        .await
        .map_err(|e| match e {
            // The user or program went away between the checks and the write.
            coupler_core::StoreError::Conflict(cause) => ApiError::not_found(cause),
            other => other.into(),
        })?;
    tracing::info!(enrolment_session = session.id.as_str(), program_id = %program.id, "enrolment session created");
    let base = state.public_url.as_str().trim_end_matches('/');
    Ok((
        StatusCode::CREATED,
        ApiJson(EnrolmentSessionResponse {
            id: session.id.as_str().to_owned(),
            enrolment_url: format!("{base}/enrol/{token}"),
            enrolment_token: token,
            expires_at: session.expires_at,
        }),
    ))
}
