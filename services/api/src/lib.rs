//! Coupler's REST surface.
//!
//! [`router`] builds the axum application: authentication by OAuth 2.0 client credentials,
//! tenant-scoped handlers, problem+json for every error, a request id and a tracing span on every
//! request, Prometheus metrics, and the OpenAPI document with a docs page that needs no internet.

pub mod error;
pub mod extract;
pub mod heartbeat;
pub mod i18n;
pub mod limits;
pub mod metrics;
mod middleware;
pub mod openadr;
pub mod relay;
pub mod routes;
pub mod serve;
pub mod state;
pub mod tls;
mod webhook_docs;
pub mod wire;

use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use utoipa::openapi::security::{
    ClientCredentials, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Scopes, SecurityRequirement, SecurityScheme,
};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

pub use state::{App, AppState};

/// The largest request body accepted, in bytes.
pub const BODY_LIMIT: usize = 256 * 1024;

/// How long a request may take before it is answered with 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The request-id header, set on every request that lacks one and echoed on every response.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Coupler",
        description = "One REST API for a person's electric vehicle and charger: vehicles through the makers' \
                       cloud APIs, chargers over OCPP, paired into one EV system.\n\n\
                       Authenticate with OAuth 2.0 client credentials at `POST /oauth/token`, then send \
                       `Authorization: Bearer <token>`. Errors are `application/problem+json`; every validation \
                       failure is 422 with `errors` naming each refused value (`in`, `pointer` or `name`, \
                       `expected`, `allowed`). Rate limits answer 429 with `Retry-After`. Lists use cursor \
                       pagination (`pageSize`, `after`, `before`; not both), newest first.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    servers(
        (url = "http://127.0.0.1:8080", description = "A Coupler on this machine (`coupler serve`). The document a \
                                                       server serves at `/openapi.json` names that server's public URL instead."),
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "authentication", description = "Access tokens for API clients"),
        (name = "users", description = "The users of an API client"),
        (name = "chargers", description = "OCPP chargers: registration, state, sessions and control"),
        (name = "charger-security", description = "Charger security: the security events chargers report (OCPP 1.6 security extension and 2.0.1 SecurityEventNotification, also published as user:charger:security-event) and the certificates Coupler signs for them (SignCertificate, delivered by a CertificateSigned operation)"),
        (name = "charger-operations", description = "Operating a charger over OCPP 1.6 or 2.0.1 (reset, unlock, availability, configuration, device model, trigger, cache, data transfer, firmware, diagnostics and logs, reservations, charging profiles, remote start), each kept as an operation record from request to the charger's answer and final status"),
        (name = "authorisation", description = "Id tokens (RFID cards, eMAIDs, MAC addresses) registered per user, answering chargers' Authorize, StartTransaction, StopTransaction and TransactionEvent; the policy for tokens nobody registered, per user or charger; each charger's local authorisation list kept in step"),
        (name = "statistics", description = "Energy, cost and savings of charging over time"),
        (name = "actions", description = "Asynchronous commands on vehicles and chargers, settled by observed state"),
        (name = "linking", description = "Linking users' vehicle accounts through the hosted link page (OAuth2 with the vendor)"),
        (name = "branding", description = "How an API client's app appears on the hosted link and enrolment pages: its name, logo, privacy policy and return page"),
        (name = "vehicles", description = "Vehicles read, and commanded where their maker allows, through the makers' clouds"),
        (name = "webhooks", description = "Events: signed webhook deliveries (at least once, in order per webhook) and a live Server-Sent Events stream"),
        (name = "ev-systems", description = "A user's vehicle and charger as one: pairing, merged state, and commands routed to the device that can carry them out"),
        (name = "locations", description = "The places users charge at; chargers are placed at them"),
        (name = "prices", description = "What power costs at a location: time-of-use tariffs, price and carbon-intensity series pushed per location or price area, day-ahead providers, and the effective prices plans are made against"),
        (name = "limits", description = "Limit sources on chargers and locations (a user's max current, a site's cap), each with its own window, put on chargers as charging profiles that expire by themselves"),
        (name = "smart-charging", description = "Smart charging: a policy per vehicle, EV system or charger (deadline, target, minimum, strategy), the plan of each plug-in it governs (put on the charger as one charging profile it follows by itself, or followed through the vehicle's maker), and charge-now"),
        (name = "flex", description = "Flexibility programs for utilities: programs with eligibility rules, limits and incentive terms; enrolments of users' devices with their consent and status; groups; events that cap, shed against a baseline or pause charging for a window (a `flex` limit source with the window on each charger, maker commands for vehicles), each target's progress, drivers' opt-outs, 15-minute telemetry per device and site, each event's measured results with overrides seen on the meter, and a rolling 24-hour forecast of flexible load per program or group"),
        (name = "interventions", description = "What users must do before Coupler can go on (for example link an account again)"),
        (name = "operations", description = "Health and metrics"),
        (name = "sandbox", description = "Only in sandbox mode (`coupler serve --sandbox`; otherwise 404): simulated cars at the simulated makers, simulated OCPP chargers connected to the gateway, plugging one into the other, a time factor, the sandbox's clock, commuting cars and simulated neighbourhoods"),
    ),
)]
struct ApiDoc;

