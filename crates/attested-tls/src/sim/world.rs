//! Ready-made simulation worlds: `atls sim init` and ephemeral demos.

use std::io::Write;
use std::path::Path;

use super::{SimError, SimInstance, SimInstanceConfig, SimRoot};
use crate::crypto::HashAlgorithm;

/// A simulation root and the instances it issued.
#[derive(Debug)]
pub struct SimWorld {
    /// The simulation root.
    pub root: SimRoot,
    /// Its instances.
    pub instances: Vec<SimInstance>,
}

/// The measurement instances get when none is given:
/// `SHA-384("attested-tls simulated workload v1")`.
pub fn default_measurement() -> Vec<u8> {
    HashAlgorithm::Sha384.digest(b"attested-tls simulated workload v1")
}

fn build_world(
    name: &str,
    instances: usize,
    measurement: Option<Vec<u8>>,
    distinct_measurements: bool,
) -> Result<SimWorld, SimError> {
    if instances == 0 {
        return Err(SimError::invalid("instances", "at least one instance is needed"));
    }
    let base = measurement.unwrap_or_else(default_measurement);
    let root = SimRoot::generate(name)?;
    let mut out = Vec::with_capacity(instances.min(1024));
    for i in 0..instances {
        let m = if distinct_measurements && i > 0 {
            let idx = u32::try_from(i).map_err(|_| SimError::invalid("instances", "too many instances"))?;
            HashAlgorithm::Sha384.digest_parts(&[b"attested-tls sim measurement", &base, &idx.to_be_bytes()])
        } else {
            base.clone()
        };
        out.push(root.issue_instance(SimInstanceConfig::new(m))?);
    }
    Ok(SimWorld { root, instances: out })
}

/// A ready-made world for demos and tests (no files): a fresh root and
/// `instances` instances with the [`default_measurement`], debug off and
/// security version 1.
pub fn ephemeral_world(instances: usize) -> Result<SimWorld, SimError> {
    build_world("attested-tls ephemeral simulation root", instances, None, false)
}

fn write_file(path: &Path, contents: &str, secret: bool) -> Result<(), SimError> {
    let io = |source| SimError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if secret { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut f = opts.open(path).map_err(io)?;
    f.write_all(contents.as_bytes()).map_err(io)
}

fn toml_string_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("\"{s}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

/// What `atls sim init` does: creates a simulation root and `instances`
/// instances and writes
///
/// - `DIR/root.pem` (root certificate) and `DIR/root.key` (root key, mode 0600),
/// - `DIR/instance-<i>.toml` for `i` in `0..instances` (mode 0600: they hold the instance keys),
/// - `DIR/policy.toml`: policy id `sim-default`, trusting `root.pem`,
///   allowing the instances' measurements and listing their instance ids.
///
/// Every instance has `measurement` (default [`default_measurement`]);
/// with `distinct_measurements`, instance `i > 0` gets
/// `SHA-384("attested-tls sim measurement" || measurement || i as u32 BE)`.
pub fn init(
    dir: &Path,
    instances: usize,
    measurement: Option<Vec<u8>>,
    distinct_measurements: bool,
) -> Result<SimWorld, SimError> {
    let world = build_world(
        "attested-tls simulation root",
        instances,
        measurement,
        distinct_measurements,
    )?;
    std::fs::create_dir_all(dir).map_err(|source| SimError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    write_file(&dir.join("root.pem"), &world.root.cert_pem(), false)?;
    write_file(&dir.join("root.key"), &world.root.key_pem(), true)?;
    let mut measurements: Vec<String> = Vec::new();
    let mut ids = Vec::new();
    for (i, inst) in world.instances.iter().enumerate() {
        write_file(&dir.join(format!("instance-{i}.toml")), &inst.to_toml(), true)?;
        let m = hex::encode(&inst.config().measurement);
        if !measurements.contains(&m) {
            measurements.push(m);
        }
        ids.push(hex::encode(&inst.config().instance_id));
    }
    let policy = format!(
        "# written by `atls sim init`: trusts the simulation root in this directory\n\
         id = \"sim-default\"\n\
         \n\
         [sim]\n\
         trusted_roots = [\"root.pem\"]\n\
         measurements = {}\n\
         instance_ids = {}\n\
         allow_debug = false\n\
         min_security_version = 1\n",
        toml_string_list(&measurements),
        toml_string_list(&ids),
    );
    write_file(&dir.join("policy.toml"), &policy, false)?;
    Ok(world)
}

impl SimWorld {
    /// The policy section trusting this world: its instances' measurements
    /// and, with `pin_instances`, their instance ids.
    pub fn sim_policy(&self, pin_instances: bool) -> super::SimPolicy {
        let mut measurements: Vec<String> = Vec::new();
        for i in &self.instances {
            let m = hex::encode(&i.config().measurement);
            if !measurements.contains(&m) {
                measurements.push(m);
            }
        }
        super::SimPolicy {
            trusted_roots: Vec::new(),
            measurements,
            instance_ids: pin_instances.then(|| {
                self.instances
                    .iter()
                    .map(|i| hex::encode(&i.config().instance_id))
                    .collect()
            }),
            allow_debug: false,
            min_security_version: 0,
            max_evidence_age: None,
        }
    }

    /// An appraiser that trusts this world's root in memory (no files),
    /// with [`SimWorld::sim_policy`]`(true)` under `policy_id`.
    pub fn appraiser(&self, policy_id: &str) -> crate::verifier::Appraiser {
        let v = super::SimVerifier::new(self.sim_policy(true), vec![self.root.cert_der().to_vec()])
            .expect("a policy built from valid instances is valid");
        crate::verifier::Appraiser::new(policy_id).with_verifier(std::sync::Arc::new(v))
    }
}
