//! TLS with rustls over the TCP transport (or a proxy's tunnel): ureq's
//! own connector, written here so that the session it makes can be told
//! to the trace (the protocol version, the cipher suite, and whether the
//! session was resumed).
//!
//! It trusts exactly the client's roots, offers TLS 1.2 and 1.3 with
//! ring's primitives, sends SNI for a name (not for an IP address), and
//! keeps rustls's in-memory session cache per agent, as ureq's does.

use std::io::{Read, Write};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use ureq::unversioned::transport::time::{Duration as UreqDuration, Instant as UreqInstant};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
    TransportAdapter,
};

use crate::tls::Roots;
use crate::trace::{self, EventKind};

/// Wraps the chained transport in TLS when the URL is https.
#[derive(Debug)]
pub(crate) struct TlsConnector {
    config: Arc<ClientConfig>,
}

impl TlsConnector {
    /// A connector trusting exactly `roots`.
    pub(crate) fn new(roots: &Roots) -> Self {
        TlsConnector {
            config: client_config(roots),
        }
    }
}

/// TLS 1.2 and 1.3 with ring's primitives, trusting exactly `roots`.
pub(crate) fn client_config(roots: &Roots) -> Arc<ClientConfig> {
    let mut store = RootCertStore::empty();
    store.add_parsable_certificates(roots.iter().map(|root| CertificateDer::from(root.der())));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .expect("ring supports every TLS version rustls has")
        .with_root_certificates(store)
        .with_no_client_auth();
    Arc::new(config)
}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Err(ureq::Error::ConnectionFailed);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details.uri.host().unwrap_or_default();
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(bare)
            .map_err(|_| ureq::Error::BadUri(details.uri.to_string()))?
            .to_owned();
        let mut connection = ClientConnection::new(Arc::clone(&self.config), name)?;
        let mut socket = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        socket.set_timeout(left_of(
            details.timeout,
            details.now,
            (details.current_time)(),
        ));
        connection.complete_io(&mut socket)?;
        trace::note(EventKind::Tls, || describe(&connection));
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        Ok(Some(Either::B(TlsTransport {
            buffers,
            stream: StreamOwned::new(connection, socket),
        })))
    }
}

/// What is left of `timeout`, set at `since`, at `now`: the handshake
/// shares the connect limit with the TCP connection before it.
fn left_of(timeout: NextTimeout, since: UreqInstant, now: UreqInstant) -> NextTimeout {
    let after = match (timeout.after, since, now) {
        (UreqDuration::Exact(after), UreqInstant::Exact(since), UreqInstant::Exact(now)) => {
            UreqDuration::Exact(after.saturating_sub(now.saturating_duration_since(since)))
        }
        (after, _, _) => after,
    };
    NextTimeout { after, ..timeout }
}

/// For the trace: "TLSv1_3, TLS13_AES_256_GCM_SHA384, a full handshake".
fn describe(connection: &ClientConnection) -> String {
    let version = connection
        .protocol_version()
        .map_or("an unknown version".to_owned(), |version| {
            format!("{version:?}")
        });
    let suite = connection
        .negotiated_cipher_suite()
        .map_or("an unknown cipher suite".to_owned(), |suite| {
            format!("{:?}", suite.suite())
        });
    let handshake = match connection.handshake_kind() {
        Some(rustls::HandshakeKind::Resumed) => "a resumed session",
        Some(rustls::HandshakeKind::FullWithHelloRetryRequest) => {
            "a full handshake (after a HelloRetryRequest)"
        }
        _ => "a full handshake",
    };
    format!("{version}, {suite}, {handshake}")
}

/// A TLS session over the chained transport, and ureq's buffers.
pub(crate) struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl std::fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsTransport")
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}
