//! Vehicles and their polling state.

/// Implements [`coupler_core::VehicleStore`] for `$store` (rows `$row`, times through `$time`).
macro_rules! impl_vehicle_store {
    ($store:ident, $row:ty, $time:ident) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use coupler_core::account::VendorAccountId;
            use coupler_core::capability::Scope;
            use coupler_core::intervention::InterventionId;
            use coupler_core::page::{Cursor, Page, PageKey, PageRequest};
            use coupler_core::polling::PollUpdate;
            use coupler_core::vehicle::PollState;
            use coupler_core::{ClientId, StoreError, UserId, Vehicle, VehicleId, VehicleStore, Vendor};
            use sqlx::Row;
            use coupler_core::event::EventType;

            use crate::store_error;

            /// Every column a [`Vehicle`] is read from: the vehicle, its user's external id, and the
            /// account facts that shape its capabilities.
            const COLUMNS: &str = "v.id AS id, v.client_id AS client_id, u.external_id AS external_id, \
                 v.account_id AS account_id, v.vendor AS vendor, v.vendor_vehicle_id AS vendor_vehicle_id, \
                 v.information AS information, v.charge_state AS charge_state, v.location AS location, \
                 v.model_capabilities AS model_capabilities, v.vendor_meta AS vendor_meta, \
                 v.last_seen AS last_seen, v.is_reachable AS is_reachable, v.next_poll_at AS next_poll_at, \
                 v.not_before AS not_before, v.poll_requested AS poll_requested, v.poll_failures AS poll_failures, \
                 v.polls_on_day AS polls_on_day, v.budget_day AS budget_day, v.last_poll_error AS last_poll_error, \
                 v.created_at AS created_at, v.updated_at AS updated_at, v.id_tags AS id_tags, \
                 v.plugged_in_seen_at AS plugged_in_seen_at, v.unplugged_seen_at AS unplugged_seen_at, \
                 a.scopes AS scopes, a.is_valid AS is_valid, a.intervention_id AS intervention_id";
            const FROM: &str =
                "FROM vehicles v JOIN users u ON u.id = v.user_id JOIN vendor_accounts a ON a.id = v.account_id";

            fn json<T: serde::de::DeserializeOwned>(row: &$row, column: &str) -> Result<T, sqlx::Error> {
                let text: String = row.try_get(column)?;
                serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(format!("{column}: {e}").into()))
            }

            fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
                serde_json::to_string(value).map_err(|e| StoreError::Backend(e.to_string()))
            }

            fn count(row: &$row, column: &str) -> Result<u32, sqlx::Error> {
                let value: i64 = row.try_get(column)?;
                u32::try_from(value).map_err(|_| sqlx::Error::Decode(format!("{column} is out of range").into()))
            }

            fn vehicle_from_row(row: &$row) -> Result<Vehicle, sqlx::Error> {
                let user: String = row.try_get("external_id")?;
                let vendor: String = row.try_get("vendor")?;
                let scopes: Vec<Scope> = json(row, "scopes")?;
                Ok(Vehicle {
                    id: VehicleId::new(row.try_get::<String, _>("id")?),
                    client_id: ClientId::new(row.try_get::<String, _>("client_id")?),
                    user_id: UserId::parse(&user).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                    account_id: VendorAccountId::new(row.try_get::<String, _>("account_id")?),
                    vendor: Vendor::parse(&vendor).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                    vendor_vehicle_id: row.try_get("vendor_vehicle_id")?,
                    information: json(row, "information")?,
                    charge_state: json(row, "charge_state")?,
                    location: json(row, "location")?,
                    model_capabilities: json(row, "model_capabilities")?,
                    vendor_meta: json(row, "vendor_meta")?,
                    scopes,
                    account_valid: row.try_get("is_valid")?,
                    account_intervention: row
                        .try_get::<Option<String>, _>("intervention_id")?
                        .map(InterventionId::new),
                    last_seen: $time::read_opt(row, "last_seen")?,
                    is_reachable: row.try_get("is_reachable")?,
                    poll: PollState {
                        next_poll_at: $time::read(row, "next_poll_at")?,
                        requested: row.try_get("poll_requested")?,
                        consecutive_failures: count(row, "poll_failures")?,
                        not_before: $time::read_opt(row, "not_before")?,
                        polls_on_day: count(row, "polls_on_day")?,
                        budget_day: row.try_get("budget_day")?,
                        last_error: row.try_get("last_poll_error")?,
                    },
                    id_tags: json(row, "id_tags")?,
                    plugged_in_seen_at: $time::read_opt(row, "plugged_in_seen_at")?,
                    unplugged_seen_at: $time::read_opt(row, "unplugged_seen_at")?,
                    created_at: $time::read(row, "created_at")?,
                    updated_at: $time::read(row, "updated_at")?,
                })
            }

            fn vehicles(rows: &[$row]) -> Result<Vec<Vehicle>, StoreError> {
                rows.iter().map(vehicle_from_row).collect::<Result<_, _>>().map_err(store_error)
            }

            #[async_trait]
            impl VehicleStore for $store {
                async fn list_vehicles(
                    &self,
                    client: &ClientId,
                    user: Option<&UserId>,
                    page: &PageRequest,
                ) -> Result<Page<Vehicle>, StoreError> {
                    let limit = i64::from(page.size) + 1;
                    // Parameters are numbered as the optional filters are added.
                    let mut params = 1;
                    let mut param = || {
                        params += 1;
                        format!("${params}")
                    };
                    let user_filter = match user {
                        Some(_) => format!("AND u.external_id = {}", param()),
                        None => String::new(),
                    };
                    let (cursor_filter, order, key) = match &page.cursor {
                        None => (String::new(), "DESC", None),
                        Some(Cursor::After(key)) => (format!("AND (v.created_at, v.id) < ({}, {})", param(), param()), "DESC", Some(key)),
                        Some(Cursor::Before(key)) => (format!("AND (v.created_at, v.id) > ({}, {})", param(), param()), "ASC", Some(key)),
                    };
                    let limit_param = param();
                    let sql = format!(
                        "SELECT {COLUMNS} {FROM} WHERE v.client_id = $1 {user_filter} {cursor_filter} \
                         ORDER BY v.created_at {order}, v.id {order} LIMIT {limit_param}"
                    );
                    let mut query = sqlx::query(&sql).bind(client.as_str());
                    if let Some(user) = user {
                        query = query.bind(user.as_str());
                    }
                    if let Some(key) = key {
                        query = query.bind($time::bind(key.created_at)).bind(key.id.clone());
                    }
                    let rows = query.bind(limit).fetch_all(&self.pool).await.map_err(store_error)?;
                    let mut found = vehicles(&rows)?;
                    if matches!(page.cursor, Some(Cursor::Before(_))) {
                        found.reverse();
                    }
                    Ok(Page::from_rows(page, found, |v| PageKey {
                        created_at: v.created_at,
                        id: v.id.as_str().to_owned(),
                    }))
                }

                async fn get_vehicle(&self, client: &ClientId, id: &VehicleId) -> Result<Option<Vehicle>, StoreError> {
                    let sql = format!("SELECT {COLUMNS} {FROM} WHERE v.client_id = $1 AND v.id = $2");
                    let row = sqlx::query(&sql)
                        .bind(client.as_str())
                        .bind(id.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_error)?;
                    row.as_ref().map(vehicle_from_row).transpose().map_err(store_error)
                }

                async fn request_vehicle_poll(&self, client: &ClientId, id: &VehicleId) -> Result<bool, StoreError> {
                    let now = self.clock.now();
                    // A hint brings the next read forward to now, unless the maker asked Coupler to
                    // wait (not_before): then the read stays where the wait put it.
                    let done = sqlx::query(
                        "UPDATE vehicles SET poll_requested = TRUE, \
                         next_poll_at = CASE WHEN not_before IS NOT NULL AND not_before > $3 THEN next_poll_at \
                                             WHEN next_poll_at > $3 THEN $3 ELSE next_poll_at END \
                         WHERE client_id = $1 AND id = $2",
                    )
                    .bind(client.as_str())
                    .bind(id.as_str())
                    .bind($time::bind(now))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn claim_due_vehicles(
                    &self,
                    now: DateTime<Utc>,
                    lease_until: DateTime<Utc>,
                    limit: u32,
                ) -> Result<Vec<Vehicle>, StoreError> {
                    let sql = format!(
                        "SELECT {COLUMNS} {FROM} WHERE a.is_valid = TRUE AND v.next_poll_at <= $1 \
                         AND (v.poll_lease_until IS NULL OR v.poll_lease_until <= $1) \
                         ORDER BY v.next_poll_at, v.id LIMIT $2"
                    );
                    let rows = sqlx::query(&sql)
                        .bind($time::bind(now))
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(store_error)?;
                    let mut claimed = Vec::new();
                    for vehicle in vehicles(&rows)? {
                        // Another node may have taken it since the read: the lease is the arbiter.
                        let taken = sqlx::query(
                            "UPDATE vehicles SET poll_lease_until = $2 WHERE id = $1 \
                             AND (poll_lease_until IS NULL OR poll_lease_until <= $3)",
                        )
                        .bind(vehicle.id.as_str())
                        .bind($time::bind(lease_until))
                        .bind($time::bind(now))
                        .execute(&self.pool)
                        .await
                        .map_err(store_error)?
                        .rows_affected()
                            == 1;
                        if taken {
                            claimed.push(vehicle);
                        }
                    }
                    Ok(claimed)
                }

                async fn save_poll(&self, client: &ClientId, id: &VehicleId, update: &PollUpdate) -> Result<bool, StoreError> {
                    let charge_state = update.charge_state.as_ref().map(to_json).transpose()?;
                    let location = update.location.as_ref().map(to_json).transpose()?;
                    let poll = &update.poll;
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let before = sqlx::query("SELECT charge_state, location, is_reachable FROM vehicles WHERE client_id = $1 AND id = $2")
                        .bind(client.as_str())
                        .bind(id.as_str())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    let mut changed = Vec::new();
                    if let Some(before) = &before {
                        let old_charge: String = before.try_get("charge_state").map_err(store_error)?;
                        let old_location: String = before.try_get("location").map_err(store_error)?;
                        let old_reachable: Option<bool> = before.try_get("is_reachable").map_err(store_error)?;
                        if charge_state.as_ref().is_some_and(|new| *new != old_charge) {
                            changed.push("chargeState");
                        }
                        if location.as_ref().is_some_and(|new| *new != old_location) {
                            changed.push("location");
                        }
                        if update.is_reachable.is_some_and(|new| Some(new) != old_reachable) {
                            changed.push("isReachable");
                        }
                    }
                    let done = sqlx::query(
                        "UPDATE vehicles SET charge_state = COALESCE($3, charge_state), location = COALESCE($4, location), \
                         last_seen = COALESCE($5, last_seen), is_reachable = COALESCE($6, is_reachable), \
                         next_poll_at = $7, not_before = $8, poll_requested = $9, poll_failures = $10, \
                         polls_on_day = $11, budget_day = $12, last_poll_error = $13, poll_lease_until = NULL, \
                         updated_at = $14, \
                         plugged_in_seen_at = CASE WHEN $15 = 1 THEN COALESCE(plugged_in_seen_at, $16) \
                             WHEN $15 = 0 THEN NULL ELSE plugged_in_seen_at END, \
                         unplugged_seen_at = CASE WHEN $15 = 0 THEN $16 ELSE unplugged_seen_at END \
                         WHERE client_id = $1 AND id = $2",
                    )
                    .bind(client.as_str())
                    .bind(id.as_str())
                    .bind(charge_state)
                    .bind(location)
                    .bind(update.last_seen.map($time::bind))
                    .bind(update.is_reachable)
                    .bind($time::bind(poll.next_poll_at))
                    .bind(poll.not_before.map($time::bind))
                    .bind(poll.requested)
                    .bind(i64::from(poll.consecutive_failures))
                    .bind(i64::from(poll.polls_on_day))
                    .bind(poll.budget_day)
                    .bind(poll.last_error.as_deref())
                    .bind($time::bind(self.clock.now()))
                    // Plug transitions, as the data says (its own time, else the time of the poll),
                    // for matching a vehicle with a charger's plug-in.
                    .bind(update.charge_state.as_ref().and_then(|c| c.is_plugged_in).map(i64::from))
                    .bind(update.charge_state.as_ref().and_then(|c| c.last_updated).or(update.last_seen).map($time::bind))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    // The reading is kept for telemetry (measuring flexibility events): once per
                    // time the maker recorded it, however often it is fetched again.
                    if let (Some(charge), true) = (&update.charge_state, done.rows_affected() > 0) {
                        let read_at = charge.last_updated.or(update.last_seen).unwrap_or_else(|| self.clock.now());
                        sqlx::query(
                            "INSERT INTO vehicle_readings (vehicle_id, read_at, charge_rate_kw, is_charging, battery_level) \
                             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (vehicle_id, read_at) DO NOTHING",
                        )
                        .bind(id.as_str())
                        .bind($time::bind(read_at))
                        .bind(charge.charge_rate.filter(|kw| kw.is_finite()))
                        .bind(charge.is_charging)
                        .bind(charge.battery_level.filter(|l| l.is_finite()))
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    }
                    // A poll that only moved lastSeen is not news.
                    if !changed.is_empty() {
                        Self::append_event(&mut tx, EventType::VehicleUpdated, id.as_str(), &changed).await?;
                    }
                    tx.commit().await.map_err(store_error)?;
                    Ok(done.rows_affected() > 0)
                }
            }
        };
    };
}

pub(crate) use impl_vehicle_store;
