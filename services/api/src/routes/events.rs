//! The live stream: `GET /events` as Server-Sent Events.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use coupler_core::event::Event;
use coupler_core::node::{Heard, Signal, SignalReceiver};
use coupler_core::ClientId;
use futures::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::{ApiError, Problem};
use crate::extract::{ApiQuery, Caller};
use crate::state::AppState;

/// How often an idle stream looks for new events by itself. It is woken at once when a relay, on
/// any node, says it published events ([`Signal::EventsPublished`]); this bounds the wait when a
/// signal is missed.
const STREAM_POLL: Duration = Duration::from_secs(1);
/// The most events read at once.
const STREAM_BATCH: u32 = 100;

/// Where to resume.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Resume after this event id, for clients that cannot send the `Last-Event-ID` header (the
    /// header wins when both are given). Without either, the stream starts with new events.
    pub last_event_id: Option<String>,
}

fn parse_event_id(raw: &str) -> Result<i64, ApiError> {
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|id| *id >= 0)
        .ok_or_else(|| ApiError::bad_request("Last-Event-ID must be an event id from this stream"))
}

/// Streams the calling client's events as Server-Sent Events: `id` is the event's sequence number,
/// `event` its type, `data` the same JSON a webhook receives for it. Reconnect with `Last-Event-ID`
/// to resume after the last event seen; nothing is skipped.
#[utoipa::path(
    get,
    path = "/events",
    tag = "webhooks",
    params(
        StreamQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id"),
    ),
    responses(
        (status = 200, description = "An endless `text/event-stream` of the client's events", content_type = "text/event-stream", body = String),
        (status = "4XX", description = "Bad Last-Event-ID or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn stream_events(
    caller: Caller,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let header = headers
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .map_err(|_| ApiError::bad_request("Last-Event-ID is not valid text"))
        })
        .transpose()?;
    let after = match header.or(query.last_event_id.as_deref()) {
        Some(raw) => parse_event_id(raw)?,
        None => state.store.latest_seq().await?,
    };
    Ok(event_stream(state, caller.client_id, after))
}

/// `client`'s events after sequence number `after`, as an endless Server-Sent Events response that
/// ends when Coupler stops: the body of `GET /events`, and of the console's live updates, which
/// relay the same events to a signed-in browser.
pub fn event_stream(
    state: AppState,
    client: ClientId,
    after: i64,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let stopping = state.tasks.token().clone().cancelled_owned();
    let cursor = Cursor {
        // Subscribed before the first read, so no publication after it goes unheard.
        signals: state.store.signals().subscribe(),
        state,
        client,
        after,
        buffered: VecDeque::new(),
    };
    let events = stream::unfold(cursor, |mut cursor| async move {
        let event = cursor.next().await;
        Some((Ok(to_sse(&event)), cursor))
    })
    // The stream never ends by itself: it ends when Coupler stops, so the graceful shutdown,
    // which waits for responses in flight, is not held open by it.
    .take_until(stopping);
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// Where one stream stands.
struct Cursor {
    state: AppState,
    client: ClientId,
    after: i64,
    buffered: VecDeque<Event>,
    /// Wakes the stream when events were published on any node.
    signals: Box<dyn SignalReceiver>,
}

impl Cursor {
    /// The next event of the client, waiting for one if needed.
    async fn next(&mut self) -> Event {
        loop {
            if let Some(event) = self.buffered.pop_front() {
                self.after = event.seq;
                return event;
            }
            match self
                .state
                .store
                .events_after(&self.client, self.after, STREAM_BATCH)
                .await
            {
                Ok(events) if !events.is_empty() => self.buffered.extend(events),
                Ok(_) => self.wait_for_publication().await,
                Err(e) => {
                    tracing::warn!(error = %e, "could not read events for a stream");
                    tokio::time::sleep(STREAM_POLL * 4).await;
                }
            }
        }
    }

    /// Waits until a relay (on any node) says it published events, or [`STREAM_POLL`] passes.
    async fn wait_for_publication(&mut self) {
        let signals = &mut self.signals;
        let published = async {
            loop {
                match signals.recv().await {
                    Some(Heard::Signal(Signal::EventsPublished) | Heard::Missed) => return,
                    Some(Heard::Signal(_)) => {}
                    // The bus is gone: only the poll is left.
                    None => std::future::pending::<()>().await,
                }
            }
        };
        let _ = tokio::time::timeout(STREAM_POLL, published).await;
    }
}

fn to_sse(event: &Event) -> SseEvent {
    SseEvent::default()
        .id(event.seq.to_string())
        .event(event.event_type.as_str())
        .data(event.payload().to_string())
}
