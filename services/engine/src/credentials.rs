//! Access tokens: opening them, refreshing them before they expire and when a maker refuses them,
//! and giving up (invalid account, intervention) when the refresh itself is refused.
//!
//! Some makers' refresh tokens are single use (Tesla, the simulated makers; Smartcar's expire a
//! minute after use). So a refresh first takes a lease on the account, sends the refresh token once,
//! and stores the new access and refresh token in one write over exactly the version it started
//! from. A node that finds the lease taken waits for the other node's result instead of sending the
//! same refresh token again.

use std::sync::Arc;
use std::time::Duration;

use coupler_core::account::{SealedTokens, Secret, VendorAccount};
use coupler_core::intervention::Intervention;
use coupler_core::{AdapterError, VehicleAdapter};
use tokio_util::sync::CancellationToken;

use crate::{Engine, EngineError};

/// What a refresh produced.
#[derive(Debug)]
pub(crate) enum Refreshed {
    /// A working access token (new, or refreshed meanwhile by another task or node).
    Fresh(Secret),
    /// The maker refused the refresh: the account is now invalid and an intervention is raised.
    Invalid(String),
    /// The refresh failed for another reason (timeout, maker down); the account is left as it was.
    Failed(AdapterError),
}

/// Calls the maker with the account's access token; when the maker refuses the token, refreshes it
/// once and calls again. Evaluates to `Result<T, AdapterError>`; storage failures return early with
/// `?` as [`EngineError`].
macro_rules! with_fresh_token {
    ($engine:expr, $adapter:expr, $account:expr, |$creds:ident| $call:expr) => {{
        let token = $engine.access_token(&$account)?;
        let first = {
            let $creds = coupler_core::adapter::Credentials {
                access_token: &token,
                account_meta: &$account.meta,
            };
            $call.await
        };
        match first {
            Err(coupler_core::AdapterError::CredentialsInvalid(reason)) => {
                match $engine.refresh_after_refusal($adapter, &$account, &reason).await? {
                    $crate::credentials::Refreshed::Fresh(fresh) => {
                        let second = {
                            let $creds = coupler_core::adapter::Credentials {
                                access_token: &fresh,
                                account_meta: &$account.meta,
                            };
                            $call.await
                        };
                        if let Err(coupler_core::AdapterError::CredentialsInvalid(again)) = &second {
                            // Refused even with a token that was just issued: the grant itself is gone.
                            $engine.invalidate(&$account, again).await?;
                        }
                        second
                    }
                    $crate::credentials::Refreshed::Invalid(why) => {
                        Err(coupler_core::AdapterError::CredentialsInvalid(why))
                    }
                    $crate::credentials::Refreshed::Failed(error) => Err(error),
                }
            }
            other => other,
        }
    }};
}

pub(crate) use with_fresh_token;

impl Engine {
    /// The account's access token, decrypted.
    pub(crate) fn access_token(&self, account: &VendorAccount) -> Result<Secret, EngineError> {
        Ok(account.tokens.access_token.open(&self.cipher)?)
    }

    /// The adapter for an account's vendor.
    pub(crate) fn adapter_for(&self, vendor: &coupler_core::Vendor) -> Result<&Arc<dyn VehicleAdapter>, EngineError> {
        self.adapters
            .get(vendor)
            .ok_or_else(|| EngineError::UnknownVendor(vendor.clone()))
    }

    /// Marks the account invalid and raises the intervention (once, whatever the number of nodes).
    pub(crate) async fn invalidate(&self, account: &VendorAccount, reason: &str) -> Result<(), EngineError> {
        let intervention = Intervention::relink_needed(
            account.client_id.clone(),
            account.user_id.clone(),
            account.id.clone(),
            account.vendor.clone(),
            format!("{} refused the account's credentials: {reason}", account.vendor),
            self.clock.now(),
        );
        if self.store.invalidate_account(&intervention).await? {
            tracing::warn!(
                client_id = %account.client_id,
                account_id = %account.id,
                vendor = %account.vendor,
                intervention_id = %intervention.id,
                "vendor credentials refused; the user must link the account again"
            );
        }
        Ok(())
    }

