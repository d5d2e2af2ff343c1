//! The node's JSON-RPC API over HTTP and WebSocket (jsonrpsee), behind a bearer token. It mirrors the Rust API of
//! [`Node`]: every method is `ferry_<name>`, errors come back as JSON-RPC errors with the node's message, and
//! `ferry_subscribe` streams the node's events (as JSON) over WebSocket.
//!
//! Amounts are `U256` as hex strings (`"0x…"`), addresses and ids as hex, like Ethereum's own JSON-RPC.
//!
//! The same port serves `GET /metrics` ([`crate::metrics`], Prometheus text format), behind the same token.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use alloy::primitives::{Address, B256, U256};
use jsonrpsee::core::{RpcResult, SubscriptionResult, async_trait};
use jsonrpsee::proc_macros::rpc;
use jsonrpsee::server::{
    HttpBody, HttpRequest, HttpResponse, PendingSubscriptionSink, ServerHandle,
};
use jsonrpsee::types::ErrorObjectOwned;

use crate::runtime::{GameMove, Node, NodeEvent, NodeStatus, OpenVirtual};
use crate::{Error, Result};

/// The API, as a jsonrpsee trait: the server side is implemented by [`RpcServer`]'s handler, the client side
/// (`FerryApiClient`) is generated for Rust callers, the CLI among them.
#[rpc(server, client, namespace = "ferry")]
pub trait FerryApi {
    /// The node's channels and counters.
    #[method(name = "status")]
    async fn status(&self) -> RpcResult<NodeStatus>;

    /// Opens a ledger channel with `peer`: per asset `[our deposit, the peer's]`, and the challenge duration in
    /// seconds. Returns its id.
    #[method(name = "openLedger")]
    async fn open_ledger(
        &self,
        peer: Address,
        amounts: Vec<(Address, [U256; 2])>,
        challenge_duration: u64,
    ) -> RpcResult<B256>;

    /// Closes a ledger channel cooperatively.
    #[method(name = "closeLedger")]
    async fn close_ledger(&self, id: B256) -> RpcResult<()>;

    /// Challenges a ledger channel on-chain.
    #[method(name = "challengeLedger")]
    async fn challenge_ledger(&self, id: B256) -> RpcResult<()>;

    /// Opens a virtual channel from this node. Returns its id.
    #[method(name = "openVirtual")]
    async fn open_virtual(&self, request: OpenVirtual) -> RpcResult<B256>;

    /// Pays through a virtual channel.
    #[method(name = "pay")]
    async fn pay(&self, id: B256, asset: Address, amount: U256) -> RpcResult<()>;

    /// A game move in a virtual channel.
    #[method(name = "move")]
    async fn game_move(&self, id: B256, mv: GameMove) -> RpcResult<()>;

    /// Settles a virtual channel off-chain.
    #[method(name = "settle")]
    async fn settle(&self, id: B256) -> RpcResult<()>;

    /// Challenges a virtual channel on-chain with the best state this node holds.
    #[method(name = "challengeVirtual")]
    async fn challenge_virtual(&self, id: B256) -> RpcResult<()>;

    /// This node's routing fee for a virtual channel holding `total` of its first asset.
    #[method(name = "quote")]
    async fn quote(&self, total: U256) -> RpcResult<U256>;

    /// Tells the node where a peer listens (QUIC), e.g. `"127.0.0.1:7001"`.
    #[method(name = "addPeer")]
    async fn add_peer(&self, peer: Address, at: String) -> RpcResult<()>;

    /// The node's events from now on, as JSON objects (WebSocket only).
    #[subscription(name = "subscribe" => "event", unsubscribe = "unsubscribe", item = serde_json::Value)]
    async fn subscribe_events(&self) -> SubscriptionResult;
}

/// Where the API learns a peer's address (the QUIC transport's peer book).
pub type PeerBook = Arc<dyn Fn(Address, SocketAddr) + Send + Sync>;

/// JSON-RPC error codes: the node refused (bad input, channel rules) or could not do it now.
pub mod codes {
    /// The node refused the request: bad input or a channel rule (nothing changed).
    pub const REFUSED: i32 = -32010;
    /// The node has stopped or timed out.
    pub const UNAVAILABLE: i32 = -32011;
    /// Bad parameters (e.g. an unparsable socket address).
    pub const INVALID_PARAMS: i32 = -32602;
}

fn rpc_err(e: Error) -> ErrorObjectOwned {
    let code = match e {
        Error::Stopped | Error::Timeout(_) | Error::Chain(_) | Error::Network(_) => {
            codes::UNAVAILABLE
        }
        _ => codes::REFUSED,
    };
    ErrorObjectOwned::owned(code, e.to_string(), None::<()>)
}

