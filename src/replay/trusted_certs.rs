//! `--cacert FILE`: certificates to trust besides the system's (a private CA, or a
//! self-signed test host), as DER for HTTP mode and as public-key hashes for Chromium.

use base64::Engine;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::path::Path;

/// The certificates of one PEM file.
#[derive(Debug, Clone, Default)]
pub struct TrustedCerts {
    pub certs: Vec<CertificateDer<'static>>,
}

impl TrustedCerts {
    /// Every certificate in a PEM file; an error (for the user, naming the file) when the
    /// file cannot be read or holds none.
    pub fn load(path: &Path) -> Result<Self, String> {
        let shown = path.display();
        let iter = CertificateDer::pem_file_iter(path).map_err(|e| format!("{shown}: {e}"))?;
        let certs = iter
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{shown}: {e}"))?;
        if certs.is_empty() {
            return Err(format!(
                "{shown}: no certificate in it (expected PEM, -----BEGIN CERTIFICATE-----)"
            ));
        }
        for (i, cert) in certs.iter().enumerate() {
            if subject_public_key_info(cert).is_none() {
                return Err(format!("{shown}: certificate {} is not valid X.509", i + 1));
            }
        }
        Ok(TrustedCerts { certs })
    }

    /// Base64 SHA-256 of each certificate's SubjectPublicKeyInfo: what Chromium's
    /// `--ignore-certificate-errors-spki-list` takes (a chain with such a key is accepted).
    pub fn spki_hashes(&self) -> Vec<String> {
        self.certs
            .iter()
            .filter_map(|c| subject_public_key_info(c))
            .map(|spki| {
                let digest = ring::digest::digest(&ring::digest::SHA256, spki);
                base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
            })
            .collect()
    }
}

/// The DER of the SubjectPublicKeyInfo: Certificate = SEQUENCE { tbsCertificate = SEQUENCE
/// { [0] version OPTIONAL, serialNumber, signature, issuer, validity, subject, spki, ... } }.
fn subject_public_key_info(cert: &[u8]) -> Option<&[u8]> {
    let (tag, cert_body, _) = der_element(cert)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, mut tbs, _) = der_element(cert_body)?;
    if tag != 0x30 {
        return None;
    }
    if tbs.first() == Some(&0xa0) {
        tbs = der_element(tbs)?.2; // the explicit version
    }
    for _ in 0..5 {
        tbs = der_element(tbs)?.2; // serial, signature, issuer, validity, subject
    }
    let (tag, _, rest) = der_element(tbs)?;
    (tag == 0x30).then(|| &tbs[..tbs.len() - rest.len()])
}

/// One DER element: (tag, contents, what follows). Definite lengths only, as DER requires.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_public_key_of_a_generated_certificate() {
        use rcgen::PublicKeyData;
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, cert.pem()).unwrap();
        let trusted = TrustedCerts::load(&path).unwrap();
        assert_eq!(trusted.certs.len(), 1);
        assert_eq!(
            subject_public_key_info(&trusted.certs[0]),
            Some(key.subject_public_key_info().as_slice())
        );
        let want = ring::digest::digest(&ring::digest::SHA256, &key.subject_public_key_info());
        let want = base64::engine::general_purpose::STANDARD.encode(want.as_ref());
        assert_eq!(trusted.spki_hashes(), vec![want]);
    }

    #[test]
    fn a_file_without_certificates_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = TrustedCerts::load(&path).unwrap_err();
        assert!(err.contains("empty.pem: no certificate"), "{err}");
        let err = TrustedCerts::load(&dir.path().join("missing.pem")).unwrap_err();
        assert!(err.contains("missing.pem"), "{err}");
    }

    #[test]
    fn truncated_der_is_rejected() {
        assert!(der_element(&[0x30, 0x05, 1, 2]).is_none());
        assert!(subject_public_key_info(&[0x30, 0x00]).is_none());
    }
}
