//! Users: `PUT|GET|DELETE /users/{userId}` and `GET /users`.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use coupler_core::{PageRequest, User, UserId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::state::AppState;

/// A user of the calling client.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserResponse {
    /// The app's own identifier for the user.
    #[schema(example = "user-123")]
    pub id: String,
    /// When Coupler first saw the user.
    pub created_at: DateTime<Utc>,
    /// Vendor accounts the user has linked.
    pub linked_vendors: Vec<LinkedVendor>,
}

/// A vendor account a user has linked.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkedVendor {
    /// The vendor, for example `TESLA`.
    pub vendor: String,
    /// The kind of device, for example `vehicle`.
    #[schema(value_type = crate::wire::VendorType)]
    pub vendor_type: String,
    /// `false` when the credentials stopped working and the user must link again.
    pub is_valid: bool,
}

impl From<User> for UserResponse {
    fn from(user: User) -> Self {
        Self {
            id: user.id.as_str().to_owned(),
            created_at: user.created_at,
            linked_vendors: Vec::new(),
        }
    }
}

/// Cursor pagination parameters shared by every list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub page_size: Option<u32>,
    /// Cursor from `pagination.after` of the previous response: the next (older) page. Not
    /// together with `before` (422).
    pub after: Option<String>,
    /// Cursor from `pagination.before` of the previous response: the previous (newer) page. Not
    /// together with `after` (422).
    pub before: Option<String>,
}

impl PageQuery {
    /// Checks the parameters.
    pub fn parse(&self) -> Result<PageRequest, ApiError> {
        PageRequest::parse(self.page_size, self.after.as_deref(), self.before.as_deref()).map_err(|e| {
            let malformed = matches!(e, coupler_core::CursorError::Malformed);
            let error = ApiError::from(e);
            match (malformed, self.after.is_some()) {
                // The cursor that was sent is the one that is wrong.
                (true, false) => {
                    ApiError::invalid("the pagination cursor is not valid").at(crate::error::InvalidValue::named(
                        crate::error::ValueLocation::Query,
                        "before",
                        "the pagination cursor is not valid",
                    )
                    .expected("a cursor from a previous page's 'pagination'"))
                }
                _ => error,
            }
        })
    }
}

impl PageQuery {
    /// [`PageQuery::parse`] for a list whose entries are numbered (sessions by their transaction,
    /// reservations by their id): a cursor naming anything else was not made for one of its pages.
    pub fn parse_numbered(&self) -> Result<PageRequest, ApiError> {
        let page = self.parse()?;
        let (key, name) = match &page.cursor {
            Some(coupler_core::Cursor::After(key)) => (key, "after"),
            Some(coupler_core::Cursor::Before(key)) => (key, "before"),
            None => return Ok(page),
        };
        if key.id.parse::<i64>().is_ok() {
            return Ok(page);
        }
        Err(
            ApiError::invalid("the pagination cursor is not valid").at(crate::error::InvalidValue::named(
                crate::error::ValueLocation::Query,
                name,
                "the pagination cursor is not one of this list's",
            )
            .expected("a cursor from a previous page's 'pagination'")),
        )
    }
}

/// Cursors leading to the neighbouring pages; `null` where there is none.
#[derive(Debug, Serialize, ToSchema)]
pub struct Pagination {
    /// Pass as `after` for the next (older) page.
    pub after: Option<String>,
    /// Pass as `before` for the previous (newer) page.
    pub before: Option<String>,
}

/// A page of users, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    /// The users.
    pub data: Vec<UserResponse>,
    /// Cursors to the neighbouring pages.
    pub pagination: Pagination,
}

fn user_id(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw).map_err(|e| ApiError::bad_request(e.to_string()).at_path("userId"))
}