struct Handler {
    node: Node,
    peers: Option<PeerBook>,
}

#[async_trait]
impl FerryApiServer for Handler {
    async fn status(&self) -> RpcResult<NodeStatus> {
        self.node.status().await.map_err(rpc_err)
    }

    async fn open_ledger(
        &self,
        peer: Address,
        amounts: Vec<(Address, [U256; 2])>,
        challenge_duration: u64,
    ) -> RpcResult<B256> {
        self.node
            .open_ledger(peer, amounts, challenge_duration)
            .await
            .map_err(rpc_err)
    }

    async fn close_ledger(&self, id: B256) -> RpcResult<()> {
        self.node.close_ledger(id).await.map_err(rpc_err)
    }

    async fn challenge_ledger(&self, id: B256) -> RpcResult<()> {
        self.node.challenge_ledger(id).await.map_err(rpc_err)
    }

    async fn open_virtual(&self, request: OpenVirtual) -> RpcResult<B256> {
        self.node.open_virtual(request).await.map_err(rpc_err)
    }

    async fn pay(&self, id: B256, asset: Address, amount: U256) -> RpcResult<()> {
        self.node.pay(id, asset, amount).await.map_err(rpc_err)
    }

    async fn game_move(&self, id: B256, mv: GameMove) -> RpcResult<()> {
        self.node.game_move(id, mv).await.map_err(rpc_err)
    }

    async fn settle(&self, id: B256) -> RpcResult<()> {
        self.node.settle(id).await.map_err(rpc_err)
    }

    async fn challenge_virtual(&self, id: B256) -> RpcResult<()> {
        self.node.challenge_virtual(id).await.map_err(rpc_err)
    }

    async fn quote(&self, total: U256) -> RpcResult<U256> {
        self.node.quote(total).await.map_err(rpc_err)
    }

    async fn add_peer(&self, peer: Address, at: String) -> RpcResult<()> {
        let at: SocketAddr = at.parse().map_err(|e| {
            ErrorObjectOwned::owned(
                codes::INVALID_PARAMS,
                format!("`{at}` is not a socket address: {e}"),
                None::<()>,
            )
        })?;
        match &self.peers {
            Some(book) => {
                book(peer, at);
                Ok(())
            }
            None => Err(ErrorObjectOwned::owned(
                codes::REFUSED,
                "this node has no QUIC transport",
                None::<()>,
            )),
        }
    }

    async fn subscribe_events(&self, pending: PendingSubscriptionSink) -> SubscriptionResult {
        let sink = pending.accept().await?;
        let events = self.node.subscribe();
        tokio::spawn(forward(events, move |ev| {
            let sink = sink.clone();
            async move {
                match serde_json::value::to_raw_value(&ev) {
                    Ok(raw) => sink.send(raw).await.is_ok(),
                    Err(_) => true,
                }
            }
        }));
        Ok(())
    }
}

/// Hands every event of `events` to `send` until it returns `false` or the node stops; a subscriber that fell
/// behind is told how many it missed ([`NodeEvent::Lagged`]), never left to guess.
async fn forward<F, Fut>(mut events: tokio::sync::broadcast::Receiver<NodeEvent>, mut send: F)
where
    F: FnMut(NodeEvent) -> Fut,
    Fut: Future<Output = bool>,
{
    loop {
        let ev = match events.recv().await {
            Ok(ev) => ev,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                NodeEvent::Lagged { missed }
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
        };
        if !send(ev).await {
            break;
        }
    }
}

#[cfg(test)]
mod forward_tests {
    use super::*;

    #[tokio::test]
    async fn a_subscriber_that_fell_behind_is_told_what_it_missed() {
        let (tx, rx) = tokio::sync::broadcast::channel(2);
        for i in 0..5u8 {
            tx.send(NodeEvent::PeerConnected(Address::repeat_byte(i)))
                .ok();
        }
        drop(tx);
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = got.clone();
        forward(rx, move |ev| {
            let sink = sink.clone();
            async move { sink.lock().map(|mut v| v.push(ev)).is_ok() }
        })
        .await;
        let got = got.lock().map(|v| v.clone()).unwrap_or_default();
        assert_eq!(
            got,
            vec![
                NodeEvent::Lagged { missed: 3 },
                NodeEvent::PeerConnected(Address::repeat_byte(3)),
                NodeEvent::PeerConnected(Address::repeat_byte(4)),
            ]
        );
    }
}

/// A running API server.
#[derive(Debug)]
pub struct RpcServer {
    addr: SocketAddr,
    handle: ServerHandle,
}

