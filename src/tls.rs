//! Which certificates a client trusts, and what a TLS failure means.

use std::collections::HashSet;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use ureq::tls::{Certificate, PemItem, parse_pem};

use crate::descriptors::{Unreadable, is_out_of_descriptors, read_regular_file};
use crate::error::{Error, ErrorKind};

/// Root certificates to verify the server against.
pub(crate) type Roots = Vec<Certificate<'static>>;

/// The largest certificate file read (Debian's whole bundle is 220 KB).
const MAX_CERTIFICATE_FILE_BYTES: u64 = 4 << 20;
/// The most read from all the files of a trust store together.
const MAX_TRUST_STORE_BYTES: u64 = 32 << 20;

/// Every certificate in a PEM bundle. The path appears in every message.
pub(crate) fn read_ca_file(path: &str) -> Result<Roots, Error> {
    let invalid = |why: String| Error::invalid_argument(format!("ca_file {path}: {why}"));
    let pem = read_regular_file(Path::new(path), MAX_CERTIFICATE_FILE_BYTES)
        .map_err(|why| invalid(why.to_string()))?;
    let roots = certificates_in(&pem).map_err(invalid)?;
    if roots.is_empty() {
        return Err(invalid("holds no PEM certificate".into()));
    }
    Ok(roots)
}

/// The certificates of a PEM text whose blocks are all well formed (see
/// [`check_blocks`]); blocks of other kinds and text between blocks are
/// passed over.
fn certificates_in(pem: &[u8]) -> Result<Roots, String> {
    check_blocks(pem).map_err(|why| format!("not a valid PEM file: {why}"))?;
    let mut roots = Roots::new();
    for item in parse_pem(pem) {
        match item.map_err(|e| format!("not a valid PEM file: {e}"))? {
            PemItem::Certificate(certificate) => roots.push(certificate.to_owned()),
            _ => continue,
        }
    }
    Ok(roots)
}

/// Each `-----BEGIN X-----` line closed by its `-----END X-----` before the
/// next block begins, and no END outside a block. The parser alone reads a
/// block that lacks its END on to the next block's END, taking the broken
/// block and the good one after it as one certificate, while the same
/// blocks the other way round are refused: this makes the rule one, in
/// any order.
fn check_blocks(pem: &[u8]) -> Result<(), String> {
    let mut open: Option<&[u8]> = None;
    for (index, line) in lines(pem).enumerate() {
        // As the parser reads them: a marker indented is no marker, and
        // its label ends at the first dash.
        let label = |marker: &[u8]| {
            let rest = line.strip_prefix(marker)?;
            rest.split(|&byte| byte == b'-').next()
        };
        let number = index + 1;
        if let Some(label) = label(b"-----BEGIN ") {
            if open.is_some() {
                return Err(format!(
                    "line {number} begins a block inside one that has no END line"
                ));
            }
            open = Some(label);
        } else if let Some(label) = label(b"-----END ") {
            if open != Some(label) {
                return Err(format!("line {number} ends a block that it did not begin"));
            }
            open = None;
        }
    }
    match open {
        Some(_) => Err("the file ends inside a block (no END line)".into()),
        None => Ok(()),
    }
}

/// The lines of `text`, each ended by `\r\n`, `\n` or `\r` alone, as the
/// PEM parser splits them.
fn lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let text = rest?;
        let Some(end) = text.iter().position(|&byte| byte == b'\r' || byte == b'\n') else {
            rest = None;
            return Some(text);
        };
        let after = match &text[end..] {
            [b'\r', b'\n', ..] => end + 2,
            _ => end + 1,
        };
        rest = Some(&text[after..]);
        Some(&text[..end])
    })
}

/// The system's trust store: the file `SSL_CERT_FILE` names and the
/// directories of `SSL_CERT_DIR` when either is set, otherwise the usual
/// places of the system's bundle and directory. A file that
/// `SSL_CERT_FILE` names must be readable; elsewhere, files that cannot be
/// read are passed over as long as some certificate is found.
pub(crate) fn system_roots() -> Result<Roots, Error> {
    let named_file = std::env::var_os("SSL_CERT_FILE").filter(|f| !f.is_empty());
    let named_dirs = std::env::var_os("SSL_CERT_DIR").filter(|d| !d.is_empty());
    let (file, dirs) = match (&named_file, &named_dirs) {
        (None, None) => {
            let probed = openssl_probe::probe();
            (probed.cert_file, probed.cert_dir)
        }
        _ => (
            named_file.clone().map(PathBuf::from),
            named_dirs
                .iter()
                .flat_map(std::env::split_paths)
                .filter(|dir| !dir.as_os_str().is_empty())
                .collect(),
        ),
    };
    let mut store = Store::default();
    if let Some(file) = &file {
        store.read_once(file, std::fs::metadata(file).ok().as_ref())?;
        if let (Some(_), Some(problem)) = (&named_file, store.problems.first()) {
            return Err(match problem.out_of_descriptors {
                true => no_roots(&store.problems),
                false => Error::new(ErrorKind::Tls, format!("SSL_CERT_FILE {problem}")),
            });
        }
    }
    for dir in &dirs {
        store.read_dir(dir)?;
    }
    if store.roots.is_empty() {
        if let Some(file) = &named_file {
            let path = Path::new(file).display();
            let message = format!("SSL_CERT_FILE {path}: holds no PEM certificate");
            return Err(Error::new(ErrorKind::Tls, message));
        }
        return Err(no_roots(&store.problems));
    }
    store.roots.sort_by(|a, b| a.der().cmp(b.der()));
    store.roots.dedup_by(|a, b| a.der() == b.der());
    Ok(store.roots)
}

