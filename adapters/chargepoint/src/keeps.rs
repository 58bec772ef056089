//! What the charge point keeps besides its connector and transaction: periodic timers, charging
//! profiles, firmware and upload jobs, the reservation, the local authorisation list and cache
//! entries, and installed certificates.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use coupler_ocpp::OcppVersion;
use serde_json::Value;

use crate::machine::{ChargePoint, JobKind, Moment, Out, Tx};
use crate::profile::{Profile, Purpose};

/// How long each step of a firmware update or an upload takes.
pub const JOB_STEP: Duration = Duration::from_secs(1);

/// A message that falls due every interval; a zero interval never falls due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Periodic {
    interval: Duration,
    pub(crate) next_due: Option<Instant>,
}

impl Periodic {
    pub(crate) const fn stopped(interval: Duration) -> Self {
        Self {
            interval,
            next_due: None,
        }
    }

    /// Starts it: first due at `now + phase`, then every interval.
    pub(crate) fn start(&mut self, now: Instant, phase: Option<Duration>) {
        if !self.interval.is_zero() {
            self.next_due = Some(now + phase.unwrap_or(self.interval));
        }
    }

    pub(crate) fn stop(&mut self) {
        self.next_due = None;
    }

    pub(crate) fn is_running(&self) -> bool {
        self.next_due.is_some()
    }

    /// A new interval, from now on.
    pub(crate) fn retime(&mut self, now: Instant, interval: Duration) {
        let running = self.is_running();
        self.interval = interval;
        self.next_due = None;
        if running {
            self.start(now, None);
        }
    }

    /// Whether it is due at `now`. When it is, it falls due again one interval after the time it
    /// was due, keeping its phase; if that is already past (the charger was blocked or offline),
    /// one interval after `now`, so a late charger sends one message, not a burst.
    pub(crate) fn fire(&mut self, now: Instant) -> bool {
        let Some(due) = self.next_due else {
            return false;
        };
        if due > now {
            return false;
        }
        let next = due + self.interval;
        self.next_due = Some(if next > now { next } else { now + self.interval });
        true
    }
}

/// A firmware update or an upload under way: the statuses still to report, one a step.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) kind: JobKind,
    pub(crate) steps: VecDeque<&'static str>,
    pub(crate) request_id: Option<i32>,
    pub(crate) next_at: Instant,
}

/// The reservation the charge point holds for its connector.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reservation {
    pub(crate) id: i32,
    pub(crate) id_tag: String,
    pub(crate) expires_at: DateTime<Utc>,
}

/// An authorisation status as the local list and the cache keep it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuthEntry {
    /// The OCPP status word (`Accepted`, `Blocked`, `Expired`, `Invalid`, ...).
    pub(crate) status: String,
    /// When an accepted entry stops being so.
    pub(crate) expires_at: Option<DateTime<Utc>>,
}

impl AuthEntry {
    pub(crate) fn accepts(&self, at: DateTime<Utc>) -> bool {
        self.status == "Accepted" && self.expires_at.is_none_or(|e| at < e)
    }
}

/// An installed certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Certificate {
    /// Its use, as the version names it (`CentralSystemRootCertificate`, `CSMSRootCertificate`,
    /// `ChargePointCertificate`, ...).
    pub(crate) kind: String,
    /// The PEM text.
    pub(crate) pem: String,
    /// Its serial number as reported (the charge point does not parse X.509: the serial is the
    /// order of installation and the hashes are of the PEM text, consistent across calls).
    pub(crate) serial: String,
}

impl Certificate {
    /// The hash data that names it (OCPP CertificateHashDataType).
    pub(crate) fn hash_data(&self) -> Value {
        use sha2::{Digest, Sha256};
        let name = hex::encode(Sha256::digest(format!("issuer-name:{}", self.pem)));
        let key = hex::encode(Sha256::digest(format!("issuer-key:{}", self.pem)));
        serde_json::json!({
            "hashAlgorithm": "SHA256",
            "issuerNameHash": name,
            "issuerKeyHash": key,
            "serialNumber": self.serial,
        })
    }
}

impl ChargePoint {
    // ---- Profiles. ----

    /// Installs a profile, replacing one with the same id, or with the same purpose, stack level
    /// and connector (OCPP 1.6 §3.13.2).
    pub(crate) fn install(&mut self, profile: Profile) {
        self.profiles.retain(|p| {
            p.id != profile.id
                && !(p.purpose == profile.purpose
                    && p.stack_level == profile.stack_level
                    && p.connector == profile.connector)
        });
        self.profiles.push(profile);
    }

