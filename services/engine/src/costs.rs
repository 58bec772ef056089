//! What charging cost: sessions priced at their location's prices, and statistics over a user's,
//! a vehicle's or a charger's sessions. The arithmetic is [`coupler_core::costs`]; this module
//! reads the sessions, their readings and the prices.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use coupler_core::costs::{
    priced_session, statistics, EnergyPiece, Resolution, SessionCost, StatisticsBucket, StatisticsScope,
};
use coupler_core::location::LocationId;
use coupler_core::tariff::PriceSlot;
use coupler_core::{ChargeSession, ChargerId, ClientId};

use crate::{Engine, EngineError};

/// The most sessions one statistics request weighs; a longer stretch is refused rather than slow.
pub const MAX_STATISTICS_SESSIONS: u32 = 5_000;

impl Engine {
    /// Each session's cost at the prices of its charger's location (energy where no price is known
    /// is counted as unpriced).
    pub async fn session_costs(
        &self,
        client: &ClientId,
        sessions: &[ChargeSession],
    ) -> Result<Vec<SessionCost>, EngineError> {
        let priced = self.price_sessions(client, sessions).await?;
        Ok(priced.into_iter().map(|(_, cost)| cost).collect())
    }

    /// Energy, cost and savings of the client's sessions in `scope`, in buckets of `resolution`
    /// local to `tz`, from `from` to `to`.
    pub async fn charging_statistics(
        &self,
        client: &ClientId,
        scope: &StatisticsScope,
        resolution: Resolution,
        tz: Tz,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<StatisticsBucket>, EngineError> {
        let sessions = self
            .store
            .sessions_overlapping(client, scope, from, to, MAX_STATISTICS_SESSIONS + 1)
            .await?;
        if sessions.len() > MAX_STATISTICS_SESSIONS as usize {
            return Err(EngineError::Refused(format!(
                "more than {MAX_STATISTICS_SESSIONS} sessions in this stretch of time; ask for a shorter one"
            )));
        }
        let priced = self.price_sessions(client, &sessions).await?;
        Ok(statistics(&priced, resolution, tz, from, to))
    }

    /// Each session's energy pieces and cost. Each charger's location is read once, and the prices
    /// of every location involved are read together, once, over the stretch the sessions cover; a
    /// location removed since leaves its sessions unpriced.
    async fn price_sessions(
        &self,
        client: &ClientId,
        sessions: &[ChargeSession],
    ) -> Result<Vec<(Vec<EnergyPiece>, SessionCost)>, EngineError> {
        let now = self.clock.now();
        let until = |s: &ChargeSession| s.stopped_at.unwrap_or(now);
        let mut location_of: HashMap<ChargerId, Option<LocationId>> = HashMap::new();
        for session in sessions {
            if !location_of.contains_key(&session.charger_id) {
                let location = self
                    .store
                    .charger(&session.charger_id)
                    .await?
                    .and_then(|c| c.location_id.map(LocationId::new));
                location_of.insert(session.charger_id.clone(), location);
            }
        }
        let mut wanted: Vec<(ClientId, LocationId)> = location_of
            .values()
            .flatten()
            .map(|location| (client.clone(), location.clone()))
            .collect();
        wanted.sort_by(|a, b| a.1.as_str().cmp(b.1.as_str()));
        wanted.dedup();
        let span = (
            sessions.iter().map(|s| s.started_at).min(),
            sessions.iter().map(until).max(),
        );
        let prices = match span {
            (Some(from), Some(to)) if !wanted.is_empty() => self.location_prices_many(&wanted, from, to).await?,
            _ => HashMap::new(),
        };
        let mut priced = Vec::with_capacity(sessions.len());
        for session in sessions {
            let readings = self.store.session_energy_readings(session).await?;
            let (from, to) = (session.started_at, until(session));
            // The session's own stretch of its location's prices.
            let own: Vec<PriceSlot> = location_of
                .get(&session.charger_id)
                .and_then(Option::as_ref)
                .and_then(|location| prices.get(location))
                .map(|slots| slots.iter().filter(|p| p.end > from && p.start < to).copied().collect())
                .unwrap_or_default();
            priced.push(priced_session(&readings, &own));
        }
        Ok(priced)
    }
}
