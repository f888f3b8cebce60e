//! [`ProxyConfig`]: what a proxy side is built from, as TOML keys (the
//! `atls proxy` flags with `_` for `-`) or in code.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use attested_tls::attester::Attester;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};

/// Errors of a proxy configuration: each names the key that was wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The TOML file is not a proxy configuration (unknown key, wrong
    /// type): toml's message names the key and its line.
    #[error("{path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// toml's message.
        reason: String,
    },
    /// A required key is missing.
    #[error("`{key}` is required for the {side} side{hint}")]
    Missing {
        /// The key (TOML name; the flag is `--` and `-` for `_`).
        key: &'static str,
        /// `server` or `client`.
        side: &'static str,
        /// What to do.
        hint: &'static str,
    },
    /// A key of the other side.
    #[error("`{key}` is a {other}-side key; the {side} side does not use it")]
    OtherSide {
        /// The key.
        key: &'static str,
        /// The side being built.
        side: &'static str,
        /// The side the key belongs to.
        other: &'static str,
    },
    /// A value that cannot be used.
    #[error("`{key}`: {reason}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// Why.
        reason: String,
    },
}

/// How the server side talks to its backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendProtocol {
    /// The attested stream's bytes, as they are.
    #[default]
    Tcp,
    /// A PROXY protocol v2 header first (the TLS peer's addresses and the
    /// attestation TLVs, [`crate::proxy_v2`]), then the bytes.
    ProxyV2,
    /// HTTP/1.1 reverse proxy adding the `atls-peer-*` request headers
    /// ([`crate::http`]).
    Http,
}

impl std::str::FromStr for BackendProtocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tcp" => Ok(Self::Tcp),
            "proxy-v2" => Ok(Self::ProxyV2),
            "http" => Ok(Self::Http),
            other => Err(format!("unknown backend protocol {other:?} (tcp, proxy-v2, http)")),
        }
    }
}

/// Log output of `atls proxy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "human" => Ok(Self::Human),
            "json" => Ok(Self::Json),
            other => Err(format!("unknown log format {other:?} (human, json)")),
        }
    }
}

/// One side of the proxy. Every field is a TOML key of `atls proxy
/// --config FILE` and a flag of the same name (`_` → `-`); unknown keys are
/// refused. Durations are whole seconds; `0` turns the timeouts that allow
/// it off (`idle_timeout`, `reattest_interval`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProxyConfig {
    /// Where to listen (`host:port`; port 0 picks one).
    pub listen: String,
    /// Server side: the local service attested connections are relayed to.
    pub backend: Option<String>,
    /// Server side: how to talk to the backend.
    pub backend_protocol: BackendProtocol,
    /// Client side: the attested server to connect to.
    pub upstream: Option<String>,
    /// Client side: the TLS server name dialled (default `atls-server`).
    pub server_name: Option<String>,
    /// This side's attester: `none`, `sim` (needs `sim_instance`) or
    /// `configfs`.
    pub attester: String,
    /// The simulated instance file of `attester = "sim"`.
    pub sim_instance: Option<PathBuf>,
    /// The configfs-tsm report directory of `attester = "configfs"`.
    pub tsm_dir: PathBuf,
    /// Client side: require host identity (I1, docs/host-identity.md) of
    /// the server for `server_name`, with these CA certificate files (PEM)
    /// as roots. They replace the roots of the policy's `[host_identity]`
    /// section, if it has one.
    pub host_ca: Vec<PathBuf>,
    /// Server side: the TLS certificate chain presented to clients (PEM,
    /// end entity first), with `key`. Without it the server side presents
    /// a self-signed certificate for `atls-server`: trust comes from
    /// attestation, not from the certificate.
    pub cert: Option<PathBuf>,
    /// Server side: the private key of `cert` (PEM: PKCS#8, SEC1 or
    /// PKCS#1).
    pub key: Option<PathBuf>,
    /// Server side: attest with the key of `cert` (the authenticator's
    /// certificate chain is `cert`), so that clients requiring host
    /// identity (I1: a policy's `[host_identity]`, docs/host-identity.md)
    /// accept this server for the names `cert` is issued for. Needs `cert`,
    /// `key` and an attester.
    pub attest_with_tls_cert: bool,
    /// The policy the peer is appraised with. Client side: required (fail
    /// closed). Server side: clients must attest (mutual); without it the
    /// server only attests itself.
    pub policy: Option<PathBuf>,
    /// Re-attest the peer on every live connection this often, if this side
    /// appraises it (`0`: never).
    pub reattest_interval: u64,
    /// Connections handled at once; a connection beyond is closed at once
    /// (before any TLS byte) and counted (`result="over_limit"`).
    pub max_connections: usize,
    /// Attester calls running at once, all connections together.
    pub max_attester_calls: usize,
    /// Deadline of the TLS handshake.
    pub handshake_timeout: u64,
    /// Deadline of the attestation exchange (and of each re-attestation).
    pub attestation_timeout: u64,
    /// Close a connection after this long without a byte in either
    /// direction (`0`: never).
    pub idle_timeout: u64,
    /// Deadline for reaching the backend (server) or upstream (client).
    pub connect_timeout: u64,
    /// At shutdown, how long live connections may go on before they are
    /// closed.
    pub drain_timeout: u64,
    /// Where to serve `/metrics` (Prometheus text format), if anywhere.
    pub metrics: Option<String>,
    /// Log output.
    pub log_format: LogFormat,
    /// Print the `listening` line as JSON.
    pub json: bool,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:0".into(),
            backend: None,
            backend_protocol: BackendProtocol::Tcp,
            upstream: None,
            server_name: None,
            attester: "none".into(),
            sim_instance: None,
            tsm_dir: PathBuf::from("/sys/kernel/config/tsm/report"),
            host_ca: Vec::new(),
            cert: None,
            key: None,
            attest_with_tls_cert: false,
            policy: None,
            reattest_interval: 0,
            max_connections: 1024,
            max_attester_calls: attested_tls::net::AttesterCallLimit::DEFAULT_MAX,
            handshake_timeout: 10,
            attestation_timeout: 10,
            idle_timeout: 300,
            connect_timeout: 10,
            drain_timeout: 30,
            metrics: None,
            log_format: LogFormat::Human,
            json: false,
        }
    }
}

