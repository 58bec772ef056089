//! The action runner: finds pending actions (new ones, and those a restart or another node left),
//! takes a lease on each in the store so that exactly one runner drives it, and drives it to a
//! final state: at each step it reloads the action, plans the next route with the pure
//! [`coupler_core::plan::next_route`], and hands it to the executor of that route (the charger
//! executor in `charger_actions`, the maker executor in `maker`). The lease is renewed while the
//! action runs; a runner that loses it stops.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use coupler_core::action::AttemptOutcome;
use coupler_core::node::{Heard, NodeId, Signal, SignalReceiver};
use coupler_core::plan::{in_flight, next_route, RouteFacts, RouteStep};
use coupler_core::{Action, ChargerId, DeviceKind, FailureType, VehicleId};
use coupler_tasks::Tasks;
use tokio_util::sync::CancellationToken;

use crate::charger_actions::Settle;
use crate::maker::MakerStep;
use crate::{Engine, EngineError, ACTION_LEASE};

/// Runs pending actions until shutdown, resuming those left pending by a restart.
pub(crate) async fn run(engine: Arc<Engine>, tasks: Tasks) {
    let shutdown = tasks.token().clone();
    // Another node that hands this one an action (this node holds the charger's socket) says so.
    let mut signals = engine.store.signals().subscribe();
    loop {
        if let Err(e) = engine.start_pending(&tasks).await {
            tracing::warn!(error = %e, "cannot look for pending actions");
        }
        let tick = tokio::time::sleep(engine.config.action_tick);
        tokio::pin!(tick);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = &mut tick => break,
                _ = engine.actions_now.notified() => break,
                heard = signals.recv() => match heard {
                    Some(Heard::Signal(Signal::ActionsHandedOver { node })) if node == engine.node => break,
                    Some(Heard::Missed) => break,
                    Some(Heard::Signal(_)) => {}
                    // The bus is gone: the tick alone remains.
                    None => signals = Box::new(Silent),
                },
            }
        }
    }
}

/// A receiver that never hears anything, for a bus that is gone.
#[derive(Debug)]
pub(crate) struct Silent;

#[async_trait::async_trait]
impl SignalReceiver for Silent {
    async fn recv(&mut self) -> Option<Heard> {
        std::future::pending().await
    }
}

/// What a try through one route left to do.
pub(crate) enum Next {
    /// The action is settled (or was settled elsewhere).
    Done,
    /// Look again: plan the next step.
    Again,
}

impl Engine {
    /// Starts a runner for every pending action whose lease this engine can take.
    async fn start_pending(self: &Arc<Self>, tasks: &Tasks) -> Result<(), EngineError> {
        for action in self.store.pending_actions().await? {
            let id = action.id.as_str().to_owned();
            let fresh = self
                .running_actions
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(id.clone());
            if !fresh {
                continue;
            }
            if !self.take_lease(&action).await? {
                // Another runner (another node) drives it.
                self.forget(&id);
                continue;
            }
            let engine = self.clone();
            let shutdown = tasks.token().clone();
            tasks.spawn("action runner", async move {
                tokio::select! {
                    // On shutdown the action stays pending in storage, its lease given up for the
                    // next run.
                    _ = shutdown.cancelled() => {
                        if let Err(e) = engine.store.release_action(&action.id, engine.node.as_str()).await {
                            tracing::debug!(action_id = %action.id, error = %e, "cannot release the lease; it will lapse");
                        }
                    }
                    lost = engine.keep_lease(&action) => {
                        tracing::warn!(action_id = %action.id, ?lost, "the action's lease was lost; another runner drives it");
                    }
                    driven = engine.drive(action.clone(), &shutdown) => {
                        if let Err(e) = driven {
                            tracing::warn!(action_id = %action.id, error = %e, "action runner failed; it will be resumed");
                        }
                        if let Err(e) = engine.store.release_action(&action.id, engine.node.as_str()).await {
                            tracing::debug!(action_id = %action.id, error = %e, "cannot release the lease; it will lapse");
                        }
                    }
                }
                engine.forget(&id);
            });
        }
        Ok(())
    }

    fn forget(&self, id: &str) {
        self.running_actions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(id);
    }

    async fn take_lease(&self, action: &Action) -> Result<bool, EngineError> {
        let now = self.clock.now();
        let until = now + self.clock.span_of(ACTION_LEASE);
        Ok(self
            .store
            .lease_action(&action.id, self.node.as_str(), until, now)
            .await?)
    }

