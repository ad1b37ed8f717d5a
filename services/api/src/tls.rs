//! TLS to the database, as libpq defines `sslmode` and `sslrootcert`.
//!
//! RDS for PostgreSQL 15 and later refuses unencrypted connections by default
//! (`rds.force_ssl = 1`), and the image is a static binary `FROM scratch`: no OpenSSL and no
//! system certificate store. So TLS is rustls with the `ring` provider (a static build
//! needs no CMake or Go, unlike aws-lc), through `tokio-postgres-rustls`, and a CA is
//! trusted only when `sslrootcert` names its file (for RDS, the global bundle).
//!
//! The `postgres` crate parses only `disable`, `prefer` and `require`, and refuses a URL
//! that has `sslrootcert`; so both are read here, from the URL's query or from libpq's
//! variables `PGSSLMODE` and `PGSSLROOTCERT`, and the rest of the URL goes to the crate.
//! The modes mean what they mean to libpq: `prefer` and `require` encrypt without checking
//! who answers (unless `require` has a root certificate: then it is `verify-ca`),
//! `verify-ca` checks the chain, `verify-full` the chain and the host name.

use postgres::config::SslMode as WireMode;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::path::PathBuf;
use std::sync::Arc;
use tokio_postgres_rustls::MakeRustlsConnect;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// libpq's `sslmode`, every value it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str, from: &str) -> Result<SslMode> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                    "{from}: unknown sslmode `{other}`; expected disable, allow, prefer, \
                     require, verify-ca or verify-full"
                )
                .into())
            }
        })
    }

    /// What the `postgres` crate is told: whether TLS is tried, and whether it must be.
    fn wire(self) -> WireMode {
        match self {
            SslMode::Disable => WireMode::Disable,
            // `allow` tries plain text first; the crate cannot, and TLS first is safer.
            SslMode::Allow | SslMode::Prefer => WireMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => WireMode::Require,
        }
    }
}

/// What a connection string asks for: the crate's own settings, and TLS's.
#[derive(Debug)]
pub struct Target {
    pub config: postgres::Config,
    pub mode: SslMode,
    pub root_cert: Option<PathBuf>,
}

/// How the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Encrypted, but anyone may answer (libpq's `prefer` and `require`).
    Nothing,
    /// Signed by a trusted CA, for whatever name.
    Chain,
    /// Signed by a trusted CA, for the host connected to.
    ChainAndName,
}

impl Target {
    /// Reads `url` (a `postgres://` URL) and libpq's `PGSSLMODE`/`PGSSLROOTCERT`, which the
    /// URL's own parameters override.
    pub fn parse(url: &str) -> Result<Target> {
        Target::parse_with(url, |name| std::env::var(name).ok())
    }

    fn parse_with(url: &str, env: impl Fn(&str) -> Option<String>) -> Result<Target> {
        let (rest, mode, root_cert) = take_tls_params(url)?;
        let mode = match (mode, env("PGSSLMODE").filter(|v| !v.is_empty())) {
            (Some(mode), _) => mode,
            (None, Some(value)) => SslMode::parse(&value, "PGSSLMODE")?,
            (None, None) => SslMode::Prefer,
        };
        let root_cert = root_cert
            .or_else(|| env("PGSSLROOTCERT").filter(|v| !v.is_empty()))
            .map(PathBuf::from);
        let mut config: postgres::Config = rest
            .parse()
            .map_err(|err| format!("DATABASE_URL does not parse: {err}"))?;
        config.ssl_mode(mode.wire());
        Ok(Target {
            config,
            mode,
            root_cert,
        })
    }

    fn check(&self) -> Check {
        match (self.mode, &self.root_cert) {
            (SslMode::VerifyFull, _) => Check::ChainAndName,
            (SslMode::VerifyCa, _) | (SslMode::Require, Some(_)) => Check::Chain,
            _ => Check::Nothing,
        }
    }

