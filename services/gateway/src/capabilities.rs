//! What a charger declares it can do with charging profiles, learnt from its own answers and
//! stored: 1.6 from its configuration (SupportedFeatureProfiles, ChargeProfileMaxStackLevel,
//! ChargingScheduleAllowedChargingRateUnit), 2.0.1 from its device model (the SmartChargingCtrlr
//! variables read with GetVariables, and every variable of a NotifyReport). The same reads tell
//! whether a charger keeps a local authorisation list (1.6 LocalAuthListManagement among its
//! SupportedFeatureProfiles, 2.0.1 LocalAuthListCtrlr).

use coupler_core::control::{ChargerCommand, ChargerControl, CommandReply, ConfigurationEntry};
use coupler_core::limits::ChargerCapabilities;
use coupler_core::ChargerId;
use coupler_ocpp::v201::{Attribute, NotifyReportRequest};

use crate::Gateway;

/// The 2.0.1 variables that say whether a station keeps a local authorisation list Coupler may
/// manage (read with the smart-charging ones, so the answer is stored before the station counts
/// as ready).
pub(crate) const LOCAL_LIST_VARIABLES: [&str; 2] = ["LocalAuthListCtrlr.Enabled", "LocalAuthListCtrlr.Available"];

/// The 2.0.1 variables that say whether, and how, a station takes charging profiles.
pub(crate) const SMART_CHARGING_VARIABLES: [&str; 4] = [
    "SmartChargingCtrlr.Enabled",
    "SmartChargingCtrlr.Available",
    "SmartChargingCtrlr.ProfileStackLevel",
    "SmartChargingCtrlr.RateUnit",
];

async fn save(gateway: &Gateway, charger: &ChargerId, capabilities: &ChargerCapabilities) {
    match gateway
        .inner
        .store
        .set_charger_capabilities(charger, capabilities, gateway.inner.clock.now())
        .await
    {
        Ok(()) => tracing::info!(
            smart_charging = ?capabilities.smart_charging,
            max_stack_level = ?capabilities.max_stack_level,
            source = capabilities.source.as_str(),
            "charger capabilities learnt"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot store the charger's capabilities"),
    }
}

/// Learns a 1.6 charger's capabilities from its GetConfiguration answer.
pub(crate) async fn learn_16(gateway: &Gateway, charger: &ChargerId, entries: &[ConfigurationEntry]) {
    if let Some(capabilities) = ChargerCapabilities::from_configuration_16(entries) {
        save(gateway, charger, &capabilities).await;
    }
}

/// Keeps a 1.6 charger's configuration keys (as GetConfiguration answered) as its stored
/// configuration, which `GET /chargers/{id}/configuration` shows.
pub(crate) async fn record_configuration(gateway: &Gateway, charger: &ChargerId, entries: &[ConfigurationEntry]) {
    let keys: Vec<(String, String)> = entries
        .iter()
        .filter_map(|e| e.value.clone().map(|v| (e.key.clone(), v)))
        .collect();
    if keys.is_empty() {
        return;
    }
    record_settings(gateway, charger, &keys).await;
}

/// Stores settings in the charger's device model; a failure is logged, not passed on (the charger
/// keeps its settings whatever Coupler stored, and the next boot reads them again).
pub(crate) async fn record_settings(gateway: &Gateway, charger: &ChargerId, settings: &[(String, String)]) {
    if let Err(e) = gateway
        .inner
        .store
        .record_device_model(charger, settings, gateway.inner.clock.now())
        .await
    {
        tracing::warn!(error = %e, "cannot store the charger's settings");
    }
}

/// Reads a 2.0.1 station's smart-charging variables (GetVariables), keeps them in its stored
/// device model and learns its capabilities from them; then asks for the full report
/// (GetBaseReport), whose NotifyReport messages [`record_report`] stores as they come.
pub(crate) async fn learn_201(gateway: &Gateway, charger: &ChargerId) {
    let read = ChargerCommand::GetConfiguration {
        keys: SMART_CHARGING_VARIABLES
            .iter()
            .chain(LOCAL_LIST_VARIABLES.iter())
            .map(|k| (*k).to_owned())
            .collect(),
    };
    match gateway.send(charger, read).await {
        Ok(CommandReply::Configuration { entries, .. }) => {
            let variables: Vec<(String, String)> = entries
                .into_iter()
                .filter_map(|e| e.value.map(|v| (e.key, v)))
                .collect();
            if let Err(e) = gateway
                .inner
                .store
                .record_device_model(charger, &variables, gateway.inner.clock.now())
                .await
            {
                tracing::warn!(error = %e, "cannot store the station's device model");
            }
            let pairs = variables.iter().map(|(k, v)| (k.as_str(), v.as_str()));
            if let Some(capabilities) = ChargerCapabilities::from_device_model_201(pairs, false, "GetVariables") {
                save(gateway, charger, &capabilities).await;
            }
        }
        Ok(other) => tracing::debug!(?other, "unexpected answer to GetVariables"),
        Err(e) => tracing::info!(error = %e, "could not read the station's smart-charging variables"),
    }
    let report = ChargerCommand::GetConfiguration { keys: Vec::new() };
    if let Err(e) = gateway.send(charger, report).await {
        tracing::info!(error = %e, "the station sends no device-model report");
    }
}

/// Stores the variables of one NotifyReport message in the station's device model; with the last
/// message of a report, learns its capabilities from the whole model.
pub(crate) async fn record_report(
    gateway: &Gateway,
    charger: &ChargerId,
    report: &NotifyReportRequest,
) -> Result<(), coupler_core::StoreError> {
    let variables: Vec<(String, String)> = report
        .report_data
        .iter()
        .flatten()
        .filter_map(|data| {
            let actual = data
                .variable_attribute
                .iter()
                .find(|a| a.kind.is_none_or(|k| k == Attribute::Actual))?;
            let value = actual.value.as_ref()?.as_str().to_owned();
            let mut key = format!("{}.{}", data.component.name.as_str(), data.variable.name.as_str());
            if let Some(instance) = &data.variable.instance {
                key = format!("{key}[{}]", instance.as_str());
            }
            Some((key, value))
        })
        .collect();
    let model = gateway
        .inner
        .store
        .record_device_model(charger, &variables, gateway.inner.clock.now())
        .await?;
    if !report.tbc.unwrap_or(false) {
        let pairs = model.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        if let Some(capabilities) = ChargerCapabilities::from_device_model_201(pairs, true, "NotifyReport") {
            save(gateway, charger, &capabilities).await;
        }
    }
    Ok(())
}
