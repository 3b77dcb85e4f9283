//! Certificates made at test time: a CA of the test's own and server
//! certificates it signs for the names a test gives, written as PEM files
//! the way a person hands them to `gantry hub serve --tls-cert --tls-key`
//! and `--ca-file`. Nothing is kept between tests, so no test trusts a
//! certificate another made.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SerialNumber,
};

/// A certificate authority that exists for one test.
#[derive(Debug)]
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A server's certificate and key, in PEM, and the certificate in DER to
/// compare with what a client was shown.
#[derive(Debug, Clone)]
pub struct ServerPair {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PEM (PKCS#8).
    pub key_pem: String,
    /// The certificate, DER: what a TLS peer sees.
    pub der: Vec<u8>,
}

impl TestCa {
    /// A new CA named `name`.
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("a CA key");
        TestCa {
            issuer: CertifiedIssuer::self_signed(params, key).expect("a CA certificate"),
        }
    }

    /// The CA's certificate, PEM: what `--ca-file` takes.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// Writes the CA's certificate to `path`.
    pub fn write(&self, path: &Path) {
        std::fs::write(path, self.pem()).expect("write the CA file");
    }

    /// A server certificate for `names` (host names or IP addresses), with
    /// `serial`, so that renewals are told apart.
    pub fn server(&self, names: &[&str], serial: u64) -> ServerPair {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("server params");
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        params.serial_number = Some(SerialNumber::from(serial));
        let key = KeyPair::generate().expect("a server key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("a server certificate");
        ServerPair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }
}

impl ServerPair {
    /// Writes the certificate and the key (readable by the owner only).
    pub fn write(&self, cert: &Path, key: &Path) {
        std::fs::write(cert, &self.cert_pem).expect("write the certificate");
        std::fs::write(key, &self.key_pem).expect("write the key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o600))
                .expect("chmod the key");
        }
    }
}
