//! TLS to PostgreSQL, with the meanings libpq gives `sslmode` in the connection string, so that a database
//! operated with `hostssl` rules, or a managed one that insists on TLS, is reached as its operators expect:
//!
//! - `disable`: never TLS.
//! - `allow`, `prefer` (the default): TLS when the server offers it, plain otherwise; the certificate is not
//!   checked (as libpq: encryption against eavesdropping, not against a server in the middle).
//! - `require`: TLS or no connection; the certificate is not checked, unless `sslrootcert` names the CAs,
//!   which makes it `verify-ca` (as libpq).
//! - `verify-ca`: TLS, with a certificate issued by a CA of `sslrootcert`.
//! - `verify-full`: that, and the certificate names the host connected to.
//!
//! `sslrootcert=FILE` is a PEM file of CA certificates (for the system's CAs,
//! `/etc/ssl/certs/ca-certificates.crt` on Debian); `verify-ca` and `verify-full` need it. tokio-postgres knows
//! only `disable`, `prefer` and `require`, and no `sslrootcert`: both parameters are taken out of the connection
//! string here (from a URL's query or a `key=value` string), and the rest is read by tokio-postgres.
//! rustls, with ring's cryptography, makes the connections; TLS 1.2 and 1.3.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode;
use tokio_postgres::Config;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::PgOpenError;

/// Where the log's database is and how to reach it.
#[derive(Clone)]
pub(super) struct Endpoint {
    pub(super) config: Config,
    pub(super) tls: MakeRustlsConnect,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint").field("ssl_mode", &self.config.get_ssl_mode()).finish_non_exhaustive()
    }
}

/// How the server's certificate is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Check {
    None,
    Chain,
    ChainAndName,
}

/// Reads a connection string (a `postgres://` URL or `key=value` pairs) with its TLS parameters.
pub(super) fn endpoint(location: &str) -> Result<Endpoint, PgOpenError> {
    let (rest, mode, root) = take_tls_parameters(location);
    let mut config: Config = rest.parse().map_err(|e: tokio_postgres::Error| PgOpenError::BadUrl(e.to_string()))?;
    let (ssl_mode, check) = match (mode.as_deref().unwrap_or("prefer"), &root) {
        ("disable", _) => (SslMode::Disable, Check::None),
        ("allow" | "prefer", _) => (SslMode::Prefer, Check::None),
        ("require", None) => (SslMode::Require, Check::None),
        ("require" | "verify-ca", Some(_)) => (SslMode::Require, Check::Chain),
        ("verify-full", Some(_)) => (SslMode::Require, Check::ChainAndName),
        (mode @ ("verify-ca" | "verify-full"), None) => {
            return Err(PgOpenError::Tls(format!(
                "sslmode={mode} needs sslrootcert=FILE, the PEM file of the CA that issued the server's certificate \
                 (the system's CAs: sslrootcert=/etc/ssl/certs/ca-certificates.crt)"
            )))
        }
        (other, _) => {
            return Err(PgOpenError::Tls(format!("sslmode={other} is not one of disable, allow, prefer, require, verify-ca, verify-full")))
        }
    };
    config.ssl_mode(ssl_mode);
    let roots = root.as_deref().map(read_roots).transpose().map_err(PgOpenError::Tls)?;
    Ok(Endpoint { config, tls: MakeRustlsConnect::new(client_config(check, roots).map_err(PgOpenError::Tls)?) })
}

