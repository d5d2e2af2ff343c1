//! The node's identity on the wire: its channel key, and a self-signed TLS certificate that only encrypts (the
//! channel key authenticates, through the `Hello` exchange); and the QUIC/TLS configs built from it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::Address;
use ferry_ledger::Signer;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::TransportError;

/// The certificate file [`Identity::load_or_create`] keeps in its directory.
pub const CERT_FILE: &str = "tls-cert.der";
/// The private key file (PKCS#8 DER, mode 0600) [`Identity::load_or_create`] keeps in its directory.
pub const KEY_FILE: &str = "tls-key.der";

/// The ALPN protocol id of Ferry's transport.
pub const ALPN: &[u8] = b"ferry/1";
/// The TLS server name a dialer presents (the certificate is not checked against it).
pub(crate) const SERVER_NAME: &str = "ferry-node";

/// QUIC keep-alive: an idle connection still sends a packet this often, so a vanished peer is noticed.
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(2);
/// A connection with nothing from the peer for this long is closed.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(8);

/// A node's identity: its secp256k1 channel key and a self-signed TLS certificate with its key.
#[derive(Clone)]
pub struct Identity {
    signer: Signer,
    cert: CertificateDer<'static>,
    key: Arc<PrivatePkcs8KeyDer<'static>>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("address", &self.signer.address())
            .finish_non_exhaustive()
    }
}

fn tls_error(what: &str, e: impl std::fmt::Display) -> TransportError {
    TransportError::Tls(format!("{what}: {e}"))
}

impl Identity {
    /// An identity with a fresh certificate held only in memory (tests, in-memory nodes).
    pub fn ephemeral(signer: Signer) -> Result<Self, TransportError> {
        let certified = rcgen::generate_simple_self_signed(vec![SERVER_NAME.to_string()])
            .map_err(|e| tls_error("generate certificate", e))?;
        let identity = Self {
            signer,
            cert: certified.cert.der().clone(),
            key: Arc::new(PrivatePkcs8KeyDer::from(
                certified.signing_key.serialize_der(),
            )),
        };
        identity.check()?;
        Ok(identity)
    }

    /// The identity kept in `dir`: reads [`CERT_FILE`] and [`KEY_FILE`], or, on first start (either file
    /// missing), generates both and writes them (the directory is created; the key file gets mode 0600). Files that
    /// do not make a usable certificate and key are refused, not replaced.
    pub fn load_or_create(dir: impl AsRef<Path>, signer: Signer) -> Result<Self, TransportError> {
        let dir = dir.as_ref();
        let io = |what: &str, path: &Path, e: std::io::Error| {
            TransportError::Io(format!("{what} {}: {e}", path.display()))
        };
        let cert_path = dir.join(CERT_FILE);
        let key_path = dir.join(KEY_FILE);
        if cert_path.is_file() && key_path.is_file() {
            let cert = std::fs::read(&cert_path).map_err(|e| io("read", &cert_path, e))?;
            let key = std::fs::read(&key_path).map_err(|e| io("read", &key_path, e))?;
            let identity = Self {
                signer,
                cert: CertificateDer::from(cert),
                key: Arc::new(PrivatePkcs8KeyDer::from(key)),
            };
            identity.check().map_err(|e| {
                TransportError::Tls(format!(
                    "{} and {} do not hold a usable certificate and key ({e}); remove both to make new ones",
                    cert_path.display(),
                    key_path.display()
                ))
            })?;
            return Ok(identity);
        }
        std::fs::create_dir_all(dir).map_err(|e| io("create", dir, e))?;
        let identity = Self::ephemeral(signer)?;
        write_file(&key_path, identity.key.secret_pkcs8_der(), 0o600)
            .map_err(|e| io("write", &key_path, e))?;
        write_file(&cert_path, identity.cert.as_ref(), 0o644)
            .map_err(|e| io("write", &cert_path, e))?;
        Ok(identity)
    }

    /// The channel key.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// The channel address.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// The TLS certificate (DER).
    pub fn certificate_der(&self) -> &[u8] {
        self.cert.as_ref()
    }

    /// Whether rustls takes the certificate and key as a pair.
    fn check(&self) -> Result<(), TransportError> {
        self.server_tls().map(|_| ())
    }

