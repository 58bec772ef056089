//! Interventions: something only the user can fix, such as linking an account again after its
//! credentials stopped working.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::account::VendorAccountId;
use crate::client::ClientId;
use crate::user::UserId;
use crate::vehicle::Vendor;

crate::id::time_ordered_id!(
    /// An intervention's identifier.
    InterventionId
);

/// What the user must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InterventionKind {
    /// The vendor refused the account's credentials: link the account again.
    RelinkNeeded,
}

impl InterventionKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RelinkNeeded => "RELINK_NEEDED",
        }
    }

    /// Reads a wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        (raw == "RELINK_NEEDED").then_some(Self::RelinkNeeded)
    }
}

/// Something the user must do before Coupler can go on with a vendor account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intervention {
    /// Identifier.
    pub id: InterventionId,
    /// The API client whose user must act.
    pub client_id: ClientId,
    /// The user who must act.
    pub user_id: UserId,
    /// The account concerned.
    pub account_id: VendorAccountId,
    /// Its vendor.
    pub vendor: Vendor,
    /// What must be done.
    pub kind: InterventionKind,
    /// What happened, for people (never a token or a maker's raw answer with one).
    pub detail: String,
    /// When Coupler raised it.
    pub created_at: DateTime<Utc>,
    /// When it was resolved (the user linked again, or the account was removed).
    pub resolved_at: Option<DateTime<Utc>>,
}

impl Intervention {
    /// A "relink needed" intervention for an account whose credentials were refused.
    pub fn relink_needed(
        client_id: ClientId,
        user_id: UserId,
        account_id: VendorAccountId,
        vendor: Vendor,
        detail: impl Into<String>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: InterventionId::generate(),
            client_id,
            user_id,
            account_id,
            vendor,
            kind: InterventionKind::RelinkNeeded,
            detail: detail.into(),
            created_at: now,
            resolved_at: None,
        }
    }

    /// A title for people.
    pub fn title(&self) -> String {
        match self.kind {
            InterventionKind::RelinkNeeded => format!("Link your {} account again", self.vendor),
        }
    }
}
