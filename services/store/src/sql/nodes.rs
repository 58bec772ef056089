//! Nodes, their leases, and which node holds each connected charger's socket.

/// Implements [`coupler_core::NodeStore`] for `$store` (rows `$row`, times through `$time`).
macro_rules! impl_node_store {
    ($store:ident, $row:ty, $time:ident) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use coupler_core::event::EventType;
            use coupler_core::node::NodeId;
            use coupler_core::{ChargerId, NodeStore, StoreError};
            use sqlx::Row;

            use crate::store_error;

            fn node_id(text: String) -> Result<NodeId, StoreError> {
                NodeId::parse(&text).map_err(|e| StoreError::Backend(format!("nodes: {e}")))
            }

            impl $store {
                /// Marks disconnected (with an event each) the connected chargers (`chargers t`)
                /// that `filter` picks; `filter(n)` numbers its parameters from `$n`.
                async fn disconnect_where(
                    tx: &mut sqlx::Transaction<'_, <$store as crate::sql::StorePool>::Db>,
                    filter: impl Fn(usize) -> String,
                    binds: &[&str],
                ) -> Result<u64, StoreError> {
                    // append_events takes three parameters of its own before the filter's.
                    let events = format!("t.is_connected = TRUE AND {}", filter(4));
                    Self::append_events(tx, EventType::ChargerUpdated, &["isReachable"], &events, binds).await?;
                    let sql = format!(
                        "UPDATE chargers SET is_connected = FALSE WHERE id IN \
                         (SELECT t.id FROM chargers t WHERE t.is_connected = TRUE AND {})",
                        filter(1)
                    );
                    let mut query = sqlx::query(&sql);
                    for bind in binds {
                        query = query.bind(*bind);
                    }
                    let done = query.execute(&mut **tx).await.map_err(store_error)?;
                    Ok(done.rows_affected())
                }
            }

            #[async_trait]
            impl NodeStore for $store {
                async fn register_node(&self, node: &NodeId, at: DateTime<Utc>, until: DateTime<Utc>) -> Result<u64, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let released = Self::disconnect_where(
                        &mut tx,
                        |n| format!("t.id IN (SELECT o.charger_id FROM charger_owners o WHERE o.node_id = ${n})"),
                        &[node.as_str()],
                    )
                    .await?;
                    sqlx::query("DELETE FROM charger_owners WHERE node_id = $1")
                        .bind(node.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    sqlx::query(
                        "INSERT INTO nodes (id, started_at, lease_until) VALUES ($1, $2, $3) \
                         ON CONFLICT (id) DO UPDATE SET started_at = excluded.started_at, lease_until = excluded.lease_until",
                    )
                    .bind(node.as_str())
                    .bind($time::bind(at))
                    .bind($time::bind(until))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(released)
                }

                async fn renew_node(&self, node: &NodeId, now: DateTime<Utc>, until: DateTime<Utc>) -> Result<bool, StoreError> {
                    let renewed = sqlx::query("UPDATE nodes SET lease_until = $2 WHERE id = $1")
                        .bind(node.as_str())
                        .bind($time::bind(until))
                        .execute(&self.pool)
                        .await
                        .map_err(store_error)?
                        .rows_affected();
                    if renewed > 0 {
                        return Ok(true);
                    }
                    sqlx::query(
                        "INSERT INTO nodes (id, started_at, lease_until) VALUES ($1, $2, $3) \
                         ON CONFLICT (id) DO UPDATE SET lease_until = excluded.lease_until",
                    )
                    .bind(node.as_str())
                    .bind($time::bind(now))
                    .bind($time::bind(until))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                    Ok(false)
                }

                async fn retire_node(&self, node: &NodeId) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    Self::disconnect_where(
                        &mut tx,
                        |n| format!("t.id IN (SELECT o.charger_id FROM charger_owners o WHERE o.node_id = ${n})"),
                        &[node.as_str()],
                    )
                    .await?;
                    // Its ownerships go with it.
                    sqlx::query("DELETE FROM charger_owners WHERE node_id = $1")
                        .bind(node.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    sqlx::query("DELETE FROM nodes WHERE id = $1")
                        .bind(node.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)
                }

                async fn sweep_lapsed_nodes(&self, now: DateTime<Utc>, strays: bool) -> Result<u64, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let lapsed: Vec<String> = sqlx::query("SELECT id FROM nodes WHERE lease_until <= $1")
                        .bind($time::bind(now))
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(store_error)?
                        .iter()
                        .map(|row| row.try_get::<String, _>("id"))
                        .collect::<Result<_, _>>()
                        .map_err(store_error)?;
                    for node in &lapsed {
                        // Its action leases lapse with it: another node's runner may take the
                        // actions up at once, instead of when each action's own lease runs out.
                        sqlx::query(
                            "UPDATE actions SET lease_holder = NULL, lease_until = NULL \
                             WHERE lease_holder = $1 AND state = 'PENDING'",
                        )
                        .bind(node)
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                        // What it sent will get no answer: its operations fail, and the
                        // reservations they asked for are not made.
                        sqlx::query(
                            "UPDATE charger_reservations SET status = 'REJECTED', updated_at = $2 \
                             WHERE status = 'REQUESTED' AND operation_id IN (SELECT id FROM charger_operations \
                             WHERE node_id = $1 AND status IN ('PENDING', 'SENT'))",
                        )
                        .bind(node)
                        .bind($time::bind(now))
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                        sqlx::query(
                            "UPDATE charger_operations SET status = 'FAILED', failure_kind = 'INTERRUPTED', \
                             failure_detail = 'the Coupler node that sent it stopped before the charger answered', \
                             answered_at = $2, revision = revision + 1 \
                             WHERE node_id = $1 AND status IN ('PENDING', 'SENT')",
                        )
                        .bind(node)
                        .bind($time::bind(now))
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                        sqlx::query("DELETE FROM charger_owners WHERE node_id = $1")
                            .bind(node)
                            .execute(&mut *tx)
                            .await
                            .map_err(store_error)?;
                        sqlx::query("DELETE FROM nodes WHERE id = $1 AND lease_until <= $2")
                            .bind(node)
                            .bind($time::bind(now))
                            .execute(&mut *tx)
                            .await
                            .map_err(store_error)?;
                    }
                    if lapsed.is_empty() && !strays {
                        tx.commit().await.map_err(store_error)?;
                        return Ok(0);
                    }
                    // Whatever no node holds is not connected: the chargers of the nodes just
                    // removed, and any a crash left marked.
                    let disconnected = Self::disconnect_where(
                        &mut tx,
                        |_| "NOT EXISTS (SELECT 1 FROM charger_owners o WHERE o.charger_id = t.id)".to_owned(),
                        &[],
                    )
                    .await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(disconnected)
                }

                async fn claim_charger(
                    &self,
                    charger: &ChargerId,
                    node: &NodeId,
                    connection: i64,
                    at: DateTime<Utc>,
                ) -> Result<Option<NodeId>, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let before: Option<String> = sqlx::query("SELECT node_id FROM charger_owners WHERE charger_id = $1")
                        .bind(charger.as_str())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(store_error)?
                        .map(|row| row.try_get("node_id"))
                        .transpose()
                        .map_err(store_error)?;
                    sqlx::query(
                        "INSERT INTO charger_owners (charger_id, node_id, connection, since) \
                         SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM chargers WHERE id = $1) \
                         ON CONFLICT (charger_id) DO UPDATE SET node_id = excluded.node_id, \
                         connection = excluded.connection, since = excluded.since",
                    )
                    .bind(charger.as_str())
                    .bind(node.as_str())
                    .bind(connection)
                    .bind($time::bind(at))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    before
                        .filter(|previous| previous != node.as_str())
                        .map(node_id)
                        .transpose()
                }

                async fn release_charger(&self, charger: &ChargerId, node: &NodeId, connection: i64) -> Result<bool, StoreError> {
                    let released = sqlx::query(
                        "DELETE FROM charger_owners WHERE charger_id = $1 AND node_id = $2 AND connection = $3",
                    )
                    .bind(charger.as_str())
                    .bind(node.as_str())
                    .bind(connection)
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?
                    .rows_affected();
                    Ok(released > 0)
                }

                async fn charger_owner(&self, charger: &ChargerId, now: DateTime<Utc>) -> Result<Option<NodeId>, StoreError> {
                    let row = sqlx::query(
                        "SELECT o.node_id FROM charger_owners o JOIN nodes n ON n.id = o.node_id \
                         WHERE o.charger_id = $1 AND n.lease_until > $2",
                    )
                    .bind(charger.as_str())
                    .bind($time::bind(now))
                    .fetch_optional(&self.reads)
                    .await
                    .map_err(store_error)?;
                    row.map(|row| row.try_get::<String, _>("node_id").map_err(store_error).and_then(node_id))
                        .transpose()
                }

                async fn claim_singleton(
                    &self,
                    name: &str,
                    node: &NodeId,
                    now: DateTime<Utc>,
                    until: DateTime<Utc>,
                ) -> Result<bool, StoreError> {
                    // The upsert's WHERE leaves a live lease of another node alone (no row touched).
                    let claimed = sqlx::query(
                        "INSERT INTO singleton_leases (name, node_id, lease_until) VALUES ($1, $2, $3) \
                         ON CONFLICT (name) DO UPDATE SET node_id = excluded.node_id, lease_until = excluded.lease_until \
                         WHERE singleton_leases.node_id = excluded.node_id OR singleton_leases.lease_until <= $4",
                    )
                    .bind(name)
                    .bind(node.as_str())
                    .bind($time::bind(until))
                    .bind($time::bind(now))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?
                    .rows_affected();
                    Ok(claimed > 0)
                }

                async fn release_singletons(&self, node: &NodeId) -> Result<u64, StoreError> {
                    let released = sqlx::query("DELETE FROM singleton_leases WHERE node_id = $1")
                        .bind(node.as_str())
                        .execute(&self.pool)
                        .await
                        .map_err(store_error)?
                        .rows_affected();
                    Ok(released)
                }

                async fn singleton_holders(&self, now: DateTime<Utc>) -> Result<Vec<(String, NodeId)>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT name, node_id FROM singleton_leases WHERE lease_until > $1 ORDER BY name",
                    )
                    .bind($time::bind(now))
                    .fetch_all(&self.reads)
                    .await
                    .map_err(store_error)?;
                    rows.into_iter()
                        .map(|row| {
                            let name = row.try_get::<String, _>("name").map_err(store_error)?;
                            let holder = row.try_get::<String, _>("node_id").map_err(store_error).and_then(node_id)?;
                            Ok((name, holder))
                        })
                        .collect()
                }

                async fn live_nodes(&self, now: DateTime<Utc>) -> Result<Vec<NodeId>, StoreError> {
                    let rows = sqlx::query("SELECT id FROM nodes WHERE lease_until > $1 ORDER BY id")
                        .bind($time::bind(now))
                        .fetch_all(&self.reads)
                        .await
                        .map_err(store_error)?;
                    rows.into_iter()
                        .map(|row| row.try_get::<String, _>("id").map_err(store_error).and_then(node_id))
                        .collect()
                }
            }
        };
    };
}

pub(crate) use impl_node_store;
