//! The console: pages at `/console` where an API client's people see its users, chargers,
//! vehicles, EV systems, actions, webhooks and flexibility programs, and operate chargers.
//!
//! A person signs in with a login made by the CLI (`coupler console-login add`). A signed-in
//! session sees exactly what the client's access tokens see: every page reads through the REST
//! API's own handlers, called with the session's client as the caller, so tenant scoping, checks
//! and answers are the API's. Every state-changing request carries the session's CSRF token (a
//! form field or the `X-CSRF-Token` header) and is refused without it. Pages are askama templates;
//! scripts, styles and the chart library are served from the binary ([`assets`]), under a
//! Content-Security-Policy that allows no inline script and nothing from elsewhere.

pub mod assets;
pub mod auth;
mod commands;
mod live;
mod pages;
mod session;
mod view;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use coupler_api::AppState;

pub use session::Session;

/// The state of the console's handlers.
#[derive(Debug, Clone)]
pub struct Console(Arc<ConsoleInner>);

/// What [`Console`] holds.
#[derive(Debug)]
pub struct ConsoleInner {
    /// The API's state: store, engine, clock, rate limits.
    pub app: AppState,
    /// Sign-in attempts per e-mail address.
    pub sign_in: auth::SignInLimit,
}

impl std::ops::Deref for Console {
    type Target = ConsoleInner;

    fn deref(&self) -> &ConsoleInner {
        &self.0
    }
}

impl Console {
    /// The console over `app`.
    pub fn new(app: AppState) -> Self {
        Self(Arc::new(ConsoleInner {
            app,
            // Five tries at once, then one every 12 seconds, per address.
            sign_in: auth::SignInLimit::new(5, 5),
        }))
    }

    /// `; Secure` when Coupler is reached over https, for the console's cookies.
    pub fn secure(&self) -> &'static str {
        if self.app.public_url.scheme() == "https" {
            "; Secure"
        } else {
            ""
        }
    }
}

/// The console's routes, all under `/console`, with the CSRF check on every state-changing request.
pub fn router(app: AppState) -> Router {
    let console = Console::new(app);
    Router::new()
        .route("/console", get(pages::home))
        .route("/console/", get(pages::home))
        .route("/console/sign-in", get(session::sign_in_page).post(session::sign_in))
        .route("/console/sign-out", post(session::sign_out))
        .route("/console/assets/{name}", get(assets::serve))
        .route("/console/users", get(pages::users))
        .route("/console/chargers", get(pages::chargers))
        .route("/console/chargers/{id}", get(pages::charger))
        .route("/console/chargers/{id}/sessions/{session}", get(pages::session))
        .route(
            "/console/chargers/{id}/sessions/{session}/chart",
            get(live::session_chart),
        )
        .route("/console/chargers/{id}/operations/{operation}", post(commands::operate))
        .route("/console/chargers/{id}/charging", post(commands::charging))
        .route("/console/vehicles", get(pages::vehicles))
        .route("/console/vehicles/{id}", get(pages::vehicle))
        .route("/console/ev-systems", get(pages::ev_systems))
        .route("/console/ev-systems/{id}", get(pages::ev_system))
        .route("/console/actions", get(pages::actions))
        .route("/console/actions/{id}", get(pages::action))
        .route("/console/webhooks", get(pages::webhooks))
        .route("/console/webhooks/{id}", get(pages::webhook))
        .route(
            "/console/webhooks/{id}/deliveries/{delivery}/retry",
            post(commands::retry_delivery),
        )
        .route("/console/flex", get(pages::flex))
        .route("/console/flex/programs/{id}", get(pages::program))
        .route("/console/flex/events/{id}", get(pages::flex_event))
        .route("/console/events", get(live::events))
        .route_layer(axum::middleware::from_fn(session::require_csrf))
        .with_state(console)
}