/// Declares how callers authenticate: OAuth 2.0 client credentials (HTTP Basic or form fields at
/// `/oauth/token`) for a bearer token, required everywhere unless an operation says otherwise.
struct SecuritySchemes;

/// The security scheme `/metrics` declares when it is put behind a token.
pub(crate) const METRICS_TOKEN: &str = "metricsToken";

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            routes::CLIENT_CREDENTIALS,
            SecurityScheme::OAuth2(OAuth2::with_description(
                [Flow::ClientCredentials(ClientCredentials::new(
                    "/oauth/token",
                    Scopes::new(),
                ))],
                "OAuth 2.0 client credentials: POST /oauth/token with the client id and secret (HTTP Basic \
                 or form fields), then send `Authorization: Bearer <access_token>`. A token carries all of the \
                 client's rights, so there are no scopes.",
            )),
        );
        components.add_security_scheme(
            "basicAuth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some("client_id and client_secret, for POST /oauth/token only"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            METRICS_TOKEN,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The operator's metrics token, when the server sets one (otherwise /metrics is open)",
                    ))
                    .build(),
            ),
        );
        openapi.security = Some(vec![SecurityRequirement::new(
            routes::CLIENT_CREDENTIALS,
            Vec::<String>::new(),
        )]);
    }
}

