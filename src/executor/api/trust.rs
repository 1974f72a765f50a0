//! Whom the `api` executor trusts over HTTPS, in this order: the certificates of
//! the executor's `ca_file`, instead of any other (a private server is vouched
//! for by its own authority alone, as with curl's `--cacert`); else the system's
//! trust store, where `SSL_CERT_FILE` and `SSL_CERT_DIR`, when set, take the
//! place of the system's own locations (as in OpenSSL); else, on a machine with
//! no trust store at all, the Mozilla roots built into mrsm.

use std::path::Path;
use std::sync::OnceLock;

use rustls::pki_types::CertificateDer;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

/// The TLS settings of a client that trusts `ca_file`, or the defaults above.
pub(super) fn tls_config(ca_file: Option<&Path>) -> Result<TlsConfig, String> {
    let roots = match ca_file {
        Some(path) => {
            roots(&crate::certs::read_pem_certificates(path).map_err(|e| format!("ca_file: {e}"))?)
        }
        None => system()?,
    };
    Ok(TlsConfig::builder().root_certs(roots).build())
}

fn roots(certificates: &[CertificateDer<'_>]) -> RootCerts {
    certificates
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .into()
}

/// The system's roots (or those `SSL_CERT_FILE`/`SSL_CERT_DIR` name), read once
/// per process and only by a client that speaks HTTPS.
fn system() -> Result<RootCerts, String> {
    static SYSTEM: OnceLock<Result<RootCerts, String>> = OnceLock::new();
    SYSTEM
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            if !found.certs.is_empty() {
                return Ok(roots(&found.certs));
            }
            match found.errors.first() {
                // Named, and unusable: saying so beats trusting something else.
                Some(error) => Err(format!(
                    "no trusted certificates could be read: {error} (check SSL_CERT_FILE and \
                     SSL_CERT_DIR, or set `ca_file` for this executor)"
                )),
                None => Ok(RootCerts::WebPki),
            }
        })
        .clone()
}