/// Largest configuration file read.
const MAX_CONFIG_LEN: u64 = attested_tls::fsutil::MAX_CONFIG_FILE_LEN;

impl ProxyConfig {
    /// The server side's TLS identity from `cert` and `key`, if both are
    /// set (one without the other is an error naming the missing key).
    pub fn tls_identity(&self) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, ConfigError> {
        let (cert, key) = match (&self.cert, &self.key) {
            (None, None) => return Ok(None),
            (Some(c), Some(k)) => (c, k),
            (Some(_), None) => {
                return Err(ConfigError::Invalid {
                    key: "key",
                    reason: "`cert` needs its private key (--key FILE)".into(),
                })
            }
            (None, Some(_)) => {
                return Err(ConfigError::Invalid {
                    key: "cert",
                    reason: "`key` needs its certificate chain (--cert FILE)".into(),
                })
            }
        };
        let pem = |path: &Path| {
            attested_tls::fsutil::read_bounded(path, attested_tls::fsutil::MAX_CONFIG_FILE_LEN)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))
        };
        let bad_cert = |reason: String| ConfigError::Invalid { key: "cert", reason };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem(cert).map_err(bad_cert)?)
            .collect::<Result<_, _>>()
            .map_err(|e| bad_cert(format!("{}: {e}", cert.display())))?;
        // An empty chain would reach rustls as "peer sent no certificates",
        // naming no file.
        if chain.is_empty() {
            return Err(bad_cert(format!(
                "{}: no CERTIFICATE block (a PEM certificate chain, end entity first)",
                cert.display()
            )));
        }
        let private =
            PrivateKeyDer::from_pem_slice(&pem(key).map_err(|reason| ConfigError::Invalid { key: "key", reason })?)
                .map_err(|e| ConfigError::Invalid {
                    key: "key",
                    reason: format!("{}: {e}", key.display()),
                })?;
        Ok(Some((chain, private)))
    }

    /// Reads a TOML configuration; unknown keys are refused. Relative paths
    /// in it (`policy`, `sim_instance`, `tsm_dir`) are taken relative to
    /// the file's directory.
    pub fn from_toml_file(path: &Path) -> Result<Self, ConfigError> {
        let text =
            attested_tls::fsutil::read_bounded_to_string(path, MAX_CONFIG_LEN).map_err(|e| ConfigError::Read {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        let mut cfg = Self::from_toml_str(&text).map_err(|reason| ConfigError::Parse {
            path: path.to_path_buf(),
            reason,
        })?;
        let base = path.parent().unwrap_or(Path::new(""));
        for p in [&mut cfg.policy, &mut cfg.sim_instance].into_iter().flatten() {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        if cfg.tsm_dir.is_relative() {
            cfg.tsm_dir = base.join(&cfg.tsm_dir);
        }
        Ok(cfg)
    }

    /// Parses TOML text (paths as written); toml's message on error.
    pub fn from_toml_str(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())
    }

    pub(crate) fn secs(&self, key: &'static str, v: u64, zero_ok: bool) -> Result<Option<Duration>, ConfigError> {
        match v {
            0 if zero_ok => Ok(None),
            0 => Err(ConfigError::Invalid {
                key,
                reason: "must be at least 1 second".into(),
            }),
            v if v > 365 * 24 * 3600 => Err(ConfigError::Invalid {
                key,
                reason: format!("{v} s is more than a year"),
            }),
            v => Ok(Some(Duration::from_secs(v))),
        }
    }

    /// The checked timeouts and limits shared by both sides.
    pub(crate) fn limits(&self) -> Result<Limits, ConfigError> {
        if self.max_connections == 0 {
            return Err(ConfigError::Invalid {
                key: "max_connections",
                reason: "must be at least 1".into(),
            });
        }
        Ok(Limits {
            max_connections: self.max_connections,
            handshake: self
                .secs("handshake_timeout", self.handshake_timeout, false)?
                .unwrap_or_default(),
            attestation: self
                .secs("attestation_timeout", self.attestation_timeout, false)?
                .unwrap_or_default(),
            idle: self.secs("idle_timeout", self.idle_timeout, true)?,
            connect: self
                .secs("connect_timeout", self.connect_timeout, false)?
                .unwrap_or_default(),
            drain: self
                .secs("drain_timeout", self.drain_timeout, true)?
                .unwrap_or_default(),
            reattest: self.secs("reattest_interval", self.reattest_interval, true)?,
        })
    }

    /// This side's attester, if any (`attester`, `sim_instance`, `tsm_dir`).
    pub fn build_attester(&self) -> Result<Option<Arc<dyn Attester>>, ConfigError> {
        build_attester(&self.attester, self.sim_instance.as_deref(), &self.tsm_dir)
    }

    /// The appraiser of `policy`, if given.
    /// The host identity roots of `host_ca`, if any.
    pub(crate) fn host_identity(&self) -> Result<Option<attested_tls::host_identity::HostIdentity>, ConfigError> {
        if self.host_ca.is_empty() {
            return Ok(None);
        }
        attested_tls::host_identity::HostIdentity::from_pem_files(&self.host_ca)
            .map(Some)
            .map_err(|e| ConfigError::Invalid {
                key: "host_ca",
                reason: e.to_string(),
            })
    }

    pub(crate) fn appraiser(&self) -> Result<Option<attested_tls::verifier::Appraiser>, ConfigError> {
        let Some(path) = &self.policy else {
            return Ok(None);
        };
        let invalid = |e: &dyn std::fmt::Display| ConfigError::Invalid {
            key: "policy",
            reason: format!("{}: {e}", path.display()),
        };
        let policy = attested_tls::policy::Policy::load(path).map_err(|e| invalid(&e))?;
        policy.appraiser().map(Some).map_err(|e| invalid(&e))
    }
}

/// An attester by name, as `atls serve --attester` and `atls proxy
/// --attester` name them: `none`, `sim` (the instance file
/// `sim_instance`), `configfs` (Linux configfs-tsm under `tsm_dir`).
pub fn build_attester(
    name: &str,
    sim_instance: Option<&Path>,
    tsm_dir: &Path,
) -> Result<Option<Arc<dyn Attester>>, ConfigError> {
    match name {
        "none" => Ok(None),
        "sim" => {
            let path = sim_instance.ok_or(ConfigError::Missing {
                key: "sim_instance",
                side: "attesting",
                hint: " with attester = \"sim\" (--sim-instance FILE, see `atls sim init`)",
            })?;
            let inst = attested_tls::sim::SimInstance::load(path).map_err(|e| ConfigError::Invalid {
                key: "sim_instance",
                reason: e.to_string(),
            })?;
            Ok(Some(Arc::new(attested_tls::sim::SimAttester::new(inst))))
        }
        "configfs" => Ok(Some(Arc::new(attested_tls::platform::configfs::ConfigfsAttester::new(
            tsm_dir,
        )))),
        other => Err(ConfigError::Invalid {
            key: "attester",
            reason: format!("unknown attester {other:?} (sim, configfs, none)"),
        }),
    }
}

/// Checked limits and timeouts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub max_connections: usize,
    pub handshake: Duration,
    pub attestation: Duration,
    pub idle: Option<Duration>,
    pub connect: Duration,
    pub drain: Duration,
    pub reattest: Option<Duration>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let e = ProxyConfig::from_toml_str("listen = \"127.0.0.1:1\"\nbackend_protcol = \"tcp\"\n").unwrap_err();
        assert!(e.contains("unknown field `backend_protcol`"), "{e}");
    }

    #[test]
    fn keys_have_the_flag_names_and_defaults_apply() {
        let c = ProxyConfig::from_toml_str(
            "listen = \"127.0.0.1:9\"\nbackend = \"127.0.0.1:8\"\nbackend_protocol = \"proxy-v2\"\nreattest_interval = 5\n",
        )
        .unwrap();
        assert_eq!(c.backend_protocol, BackendProtocol::ProxyV2);
        assert_eq!(c.reattest_interval, 5);
        assert_eq!(c.drain_timeout, 30);
        let e = ProxyConfig::from_toml_str("backend_protocol = \"udp\"").unwrap_err();
        assert!(e.contains("udp"), "{e}");
    }

    #[test]
    fn zero_turns_off_only_what_may_be_off() {
        let c = ProxyConfig {
            handshake_timeout: 0,
            ..ProxyConfig::default()
        };
        assert!(matches!(
            c.limits(),
            Err(ConfigError::Invalid {
                key: "handshake_timeout",
                ..
            })
        ));
        let c = ProxyConfig {
            idle_timeout: 0,
            ..ProxyConfig::default()
        };
        assert_eq!(c.limits().unwrap().idle, None);
    }
}
