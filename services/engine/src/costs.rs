//! What charging cost: sessions priced at their location's prices, and statistics over a user's,
//! a vehicle's or a charger's sessions. The arithmetic is [`coupler_core::costs`]; this module
//! reads the sessions, their readings and the prices.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use coupler_core::costs::{
    energy_pieces, session_cost, statistics, Resolution, SessionCost, StatisticsBucket, StatisticsScope,
};
use coupler_core::location::LocationId;
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
        let mut locations: HashMap<ChargerId, Option<LocationId>> = HashMap::new();
        let mut costs = Vec::with_capacity(sessions.len());
        for session in sessions {
            let (_, cost) = self.price_session(client, session, &mut locations).await?;
            costs.push(cost);
        }
        Ok(costs)
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
        let mut locations = HashMap::new();
        let mut priced = Vec::with_capacity(sessions.len());
        for session in &sessions {
            priced.push(self.price_session(client, session, &mut locations).await?);
        }
        Ok(statistics(&priced, resolution, tz, from, to))
    }

    /// A session's energy pieces and cost; `locations` remembers each charger's location.
    async fn price_session(
        &self,
        client: &ClientId,
        session: &ChargeSession,
        locations: &mut HashMap<ChargerId, Option<LocationId>>,
    ) -> Result<(Vec<coupler_core::costs::EnergyPiece>, SessionCost), EngineError> {
        let location = match locations.get(&session.charger_id) {
            Some(location) => location.clone(),
            None => {
                let location = self
                    .store
                    .charger(&session.charger_id)
                    .await?
                    .and_then(|c| c.location_id.map(LocationId::new));
                locations.insert(session.charger_id.clone(), location.clone());
                location
            }
        };
        let readings = self.store.session_energy_readings(session).await?;
        let until = session.stopped_at.unwrap_or_else(|| self.clock.now());
        let prices = match &location {
            Some(location) => match self.location_prices(client, location, session.started_at, until).await {
                Ok(prices) => prices,
                // The location was removed since: its sessions are unpriced.
                Err(EngineError::NotFound(_)) => Vec::new(),
                Err(e) => return Err(e),
            },
            None => Vec::new(),
        };
        Ok((energy_pieces(&readings, &prices), session_cost(&readings, &prices)))
    }
}