    /// Renews the lease at a third of its length; returns when it cannot be renewed.
    async fn keep_lease(&self, action: &Action) -> Option<EngineError> {
        loop {
            tokio::time::sleep(ACTION_LEASE / 3).await;
            match self.take_lease(action).await {
                Ok(true) => {}
                Ok(false) => return None,
                // A storage hiccup: try again at the next renewal, before the lease lapses.
                Err(e) => tracing::warn!(action_id = %action.id, error = %e, "cannot renew an action's lease"),
            }
        }
    }

    /// Sleeps `wait`, but not past `deadline` and not past shutdown; `false` on shutdown.
    pub(crate) async fn pause(&self, wait: Duration, deadline: DateTime<Utc>, shutdown: &CancellationToken) -> bool {
        let left = self.clock.wall_time(deadline - self.clock.now());
        tokio::select! {
            _ = shutdown.cancelled() => false,
            _ = tokio::time::sleep(wait.min(left) + Duration::from_millis(10)) => true,
        }
    }

    /// Saves the action; `false` when it was settled elsewhere meanwhile (cancelled by the client).
    pub(crate) async fn save(&self, action: &Action) -> Result<bool, EngineError> {
        Ok(self.store.update_action(action).await?)
    }

    /// Settles the action as failed, with its last attempt, in one write.
    async fn fail(&self, action: &mut Action, failure: FailureType, detail: String) -> Result<Next, EngineError> {
        action.fail(failure, detail, self.clock.now());
        self.save(action).await?;
        Ok(Next::Done)
    }

    /// Carries one action through to a final state.
    async fn drive(&self, mut action: Action, shutdown: &CancellationToken) -> Result<(), EngineError> {
        let mut maker = MakerStep::default();
        loop {
            // The client may have cancelled it, or a newer action replaced it.
            match self.store.get_action(&action.client_id, &action.id).await? {
                Some(current) if !current.state.is_final() => action = current,
                _ => return Ok(()),
            }
            let next = self.step(&mut action, &mut maker, shutdown).await?;
            if matches!(next, Next::Done) || shutdown.is_cancelled() {
                return Ok(());
            }
        }
    }

    /// One step of an action: a try cut short by a restart is watched again; otherwise the next
    /// route is planned and carried out.
    async fn step(
        &self,
        action: &mut Action,
        maker: &mut MakerStep,
        shutdown: &CancellationToken,
    ) -> Result<Next, EngineError> {
        let now = self.clock.now();
        let past_deadline = now >= action.deadline;
        if let Some(sent) = in_flight(&action.attempts) {
            if past_deadline {
                return self.fail_at_deadline(action, AttemptOutcome::NoEffect).await;
            }
            return match sent.via {
                DeviceKind::Charger => {
                    let charger = ChargerId::new(sent.device_id.clone());
                    self.through_charger(action, &charger, shutdown).await
                }
                DeviceKind::Vehicle => self.confirm_through_maker(action, maker, shutdown).await,
            };
        }
        let step = match action.target_type {
            DeviceKind::Charger => next_route(&RouteFacts {
                target: DeviceKind::Charger,
                target_id: &action.target_id,
                maker_refusal: None,
                activated_charger: None,
                has_pair: false,
                attempts: &action.attempts,
                past_deadline,
            }),
            DeviceKind::Vehicle => {
                let vehicle_id = VehicleId::new(action.target_id.clone());
                let Some(vehicle) = self.store.get_vehicle(&action.client_id, &vehicle_id).await? else {
                    return self
                        .fail(action, FailureType::NotFound, "the vehicle was removed".into())
                        .await;
                };
                let pairing = self.pairing_of(&vehicle).await?;
                let refusal = self.vehicle_capabilities(&vehicle).refusal(action.kind);
                let activated = pairing.activated.as_ref().map(|c| c.as_str().to_owned());
                next_route(&RouteFacts {
                    target: DeviceKind::Vehicle,
                    target_id: &action.target_id,
                    maker_refusal: refusal.as_deref(),
                    activated_charger: activated
                        .as_deref()
                        .map(|c| (c, pairing.route.is_some_and(|r| r.connected))),
                    has_pair: pairing.route.is_some(),
                    attempts: &action.attempts,
                    past_deadline,
                })
            }
        };
        match step {
            // At the deadline a plan that fails says why; any other fails for lack of time.
            RouteStep::Fail(_) => self.carry(action, step, maker, shutdown).await,
            _ if past_deadline => self.fail_at_deadline(action, AttemptOutcome::NoResponse).await,
            _ => self.carry(action, step, maker, shutdown).await,
        }
    }