    fn server_tls(&self) -> Result<rustls::ServerConfig, TransportError> {
        let mut tls = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| tls_error("server protocol versions", e))?
            .with_no_client_auth()
            .with_single_cert(
                vec![self.cert.clone()],
                PrivateKeyDer::Pkcs8(self.key.clone_key()),
            )
            .map_err(|e| tls_error("server certificate", e))?;
        tls.alpn_protocols = vec![ALPN.to_vec()];
        Ok(tls)
    }

    /// The QUIC server config (this identity's certificate) and the client config (any server certificate, the
    /// channel key authenticates), both on the ring provider, with receive and send windows of `window` bytes.
    pub(crate) fn quic_configs(
        &self,
        window: u64,
    ) -> Result<(quinn::ServerConfig, quinn::ClientConfig), TransportError> {
        let transport = Arc::new(transport_params(window)?);
        let server_tls = QuicServerConfig::try_from(self.server_tls()?)
            .map_err(|e| tls_error("QUIC server config", e))?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(server_tls));
        server.transport_config(transport.clone());
        Ok((server, client_config_with(window)?))
    }
}

/// Writes `bytes` to `path` through a temporary file created with `mode`, synced, then renamed over `path`.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(mode);
        let mut file = options.open(&tmp)?;
        // The mode applies only to a file created now; a leftover temporary file gets it here.
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    #[cfg(not(unix))]
    {
        let _ = mode;
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// The crypto provider of every TLS config here: ring, always explicit (rustls has both ring and aws-lc-rs on in
/// this dependency tree, so there is no process default to rely on).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// QUIC's parameters, with receive and send windows of `window` bytes (what a connection's peer can make QUIC buffer
/// here, and what we buffer for it).
fn transport_params(window: u64) -> Result<quinn::TransportConfig, TransportError> {
    let mut params = quinn::TransportConfig::default();
    let varint =
        quinn::VarInt::from_u64(window).map_err(|e| tls_error("QUIC receive window", e))?;
    params.stream_receive_window(varint);
    params.receive_window(varint);
    params.send_window(window);
    // One unidirectional stream per side carries everything; nothing else may be opened.
    params.max_concurrent_uni_streams(quinn::VarInt::from_u32(1));
    params.max_concurrent_bidi_streams(quinn::VarInt::from_u32(0));
    params.datagram_receive_buffer_size(None);
    params.keep_alive_interval(Some(KEEP_ALIVE));
    params.max_idle_timeout(Some(
        quinn::IdleTimeout::try_from(IDLE_TIMEOUT).map_err(|e| tls_error("idle timeout", e))?,
    ));
    Ok(params)
}

/// The dialer's QUIC client config: TLS 1.3 on ring, any server certificate (see [`AnyServerCert`]), the default
/// windows.
#[cfg(test)]
pub(crate) fn client_config() -> Result<quinn::ClientConfig, TransportError> {
    client_config_with(super::TransportConfig::default().conn_buffer as u64)
}

/// [`client_config`] with receive and send windows of `window` bytes.
pub(crate) fn client_config_with(window: u64) -> Result<quinn::ClientConfig, TransportError> {
    let provider = provider();
    let verifier = Arc::new(AnyServerCert {
        algorithms: provider.signature_verification_algorithms,
    });
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| tls_error("client protocol versions", e))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = QuicClientConfig::try_from(tls).map_err(|e| tls_error("QUIC client config", e))?;
    let mut client = quinn::ClientConfig::new(Arc::new(quic));
    client.transport_config(Arc::new(transport_params(window)?));
    Ok(client)
}

/// Accepts any server certificate — a node is authenticated by its channel key in the `Hello` that follows, bound
/// to this TLS session — but still checks that the server signed the handshake with the certificate's key, with
/// the ring provider's algorithms.
#[derive(Debug)]
struct AnyServerCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn load_or_create_keeps_the_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("node");
        let signer = Signer::random();
        let first = Identity::load_or_create(&sub, signer.clone()).unwrap();
        let again = Identity::load_or_create(&sub, signer.clone()).unwrap();
        assert_eq!(first.certificate_der(), again.certificate_der());
        assert_eq!(again.address(), signer.address());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(sub.join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A damaged key is refused, not silently replaced.
        std::fs::write(sub.join(KEY_FILE), b"garbage").unwrap();
        let err = Identity::load_or_create(&sub, signer.clone()).unwrap_err();
        assert!(matches!(err, TransportError::Tls(_)), "{err}");
        // A missing file makes a new pair.
        std::fs::remove_file(sub.join(CERT_FILE)).unwrap();
        let fresh = Identity::load_or_create(&sub, signer).unwrap();
        assert_ne!(fresh.certificate_der(), first.certificate_der());
    }
}
