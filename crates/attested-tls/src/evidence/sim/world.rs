//! Ready-made simulation worlds: `atls sim init` and ephemeral demos.

use std::io::Write;
use std::path::{Path, PathBuf};

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

/// One file of a simulation world, prepared in memory before any is written.
struct WorldFile {
    path: PathBuf,
    contents: String,
    /// Holds a private key: created with mode 0600.
    secret: bool,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SimError + '_ {
    move |source| SimError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `f.path`, which must not exist.
fn write_new(f: &WorldFile) -> Result<(), SimError> {
    let mut out = crate::fsutil::new_file_options(f.secret).open(&f.path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            // Appeared after the up-front check: still never overwritten.
            SimError::Exists { path: f.path.clone() }
        } else {
            io_err(&f.path)(e)
        }
    })?;
    out.write_all(f.contents.as_bytes()).map_err(io_err(&f.path))
}

/// Replaces `f.path` (`force`): writes a fresh temporary file in the same
/// directory and renames it over the target. The rename replaces the
/// directory entry itself, so a symlink at the target is replaced, not
/// followed, and the new file has its own mode (0600 for secrets) whatever
/// the old file's was.
fn replace(f: &WorldFile) -> Result<(), SimError> {
    let dir = f.path.parent().unwrap_or_else(|| Path::new("."));
    let name = f.path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", hex::encode(crate::crypto::random_bytes(8))));
    let written = write_synced(&tmp, f).map_err(io_err(&tmp));
    let renamed = written.and_then(|()| std::fs::rename(&tmp, &f.path).map_err(io_err(&f.path)));
    if renamed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    renamed
}

/// Creates `tmp` (which must not exist) with `f`'s contents and mode.
fn write_synced(tmp: &Path, f: &WorldFile) -> std::io::Result<()> {
    let mut out = crate::fsutil::new_file_options(f.secret).open(tmp)?;
    out.write_all(f.contents.as_bytes())?;
    // On disk before the rename, so a crash cannot leave an empty key.
    out.sync_all()
}

/// Creates `dir` (and missing parents) with mode 0700 if it does not exist:
/// it is going to hold private keys. An existing directory is left as is.
fn create_dir(dir: &Path) -> Result<(), SimError> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(io_err(dir))
}

/// Options of [`init_with_options`].
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// Number of instances (at least one).
    pub instances: usize,
    /// Measurement of the instances (default [`default_measurement`]).
    pub measurement: Option<Vec<u8>>,
    /// Give instance `i > 0` its own measurement (see [`init`]).
    pub distinct_measurements: bool,
    /// Replace the files of an existing world. Without it, any existing
    /// file of the world (or a symlink in its place) is an error
    /// ([`SimError::Exists`]) and nothing is written.
    pub force: bool,
}

impl Default for InitOptions {
    fn default() -> Self {
        Self {
            instances: 2,
            measurement: None,
            distinct_measurements: false,
            force: false,
        }
    }
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
///   allowing the instances' measurements, listing their instance ids and
///   setting `min_security_version` to their security version (1).
///
/// Every instance has `measurement` (default [`default_measurement`]);
/// with `distinct_measurements`, instance `i > 0` gets
/// `SHA-384("attested-tls sim measurement" || measurement || i as u32 BE)`.
///
/// Never overwrites: if any of these files exists, this fails with
/// [`SimError::Exists`] before writing anything. See [`init_with_options`]
/// to replace an existing world.
pub fn init(
    dir: &Path,
    instances: usize,
    measurement: Option<Vec<u8>>,
    distinct_measurements: bool,
) -> Result<SimWorld, SimError> {
    init_with_options(
        dir,
        &InitOptions {
            instances,
            measurement,
            distinct_measurements,
            force: false,
        },
    )
}

/// [`init`] with options. `DIR` is created with mode 0700 if missing.
///
/// Without `force`, every file of the world is checked first and any that
/// exists (a symlink included) fails the whole call with
/// [`SimError::Exists`], leaving the directory untouched: re-running would
/// otherwise replace `root.key` and orphan every instance already deployed.
/// Files are created with `create_new`, so a symlink is never followed.
///
/// With `force`, each file is written to a fresh temporary file in `DIR`
/// and renamed over the old one: a symlink is replaced rather than
/// followed, and secrets are mode 0600 whatever the old file's mode was.
pub fn init_with_options(dir: &Path, opts: &InitOptions) -> Result<SimWorld, SimError> {
    let world = build_world(
        "attested-tls simulation root",
        opts.instances,
        opts.measurement.clone(),
        opts.distinct_measurements,
    )?;
    let files = world_files(dir, &world);
    create_dir(dir)?;
    if opts.force {
        for f in &files {
            replace(f)?;
        }
    } else {
        // All checked before any is written, so a refusal changes nothing.
        for f in &files {
            match std::fs::symlink_metadata(&f.path) {
                Ok(_) => return Err(SimError::Exists { path: f.path.clone() }),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&f.path)(e)),
            }
        }
        for f in &files {
            write_new(f)?;
        }
    }
    Ok(world)
}

/// The files of `world` in `dir`, in writing order.
fn world_files(dir: &Path, world: &SimWorld) -> Vec<WorldFile> {
    let file = |name: &str, contents: String, secret: bool| WorldFile {
        path: dir.join(name),
        contents,
        secret,
    };
    let mut files = vec![
        file("root.pem", world.root.cert_pem(), false),
        file("root.key", world.root.key_pem(), true),
    ];
    let mut measurements: Vec<String> = Vec::new();
    let mut ids = Vec::new();
    for (i, inst) in world.instances.iter().enumerate() {
        files.push(file(&format!("instance-{i}.toml"), inst.to_toml(), true));
        let m = hex::encode(&inst.config().measurement);
        if !measurements.contains(&m) {
            measurements.push(m);
        }
        ids.push(hex::encode(&inst.config().instance_id));
    }
    // An explicit floor: without one every result would be a warning.
    let policy = format!(
        "# written by `atls sim init`: trusts the simulation root in this directory\n\
         id = \"sim-default\"\n\
         \n\
         [sim]\n\
         trusted_roots = [\"root.pem\"]\n\
         measurements = {}\n\
         instance_ids = {}\n\
         allow_debug = false\n\
         min_security_version = {}   # the instances' security version; raise it to refuse older ones\n",
        toml_string_list(&measurements),
        toml_string_list(&ids),
        world.min_security_version(),
    );
    files.push(file("policy.toml", policy, false));
    files
}

impl SimWorld {
    /// The lowest security version of this world's instances: the floor
    /// its policies set.
    pub fn min_security_version(&self) -> u32 {
        self.instances
            .iter()
            .map(|i| i.config().security_version)
            .min()
            .unwrap_or(0)
    }

    /// The policy section trusting this world: its instances' measurements,
    /// their lowest security version as `min_security_version` and, with
    /// `pin_instances`, their instance ids.
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
            min_security_version: Some(self.min_security_version()),
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
