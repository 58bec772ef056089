//! The OAuth steps of account linking, behind the hosted link page.
//!
//! The API crate owns the pages and redirects; this module owns what touches tokens and makers:
//! making a link session, sending the person to a maker with a fresh `state` and PKCE verifier,
//! and, on the callback, exchanging the code, learning the account and its vehicles, and storing it
//! all in one transaction. If any step fails, nothing is stored.

use coupler_core::account::{SealedToken, SealedTokens, Secret};
use coupler_core::adapter::{AuthorizationRequest, Credentials};
use coupler_core::link::{
    LinkCompletion, LinkFailure, LinkRequest, LinkSession, LinkSessionId, LinkStatus, LinkedAccount, LINK_TTL,
};
use coupler_core::secret::{generate_secret, hash_secret};
use coupler_core::{AdapterError, ClientId, UserId, Vendor};
use url::Url;

use crate::{Engine, EngineError};

/// A new link session and the token that opens it (shown to the app once, stored only as a hash).
#[derive(Debug)]
pub struct NewLink {
    /// The session.
    pub session: LinkSession,
    /// The link token.
    pub token: Secret,
}

/// Why a callback did not link an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkError {
    /// The `error` code sent to the app.
    pub failure: LinkFailure,
    /// The `error_message` sent to the app.
    pub message: String,
}

impl LinkError {
    fn new(failure: LinkFailure, message: impl Into<String>) -> Self {
        Self {
            failure,
            message: message.into(),
        }
    }
}

impl Engine {
    /// Creates a link session for the client's user (creating the user on first use, as apps expect
    /// when they link before anything else).
    pub async fn create_link(
        &self,
        client: &ClientId,
        user: &UserId,
        request: LinkRequest,
    ) -> Result<NewLink, EngineError> {
        if let Some(vendor) = &request.vendor {
            if self.adapters.get(vendor).is_none() {
                return Err(EngineError::Refused(format!(
                    "vendor '{vendor}' is not available on this Coupler; GET /integrations lists those that are"
                )));
            }
        }
        if self.adapters.is_empty() {
            return Err(EngineError::Refused(
                "no vehicle vendor is configured on this Coupler, so there is nothing to link".into(),
            ));
        }
        self.store.upsert_user(client, user).await?;
        let token = Secret::new(generate_secret());
        let now = self.clock.now();
        let session = LinkSession {
            id: LinkSessionId::generate(),
            client_id: client.clone(),
            user_id: user.clone(),
            token_hash: hash_secret(token.expose()),
            vendor: request.vendor,
            scopes: request.scopes,
            redirect_uri: request.redirect_uri.to_string(),
            language: request.language,
            status: LinkStatus::Created,
            chosen_vendor: None,
            state_hash: None,
            pkce_verifier: None,
            error: None,
            created_at: now,
            expires_at: now + LINK_TTL,
            finished_at: None,
        };
        self.store.insert_link_session(&session).await?;
        tracing::info!(client_id = %client, link_session = %session.id.as_str(), "link session created");
        Ok(NewLink { session, token })
    }

    /// Sends the person to `vendor`'s sign-in: a new `state` and PKCE verifier replace any earlier
    /// ones on the session, so only the latest sign-in can complete it. Returns the maker's URL.
    pub async fn begin_authorization(
        &self,
        session: &LinkSession,
        vendor: &Vendor,
        callback: &Url,
    ) -> Result<Url, EngineError> {
        let adapter = self.adapter_for(vendor)?;
        let state = generate_secret();
        // 43 URL-safe characters: a valid RFC 7636 verifier with 256 bits of entropy.
        let verifier = Secret::new(generate_secret());
        let url = adapter.authorization_url(&AuthorizationRequest {
            redirect_uri: callback,
            scopes: &session.scopes,
            state: &state,
            pkce_verifier: &verifier,
            language: &session.language,
        })?;
        let began = self
            .store
            .begin_authorization(
                &session.id,
                vendor,
                &hash_secret(&state),
                &SealedToken::seal(&self.cipher, &verifier),
                self.clock.now(),
            )
            .await?;
        if !began {
            return Err(EngineError::Conflict("this link session is over or has expired".into()));
        }
        Ok(url)
    }

