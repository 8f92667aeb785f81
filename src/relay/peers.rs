//! Who may be relayed to, and how it is trusted: the `--peer NAME=URL` allow-list, the
//! instance's region, `--peer-ca`, and the TLS settings of the forwarding client.
//!
//! A request names peers, never URLs, so only what is configured here is reachable. `https://`
//! peers are verified against Mozilla's roots compiled into the binary (the image is `scratch`,
//! with no CA files to read) plus the CAs of `--peer-ca`, over rustls' `ring` provider (why
//! `ring`: ARCHITECTURE.md, "Relay hops"); HTTP/1.1 is offered by ALPN, since a leg carries one
//! request at a time and h2 would buy nothing.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper::Uri;
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// A name for peers and regions: it appears in Server-Timing `desc` and in metric labels.
const NAME_MAX: usize = 64;

/// One configured peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub name: String,
    /// `http://host:port` or `https://host:port`, without a trailing slash.
    pub(super) origin: String,
    /// A path prefix put before the request's path (`""` for none).
    pub(super) prefix: String,
}

impl Peer {
    pub fn url(&self) -> String {
        format!("{}{}", self.origin, if self.prefix.is_empty() { "/" } else { &self.prefix })
    }
}

/// The relay settings: the peers, this instance's region, the hop cap and timeout, extra CAs.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub peers: Vec<Peer>,
    pub region: Option<String>,
    pub max_hops: u32,
    pub peer_timeout: Duration,
    /// Extra trust roots for `https://` peers (`--peer-ca`), on top of Mozilla's.
    pub peer_ca: Vec<CertificateDer<'static>>,
}

pub(super) fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= NAME_MAX
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

const NAME_ALLOWED: &str = "letters, digits, '-', '_' and '.', at most 64";

/// Parses the `--peer` values (`NAME=URL`, each once; the env twin is split at commas by clap).
pub fn parse_peers(values: &[String]) -> Result<Vec<Peer>, String> {
    let mut peers: Vec<Peer> = Vec::with_capacity(values.len());
    for v in values.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
        let (name, url) = v
            .split_once('=')
            .ok_or_else(|| format!("{v:?} is not NAME=URL; allowed: e.g. --peer ap=https://ap.example (repeatable)"))?;
        let name = name.trim();
        if !valid_name(name) {
            return Err(format!("peer name {name:?} is not allowed; allowed: {NAME_ALLOWED}"));
        }
        if peers.iter().any(|p| p.name == name) {
            return Err(format!("peer {name:?} is given twice; allowed: each name once"));
        }
        let (origin, prefix) = parse_url(url.trim()).map_err(|e| format!("peer {name:?}: {e}"))?;
        peers.push(Peer { name: name.to_owned(), origin, prefix });
    }
    Ok(peers)
}

fn parse_url(url: &str) -> Result<(String, String), String> {
    const ALLOWED: &str =
        "allowed: http:// or https://HOST[:PORT][/PREFIX], e.g. https://ap.example or http://10.0.2.15:8080";
    let uri: Uri = url.parse().map_err(|_| format!("{url:?} is not a URL; {ALLOWED}"))?;
    let scheme = match uri.scheme_str() {
        Some(s @ ("http" | "https")) => s,
        _ => return Err(format!("{url:?} is neither an http:// nor an https:// URL; {ALLOWED}")),
    };
    let authority = uri.authority().ok_or_else(|| format!("{url:?} has no host; {ALLOWED}"))?;
    if authority.as_str().contains('@') {
        return Err(format!("{url:?} carries credentials; {ALLOWED}"));
    }
    if uri.query().is_some() {
        return Err(format!("{url:?} has a query; {ALLOWED}"));
    }
    let prefix = uri.path().trim_end_matches('/').to_owned();
    Ok((format!("{scheme}://{authority}"), prefix))
}

/// Reads `--peer-ca`: a PEM file of one or more CA certificates that `https://` peers may chain
/// to, for peers behind a private CA (Mozilla's roots are always trusted too).
pub fn load_peer_ca(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    const ALLOWED: &str = "allowed: a PEM file of one or more CA certificates (-----BEGIN CERTIFICATE-----)";
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}; {ALLOWED}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{} is not valid PEM ({e}); {ALLOWED}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no certificate; {ALLOWED}", path.display()));
    }
    // Parse them now so a bad file stops the start, not the first hop.
    let mut store = RootCertStore::empty();
    for (i, cert) in certs.iter().enumerate() {
        store.add(cert.clone()).map_err(|e| {
            format!("certificate {} of {} is not usable as a CA ({e}); {ALLOWED}", i + 1, path.display())
        })?;
    }
    Ok(certs)
}

