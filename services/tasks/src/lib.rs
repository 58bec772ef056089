//! Coupler's lifecycle: one [`CancellationToken`] and one [`TaskTracker`], owned by the server and
//! lent (as a cheap [`Tasks`] clone) to every component that runs something in the background.
//!
//! Every background task is started with [`Tasks::spawn`], under a name. That gives one shutdown
//! path for the whole process: [`Tasks::shutdown`] cancels the token, which every task watches, and
//! waits until every task has ended. A task is joined as soon as it ends; one that panicked is
//! logged at error level with its name (and counted, see [`Tasks::panicked`]) instead of vanishing
//! with its `JoinHandle`.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};
use tokio_util::task::task_tracker::TaskTrackerToken;
use tokio_util::task::TaskTracker;

/// The process's token and tracker. Cheap to clone; clones share both.
#[derive(Debug, Clone, Default)]
pub struct Tasks {
    token: CancellationToken,
    tracker: TaskTracker,
    /// The names of the tasks that panicked, in the order they were joined.
    panicked: Arc<Mutex<Vec<&'static str>>>,
}

impl Tasks {
    /// A fresh token and tracker: what a server (or a test standing in for one) creates once.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `task` in the background under `name`, tracked until it ends. The task is expected to
    /// watch [`Tasks::stopping`] (or [`Tasks::token`]) and end soon after it resolves.
    pub fn spawn<F>(&self, name: &'static str, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = self.tracker.spawn(task);
        let panicked = self.panicked.clone();
        // The joiner is tracked as well, so shutdown also waits for the report.
        self.tracker.spawn(async move {
            if let Err(e) = handle.await {
                if e.is_panic() {
                    let message = panic_message(e.into_panic());
                    tracing::error!(task = name, panic = %message, "a background task panicked");
                    panicked.lock().unwrap_or_else(PoisonError::into_inner).push(name);
                }
            }
        });
    }

    /// Keeps [`Tasks::shutdown`] waiting while the returned guard lives: for work that someone else
    /// starts and that becomes a task later (axum upgrading a WebSocket before its session runs).
    pub fn hold(&self) -> TaskTrackerToken {
        self.tracker.token()
    }

    /// The token every task watches; cancelled once, when the process stops.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// Resolves once the process is stopping.
    pub fn stopping(&self) -> WaitForCancellationFuture<'_> {
        self.token.cancelled()
    }

    /// Whether the process is stopping.
    pub fn is_stopping(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Asks every task to stop, without waiting.
    pub fn stop(&self) {
        self.token.cancel();
    }

    /// Asks every task to stop, then waits until all of them (and those they started meanwhile)
    /// have ended. Nothing can be spawned once this has been called.
    pub async fn shutdown(&self) {
        self.token.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }

    /// The names of the tasks that panicked so far (each reported once, when it was joined).
    pub fn panicked(&self) -> Vec<&'static str> {
        self.panicked.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// How many tasks are running (the joiners included).
    pub fn running(&self) -> usize {
        self.tracker.len()
    }
}

/// The text a panic was raised with, when it was a string (as `panic!` makes it).
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(text) => (*text).to_owned(),
            Err(_) => "(no message)".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shutdown_waits_for_every_task_to_see_the_token() {
        let tasks = Tasks::new();
        let (ended, mut seen) = tokio::sync::mpsc::channel(2);
        for _ in 0..2 {
            let (tasks_for_task, ended) = (tasks.clone(), ended.clone());
            tasks.spawn("waiter", async move {
                tasks_for_task.stopping().await;
                let _ = ended.send(()).await;
            });
        }
        drop(ended);
        tasks.shutdown().await;
        assert_eq!(tasks.running(), 0);
        assert!(seen.recv().await.is_some() && seen.recv().await.is_some());
        assert!(tasks.panicked().is_empty());
    }

    /// Log lines written during a test, for checking what was reported.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    // The one test that makes a task panic: tracing caches whether a log line is wanted per call
    // site, so another test hitting the same line without this subscriber could hide it from this one.
    #[tokio::test]
    async fn a_panicking_task_is_logged_at_error_level_with_its_name_and_the_others_carry_on() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        // A current-thread runtime: the tasks run on this thread, under this subscriber.
        let _default = tracing::subscriber::set_default(subscriber);
        let tasks = Tasks::new();
        tasks.spawn("ledger writer", async { panic!("the ledger is full") });
        let survivor = tasks.clone();
        let (alive, mut answer) = tokio::sync::oneshot::channel();
        tasks.spawn("survivor", async move {
            survivor.stopping().await;
            let _ = alive.send(());
        });
        tasks.shutdown().await;
        assert_eq!(tasks.panicked(), ["ledger writer"]);
        assert!(answer.try_recv().is_ok(), "the other task ran to its end");
        let logged = String::from_utf8_lossy(&captured.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned();
        let line = logged
            .lines()
            .find(|l| l.contains("a background task panicked"))
            .unwrap_or_else(|| panic!("no report in {logged:?}"));
        assert!(line.contains("ERROR"), "{line}");
        assert!(
            line.contains("ledger writer") && line.contains("the ledger is full"),
            "{line}"
        );
    }

    #[test]
    fn a_panic_message_is_read_from_either_string_kind() {
        assert_eq!(panic_message(Box::new("static")), "static");
        assert_eq!(panic_message(Box::new(String::from("owned"))), "owned");
        assert_eq!(panic_message(Box::new(7_u8)), "(no message)");
    }
}
