//! Certificates a client trusts, read from a PEM file: what an executor's
//! `ca_file` names. One reader for the spec check, the settings check and the
//! `api` client, so that all three agree on what a usable file is.

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// The certificates of the PEM file at `path`, each usable as a trust anchor.
/// Why not, naming the file: it cannot be read, it is not PEM, it holds no
/// certificate (a key alone, say), or one of them is not a valid certificate.
pub fn read_pem_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let certificates = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{shown}: not a readable PEM file: {e}"))?;
    if certificates.is_empty() {
        return Err(format!(
            "{shown}: no certificate in it (expected PEM: -----BEGIN CERTIFICATE-----)"
        ));
    }
    let mut anchors = rustls::RootCertStore::empty();
    for (i, certificate) in certificates.iter().enumerate() {
        anchors
            .add(certificate.clone())
            .map_err(|e| format!("{shown}: certificate {} is not valid: {e}", i + 1))?;
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::read_pem_certificates;

    #[test]
    fn what_is_wrong_with_a_file_names_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ca.pem");
        let said = |text: &str| {
            std::fs::write(&path, text).expect("written");
            read_pem_certificates(&path).expect_err("refused")
        };
        let missing = read_pem_certificates(&dir.path().join("gone.pem")).expect_err("missing");
        assert!(missing.contains("cannot read") && missing.contains("gone.pem"));
        assert!(said("hello\n").contains("no certificate in it"));
        let garbage = said("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        assert!(
            garbage.contains("ca.pem: certificate 1 is not valid"),
            "{garbage}"
        );
        let broken = said("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n");
        assert!(
            broken.contains("ca.pem: not a readable PEM file"),
            "{broken}"
        );
    }

    #[test]
    fn a_certificate_is_read() {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .expect("params")
            .self_signed(&key)
            .expect("certificate");
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, cert.pem()).expect("written");
        assert_eq!(read_pem_certificates(&path).expect("read").len(), 1);
    }
}