/// Creates a user, or keeps the one that exists.
#[utoipa::path(
    put,
    path = "/users/{userId}",
    tag = "users",
    params(("userId" = String, Path, pattern = "^[^\\s/\\x00-\\x1F\\x7F-\\x9F]([^/\\x00-\\x1F\\x7F-\\x9F]*[^\\s/\\x00-\\x1F\\x7F-\\x9F])?$", max_length = 255, description = "The app's own identifier for the user")),
    responses(
        (status = 201, description = "The user was created", body = UserResponse),
        (status = 200, description = "The user already existed and is unchanged", body = UserResponse),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn put_user(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(raw_id): ApiPath<String>,
) -> Result<(StatusCode, ApiJson<UserResponse>), ApiError> {
    let id = user_id(&raw_id)?;
    let (user, created) = state.store.upsert_user(&caller.client_id, &id).await?;
    if created {
        tracing::info!("user created");
    }
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, ApiJson(with_vendors(&state, &caller, user).await?)))
}

/// Reads one user.
#[utoipa::path(
    get,
    path = "/users/{userId}",
    tag = "users",
    params(("userId" = String, Path, pattern = "^[^\\s/\\x00-\\x1F\\x7F-\\x9F]([^/\\x00-\\x1F\\x7F-\\x9F]*[^\\s/\\x00-\\x1F\\x7F-\\x9F])?$", max_length = 255, description = "The app's own identifier for the user")),
    responses(
        (status = 200, description = "The user", body = UserResponse),
        (status = 404, description = "The client has no such user", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_user(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(raw_id): ApiPath<String>,
) -> Result<ApiJson<UserResponse>, ApiError> {
    let id = user_id(&raw_id)?;
    let user = state
        .store
        .get_user(&caller.client_id, &id)
        .await?
        .ok_or_else(|| no_user(&id))?;
    Ok(ApiJson(with_vendors(&state, &caller, user).await?))
}

/// Deletes a user and everything that belongs to it.
#[utoipa::path(
    delete,
    path = "/users/{userId}",
    tag = "users",
    params(("userId" = String, Path, pattern = "^[^\\s/\\x00-\\x1F\\x7F-\\x9F]([^/\\x00-\\x1F\\x7F-\\x9F]*[^\\s/\\x00-\\x1F\\x7F-\\x9F])?$", max_length = 255, description = "The app's own identifier for the user")),
    responses(
        (status = 204, description = "The user and all of its data are gone"),
        (status = 404, description = "The client has no such user", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn delete_user(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(raw_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = user_id(&raw_id)?;
    if !state.store.delete_user(&caller.client_id, &id).await? {
        return Err(no_user(&id));
    }
    tracing::info!("user deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Lists the client's users, newest first.
#[utoipa::path(
    get,
    path = "/users",
    tag = "users",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of users", body = UserPage),
        (status = "4XX", description = "Bad pagination parameters or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn list_users(
    caller: Caller,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<ApiJson<UserPage>, ApiError> {
    let page = state.store.list_users(&caller.client_id, &query.parse()?).await?;
    let mut data = Vec::with_capacity(page.items.len());
    for user in page.items {
        data.push(with_vendors(&state, &caller, user).await?);
    }
    Ok(ApiJson(UserPage {
        data,
        pagination: Pagination {
            after: page.after.map(|k| k.encode()),
            before: page.before.map(|k| k.encode()),
        },
    }))
}

/// The user with the vendor accounts it has linked.
async fn with_vendors(state: &AppState, caller: &Caller, user: User) -> Result<UserResponse, ApiError> {
    let accounts = state.store.list_vendor_accounts(&caller.client_id, &user.id).await?;
    let mut response = UserResponse::from(user);
    response.linked_vendors = accounts
        .into_iter()
        .map(|a| LinkedVendor {
            vendor: a.vendor.as_str().to_owned(),
            vendor_type: "vehicle".to_owned(),
            is_valid: a.is_valid,
        })
        .collect();
    Ok(response)
}

fn no_user(id: &UserId) -> ApiError {
    ApiError::not_found(format!("no user '{id}'"))
}