    /// Installs `profile`, set on `connector`, if it fits (OCPP 1.6 §5.16 / 2.0.1 K01): a Tx
    /// profile needs a running transaction (the one it names, if it names one), a station maximum
    /// belongs on connector 0, there is one connector, stack levels go up to the configured
    /// maximum, and no more profiles than the configured number are held. Whether it was installed.
    pub(crate) fn set_profile(&mut self, profile: Profile, connector: i64) -> bool {
        let running = self.tx.id().map(str::to_owned);
        let max_level = i64::try_from(self.settings.number("ChargeProfileMaxStackLevel")).unwrap_or(10);
        let max_count = usize::try_from(self.settings.number("MaxChargingProfilesInstalled")).unwrap_or(20);
        let replaces = self.profiles.iter().any(|p| p.id == profile.id);
        let fits = match profile.purpose {
            Purpose::Tx => {
                running.is_some()
                    && profile
                        .transaction_id
                        .as_ref()
                        .is_none_or(|t| Some(t) == running.as_ref())
            }
            Purpose::StationMax => connector == 0,
            Purpose::TxDefault => true,
        } && (0..=1).contains(&connector)
            && (0..=max_level).contains(&profile.stack_level)
            && (replaces || self.profiles.len() < max_count);
        if fits {
            self.install(profile);
        }
        fits
    }

    /// Removes profiles matching every criterion given; whether any matched.
    pub(crate) fn clear_profiles(
        &mut self,
        id: Option<i64>,
        connector: Option<i64>,
        purpose: Option<Purpose>,
        stack: Option<i64>,
    ) -> bool {
        let before = self.profiles.len();
        self.profiles.retain(|p| {
            !(id.is_none_or(|id| p.id == id)
                && connector.is_none_or(|c| p.connector == c)
                && purpose.is_none_or(|x| p.purpose == x)
                && stack.is_none_or(|s| p.stack_level == s))
        });
        self.profiles.len() != before
    }

    /// The composite schedule from `at` for `duration_s`: `(seconds from start, amperes)`.
    pub(crate) fn composite(&self, at: DateTime<Utc>, duration_s: i64) -> Vec<(i64, f64)> {
        crate::profile::composite(
            &self.profiles,
            at,
            duration_s,
            self.tx_context(),
            self.config.max_current,
        )
    }

    // ---- Jobs, reservations, authorisation, certificates. ----

    /// Starts reporting a firmware update or an upload: `steps` are sent one every [`JOB_STEP`].
    pub(crate) fn start_job(&mut self, at: Moment, kind: JobKind, steps: &[&'static str], request_id: Option<i32>) {
        // A new request replaces one of the same kind under way (2.0.1 AcceptedCanceled).
        self.jobs.retain(|j| j.kind.is_upload() != kind.is_upload());
        self.jobs.push(Job {
            kind,
            steps: steps.iter().copied().collect(),
            request_id,
            next_at: at.instant + JOB_STEP,
        });
    }

    /// Whether a job of the kind (firmware or upload) is under way.
    pub(crate) fn job_running(&self, upload: bool) -> bool {
        self.jobs.iter().any(|j| j.kind.is_upload() == upload)
    }

    pub(crate) fn advance_jobs(&mut self, now: Instant) {
        let mut due = Vec::new();
        for job in &mut self.jobs {
            if now >= job.next_at {
                if let Some(status) = job.steps.pop_front() {
                    due.push((job.kind, status, job.request_id));
                    job.next_at = now + JOB_STEP;
                }
            }
        }
        self.jobs.retain(|j| !j.steps.is_empty());
        for (kind, status, request_id) in due {
            if kind.is_upload() {
                self.upload_status = status;
            } else {
                self.firmware_status = status;
                if status == "Installed" {
                    self.push(Out::SecurityEvent("FirmwareUpdated"));
                }
            }
            self.push(Out::JobStatus {
                kind,
                status,
                request_id,
            });
        }
    }

    /// Ends a reservation whose time ran out (2.0.1 says so in a ReservationStatusUpdate; the
    /// connector's status says it in both versions).
    pub(crate) fn expire_reservation(&mut self, wall: DateTime<Utc>) {
        if self.reservation.as_ref().is_some_and(|r| wall >= r.expires_at) {
            if let Some(expired) = self.reservation.take() {
                if self.config.version == OcppVersion::V201 {
                    self.push(Out::ReservationExpired(expired.id));
                }
            }
        }
    }

    /// A ReserveNow for the one connector (0: any, which is the same here): the OCPP status word.
    pub(crate) fn reserve(
        &mut self,
        at: Moment,
        id: i32,
        connector: i32,
        id_tag: String,
        expires_at: DateTime<Utc>,
    ) -> &'static str {
        if !(0..=1).contains(&connector) || !self.settings.flag("ReservationEnabled") || expires_at <= at.wall {
            return "Rejected";
        }
        if !self.available {
            return "Unavailable";
        }
        // A reservation with the same id replaces the one held (OCPP 1.6 §5.13).
        let other = self.reservation.as_ref().is_some_and(|r| r.id != id);
        if other || self.tx != Tx::Idle || self.plugged.is_some() || self.waiting_remote_start.is_some() {
            return "Occupied";
        }
        self.reservation = Some(Reservation { id, id_tag, expires_at });
        "Accepted"
    }

