//! The roots of trust of every client: verification is always on, so which CAs are trusted is
//! the one TLS decision, made once per process here.

use std::path::PathBuf;
use std::sync::Arc;

/// The root certificates every client trusts: Mozilla's (built in), the system's store, and
/// `SSL_CERT_FILE` / `SSL_CERT_DIR`. Loaded once per process; unreadable entries are skipped (a
/// server signed by a CA we could not load then fails verification, naming the host).
pub(super) fn root_certs() -> ureq::tls::RootCerts {
    static ROOTS: std::sync::OnceLock<Arc<Vec<ureq::tls::Certificate<'static>>>> =
        std::sync::OnceLock::new();
    let certs = ROOTS.get_or_init(|| {
        let mut ders: Vec<Vec<u8>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|c| c.as_ref().to_vec())
            .collect();
        for dir in openssl_probe::candidate_cert_dirs() {
            let found = rustls_native_certs::load_certs_from_paths(None, Some(dir));
            ders.extend(found.certs.iter().map(|c| c.as_ref().to_vec()));
        }
        let file = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
        let dir = std::env::var_os("SSL_CERT_DIR").map(PathBuf::from);
        if file.is_some() || dir.is_some() {
            let found = rustls_native_certs::load_certs_from_paths(file.as_deref(), dir.as_deref());
            ders.extend(found.certs.iter().map(|c| c.as_ref().to_vec()));
        }
        ders.sort();
        ders.dedup();
        Arc::new(
            ders.into_iter()
                .map(|d| ureq::tls::Certificate::from_der(&d).to_owned())
                .collect(),
        )
    });
    ureq::tls::RootCerts::Specific(certs.clone())
}
