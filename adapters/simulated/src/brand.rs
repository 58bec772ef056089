//! The simulated brands, and how each differs from the others.

use coupler_core::capability::{ModelCapabilities, Support};
use coupler_core::Vendor;

/// A simulated maker. Each has its own OAuth server and API under `/{slug}` and its own vendor name in
/// Coupler, and each behaves like a kind of real maker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Brand {
    /// Full control: start, stop, and charging current (like Tesla). Its older "Classic" model cannot
    /// set the charging current, so capabilities differ per model too.
    Aurora,
    /// Can start charging but not stop it (like makers whose API only offers "charge now").
    Boreal,
    /// Read-only: data and location, no commands (like BMW CarData or Volvo's Energy API).
    Cirrus,
    /// Falls asleep when idle and rate-limits hard (like Tesla's sleeping cars and Hyundai/Kia's
    /// daily limits): a sleeping car answers 408 until woken.
    Nimbus,
}

impl Brand {
    /// Every brand.
    pub const ALL: [Brand; 4] = [Brand::Aurora, Brand::Boreal, Brand::Cirrus, Brand::Nimbus];

    /// The brand's path segment, for example `aurora`.
    pub fn slug(self) -> &'static str {
        match self {
            Self::Aurora => "aurora",
            Self::Boreal => "boreal",
            Self::Cirrus => "cirrus",
            Self::Nimbus => "nimbus",
        }
    }

    /// The brand for a path segment.
    pub fn from_slug(slug: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.slug() == slug)
    }

    /// The vendor name in Coupler, for example `SIM_AURORA`.
    pub fn vendor(self) -> Vendor {
        let name = match self {
            Self::Aurora => "SIM_AURORA",
            Self::Boreal => "SIM_BOREAL",
            Self::Cirrus => "SIM_CIRRUS",
            Self::Nimbus => "SIM_NIMBUS",
        };
        // Constant, valid names: this cannot fail at run time, and the tests below check each one.
        Vendor::parse(name).expect("the simulated vendor names are valid")
    }

    /// The brand's name for people.
    pub fn name(self) -> &'static str {
        match self {
            Self::Aurora => "Aurora",
            Self::Boreal => "Boreal",
            Self::Cirrus => "Cirrus",
            Self::Nimbus => "Nimbus",
        }
    }

    /// How Coupler's link page shows it.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Aurora => "Aurora (simulated; full control)",
            Self::Boreal => "Boreal (simulated; cannot stop charging)",
            Self::Cirrus => "Cirrus (simulated; read-only)",
            Self::Nimbus => "Nimbus (simulated; sleeps and rate-limits)",
        }
    }

    /// Whether its cars fall asleep when idle.
    pub fn sleeps(self) -> bool {
        self == Self::Nimbus
    }

    /// Whether it limits requests per account.
    pub fn rate_limits(self) -> bool {
        self == Self::Nimbus
    }

    /// What the brand's API lets a client do with `model`.
    pub fn capabilities(self, model: &str) -> ModelCapabilities {
        match self {
            Self::Aurora if model.contains("Classic") => ModelCapabilities {
                set_max_current: Support::no("Aurora Classic cars cannot have their charging current set remotely"),
                ..ModelCapabilities::full()
            },
            Self::Aurora | Self::Nimbus => ModelCapabilities::full(),
            Self::Boreal => ModelCapabilities {
                stop_charging: Support::no("Boreal's API cannot stop charging; only the car or the charger can"),
                ..ModelCapabilities::full()
            },
            Self::Cirrus => ModelCapabilities::read_only("Cirrus's API is read-only: it has no charging commands"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_brand_has_a_valid_vendor_name_and_a_slug_that_reads_back() {
        for brand in Brand::ALL {
            assert!(brand.vendor().as_str().starts_with("SIM_"));
            assert_eq!(Brand::from_slug(brand.slug()), Some(brand));
        }
    }

    #[test]
    fn brands_differ_in_what_they_can_do() {
        assert!(Brand::Aurora.capabilities("A1").set_max_current.is_yes());
        assert!(!Brand::Aurora.capabilities("Classic").set_max_current.is_yes());
        assert!(!Brand::Boreal.capabilities("B").stop_charging.is_yes());
        assert!(Brand::Boreal.capabilities("B").start_charging.is_yes());
        assert!(!Brand::Cirrus.capabilities("C").start_charging.is_yes());
        assert!(Brand::Nimbus.sleeps() && Brand::Nimbus.rate_limits());
    }
}
