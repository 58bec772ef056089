//! What the gateway checks before it stores and answers: the verdict on a presented id token
//! (from its owner's registered tokens and the unknown-token policy; see
//! [`coupler_core::authorisation`]), and connector ids and meter readings that cannot be true (see
//! [`coupler_core::plausibility`]).

use coupler_core::authorisation::{IdToken, TokenLookup, Verdict};
use coupler_core::charger::MeterSample;
use coupler_core::plausibility::{self, Implausible};
use coupler_core::ChargerId;
use coupler_ocpp::ErrorCode;

use crate::common::Failure;
use crate::Gateway;

/// The verdict on the token with `match_key` on `charger`, and the registered token when there
/// is one. The tag Coupler's own remote starts carry (`presented`) is always accepted: Coupler
/// asked for that transaction itself.
pub(crate) async fn judge(
    gateway: &Gateway,
    charger: &ChargerId,
    presented: &str,
    match_key: &str,
) -> Result<(Verdict, Option<IdToken>), Failure> {
    if presented.eq_ignore_ascii_case(&gateway.inner.config.remote_start_id_tag) {
        return Ok((Verdict::Accepted, None));
    }
    let lookup: TokenLookup = gateway.inner.store.lookup_token(charger, match_key).await?;
    let verdict = lookup.verdict(gateway.inner.clock.now());
    if !verdict.is_accepted() {
        tracing::info!(
            verdict = verdict.as_str(),
            registered = lookup.token.is_some(),
            "id token refused"
        );
    }
    Ok((verdict, lookup.token))
}

/// A connector or EVSE id checked against what any charger can have: below `min` or beyond
/// [`plausibility::MAX_CONNECTOR_ID`] the message is refused with PropertyConstraintViolation.
pub(crate) fn connector(value: i32, min: u32, what: &'static str) -> Result<u32, Failure> {
    plausibility::connector_id(i64::from(value), min, what)
        .map_err(|e| Failure::Refused(ErrorCode::PropertyConstraintViolation, e.to_string()))
}

/// Splits readings into those to use and those to keep flagged, judging registers against the
/// connector's latest plausible reading (when the connector is known).
pub(crate) async fn screen(
    gateway: &Gateway,
    charger: &ChargerId,
    connector_id: Option<u32>,
    samples: Vec<MeterSample>,
) -> Result<(Vec<MeterSample>, Vec<(MeterSample, Implausible)>), Failure> {
    let judge_power = gateway.inner.config.judge_power;
    let last = match connector_id {
        Some(connector) if judge_power && samples.iter().any(|s| s.measurand == "Energy.Active.Import.Register") => {
            gateway.inner.store.last_energy_reading(charger, connector).await?
        }
        _ => None,
    };
    Ok(plausibility::screen_samples(samples, last, judge_power))
}

/// Keeps flagged readings, marked with what is wrong with them, out of every use.
pub(crate) async fn keep_flagged(
    gateway: &Gateway,
    charger: &ChargerId,
    connector_id: u32,
    transaction_id: Option<i64>,
    flagged: &[(MeterSample, Implausible)],
) -> Result<(), Failure> {
    if flagged.is_empty() {
        return Ok(());
    }
    for (sample, why) in flagged {
        tracing::warn!(
            measurand = sample.measurand.as_str(),
            value = sample.value,
            why = why.as_str(),
            "implausible reading kept flagged"
        );
    }
    let marked: Vec<(MeterSample, &str)> = flagged.iter().map(|(s, why)| (s.clone(), why.as_str())).collect();
    gateway
        .inner
        .store
        .record_implausible_samples(charger, connector_id, transaction_id, &marked)
        .await?;
    Ok(())
}