/// Every documented route, with its OpenAPI description.
fn documented_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(routes::oauth::create_token))
        .routes(routes!(routes::users::list_users))
        .routes(routes!(
            routes::users::put_user,
            routes::users::get_user,
            routes::users::delete_user
        ))
        .routes(routes!(
            routes::chargers::register_charger,
            routes::chargers::list_user_chargers
        ))
        .routes(routes!(routes::chargers::list_chargers))
        .routes(routes!(
            routes::chargers::get_charger,
            routes::chargers::update_charger,
            routes::chargers::delete_charger
        ))
        .routes(routes!(routes::chargers::list_sessions))
        .routes(routes!(routes::operations::list_operations))
        .routes(routes!(routes::operations::get_operation))
        .routes(routes!(routes::operations::list_reservations))
        .routes(routes!(routes::security::list_security_events))
        .routes(routes!(routes::security::list_certificates))
        .routes(routes!(routes::operations::get_configuration))
        .routes(routes!(routes::operations::reset))
        .routes(routes!(routes::operations::unlock_connector))
        .routes(routes!(routes::operations::change_availability))
        .routes(routes!(routes::operations::get_configuration_operation))
        .routes(routes!(routes::operations::change_configuration))
        .routes(routes!(routes::operations::get_base_report))
        .routes(routes!(routes::operations::trigger_message))
        .routes(routes!(routes::operations::clear_cache))
        .routes(routes!(routes::operations::data_transfer))
        .routes(routes!(routes::operations::update_firmware))
        .routes(routes!(routes::operations::get_diagnostics))
        .routes(routes!(routes::operations::reserve_now))
        .routes(routes!(routes::operations::cancel_reservation))
        .routes(routes!(routes::operations::clear_charging_profile))
        .routes(routes!(routes::operations::remote_start))
        .routes(routes!(routes::operations::install_certificate))
        .routes(routes!(routes::operations::get_installed_certificate_ids))
        .routes(routes!(routes::operations::delete_certificate))
        .routes(routes!(
            routes::id_tokens::create_id_token,
            routes::id_tokens::list_id_tokens
        ))
        .routes(routes!(
            routes::id_tokens::get_id_token,
            routes::id_tokens::update_id_token,
            routes::id_tokens::delete_id_token
        ))
        .routes(routes!(
            routes::id_tokens::get_user_token_policy,
            routes::id_tokens::put_user_token_policy
        ))
        .routes(routes!(
            routes::id_tokens::get_charger_token_policy,
            routes::id_tokens::put_charger_token_policy
        ))
        .routes(routes!(routes::id_tokens::get_local_list))
        .routes(routes!(routes::id_tokens::sync_local_list))
        .routes(routes!(routes::statistics::charging_statistics))
        .routes(routes!(routes::chargers::charge))
        .routes(routes!(routes::chargers::set_max_current))
        .routes(routes!(routes::linking::create_link))
        .routes(routes!(routes::branding::get_branding, routes::branding::put_branding))
        .routes(routes!(routes::branding::put_logo, routes::branding::delete_logo))
        .routes(routes!(routes::branding::serve_logo))
        .routes(routes!(routes::linking::list_integrations))
        .routes(routes!(routes::linking::delete_vendor))
        .routes(routes!(routes::vehicles::list_vehicles))
        .routes(routes!(routes::vehicles::list_user_vehicles))
        .routes(routes!(routes::vehicles::get_vehicle))
        .routes(routes!(routes::vehicles::refresh_hint))
        .routes(routes!(routes::vehicles::charging))
        .routes(routes!(routes::vehicles::max_current))
        .routes(routes!(routes::vehicles::set_id_tags))
        .routes(routes!(routes::ev_systems::list_ev_systems))
        .routes(routes!(routes::ev_systems::get_ev_system))
        .routes(routes!(routes::ev_systems::charging))
        .routes(routes!(routes::ev_systems::max_current))
        .routes(routes!(
            routes::locations::create_location,
            routes::locations::list_locations
        ))
        .routes(routes!(
            routes::locations::get_location,
            routes::locations::update_location,
            routes::locations::delete_location
        ))
        .routes(routes!(
            routes::prices::put_tariff,
            routes::prices::get_tariff,
            routes::prices::delete_tariff
        ))
        .routes(routes!(
            routes::prices::push_location_prices,
            routes::prices::get_location_prices
        ))
        .routes(routes!(routes::prices::push_area_prices))
        .routes(routes!(
            routes::prices::push_location_carbon,
            routes::prices::get_location_carbon
        ))
        .routes(routes!(routes::prices::push_area_carbon))
        .routes(routes!(routes::prices::list_price_providers))
        .routes(routes!(
            routes::limits::create_charger_limit,
            routes::limits::get_charger_limits
        ))
        .routes(routes!(
            routes::limits::create_location_limit,
            routes::limits::list_location_limits
        ))
        .routes(routes!(routes::limits::get_ev_system_limits))
        .routes(routes!(routes::limits::get_limit, routes::limits::delete_limit))
        .routes(routes!(
            routes::smart::get_vehicle_smart_charging_policy,
            routes::smart::put_vehicle_smart_charging_policy
        ))
        .routes(routes!(routes::smart::get_vehicle_smart_charging_plan))
        .routes(routes!(
            routes::smart::start_vehicle_charge_now,
            routes::smart::end_vehicle_charge_now
        ))
        .routes(routes!(
            routes::smart::get_ev_system_smart_charging_policy,
            routes::smart::put_ev_system_smart_charging_policy
        ))
        .routes(routes!(routes::smart::get_ev_system_smart_charging_plan))
        .routes(routes!(
            routes::smart::start_ev_system_charge_now,
            routes::smart::end_ev_system_charge_now
        ))
        .routes(routes!(
            routes::smart::get_charger_smart_charging_policy,
            routes::smart::put_charger_smart_charging_policy
        ))
        .routes(routes!(routes::smart::get_charger_smart_charging_plan))
        .routes(routes!(
            routes::smart::start_charger_charge_now,
            routes::smart::end_charger_charge_now
        ))
        .routes(routes!(routes::flex::create_program, routes::flex::list_programs))
        .routes(routes!(
            routes::flex::get_program,
            routes::flex::update_program,
            routes::flex::delete_program
        ))
        .routes(routes!(routes::flex::check_program_eligibility))
        .routes(routes!(
            routes::flex::create_enrolment,
            routes::flex::list_program_enrolments
        ))
        .routes(routes!(routes::flex::create_enrolment_session))
        .routes(routes!(routes::flex::list_user_enrolments))
        .routes(routes!(routes::flex::get_enrolment, routes::flex::unenrol))
        .routes(routes!(routes::flex::check_enrolment))
        .routes(routes!(routes::flex::pause_enrolment))
        .routes(routes!(routes::flex::resume_enrolment))
        .routes(routes!(routes::flex::create_opt_out))
        .routes(routes!(routes::flex::create_group, routes::flex::list_groups))
        .routes(routes!(
            routes::flex::get_group,
            routes::flex::update_group,
            routes::flex::delete_group
        ))
        .routes(routes!(routes::flex::create_event, routes::flex::list_events))
        .routes(routes!(routes::flex::get_event, routes::flex::update_event))
        .routes(routes!(routes::flex::cancel_event))
        .routes(routes!(routes::flex::event_results_route))
        .routes(routes!(routes::flex::get_program_forecast))
        .routes(routes!(routes::flex::get_group_forecast))
        .routes(routes!(
            routes::flex::put_vtn_binding,
            routes::flex::get_vtn_binding,
            routes::flex::delete_vtn_binding
        ))
        .routes(routes!(routes::flex::poll_vtn_now))
        .routes(routes!(
            routes::flex::vtn_callback_echo,
            routes::flex::vtn_callback_notify
        ))
        .routes(routes!(routes::intervals::charger_intervals))
        .routes(routes!(routes::intervals::vehicle_intervals))
        .routes(routes!(routes::intervals::location_intervals))
        .routes(routes!(routes::interventions::list_interventions))
        .routes(routes!(routes::interventions::get_intervention))
        .routes(routes!(routes::actions::get_action))
        .routes(routes!(routes::actions::cancel_action))
        .routes(routes!(routes::actions::get_vehicle_action))
        .routes(routes!(routes::actions::cancel_vehicle_action))
        .routes(routes!(routes::actions::get_charger_action))
        .routes(routes!(routes::actions::cancel_charger_action))
        .routes(routes!(
            routes::sandbox::create_sandbox_vehicle,
            routes::sandbox::list_sandbox_vehicles
        ))
        .routes(routes!(routes::sandbox::update_sandbox_vehicle))
        .routes(routes!(routes::sandbox::create_sandbox_charger))
        .routes(routes!(routes::sandbox::list_sandbox_chargers))
        .routes(routes!(routes::sandbox::plug))
        .routes(routes!(routes::sandbox::unplug))
        .routes(routes!(
            routes::sandbox::get_time_factor,
            routes::sandbox::set_time_factor
        ))
        .routes(routes!(
            routes::sandbox::get_report_delay,
            routes::sandbox::set_report_delay
        ))
        .routes(routes!(
            routes::sandbox_time::get_clock,
            routes::sandbox_time::set_clock
        ))
        .routes(routes!(
            routes::sandbox_time::set_commute,
            routes::sandbox_time::get_commute,
            routes::sandbox_time::delete_commute
        ))
        .routes(routes!(
            routes::sandbox_neighbourhoods::create_neighbourhood,
            routes::sandbox_neighbourhoods::list_neighbourhoods
        ))
        .routes(routes!(
            routes::sandbox_neighbourhoods::get_neighbourhood,
            routes::sandbox_neighbourhoods::delete_neighbourhood
        ))
        .routes(routes!(
            routes::webhooks::create_webhook,
            routes::webhooks::list_webhooks
        ))
        .routes(routes!(
            routes::webhooks::get_webhook,
            routes::webhooks::update_webhook,
            routes::webhooks::delete_webhook
        ))
        .routes(routes!(routes::webhooks::test_webhook))
        .routes(routes!(routes::webhooks::list_deliveries))
        .routes(routes!(routes::webhooks::retry_delivery))
        .routes(routes!(routes::events::stream_events))
        .routes(routes!(routes::ops::live))
        .routes(routes!(routes::ops::ready))
        .routes(routes!(routes::ops::metrics))
}