    /// The TLS connector this target asks for.
    pub fn connector(&self) -> Result<MakeRustlsConnect> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let verifier: Arc<dyn ServerCertVerifier> = match self.check() {
            Check::Nothing => Arc::new(Unchecked(provider)),
            check => {
                let roots = self.roots()?;
                let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
                    .build()
                    .map_err(|err| format!("sslrootcert: {err}"))?;
                match check {
                    Check::Chain => Arc::new(AnyName(webpki)),
                    _ => webpki,
                }
            }
        };
        let config = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }

    fn roots(&self) -> Result<Arc<RootCertStore>> {
        let Some(path) = &self.root_cert else {
            return Err(format!(
                "sslmode={} needs sslrootcert=<path of the CA bundle> in DATABASE_URL (or \
                 PGSSLROOTCERT); for RDS, the global bundle from \
                 https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem",
                if self.mode == SslMode::VerifyCa {
                    "verify-ca"
                } else {
                    "verify-full"
                }
            )
            .into());
        };
        if path.as_os_str() == "system" {
            return Err(
                "sslrootcert=system: this image has no system certificate store; \
                        name the CA bundle's file instead"
                    .into(),
            );
        }
        let bytes =
            std::fs::read(path).map_err(|err| format!("sslrootcert {}: {err}", path.display()))?;
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&bytes) {
            let cert = cert.map_err(|err| format!("sslrootcert {}: {err}", path.display()))?;
            roots
                .add(cert)
                .map_err(|err| format!("sslrootcert {}: {err}", path.display()))?;
        }
        if roots.is_empty() {
            return Err(format!("sslrootcert {}: no PEM certificate in it", path.display()).into());
        }
        Ok(Arc::new(roots))
    }
}

/// Connects as `url` says, TLS included.
pub fn connect(url: &str) -> Result<postgres::Client> {
    let target = Target::parse(url)?;
    let connector = target.connector()?;
    Ok(target.config.connect(connector)?)
}

/// Splits `sslmode` and `sslrootcert` out of a URL's query; the rest is left as it was.
fn take_tls_params(url: &str) -> Result<(String, Option<SslMode>, Option<String>)> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), None, None));
    };
    let (mut mode, mut root_cert, mut kept) = (None, None, Vec::new());
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decoded = || {
            percent_encoding::percent_decode_str(value)
                .decode_utf8()
                .map(|v| v.into_owned())
                .map_err(|_| format!("DATABASE_URL: `{key}` is not UTF-8 once decoded"))
        };
        match key {
            "sslmode" => mode = Some(SslMode::parse(&decoded()?, "DATABASE_URL")?),
            "sslrootcert" => root_cert = Some(decoded()?),
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, mode, root_cert))
}

