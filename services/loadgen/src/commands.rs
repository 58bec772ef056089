//! `--command-latency`: how long a START command takes from the REST API to the charger.
//!
//! For each of K random idle chargers in turn: arm the charger's slot, note the time,
//! `POST /chargers/{id}/charging {"action":"START"}`, and wait for the
//! RemoteStartTransaction CALL to reach that charger's socket. The slot is armed before
//! the request goes out because the CALL may well arrive before the HTTP answer does.

use std::sync::Arc;
use std::time::Duration;

use rand::seq::SliceRandom;
use rand::Rng;
use serde::Serialize;
use tokio::time::{timeout_at, Instant};
use tokio_util::sync::CancellationToken;

use crate::rest::Api;
use crate::session::Slot;
use crate::stats::{self, ErrorLog, LatencySummary};

/// What the command measurement found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandReport {
    /// Commands asked for (`--commands`).
    pub requested: usize,
    /// Idle chargers there were to choose from.
    pub idle_chargers: usize,
    /// REST requests sent.
    pub sent: u64,
    /// RemoteStartTransaction CALLs that reached the charger in time.
    pub arrived: u64,
    /// REST requests that failed (non-2xx or no answer).
    pub rest_errors: u64,
    /// Accepted requests whose CALL did not arrive in time.
    pub timeouts: u64,
    /// REST request sent to CALL arrived, in milliseconds.
    pub latency_ms: Option<LatencySummary>,
    /// The first distinct errors.
    pub errors: Vec<String>,
}

/// Picks up to `count` distinct chargers, at random, among those that are idle now.
pub fn pick_idle<'a>(slots: &'a [Arc<Slot>], count: usize, rng: &mut impl Rng) -> Vec<&'a Arc<Slot>> {
    let idle: Vec<&Arc<Slot>> = slots.iter().filter(|slot| slot.is_idle()).collect();
    idle.choose_multiple(rng, count).copied().collect()
}

/// How many commands to send and how.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Number of commands (each to a different charger).
    pub count: usize,
    /// Pause between two commands.
    pub spacing: Duration,
    /// How long to wait for the CALL after the request was sent.
    pub call_timeout: Duration,
}

/// Sends the commands one after another and measures each.
pub async fn measure(
    api: &Api,
    token: &str,
    slots: &[Arc<Slot>],
    plan: Plan,
    rng: &mut impl Rng,
    shutdown: &CancellationToken,
) -> CommandReport {
    let Plan {
        count,
        spacing,
        call_timeout,
    } = plan;
    let idle_chargers = slots.iter().filter(|slot| slot.is_idle()).count();
    let chosen = pick_idle(slots, count, rng);
    let mut histogram = stats::new_histogram();
    let errors = ErrorLog::default();
    let mut report = CommandReport {
        requested: count,
        idle_chargers,
        sent: 0,
        arrived: 0,
        rest_errors: 0,
        timeouts: 0,
        latency_ms: None,
        errors: Vec::new(),
    };
    for (n, slot) in chosen.into_iter().enumerate() {
        if shutdown.is_cancelled() {
            break;
        }
        if n > 0 {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(spacing) => {}
            }
        }
        let arrival = slot.expect_remote_start();
        let sent_at = Instant::now();
        report.sent += 1;
        let request = tokio::select! {
            () = shutdown.cancelled() => { slot.forget_remote_start(); break }
            result = api.start_charging(token, &slot.charger_id) => result,
        };
        if let Err(error) = request {
            report.rest_errors += 1;
            errors.note(&format!("{error:#}"));
            slot.forget_remote_start();
            continue;
        }
        let waited = tokio::select! {
            () = shutdown.cancelled() => { slot.forget_remote_start(); break }
            waited = timeout_at(sent_at + call_timeout, arrival) => waited,
        };
        match waited {
            Ok(Ok(arrived_at)) => {
                report.arrived += 1;
                stats::record(&mut histogram, arrived_at.saturating_duration_since(sent_at));
            }
            Ok(Err(_)) | Err(_) => {
                report.timeouts += 1;
                errors.note(&format!(
                    "no RemoteStartTransaction reached {} within {} s",
                    slot.ocpp_id,
                    call_timeout.as_secs_f64()
                ));
                slot.forget_remote_start();
            }
        }
    }
    report.latency_ms = LatencySummary::of(&histogram);
    report.errors = errors.messages();
    report
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn only_idle_chargers_are_picked_and_none_twice() {
        let slots: Vec<Arc<Slot>> = (0..10)
            .map(|i| Arc::new(Slot::new(format!("LG-{i}"), format!("chg_{i}"))))
            .collect();
        let mut rng = StdRng::seed_from_u64(1);
        assert!(pick_idle(&slots, 5, &mut rng).is_empty(), "none is connected yet");
        for slot in &slots[..4] {
            slot.mark_idle_for_tests();
        }
        let picked = pick_idle(&slots, 10, &mut rng);
        assert_eq!(picked.len(), 4);
        let mut ids: Vec<_> = picked.iter().map(|s| s.ocpp_id.clone()).collect();
        ids.sort();
        assert_eq!(ids, ["LG-0", "LG-1", "LG-2", "LG-3"]);
        assert_eq!(pick_idle(&slots, 2, &mut rng).len(), 2);
    }
}
