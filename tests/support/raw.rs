//! A raw WebSocket charger for tests that must send what no well-behaved OCPP library would.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A connected raw socket.
pub type RawSocket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Connects to `url` as `ocpp1.6` with Basic credentials (when given). Returns the HTTP status of a
/// refused handshake as `Err`.
pub async fn connect(url: &str, credentials: Option<(&str, &str)>) -> Result<RawSocket, u16> {
    let credentials = credentials.map(|(user, password)| (user, password.as_bytes()));
    connect_as("ocpp1.6", url, credentials).await
}

/// Connects to `url` offering `subprotocol`, with Basic credentials (when given; the password as
/// bytes, so tests can send what is not text). Returns the HTTP status of a refused handshake as `Err`.
pub async fn connect_as(subprotocol: &str, url: &str, credentials: Option<(&str, &[u8])>) -> Result<RawSocket, u16> {
    let mut request = url.into_client_request().expect("a WebSocket URL");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_str(subprotocol).expect("header"),
    );
    if let Some((user, password)) = credentials {
        let mut raw = format!("{user}:").into_bytes();
        raw.extend_from_slice(password);
        let token = STANDARD.encode(raw);
        request.headers_mut().insert(
            "authorization",
            HeaderValue::from_str(&format!("Basic {token}")).expect("header"),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(other) => panic!("unexpected handshake error: {other}"),
    }
}

/// Sends a text frame.
pub async fn send(socket: &mut RawSocket, text: &str) {
    socket.send(Message::Text(text.into())).await.expect("send");
}

/// The next text frame as JSON, answering Coupler's own calls (status triggers, configuration) with
/// an empty CALLRESULT so they do not get in the way; `None` when the connection closes.
pub async fn next_reply(socket: &mut RawSocket) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(crate::PATIENCE, socket.next())
            .await
            .expect("no frame within 10 s")?;
        match message {
            Ok(Message::Text(text)) => {
                let frame: Value = serde_json::from_str(text.as_str()).expect("Coupler sends JSON");
                if frame[0] == 2 {
                    // A call from Coupler: answer and keep waiting for the reply the test wants.
                    let answer = serde_json::json!([4, frame[1], "NotImplemented", "", {}]);
                    send(socket, &answer.to_string()).await;
                    continue;
                }
                return Some(frame);
            }
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

/// Sends a frame and returns the reply.
pub async fn exchange(socket: &mut RawSocket, text: &str) -> Value {
    send(socket, text).await;
    next_reply(socket).await.expect("a reply before the connection closed")
}

/// The close frame's code when Coupler closes the connection.
pub async fn close_code(socket: &mut RawSocket) -> Option<u16> {
    loop {
        match tokio::time::timeout(crate::PATIENCE, socket.next())
            .await
            .expect("no close within 10 s")
        {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(text.as_str()).unwrap_or_default();
                if frame[0] == 2 {
                    send(
                        socket,
                        &serde_json::json!([4, frame[1], "NotImplemented", "", {}]).to_string(),
                    )
                    .await;
                }
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return None,
        }
    }
}

/// Sends a text frame whose payload is `bytes` as they are, UTF-8 or not (no library sends a text
/// frame that is not UTF-8; a broken charger might).
pub async fn send_text_bytes(socket: &mut RawSocket, bytes: &[u8]) {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    let frame = Frame::message(bytes.to_vec(), OpCode::Data(Data::Text), true);
    socket.send(Message::Frame(frame)).await.expect("send a raw text frame");
}

/// The next text frame as JSON, whatever it is (calls from Coupler are returned, not answered).
pub async fn next_frame(socket: &mut RawSocket) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(crate::PATIENCE, socket.next())
            .await
            .expect("no frame within 10 s")?;
        match message {
            Ok(Message::Text(text)) => return serde_json::from_str(text.as_str()).ok(),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}
