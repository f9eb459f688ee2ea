//! A certificate authority made at test time, and the server certificates
//! it issues: good, for the wrong name, or expired.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, date_time_ymd};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Whether an issued certificate is valid now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    Current,
    /// Valid only in 2001.
    Expired,
}

/// A throwaway CA, its certificate written to a PEM file for clients.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    pem_path: PathBuf,
    /// Whether the file is the CA's own, removed when it is dropped.
    owns_file: bool,
}

impl TestCa {
    /// A CA whose PEM file is a new one in the temporary directory,
    /// removed when the CA is dropped.
    pub fn new() -> TestCa {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let pem_path = std::env::temp_dir().join(format!(
            "criteo-oauth-test-ca-{}-{}.pem",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::SeqCst)
        ));
        let mut ca = TestCa::with_pem_at(pem_path).unwrap();
        ca.owns_file = true;
        ca
    }

    /// A CA whose PEM file is written at `path`, which stays the caller's
    /// (a server that runs until killed leaves nothing else behind).
    pub fn with_pem_at(path: PathBuf) -> std::io::Result<TestCa> {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "criteo-oauth test CA");
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        std::fs::write(&path, issuer.pem())?;
        Ok(TestCa {
            issuer,
            pem_path: path,
            owns_file: false,
        })
    }

    /// The CA certificate as a PEM file, for `set_ca_file` or `SSL_CERT_FILE`.
    pub fn pem_path(&self) -> &Path {
        &self.pem_path
    }

    /// A server configuration with a certificate for `names` (DNS names or
    /// IP addresses) signed by this CA.
    pub fn server_config(&self, names: &[&str], validity: Validity) -> Arc<rustls::ServerConfig> {
        let (certificate, key) = self.issue(names, validity);
        let chain = vec![CertificateDer::from(certificate.der().to_vec())];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        Arc::new(config)
    }

    /// A certificate for `names` signed by this CA and its private key,
    /// written as PEM files at `certificate` and `key`, for a server that
    /// is not ours (redis-server's `tls-cert-file` and `tls-key-file`).
    pub fn write_server_pem(
        &self,
        names: &[&str],
        certificate: &Path,
        key: &Path,
    ) -> std::io::Result<()> {
        let (issued, key_pair) = self.issue(names, Validity::Current);
        std::fs::write(certificate, issued.pem())?;
        std::fs::write(key, key_pair.serialize_pem())
    }

    fn issue(&self, names: &[&str], validity: Validity) -> (rcgen::Certificate, KeyPair) {
        let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        if validity == Validity::Expired {
            params.not_before = date_time_ymd(2001, 1, 1);
            params.not_after = date_time_ymd(2001, 12, 31);
        }
        let key = KeyPair::generate().unwrap();
        let certificate = params.signed_by(&key, &self.issuer).unwrap();
        (certificate, key)
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        if self.owns_file {
            let _ = std::fs::remove_file(&self.pem_path);
        }
    }
}
