//! Locations: the places a user charges at (home, work), which pairing and smart charging rely on.
//!
//! A charger is placed at one location; a vehicle whose reported position is within
//! [`AT_LOCATION_RADIUS_M`] of a location is "at" it. Matching uses that to rule out a car that is
//! somewhere else when a charger at home sees a plug-in.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::client::ClientId;
use crate::id::time_ordered_id;
use crate::tariff::PriceArea;
use crate::user::UserId;

time_ordered_id!(
    /// Identifies a location.
    LocationId
);

/// How far from a location's point a vehicle may be and still count as being there, in metres.
/// Wide enough for GPS error and a large car park, narrow enough to tell neighbours' streets apart.
pub const AT_LOCATION_RADIUS_M: f64 = 150.0;

/// A place of a user's.
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    /// Identifier.
    pub id: LocationId,
    /// The owning API client.
    pub client_id: ClientId,
    /// The owning user.
    pub user_id: UserId,
    /// What it is, checked.
    pub fields: LocationFields,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// What a client says about a location: checked by [`LocationFields::new`].
#[derive(Debug, Clone, PartialEq)]
pub struct LocationFields {
    /// A name for people, 1 to 100 characters.
    pub name: String,
    /// Degrees north, -90 to 90.
    pub latitude: f64,
    /// Degrees east, -180 to 180.
    pub longitude: f64,
    /// An IANA time zone name, for example `Europe/Oslo`.
    pub timezone_name: String,
    /// The price area the location buys its power in (`DE-LU`, `SE3`): series pushed for the area
    /// and a day-ahead provider's prices for it price the location.
    pub price_area: Option<PriceArea>,
    /// The day-ahead provider of the area's prices (`AWATTAR`); the configured default when absent.
    pub price_provider: Option<String>,
}

/// Why a location is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    /// The name is empty, blank or too long.
    #[error("name must be 1 to 100 characters and not blank")]
    Name,
    /// The latitude is not a number between -90 and 90.
    #[error("latitude must be a number from -90 to 90")]
    Latitude,
    /// The longitude is not a number between -180 and 180.
    #[error("longitude must be a number from -180 to 180")]
    Longitude,
    /// The time zone is not an IANA name.
    #[error("timezoneName '{0}' is not an IANA time zone name (for example 'Europe/Oslo')")]
    TimeZone(String),
}

impl LocationFields {
    /// Checks what a client sent.
    pub fn new(name: &str, latitude: f64, longitude: f64, timezone_name: &str) -> Result<Self, LocationError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(LocationError::Name);
        }
        if !latitude.is_finite() || !(-90.0..=90.0).contains(&latitude) {
            return Err(LocationError::Latitude);
        }
        if !longitude.is_finite() || !(-180.0..=180.0).contains(&longitude) {
            return Err(LocationError::Longitude);
        }
        if timezone_name.parse::<chrono_tz::Tz>().is_err() {
            return Err(LocationError::TimeZone(timezone_name.to_owned()));
        }
        Ok(Self {
            name: name.to_owned(),
            latitude,
            longitude,
            timezone_name: timezone_name.to_owned(),
            price_area: None,
            price_provider: None,
        })
    }

    /// The same location priced in `area` by `provider` (whether the provider exists and serves
    /// the area is for the caller, which knows the configured providers, to check).
    pub fn with_pricing(mut self, area: Option<PriceArea>, provider: Option<String>) -> Self {
        self.price_area = area;
        self.price_provider = provider;
        self
    }

    /// The location's time zone (checked when the fields were made; UTC if a stored name no longer
    /// parses).
    pub fn time_zone(&self) -> chrono_tz::Tz {
        self.timezone_name.parse().unwrap_or(chrono_tz::UTC)
    }

    /// The point.
    pub fn point(&self) -> Point {
        Point {
            latitude: self.latitude,
            longitude: self.longitude,
        }
    }
}

/// A position on the earth.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Degrees north.
    pub latitude: f64,
    /// Degrees east.
    pub longitude: f64,
}

impl Point {
    /// The great-circle distance to `other`, in metres (haversine on a spherical earth, which is
    /// within 0.5 % of the ellipsoid: plenty for a radius of a hundred metres).
    pub fn distance_m(self, other: Point) -> f64 {
        const EARTH_RADIUS_M: f64 = 6_371_000.0;
        let (lat1, lat2) = (self.latitude.to_radians(), other.latitude.to_radians());
        let d_lat = lat2 - lat1;
        let d_lon = (other.longitude - self.longitude).to_radians();
        let a = (d_lat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (d_lon / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * a.sqrt().atan2((1.0 - a).sqrt())
    }

    /// Whether this point counts as being at `location`.
    pub fn is_at(self, location: Point) -> bool {
        self.distance_m(location) <= AT_LOCATION_RADIUS_M
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_location_is_accepted_with_its_name_trimmed() {
        let fields = LocationFields::new("  Home ", 59.91, 10.75, "Europe/Oslo").unwrap();
        assert_eq!(fields.name, "Home");
        assert_eq!(fields.timezone_name, "Europe/Oslo");
    }

    #[test]
    fn out_of_range_coordinates_blank_names_and_unknown_time_zones_are_refused() {
        assert_eq!(LocationFields::new(" ", 0.0, 0.0, "UTC"), Err(LocationError::Name));
        assert_eq!(LocationFields::new("x", 90.5, 0.0, "UTC"), Err(LocationError::Latitude));
        assert_eq!(
            LocationFields::new("x", f64::NAN, 0.0, "UTC"),
            Err(LocationError::Latitude)
        );
        assert_eq!(
            LocationFields::new("x", 0.0, -181.0, "UTC"),
            Err(LocationError::Longitude)
        );
        assert!(matches!(
            LocationFields::new("x", 0.0, 0.0, "Mars/Olympus"),
            Err(LocationError::TimeZone(_))
        ));
    }

    #[test]
    fn distances_are_right_for_known_points() {
        let oslo = Point {
            latitude: 59.9139,
            longitude: 10.7522,
        };
        let bergen = Point {
            latitude: 60.3913,
            longitude: 5.3221,
        };
        let km = oslo.distance_m(bergen) / 1000.0;
        assert!((km - 305.0).abs() < 5.0, "{km}");
        assert!(oslo.distance_m(oslo) < 1e-6);
    }

    #[test]
    fn a_point_a_hundred_metres_away_is_at_the_location_and_one_a_kilometre_away_is_not() {
        let home = Point {
            latitude: 59.9,
            longitude: 10.7,
        };
        // 0.0009 degrees of latitude is about 100 m.
        let near = Point {
            latitude: 59.9009,
            longitude: 10.7,
        };
        let far = Point {
            latitude: 59.909,
            longitude: 10.7,
        };
        assert!(near.is_at(home));
        assert!(!far.is_at(home));
    }
}