/// libpq's `prefer`/`require`: the certificate is not checked, but the handshake's
/// signatures still are, so the session is encrypted to whoever holds that key.
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
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// libpq's `verify-ca`: the chain must lead to a trusted root, the name may be any.
/// webpki checks the chain before the name, so a name error means the chain passed.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let verified =
            self.0
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now);
        match verified {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::database::cluster::Cluster;

    fn parse(url: &str, env: &[(&str, &str)]) -> Result<Target> {
        Target::parse_with(url, |name| {
            env.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn tls_parameters_are_read_from_the_url_before_the_env_and_the_rest_goes_to_the_crate() {
        let target = parse(
            "postgres://u:p@db:5432/app?sslmode=verify-full&sslrootcert=%2Fcerts%2Frds%20ca.pem&application_name=migrate",
            &[("PGSSLMODE", "disable"), ("PGSSLROOTCERT", "/other.pem")],
        )
        .unwrap();
        assert_eq!(target.mode, SslMode::VerifyFull);
        assert_eq!(target.root_cert, Some(PathBuf::from("/certs/rds ca.pem")));
        assert_eq!(target.config.get_ssl_mode(), WireMode::Require);
        assert_eq!(target.config.get_application_name(), Some("migrate"));
        assert_eq!(target.check(), Check::ChainAndName);

        let from_env = parse(
            "postgres://u:p@db/app",
            &[("PGSSLMODE", "require"), ("PGSSLROOTCERT", "/ca.pem")],
        )
        .unwrap();
        // libpq: `require` with a root certificate checks the chain, as verify-ca.
        assert_eq!(
            (from_env.mode, from_env.check()),
            (SslMode::Require, Check::Chain)
        );

        let default = parse("postgres://u:p@db/app", &[]).unwrap();
        assert_eq!(
            (default.mode, default.check()),
            (SslMode::Prefer, Check::Nothing)
        );
        assert_eq!(default.config.get_ssl_mode(), WireMode::Prefer);
    }

    #[test]
    fn a_wrong_sslmode_or_a_missing_root_is_a_clear_error_that_shows_no_password() {
        let err = parse("postgres://u:secret@db/app?sslmode=verify_full", &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("DATABASE_URL") && err.contains("verify_full") && !err.contains("secret"),
            "{err}"
        );
        let err = parse("postgres://u:p@db/app", &[("PGSSLMODE", "on")])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("PGSSLMODE: unknown sslmode `on`"), "{err}");
        let no_root = parse("postgres://u:secret@db/app?sslmode=verify-full", &[]).unwrap();
        let err = no_root.connector().err().unwrap().to_string();
        assert!(
            err.contains("sslrootcert") && err.contains("global-bundle.pem"),
            "{err}"
        );
        let missing = parse(
            "postgres://u:p@db/app?sslmode=verify-ca&sslrootcert=/nowhere.pem",
            &[],
        )
        .unwrap();
        let err = missing.connector().err().unwrap().to_string();
        assert!(err.starts_with("sslrootcert /nowhere.pem: "), "{err}");
    }

    /// Whether the session `url` opens is encrypted, by the server's own account of it.
    fn encrypted(url: &str) -> std::result::Result<bool, String> {
        let mut client = connect(url).map_err(|err| crate::database::causes(&*err))?;
        let row = client
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .unwrap();
        Ok(row.get(0))
    }

    /// Oracle: PostgreSQL's TLS (OpenSSL) with certificates `openssl` made, on a server that
    /// lets in TLS connections only; `pg_stat_ssl` says whether the session is encrypted.
    #[test]
    fn each_sslmode_connects_or_refuses_as_libpq_defines_it_against_a_tls_only_server() {
        let server = Cluster::start(true);
        let ca = server.ca("ca.pem");
        let other = server.ca("other_ca.pem");
        let url = |host: &str, query: &str| server.url(host, query);
        let root = |mode: &str, ca: &str| format!("sslmode={mode}&sslrootcert={ca}");

        assert_eq!(encrypted(&url("localhost", "sslmode=require")), Ok(true));
        assert_eq!(encrypted(&url("127.0.0.1", "sslmode=prefer")), Ok(true));
        assert_eq!(
            encrypted(&url("localhost", &root("verify-full", &ca))),
            Ok(true)
        );
        // The certificate names localhost only: verify-ca takes it for 127.0.0.1, verify-full
        // does not.
        assert_eq!(
            encrypted(&url("127.0.0.1", &root("verify-ca", &ca))),
            Ok(true)
        );
        let err = encrypted(&url("127.0.0.1", &root("verify-full", &ca))).unwrap_err();
        assert!(err.contains("not valid for name"), "{err}");
        // Signed by a CA we were not told to trust: refused, whichever check.
        for mode in ["verify-full", "verify-ca", "require"] {
            let err = encrypted(&url("localhost", &root(mode, &other))).unwrap_err();
            assert!(err.contains("UnknownIssuer"), "{mode}: {err}");
        }
        // Plain text is refused by the server itself (its pg_hba.conf has hostssl only).
        let err = encrypted(&url("localhost", "sslmode=disable")).unwrap_err();
        assert!(err.contains("no encryption"), "{err}");
    }

    #[test]
    fn require_refuses_a_server_without_tls_and_prefer_falls_back_to_plain_text() {
        let server = Cluster::start(false);
        let err = encrypted(&server.url("localhost", "sslmode=require")).unwrap_err();
        assert!(err.contains("TLS"), "{err}");
        assert_eq!(
            encrypted(&server.url("localhost", "sslmode=prefer")),
            Ok(false)
        );
    }
}