/// The OpenAPI document of the REST surface, as `coupler openapi` prints it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut document = documented_routes().into_openapi();
    webhook_docs::add_webhooks(&mut document);
    document
}

/// The complete REST application.
pub fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// The REST application with `extra` routes (the OCPP endpoint) served under the same layers:
/// request ids, tracing, metrics, and problem+json for every error, unknown routes included.
pub fn router_with(state: AppState, extra: Router) -> Router {
    let (routes, mut openapi) = documented_routes().split_for_parts();
    webhook_docs::add_webhooks(&mut openapi);
    // The served document names the server that serves it.
    openapi.servers = Some(vec![utoipa::openapi::Server::new(
        state.public_url.as_str().trim_end_matches('/'),
    )]);
    let served = routes
        // The hosted link and enrolment pages are HTML for people, not part of the JSON API or its
        // document.
        .route("/link/callback", axum::routing::get(routes::link_pages::callback))
        .route("/link/{token}", axum::routing::get(routes::link_pages::open_link))
        .route(
            "/link/{token}/cancel",
            axum::routing::post(routes::link_pages::cancel_link),
        )
        .route(
            "/enrol/{token}",
            axum::routing::get(routes::enrol_pages::open_enrolment).post(routes::enrol_pages::answer_enrolment),
        )
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi))
        .with_state(state.clone())
        .merge(extra);
    with_layers(served, state)
}