    /// Refreshes the account's tokens after the maker refused its access token.
    pub(crate) async fn refresh_after_refusal(
        &self,
        adapter: &dyn VehicleAdapter,
        account: &VendorAccount,
        reason: &str,
    ) -> Result<Refreshed, EngineError> {
        // Another task may have refreshed since this one read the account.
        if let Some(current) = self.store.get_vendor_account(&account.client_id, &account.id).await? {
            if current.token_version != account.token_version && current.is_valid {
                return Ok(Refreshed::Fresh(self.access_token(&current)?));
            }
        }
        if account.tokens.refresh_token.is_none() {
            self.invalidate(account, reason).await?;
            return Ok(Refreshed::Invalid(reason.to_owned()));
        }
        self.refresh(adapter, account).await
    }

    /// Refreshes an account's tokens: takes the lease, sends the refresh token once, stores the new
    /// pair atomically; on refusal, invalidates the account.
    pub(crate) async fn refresh(
        &self,
        adapter: &dyn VehicleAdapter,
        account: &VendorAccount,
    ) -> Result<Refreshed, EngineError> {
        let now = self.clock.now();
        if !self
            .store
            .claim_token_refresh(&account.client_id, &account.id, now, now + self.refresh_lease())
            .await?
        {
            return self.await_other_refresh(account).await;
        }
        let Some(sealed_refresh) = &account.tokens.refresh_token else {
            self.store
                .release_token_refresh(&account.client_id, &account.id)
                .await?;
            return Ok(Refreshed::Failed(AdapterError::CredentialsInvalid(
                "no refresh token".into(),
            )));
        };
        let refresh_token = sealed_refresh.open(&self.cipher)?;
        match adapter.refresh(&refresh_token).await {
            Ok(tokens) => {
                let sealed = SealedTokens::seal(&self.cipher, &tokens);
                let replaced = self
                    .store
                    .replace_tokens(
                        &account.client_id,
                        &account.id,
                        account.token_version,
                        &sealed,
                        self.clock.now(),
                    )
                    .await?;
                if !replaced {
                    // The account changed under the lease (relinked): its new tokens win.
                    tracing::info!(account_id = %account.id, "tokens changed during a refresh; keeping the newer ones");
                    if let Some(current) = self.store.get_vendor_account(&account.client_id, &account.id).await? {
                        return Ok(Refreshed::Fresh(self.access_token(&current)?));
                    }
                }
                tracing::debug!(account_id = %account.id, vendor = %account.vendor, "tokens refreshed");
                Ok(Refreshed::Fresh(tokens.access_token))
            }
            Err(AdapterError::CredentialsInvalid(why)) => {
                self.invalidate(account, &why).await?;
                Ok(Refreshed::Invalid(why))
            }
            Err(other) => {
                self.store
                    .release_token_refresh(&account.client_id, &account.id)
                    .await?;
                tracing::warn!(account_id = %account.id, vendor = %account.vendor, error = %other, "token refresh failed; will retry");
                Ok(Refreshed::Failed(other))
            }
        }
    }

    /// Waits for the refresh another holder of the lease is doing, and takes its result.
    async fn await_other_refresh(&self, account: &VendorAccount) -> Result<Refreshed, EngineError> {
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let Some(current) = self.store.get_vendor_account(&account.client_id, &account.id).await? else {
                return Ok(Refreshed::Invalid("the account was removed".into()));
            };
            if !current.is_valid {
                return Ok(Refreshed::Invalid("the vendor refused the refresh".into()));
            }
            if current.token_version != account.token_version {
                return Ok(Refreshed::Fresh(self.access_token(&current)?));
            }
        }
        Ok(Refreshed::Failed(AdapterError::Timeout(
            "another refresh of this account did not finish in time".into(),
        )))
    }

    /// Refreshes every account whose access token expires within the refresh margin; returns how
    /// many were refreshed.
    pub async fn refresh_due_accounts(&self) -> Result<usize, EngineError> {
        let now = self.clock.now();
        let margin = chrono::Duration::from_std(self.config.refresh_margin).unwrap_or_default();
        let due = self.store.accounts_due_for_refresh(now + margin, now, 50).await?;
        let mut refreshed = 0;
        for account in due {
            let Ok(adapter) = self.adapter_for(&account.vendor) else {
                continue;
            };
            if let Refreshed::Fresh(_) = self.refresh(adapter.as_ref(), &account).await? {
                refreshed += 1;
            }
        }
        Ok(refreshed)
    }
}

/// Refreshes expiring tokens until shutdown.
pub(crate) async fn run_refresher(engine: Arc<Engine>, shutdown: CancellationToken) {
    loop {
        if let Err(e) = engine.refresh_due_accounts().await {
            tracing::warn!(error = %e, "token refresh pass failed");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(engine.config.refresh_tick) => {}
        }
    }
}
