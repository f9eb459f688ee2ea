//! Which certificates a client trusts, and what a TLS failure means.

use std::io;

use ureq::tls::{Certificate, PemItem, parse_pem};

use crate::error::{Error, ErrorKind};

/// Root certificates to verify the server against.
pub(crate) type Roots = Vec<Certificate<'static>>;

/// Every certificate in a PEM bundle. The path appears in every message.
pub(crate) fn read_ca_file(path: &str) -> Result<Roots, Error> {
    let invalid = |why: String| Error::invalid_argument(format!("ca_file {path}: {why}"));
    let pem = std::fs::read(path).map_err(|e| invalid(format!("cannot read it: {e}")))?;
    let mut roots = Roots::new();
    for item in parse_pem(&pem) {
        match item.map_err(|e| invalid(format!("not a valid PEM file: {e}")))? {
            PemItem::Certificate(certificate) => roots.push(certificate),
            _ => continue,
        }
    }
    if roots.is_empty() {
        return Err(invalid("holds no PEM certificate".into()));
    }
    Ok(roots)
}

/// The system's trust store, honouring `SSL_CERT_FILE` and `SSL_CERT_DIR`.
pub(crate) fn system_roots() -> Result<Roots, Error> {
    let found = rustls_native_certs::load_native_certs();
    let out_of_files = found.errors.iter().find_map(|error| match &error.kind {
        rustls_native_certs::ErrorKind::Io { inner, .. }
            if matches!(inner.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) =>
        {
            Some(inner)
        }
        _ => None,
    });
    if let (true, Some(files)) = (found.certs.is_empty(), out_of_files) {
        return Err(Error::new(
            ErrorKind::Transport,
            format!(
                "cannot read the system's trusted root certificates: no file descriptor is left \
                 ({files})"
            ),
        ));
    }
    if found.certs.is_empty() {
        let why = found
            .errors
            .first()
            .map_or("none found".into(), |e| e.to_string());
        return Err(Error::new(
            ErrorKind::Tls,
            format!(
                "no trusted root certificates in the system store ({why}): install \
                 ca-certificates, set SSL_CERT_FILE, or call criteo_client_builder_set_ca_file"
            ),
        ));
    }
    Ok(found
        .certs
        .iter()
        .map(|der| Certificate::from_der(der).to_owned())
        .collect())
}

/// Why TLS failed, when `error` is a TLS failure: an unknown CA, a name
/// mismatch, an expired certificate, a refused handshake.
pub(crate) fn tls_failure(error: &ureq::Error) -> Option<String> {
    let rustls_error = match error {
        ureq::Error::Rustls(e) => Some(e),
        ureq::Error::Io(io) => rustls_error_in(io),
        _ => None,
    };
    match (rustls_error, error) {
        (
            Some(e @ rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)),
            _,
        ) => Some(format!(
            "{e} (no trusted CA signed the server's certificate: install the CA system-wide \
             or pass it to criteo_client_builder_set_ca_file)"
        )),
        (
            Some(e @ rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)),
            _,
        ) => Some(format!(
            "{e} (the server did not answer with TLS: it looks like plain HTTP; check the \
                 URL's scheme and port)"
        )),
        (Some(e @ rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure)), _) => {
            Some(format!(
                "{e} (the server and this client have no TLS parameters in common; often the \
                 server's certificate key is of a type this client does not support: it supports \
                 RSA, ECDSA P-256 and P-384, and Ed25519 keys, not P-521 or RSA-PSS (RSASSA-PSS) \
                 keys)"
            ))
        }
        (Some(e), _) => Some(e.to_string()),
        (None, ureq::Error::Tls(reason)) => Some((*reason).to_owned()),
        _ => None,
    }
}

fn rustls_error_in(io: &io::Error) -> Option<&rustls::Error> {
    io.get_ref()?.downcast_ref::<rustls::Error>()
}