/// `/metrics` alone, for a listener of its own (`[metrics] listen`), under the same layers as the
/// API (request ids, tracing, problem+json for every error and unknown route); nothing else of
/// Coupler is reachable there.
pub fn metrics_router(state: AppState) -> Router {
    let served = Router::new()
        .route("/metrics", axum::routing::get(routes::ops::metrics_on_own_listener))
        .with_state(state.clone());
    with_layers(served, state)
}

/// The layers every listener's routes are served under.
fn with_layers(served: Router, state: AppState) -> Router {
    served.layer(
        // Outermost first: the request id exists before the span opens, so every log line of the
        // request carries it.
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(
                http::HeaderName::from_static(REQUEST_ID_HEADER),
                MakeRequestUuid,
            ))
            .layer(middleware::trace_layer())
            .layer(PropagateRequestIdLayer::new(http::HeaderName::from_static(
                REQUEST_ID_HEADER,
            )))
            .layer(axum::middleware::from_fn(middleware::read_request))
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                middleware::record_metrics,
            ))
            .layer(axum::middleware::from_fn(middleware::problem_for_bare_errors))
            .layer(middleware::catch_panic_layer())
            .layer(tower_http::timeout::TimeoutLayer::with_status_code(
                http::StatusCode::REQUEST_TIMEOUT,
                REQUEST_TIMEOUT,
            ))
            .layer(DefaultBodyLimit::max(BODY_LIMIT)),
    )
}
