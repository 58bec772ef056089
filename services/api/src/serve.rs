//! Serving a router on a listener, with hyper configured for the API's limits.
//!
//! `axum::serve` leaves hyper at its defaults, and hyper answers a request it cannot parse (a
//! request target or headers past its buffer) itself, with an empty body and no request id. Here
//! hyper's own limits are set well above the API's ([`crate::middleware::MAX_URI_BYTES`],
//! [`crate::middleware::MAX_HEADER_BYTES`], [`crate::middleware::MAX_HEADER_COUNT`]), so the
//! middleware sees such requests and answers 414 and 431 as problem+json with `x-request-id`. Only
//! requests past hyper's limits (a request target over 64 KiB, headers over 1 MiB) still get
//! hyper's bare answer. Each request also carries the peer address ([`ConnectInfo`]), which the
//! rate limits key on.
//!
//! With a [`crate::tls::TlsServer`] each connection is a TLS one: the handshake runs in
//! the connection's own task, bounded in time, and every request on it carries a [`TlsPeer`] with
//! the client certificate the peer presented (already verified), which the OCPP gateway's security
//! profile 3 checks.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use coupler_core::security::TlsPeer;
use coupler_tasks::Tasks;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// hyper's read buffer: the most bytes of request line and headers it parses.
const HYPER_MAX_BUF: usize = 1024 * 1024;

/// The most headers hyper parses.
const HYPER_MAX_HEADERS: usize = 1000;

/// How long a TLS handshake may take before the connection is dropped.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until `tasks` stop, then lets requests in flight end. Each
/// connection runs on `tasks`, so a panic in one is reported and shutdown waits for all of them.
pub async fn serve(listener: TcpListener, router: Router, tasks: Tasks) -> std::io::Result<()> {
    serve_with_tls(listener, router, tasks, None).await
}

/// [`serve`], over TLS when `tls` is given.
pub async fn serve_with_tls(
    listener: TcpListener,
    router: Router,
    tasks: Tasks,
    tls: Option<crate::tls::TlsServer>,
) -> std::io::Result<()> {
    let shutdown = tasks.token().clone();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .max_buf_size(HYPER_MAX_BUF)
        .max_headers(HYPER_MAX_HEADERS)
        .header_read_timeout(Some(Duration::from_secs(30)))
        .timer(hyper_util::rt::TokioTimer::new());
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let router = router.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        // Watched by `graceful` too: the loop waits for every connection to end before it returns.
        tasks.spawn("http connection", async move {
            let served = match tls {
                None => {
                    let service = service(router, peer, None);
                    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    watcher.watch(connection.into_owned()).await
                }
                Some(acceptor) => {
                    let stream =
                        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.acceptor().accept(stream)).await {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(e)) => {
                                tracing::debug!(peer = %peer, error = %e, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(peer = %peer, "TLS handshake timed out");
                                return;
                            }
                        };
                    let client_certificate = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|chain| chain.first())
                        .map(|certificate| certificate.as_ref().to_vec());
                    let service = service(router, peer, Some(TlsPeer { client_certificate }));
                    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    watcher.watch(connection.into_owned()).await
                }
            };
            if let Err(e) = served {
                tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The service for one connection: the router, with the peer's address (and what its TLS said)
/// on every request.
fn service(
    router: Router,
    peer: SocketAddr,
    tls: Option<TlsPeer>,
) -> impl hyper::service::Service<
    hyper::Request<Incoming>,
    Response = axum::response::Response,
    Error = Infallible,
    Future = impl Future<Output = Result<axum::response::Response, Infallible>> + Send,
> + Clone {
    hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let mut request = request.map(axum::body::Body::new);
        request.extensions_mut().insert(ConnectInfo(peer));
        if let Some(tls) = &tls {
            request.extensions_mut().insert(tls.clone());
        }
        let router = router.clone();
        async move { Ok::<_, Infallible>(router.oneshot(request).await.unwrap_or_else(|never| match never {})) }
    })
}

/// The peer address of a request served by [`serve`].
pub fn peer_of<B>(request: &http::Request<B>) -> Option<SocketAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr)
}