fn no_roots(problems: &[Problem]) -> Error {
    if let Some(files) = problems.iter().find(|p| p.out_of_descriptors) {
        return Error::new(
            ErrorKind::Transport,
            format!(
                "cannot read the system's trusted root certificates: no file descriptor is \
                 left ({files})"
            ),
        );
    }
    let why = problems
        .first()
        .map_or("none found".into(), |p| p.to_string());
    Error::new(
        ErrorKind::Tls,
        format!(
            "no trusted root certificates in the system store ({why}): install \
             ca-certificates, set SSL_CERT_FILE, or call criteo_client_builder_set_ca_file"
        ),
    )
}

/// The certificates of a trust store as its files are read, each file
/// once (a directory holds several links to each), within
/// [`MAX_TRUST_STORE_BYTES`].
#[derive(Default)]
struct Store {
    roots: Roots,
    problems: Vec<Problem>,
    seen: HashSet<(u64, u64)>,
    bytes_read: u64,
}

/// A file that could not be read, and why.
struct Problem {
    path: PathBuf,
    why: String,
    out_of_descriptors: bool,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.why)
    }
}

impl Store {
    /// Reads the file at `path` unless a file of the same identity (from
    /// `metadata`, when known) was read already. A file that cannot be read
    /// is noted; only a store that grows past its bound is an error.
    fn read_once(
        &mut self,
        path: &Path,
        metadata: Option<&std::fs::Metadata>,
    ) -> Result<(), Error> {
        if metadata.is_some_and(|m| !self.seen.insert((m.dev(), m.ino()))) {
            return Ok(());
        }
        let left = MAX_TRUST_STORE_BYTES.saturating_sub(self.bytes_read);
        let limit = MAX_CERTIFICATE_FILE_BYTES.min(left);
        let (why, out_of_descriptors) = match read_regular_file(path, limit) {
            Ok(pem) => {
                self.bytes_read += pem.len() as u64;
                match certificates_in(&pem) {
                    Ok(roots) => {
                        self.roots.extend(roots);
                        return Ok(());
                    }
                    Err(why) => (why, false),
                }
            }
            Err(Unreadable::TooLarge(_)) if limit < MAX_CERTIFICATE_FILE_BYTES => {
                return Err(Error::new(
                    ErrorKind::Tls,
                    format!(
                        "{}: the trust store holds more than {MAX_TRUST_STORE_BYTES} bytes",
                        path.display()
                    ),
                ));
            }
            Err(why) => (why.to_string(), why.is_out_of_descriptors()),
        };
        self.problems.push(Problem {
            path: path.to_owned(),
            why,
            out_of_descriptors,
        });
        Ok(())
    }

    /// Every regular file of `dir`, in name order, not descending into
    /// subdirectories; what is not a regular file is never opened.
    fn read_dir(&mut self, dir: &Path) -> Result<(), Error> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(error) => {
                self.problems.push(Problem {
                    path: dir.to_owned(),
                    out_of_descriptors: is_out_of_descriptors(&error),
                    why: format!("cannot read the directory: {error}"),
                });
                return Ok(());
            }
        };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|entry| entry.path()).collect();
        paths.sort();
        for path in paths {
            match std::fs::metadata(&path) {
                Ok(metadata) if metadata.is_file() => self.read_once(&path, Some(&metadata))?,
                _ => continue,
            }
        }
        Ok(())
    }
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
            "{e} (no trusted CA signed the server's certificate: install the CA system-wide, \
             name its file in SSL_CERT_FILE or its directory in SSL_CERT_DIR, or give the \
             client its file with criteo_client_builder_set_ca_file)"
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

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("criteo-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_directory_passes_over_what_it_cannot_read_and_reads_the_rest() {
        let dir = scratch_dir("store-mixed");
        let ca = criteo_test_server::TestCa::new();
        std::fs::copy(ca.pem_path(), dir.join("ca.pem")).unwrap();
        std::fs::write(dir.join("huge.pem"), vec![b'A'; 5 << 20]).unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.join("zero.pem")).unwrap();
        let mut store = Store::default();
        let result = store.read_dir(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(result.is_ok());
        assert_eq!(store.roots.len(), 1, "the CA is read");
        let problems: Vec<String> = store.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            problems.len(),
            1,
            "the device is never opened: {problems:?}"
        );
        assert!(
            problems[0].ends_with("huge.pem: is larger than 4194304 bytes"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_store_over_32_mib_is_refused() {
        let dir = scratch_dir("store-big");
        for n in 0..9 {
            std::fs::write(dir.join(format!("{n}.pem")), vec![b'A'; (4 << 20) - 1]).unwrap();
        }
        let result = Store::default().read_dir(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        let error = result.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Tls);
        assert!(
            error
                .message()
                .ends_with("8.pem: the trust store holds more than 33554432 bytes"),
            "{}",
            error.message()
        );
    }
}