impl RpcServer {
    /// Serves `node`'s API on `listen` (HTTP and WebSocket on one port, and `GET /metrics`); every request must
    /// carry `Authorization: Bearer <token>`.
    pub async fn start(
        node: Node,
        listen: SocketAddr,
        token: &str,
        peers: Option<PeerBook>,
    ) -> Result<RpcServer> {
        if token.len() < 16 {
            return Err(Error::Config(
                "the API token must be at least 16 characters".into(),
            ));
        }
        let middleware = tower::ServiceBuilder::new().layer(BearerLayer {
            token: Arc::from(token),
            node: node.clone(),
        });
        let server = jsonrpsee::server::Server::builder()
            .set_http_middleware(middleware)
            .build(listen)
            .await
            .map_err(|e| Error::Config(format!("API address {listen}: {e}")))?;
        let addr = server
            .local_addr()
            .map_err(|e| Error::Config(format!("API address {listen}: {e}")))?;
        let handle = server.start(Handler { node, peers }.into_rpc());
        Ok(RpcServer { addr, handle })
    }

    /// The address the API listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server.
    pub async fn stop(self) {
        let _ = self.handle.stop();
        self.handle.stopped().await;
    }
}

/// Headers carrying the bearer token, for [`jsonrpsee`] clients.
pub fn auth_headers(token: &str) -> Result<http::HeaderMap> {
    let mut headers = http::HeaderMap::new();
    let value = http::HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| Error::Config("the API token has characters a header cannot carry".into()))?;
    headers.insert(http::header::AUTHORIZATION, value);
    Ok(headers)
}

/// An HTTP client of a node's API.
pub fn http_client(url: &str, token: &str) -> Result<jsonrpsee::http_client::HttpClient> {
    jsonrpsee::http_client::HttpClientBuilder::default()
        .set_headers(auth_headers(token)?)
        .build(url)
        .map_err(|e| Error::Config(format!("API URL {url}: {e}")))
}

/// A WebSocket client of a node's API (for event subscriptions).
pub async fn ws_client(url: &str, token: &str) -> Result<jsonrpsee::ws_client::WsClient> {
    jsonrpsee::ws_client::WsClientBuilder::default()
        .set_headers(auth_headers(token)?)
        .build(url)
        .await
        .map_err(|e| Error::Network(format!("API {url}: {e}")))
}

/// Compares without an early exit, so response timing does not reveal how much of a guess was right.
fn same_token(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Refuses every HTTP request (WebSocket upgrades included) without the right bearer token; answers an authorized
/// `GET /metrics` with the node's metrics ([`crate::metrics::render`]) and passes everything else to the API.
#[derive(Clone)]
struct BearerLayer {
    token: Arc<str>,
    node: Node,
}

impl<S> tower::Layer<S> for BearerLayer {
    type Service = Bearer<S>;

    fn layer(&self, inner: S) -> Bearer<S> {
        Bearer {
            token: self.token.clone(),
            node: self.node.clone(),
            inner,
        }
    }
}

#[derive(Clone)]
struct Bearer<S> {
    token: Arc<str>,
    node: Node,
    inner: S,
}

/// The answer to `/metrics`: the rendered metrics for a GET, 405 otherwise, 503 if the node is gone.
async fn metrics_response(node: Node, get: bool) -> HttpResponse<HttpBody> {
    let (status, body) = if !get {
        (
            http::StatusCode::METHOD_NOT_ALLOWED,
            "GET /metrics only".to_string(),
        )
    } else {
        match node.status().await {
            Ok(s) => (http::StatusCode::OK, crate::metrics::render(&s)),
            Err(e) => (http::StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        }
    };
    let mut response = HttpResponse::new(HttpBody::from(body));
    *response.status_mut() = status;
    if status == http::StatusCode::OK {
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            ),
        );
    }
    response
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<S, B> tower::Service<HttpRequest<B>> for Bearer<S>
where
    S: tower::Service<HttpRequest<B>, Response = HttpResponse<HttpBody>>,
    S::Error: Into<BoxError> + 'static,
    S::Future: Send + 'static,
{
    type Response = HttpResponse<HttpBody>;
    type Error = BoxError;
    type Future =
        Pin<Box<dyn Future<Output = std::result::Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: HttpRequest<B>) -> Self::Future {
        let authorized = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| same_token(t.as_bytes(), self.token.as_bytes()));
        if !authorized {
            let mut response = HttpResponse::new(HttpBody::from(
                "missing or wrong bearer token (Authorization: Bearer <token>)",
            ));
            *response.status_mut() = http::StatusCode::UNAUTHORIZED;
            return Box::pin(async move { Ok(response) });
        }
        if request.uri().path() == "/metrics" {
            let node = self.node.clone();
            let get = request.method() == http::Method::GET;
            return Box::pin(async move { Ok(metrics_response(node, get).await) });
        }
        let fut = self.inner.call(request);
        Box::pin(async move { fut.await.map_err(Into::into) })
    }
}