/// The connection string without `sslmode` and `sslrootcert`, and their values.
fn take_tls_parameters(location: &str) -> (String, Option<String>, Option<String>) {
    let (mut mode, mut root) = (None, None);
    let mut take = |key: &str, value: String| match key {
        "sslmode" => mode = Some(value),
        "sslrootcert" => root = Some(value),
        _ => unreachable!("only these are taken"),
    };
    let ours = |key: &str| key == "sslmode" || key == "sslrootcert";
    let rest = if location.starts_with("postgres://") || location.starts_with("postgresql://") {
        match location.split_once('?') {
            None => location.to_owned(),
            Some((base, query)) => {
                let mut kept = Vec::new();
                for pair in query.split('&') {
                    match pair.split_once('=') {
                        Some((key, value)) if ours(key) => take(key, percent_decoded(value)),
                        _ => kept.push(pair),
                    }
                }
                if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) }
            }
        }
    } else {
        let mut kept = Vec::new();
        for pair in location.split_whitespace() {
            match pair.split_once('=') {
                Some((key, value)) if ours(key) => take(key, value.trim_matches('\'').to_owned()),
                _ => kept.push(pair),
            }
        }
        kept.join(" ")
    };
    (rest, mode, root)
}

/// `%XX` escapes of a URL's query value decoded (a path such as `%2Fetc%2Fssl%2Fca.pem`).
fn percent_decoded(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn read_roots(path: &str) -> Result<RootCertStore, String> {
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("sslrootcert={path}: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("sslrootcert={path}: {e}"))?;
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certificates);
    if added == 0 {
        return Err(format!("sslrootcert={path} holds no CA certificate in PEM form"));
    }
    Ok(roots)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn client_config(check: Check, roots: Option<RootCertStore>) -> Result<ClientConfig, String> {
    let builder = ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions().map_err(|e| e.to_string())?;
    let verifier: Arc<dyn ServerCertVerifier> = match (check, roots) {
        (Check::None, _) | (_, None) => Arc::new(Unchecked(provider())),
        (check, Some(roots)) => {
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider()).build().map_err(|e| e.to_string())?;
            if check == Check::ChainAndName {
                webpki
            } else {
                Arc::new(ChainOnly(webpki))
            }
        }
    };
    Ok(builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth())
}

/// `prefer` and `require` without CAs: any certificate, with the handshake still signed by its key.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
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

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the certificate must chain to a CA of `sslrootcert`, whatever name it holds.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. })) => {
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_are_taken_out_of_urls_and_key_value_strings() {
        let (rest, mode, root) = take_tls_parameters("postgres://u@db/t?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Fca.pem");
        assert_eq!((rest.as_str(), mode.as_deref(), root.as_deref()), ("postgres://u@db/t?application_name=x", Some("verify-full"), Some("/etc/ca.pem")));
        let (rest, mode, root) = take_tls_parameters("postgres://u@db/t?sslmode=require");
        assert_eq!((rest.as_str(), mode.as_deref(), root), ("postgres://u@db/t", Some("require"), None));
        let (rest, mode, root) = take_tls_parameters("host=db dbname=t sslmode=verify-ca sslrootcert=/ca.pem");
        assert_eq!((rest.as_str(), mode.as_deref(), root.as_deref()), ("host=db dbname=t", Some("verify-ca"), Some("/ca.pem")));
    }

    #[test]
    fn modes_map_to_what_tokio_postgres_knows_and_verification_needs_its_cas() {
        let mode = |url: &str| endpoint(url).map(|e| e.config.get_ssl_mode()).map_err(|e| e.to_string());
        assert_eq!(mode("postgres://u@db/t"), Ok(SslMode::Prefer), "prefer is the default, as in libpq");
        assert_eq!(mode("postgres://u@db/t?sslmode=disable"), Ok(SslMode::Disable));
        assert_eq!(mode("postgres://u@db/t?sslmode=allow"), Ok(SslMode::Prefer));
        assert_eq!(mode("postgres://u@db/t?sslmode=require"), Ok(SslMode::Require));
        let refused = endpoint("postgres://u@db/t?sslmode=verify-full").unwrap_err().to_string();
        assert!(refused.contains("needs sslrootcert=FILE"), "{refused}");
        let refused = endpoint("postgres://u@db/t?sslmode=always").unwrap_err().to_string();
        assert!(refused.contains("is not one of disable, allow, prefer, require, verify-ca, verify-full"), "{refused}");
        let missing = endpoint("postgres://u@db/t?sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem").unwrap_err().to_string();
        assert!(missing.contains("sslrootcert=/nonexistent/ca.pem"), "{missing}");
    }
}