    /// A CancelReservation: whether the reservation was held.
    pub(crate) fn cancel_reservation(&mut self, id: i32) -> bool {
        self.reservation.take_if(|r| r.id == id).is_some()
    }

    /// Installs a certificate; whether it looked like one (PEM).
    pub(crate) fn install_certificate(&mut self, kind: &str, pem: &str) -> bool {
        if !pem.trim_start().starts_with("-----BEGIN CERTIFICATE-----") {
            return false;
        }
        self.certificates_installed += 1;
        let serial = format!("{:x}", self.certificates_installed);
        // One certificate per use replaces the previous for the charge point's own one.
        if kind.contains("ChargePointCertificate") || kind.contains("ChargingStationCertificate") {
            self.certificates.retain(|c| c.kind != kind);
        }
        self.certificates.push(Certificate {
            kind: kind.to_owned(),
            pem: pem.to_owned(),
            serial,
        });
        self.push(Out::SecurityEvent(if kind.contains("Root") {
            "CertificateInstalled"
        } else {
            "ChargePointCertificateInstalled"
        }));
        true
    }

    /// Clears the authorisation cache.
    pub(crate) fn clear_cache(&mut self) {
        self.auth_cache.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    pub(crate) fn a_periodic_message_first_falls_due_after_its_phase() {
        let start = Instant::now();
        let mut timer = Periodic::stopped(10 * SECOND);
        assert!(!timer.fire(start + 100 * SECOND), "a stopped timer never fires");
        timer.start(start, Some(3 * SECOND));
        assert!(!timer.fire(start + 2 * SECOND));
        assert!(timer.fire(start + 3 * SECOND));
        assert_eq!(timer.next_due, Some(start + 13 * SECOND));
    }

    #[test]
    pub(crate) fn a_periodic_message_keeps_its_phase_when_it_fires_a_little_late() {
        let start = Instant::now();
        let mut timer = Periodic::stopped(10 * SECOND);
        timer.start(start, Some(Duration::ZERO));
        assert!(timer.fire(start + Duration::from_millis(300)));
        assert_eq!(timer.next_due, Some(start + 10 * SECOND));
    }

    #[test]
    pub(crate) fn a_late_timer_fires_once_instead_of_catching_up_in_a_burst() {
        let start = Instant::now();
        let mut timer = Periodic::stopped(10 * SECOND);
        timer.start(start, Some(Duration::ZERO));
        let late = start + 95 * SECOND;
        assert!(timer.fire(late));
        assert!(!timer.fire(late), "fires once");
        assert_eq!(timer.next_due, Some(late + 10 * SECOND));
    }

    #[test]
    pub(crate) fn a_zero_interval_disables_the_message() {
        let start = Instant::now();
        let mut timer = Periodic::stopped(Duration::ZERO);
        timer.start(start, Some(Duration::ZERO));
        assert_eq!(timer.next_due, None);
        assert!(!timer.fire(start + 1000 * SECOND));
    }

    #[test]
    pub(crate) fn a_stopped_timer_no_longer_falls_due() {
        let start = Instant::now();
        let mut timer = Periodic::stopped(SECOND);
        timer.start(start, Some(Duration::ZERO));
        timer.stop();
        assert!(!timer.fire(start + 5 * SECOND));
    }
}