    /// Finishes a session whose callback brought `code`: exchanges it, discovers the account and its
    /// vehicles, and stores everything at once. Nothing is stored unless every step succeeded.
    pub async fn complete_link(
        &self,
        session: &LinkSession,
        code: &str,
        callback: &Url,
    ) -> Result<LinkedAccount, LinkError> {
        let vendor = session
            .chosen_vendor
            .clone()
            .ok_or_else(|| LinkError::new(LinkFailure::InvalidState, "no sign-in was started for this link"))?;
        let adapter = self
            .adapter_for(&vendor)
            .map_err(|e| LinkError::new(LinkFailure::VendorError, e.to_string()))?;
        let verifier = session
            .pkce_verifier
            .as_ref()
            .ok_or_else(|| LinkError::new(LinkFailure::InvalidState, "no sign-in is in progress for this link"))?
            .open(&self.cipher)
            .map_err(|e| {
                tracing::error!(error = %e, "cannot open a stored PKCE verifier");
                LinkError::new(LinkFailure::VendorError, "Coupler cannot read this link session")
            })?;

        let tokens = adapter
            .exchange_code(code, &verifier, callback)
            .await
            .map_err(|e| vendor_failure(&vendor, "exchanging the authorization code", &e))?;
        let meta = adapter
            .discover_account(&tokens.access_token)
            .await
            .map_err(|e| vendor_failure(&vendor, "reading the account", &e))?;
        let credentials = Credentials {
            access_token: &tokens.access_token,
            account_meta: &meta,
        };
        let account_ref = adapter
            .account_identity(credentials)
            .await
            .map_err(|e| vendor_failure(&vendor, "reading who the account belongs to", &e))?;
        let vehicles = adapter
            .list_vehicles(credentials)
            .await
            .map_err(|e| vendor_failure(&vendor, "listing the account's vehicles", &e))?;

        let completion = LinkCompletion {
            session_id: session.id.clone(),
            client_id: session.client_id.clone(),
            user_id: session.user_id.clone(),
            vendor: vendor.clone(),
            scopes: session.scopes.clone(),
            tokens: SealedTokens::seal(&self.cipher, &tokens),
            account_meta: meta,
            account_ref,
            vehicles,
            now: self.clock.now(),
        };
        let linked = self
            .store
            .complete_link(&completion)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot store a linked account");
                LinkError::new(
                    LinkFailure::VendorError,
                    "Coupler could not store the linked account; try again",
                )
            })?
            .ok_or_else(|| {
                LinkError::new(
                    LinkFailure::Expired,
                    "this link session is over (it was used or has expired)",
                )
            })?;
        tracing::info!(
            client_id = %session.client_id,
            vendor = %vendor,
            account_id = %linked.account_id,
            vehicles = linked.vehicle_ids.len(),
            relinked = linked.relinked,
            "vendor account linked"
        );
        // With the user's chargers the new vehicles form EV systems at once.
        if let Err(e) = self
            .store
            .establish_ev_systems(&session.client_id, &session.user_id)
            .await
        {
            tracing::warn!(error = %e, "cannot establish EV systems for the linked vehicles; pairing will on the next plug-in");
        }
        self.wake_poller();
        Ok(linked)
    }
}

fn vendor_failure(vendor: &Vendor, step: &str, error: &AdapterError) -> LinkError {
    tracing::warn!(%vendor, step, error = %error, "linking failed at the vendor");
    match error {
        AdapterError::CredentialsInvalid(_) => LinkError::new(
            LinkFailure::InvalidGrant,
            format!("{vendor} refused the sign-in while {step}: the authorization code was used, expired or invalid"),
        ),
        AdapterError::Timeout(_) | AdapterError::Upstream(_) | AdapterError::RateLimited { .. } => LinkError::new(
            LinkFailure::VendorUnavailable,
            format!("{vendor} did not answer properly while {step}; try again later"),
        ),
        AdapterError::Asleep(_) | AdapterError::NotCapable(_) | AdapterError::Refused(_) => LinkError::new(
            LinkFailure::VendorError,
            format!("{vendor} refused while {step}: {error}"),
        ),
    }
}