    /// Fails an action whose deadline passed, its last attempt marked `outcome`.
    async fn fail_at_deadline(&self, action: &mut Action, outcome: AttemptOutcome) -> Result<Next, EngineError> {
        action.update_last_attempt(outcome, None, self.clock.now());
        let detail = format!(
            "the {} was not seen in the target state before the deadline",
            action.target_type.as_str()
        );
        self.fail(action, FailureType::NoResponse, detail).await
    }

    /// Hands a planned step to its executor.
    async fn carry(
        &self,
        action: &mut Action,
        step: RouteStep,
        maker: &mut MakerStep,
        shutdown: &CancellationToken,
    ) -> Result<Next, EngineError> {
        match step {
            RouteStep::Charger(id) => self.through_charger(action, &ChargerId::new(id), shutdown).await,
            RouteStep::Maker => self.send_through_maker(action, maker, shutdown).await,
            RouteStep::AwaitPairing => {
                // Established but not (yet) plugged into each other: the charger may be matched
                // any moment; a command goes to a charger only once it is.
                if self.pause(Duration::from_secs(1), action.deadline, shutdown).await {
                    Ok(Next::Again)
                } else {
                    Ok(Next::Done)
                }
            }
            RouteStep::Fail(refusal) => self.fail(action, refusal.failure, refusal.detail).await,
        }
    }

    /// Hands the action to `node`, which holds `charger`'s socket: its lease goes to that node in
    /// one step (no other runner may take it meanwhile), whose runner is woken to take it up. The
    /// action stays pending, with whatever attempts it has, and is driven on there.
    async fn hand_over(&self, action: &Action, charger: &ChargerId, node: NodeId) -> Result<Next, EngineError> {
        let until = self.clock.now() + self.clock.span_of(ACTION_LEASE);
        if !self
            .store
            .hand_over_action(&action.id, self.node.as_str(), node.as_str(), until)
            .await?
        {
            // Settled meanwhile, or the lease was lost: whoever holds it carries on.
            return Ok(Next::Done);
        }
        tracing::info!(action_id = %action.id, charger_id = %charger, to_node = %node, "handed the action to the node that holds the charger");
        if let Err(e) = self.store.signals().publish(&Signal::ActionsHandedOver { node }).await {
            // That node finds it at its next look all the same.
            tracing::warn!(action_id = %action.id, error = %e, "cannot wake the node the action was handed to");
        }
        Ok(Next::Done)
    }

    /// Tries the action through `charger` (the charger executor): for a charger's own action until
    /// its deadline; for a vehicle's, for at most the charger route timeout. A decisive end
    /// (confirmed, unnecessary, or the charger's own action failing) settles the action; otherwise
    /// the try stays on the action as a failed attempt and the next route is planned.
    async fn through_charger(
        &self,
        action: &mut Action,
        charger: &ChargerId,
        shutdown: &CancellationToken,
    ) -> Result<Next, EngineError> {
        let own = action.target_type == DeviceKind::Charger;
        let deadline = if own {
            action.deadline
        } else {
            let route = self.clock.span_of(self.config.charger_route_timeout);
            (self.clock.now() + route).min(action.deadline)
        };
        let settle = tokio::select! {
            _ = shutdown.cancelled() => return Ok(Next::Done),
            settle = crate::charger_actions::carry_out(self, action, charger, deadline) => settle,
        };
        let now = self.clock.now();
        match settle {
            Settle::Gone => Ok(Next::Done),
            Settle::HeldElsewhere(node) => self.hand_over(action, charger, node).await,
            Settle::Confirmed => {
                // The confirmed attempt and the confirmed state, in one write.
                action.confirm(now);
                if self.save(action).await? {
                    tracing::info!(action_id = %action.id, charger_id = %charger, "action confirmed through the charger");
                }
                Ok(Next::Done)
            }
            Settle::Failed(failure, detail) if own || failure == FailureType::Unnecessary => {
                self.fail(action, failure, detail).await
            }
            Settle::Failed(_, detail) => {
                tracing::info!(action_id = %action.id, charger_id = %charger, detail, "the charger route failed; trying the next");
                // The try noted how it ended on the action; saved here, the action stays pending.
                if self.save(action).await? {
                    Ok(Next::Again)
                } else {
                    Ok(Next::Done)
                }
            }
        }
    }
}