/// The roots `https://` peers may chain to: Mozilla's and `extra`.
fn root_store(extra: &[CertificateDer<'static>]) -> RootCertStore {
    let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    // Checked by `load_peer_ca`; one that fails here anyway is left out rather than trusted.
    roots.add_parsable_certificates(extra.iter().cloned());
    roots
}

/// The client's TLS settings: Mozilla's roots and `extra`, HTTP/1.1 offered by ALPN.
pub(super) fn tls_config(extra: &[CertificateDer<'static>]) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(root_store(extra))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

/// `--region`, else `AWS_REGION` (as AWS sets it in tasks and functions); both may be unset.
pub fn parse_region(region: Option<&str>, aws_region: Option<&str>) -> Result<Option<String>, String> {
    let chosen = [region, aws_region].into_iter().flatten().map(str::trim).find(|r| !r.is_empty());
    match chosen {
        Some(r) if !valid_name(r) => Err(format!("{r:?} is not allowed; allowed: {NAME_ALLOWED}, e.g. eu-west-1")),
        other => Ok(other.map(str::to_owned)),
    }
}

#[cfg(test)]
mod tests {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

    use super::*;

    fn peers(list: &[&str]) -> Vec<Peer> {
        parse_peers(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn peers_are_name_equals_http_or_https_url() {
        let p =
            peers(&["ap=http://10.0.2.15:8080", " us = http://us.example:80/base/ ", "eu=https://x.awsapprunner.com"]);
        assert_eq!(p[0].name, "ap");
        assert_eq!(p[0].url(), "http://10.0.2.15:8080/");
        assert_eq!(p[1].name, "us");
        assert_eq!(p[1].url(), "http://us.example:80/base");
        assert_eq!(p[2].url(), "https://x.awsapprunner.com/");
        assert!(parse_peers(&[]).unwrap().is_empty());
    }

    #[test]
    fn bad_peers_say_what_is_allowed() {
        let err = |v: &str| parse_peers(&[v.to_owned()]).unwrap_err();
        assert!(err("ap").contains("NAME=URL"));
        assert!(err("a p=http://x:1").contains("not allowed"));
        for other in ["ap=ftp://x", "ap=ws://x", "ap=HTTPS+unix://x"] {
            let e = err(other);
            assert!(e.contains("allowed: http:// or https://"), "{other}: {e}");
        }
        assert!(err("ap=https://u:p@x").contains("credentials"));
        assert!(err("ap=x:80").contains("allowed"));
        assert!(err("ap=http://u:p@x").contains("credentials"));
        assert!(err("ap=http://x/?a=1").contains("query"));
        let twice = parse_peers(&["a=http://x".into(), "a=http://y".into()]).unwrap_err();
        assert!(twice.contains("twice"), "{twice}");
    }

    #[test]
    fn peer_ca_files_must_hold_certificates() {
        let dir = std::env::temp_dir().join(format!("delay-echo-peer-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = load_peer_ca(&dir.join("absent.pem")).unwrap_err();
        assert!(missing.contains("cannot read") && missing.contains("allowed: a PEM file"), "{missing}");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        assert!(load_peer_ca(&empty).unwrap_err().contains("holds no certificate"));
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();
        assert!(load_peer_ca(&junk).unwrap_err().contains("not usable as a CA"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_client_offers_http1_and_trusts_mozilla_roots() {
        let c = tls_config(&[]);
        assert_eq!(c.alpn_protocols, [b"http/1.1".to_vec()]);
        // The roots are Mozilla's, with those the platforms' certificates chain to among them:
        // Amazon's (App Runner, ECS Express Mode), Google's (Cloud Run), Let's Encrypt's.
        let mozilla = root_store(&[]);
        assert_eq!(mozilla.len(), webpki_roots::TLS_SERVER_ROOTS.len());
        let has = |name: &str| {
            mozilla.roots.iter().any(|r| r.subject.as_ref().windows(name.len()).any(|w| w == name.as_bytes()))
        };
        for root in ["Amazon Root CA 1", "GTS Root R1", "ISRG Root X1"] {
            assert!(has(root), "{root} is not among the roots");
        }
        assert!(!has("delay-echo test CA"));
        // `--peer-ca` adds its CAs to Mozilla's; it replaces none.
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, "delay-echo test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let both = root_store(&[ca.der().clone()]);
        assert_eq!(both.len(), mozilla.len() + 1);
        assert!(both.roots.iter().any(|r| r.subject.as_ref().windows(18).any(|w| w == b"delay-echo test CA")));
    }

    #[test]
    fn region_prefers_the_flag_then_aws_region() {
        assert_eq!(parse_region(Some("eu-west-1"), Some("us-east-1")).unwrap().as_deref(), Some("eu-west-1"));
        assert_eq!(parse_region(None, Some("us-east-1")).unwrap().as_deref(), Some("us-east-1"));
        assert_eq!(parse_region(Some(""), None).unwrap(), None);
        assert!(parse_region(Some("eu west"), None).unwrap_err().contains("allowed"));
    }
}
