//! Interventions users must resolve.

/// Implements [`coupler_core::InterventionStore`] for `$store` (rows `$row`, times through `$time`).
macro_rules! impl_intervention_store {
    ($store:ident, $row:ty, $time:ident) => {
        const _: () = {
            use async_trait::async_trait;
            use coupler_core::account::VendorAccountId;
            use coupler_core::intervention::{Intervention, InterventionId, InterventionKind};
            use coupler_core::page::{Cursor, Page, PageKey, PageRequest};
            use coupler_core::{ClientId, InterventionStore, StoreError, UserId, Vendor};
            use sqlx::Row;

            use crate::store_error;

            const COLUMNS: &str = "i.id AS id, i.client_id AS client_id, u.external_id AS external_id, \
                 i.account_id AS account_id, i.vendor AS vendor, i.kind AS kind, i.detail AS detail, \
                 i.created_at AS created_at, i.resolved_at AS resolved_at";
            const FROM: &str = "FROM interventions i JOIN users u ON u.id = i.user_id";

            fn intervention_from_row(row: &$row) -> Result<Intervention, sqlx::Error> {
                let user: String = row.try_get("external_id")?;
                let vendor: String = row.try_get("vendor")?;
                let kind: String = row.try_get("kind")?;
                Ok(Intervention {
                    id: InterventionId::new(row.try_get::<String, _>("id")?),
                    client_id: ClientId::new(row.try_get::<String, _>("client_id")?),
                    user_id: UserId::parse(&user).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                    account_id: VendorAccountId::new(row.try_get::<String, _>("account_id")?),
                    vendor: Vendor::parse(&vendor).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                    kind: InterventionKind::parse(&kind)
                        .ok_or_else(|| sqlx::Error::Decode(format!("kind '{kind}'").into()))?,
                    detail: row.try_get("detail")?,
                    created_at: $time::read(row, "created_at")?,
                    resolved_at: $time::read_opt(row, "resolved_at")?,
                })
            }

            #[async_trait]
            impl InterventionStore for $store {
                async fn list_interventions(
                    &self,
                    client: &ClientId,
                    include_resolved: bool,
                    page: &PageRequest,
                ) -> Result<Page<Intervention>, StoreError> {
                    let limit = i64::from(page.size) + 1;
                    let open_filter = if include_resolved {
                        ""
                    } else {
                        "AND i.resolved_at IS NULL"
                    };
                    let (cursor_filter, order, limit_param, key) = match &page.cursor {
                        None => ("", "DESC", "$2", None),
                        Some(Cursor::After(key)) => ("AND (i.created_at, i.id) < ($2, $3)", "DESC", "$4", Some(key)),
                        Some(Cursor::Before(key)) => ("AND (i.created_at, i.id) > ($2, $3)", "ASC", "$4", Some(key)),
                    };
                    let sql = format!(
                        "SELECT {COLUMNS} {FROM} WHERE i.client_id = $1 {open_filter} {cursor_filter} \
                         ORDER BY i.created_at {order}, i.id {order} LIMIT {limit_param}"
                    );
                    let mut query = sqlx::query(&sql).bind(client.as_str());
                    if let Some(key) = key {
                        query = query.bind($time::bind(key.created_at)).bind(key.id.clone());
                    }
                    let rows = query
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(store_error)?;
                    let mut found = rows
                        .iter()
                        .map(intervention_from_row)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(store_error)?;
                    if matches!(page.cursor, Some(Cursor::Before(_))) {
                        found.reverse();
                    }
                    Ok(Page::from_rows(page, found, |i| PageKey {
                        created_at: i.created_at,
                        id: i.id.as_str().to_owned(),
                    }))
                }

                async fn get_intervention(
                    &self,
                    client: &ClientId,
                    id: &InterventionId,
                ) -> Result<Option<Intervention>, StoreError> {
                    let sql = format!("SELECT {COLUMNS} {FROM} WHERE i.client_id = $1 AND i.id = $2");
                    let row = sqlx::query(&sql)
                        .bind(client.as_str())
                        .bind(id.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_error)?;
                    row.as_ref()
                        .map(intervention_from_row)
                        .transpose()
                        .map_err(store_error)
                }
            }
        };
    };
}

pub(crate) use impl_intervention_store;
