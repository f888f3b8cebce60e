//! The configfs-tsm attester against a fake report tree that behaves like
//! the kernel's for everything the attester does.
//!
//! The fake is a directory plus a thread. When the attester creates an
//! entry, the thread populates it (`provider`, `auxblob` as files;
//! `inblob`, `outblob`, `generation`, `privlevel` as FIFOs, `generation`
//! last). FIFOs make the fake synchronous like configfs: a write to
//! `inblob` is seen before the next read of `generation` or `outblob` is
//! served, and it advances `generation` by one, as the kernel does.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use attested_tls::attester::{AttestError, Attester};
use attested_tls::binder::{BindingClaims, ExpectedBinding};
use attested_tls::cmw::Cmw;
use attested_tls::crypto::HashAlgorithm;
use attested_tls::platform::configfs::*;
use attested_tls::platform::snp::{build_cert_table, decode_envelope, guid, parse_cert_table, MEDIA_TYPE_ENVELOPE};
use attested_tls::policy::Policy;

#[derive(Clone)]
struct Spec {
    provider: Option<&'static str>,
    outblob: Vec<u8>,
    auxblob: Option<Vec<u8>>,
    /// Extra generation increments per inblob write (a racing writer).
    extra_bumps: u64,
    /// Whether an inblob write advances generation at all (false: a
    /// provider that produced no report).
    inblob_bumps: bool,
    /// Generation of a new entry.
    initial_generation: u64,
    /// Copy the written report_data into outblob at 0x50, like a real report.
    patch_report_data: bool,
    privlevel: bool,
    /// Populate new entries at all.
    populate: bool,
}

impl Spec {
    fn snp() -> Self {
        Self {
            provider: Some("sev_guest"),
            outblob: vec![0x02; 1184],
            auxblob: None,
            extra_bumps: 0,
            inblob_bumps: true,
            initial_generation: 0,
            patch_report_data: true,
            privlevel: false,
            populate: true,
        }
    }
}

#[derive(Default)]
struct Log {
    inblobs: Vec<Vec<u8>>,
    privlevels: Vec<Vec<u8>>,
    entries: Vec<PathBuf>,
}

struct Fake {
    dir: tempfile::TempDir,
    log: Arc<Mutex<Log>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

struct Entry {
    dir: PathBuf,
    generation: u64,
    inblob: File,
    privlevel: Option<File>,
    report_data: Option<Vec<u8>>,
}

/// Creates a named pipe with the coreutils `mkfifo` (no FFI in tests).
fn mkfifo(p: &Path) -> std::io::Result<()> {
    let status = std::process::Command::new("mkfifo")
        .arg("-m")
        .arg("600")
        .arg(p)
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "mkfifo {} failed: {status}",
            p.display()
        )))
    }
}

fn nonblocking_reader(p: &Path) -> std::io::Result<File> {
    OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(p)
}

/// Reads what is pending in a FIFO without blocking.
fn drain(f: &mut File) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(_) => break,
        }
    }
    out
}

/// Serves `content` to a reader blocked on the FIFO `p`, if there is one:
/// one read session per open, like a configfs attribute. The FIFO node is
/// replaced (atomically) before writing, so that the next open of `p` waits
/// for the next serve instead of joining this one.
fn serve(p: &Path, content: &[u8]) {
    let Ok(probe) = OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(p) else {
        return; // no reader waiting (ENXIO) or the entry is gone
    };
    // A reader is waiting, so a blocking open of the same FIFO returns at
    // once; write through it so large contents are written whole.
    let Ok(mut f) = OpenOptions::new().write(true).open(p) else {
        return;
    };
    drop(probe);
    let next = p.with_extension("next");
    if mkfifo(&next).is_ok() {
        let _ = std::fs::rename(&next, p);
    }
    let _ = f.write_all(content);
}

impl Entry {
    fn populate(dir: &Path, spec: &Spec) -> std::io::Result<Self> {
        if let Some(a) = &spec.auxblob {
            std::fs::write(dir.join("auxblob"), a)?;
        }
        if let Some(p) = spec.provider {
            std::fs::write(dir.join("provider"), format!("{p}\n"))?;
        }
        mkfifo(&dir.join("inblob"))?;
        let inblob = nonblocking_reader(&dir.join("inblob"))?;
        let privlevel = if spec.privlevel {
            mkfifo(&dir.join("privlevel"))?;
            Some(nonblocking_reader(&dir.join("privlevel"))?)
        } else {
            None
        };
        mkfifo(&dir.join("outblob"))?;
        mkfifo(&dir.join("generation"))?; // last: the entry is ready
        Ok(Self {
            dir: dir.to_path_buf(),
            generation: spec.initial_generation,
            inblob,
            privlevel,
            report_data: None,
        })
    }

    /// Applies pending writes, as the kernel does when they are closed.
    fn apply_writes(&mut self, spec: &Spec, log: &Mutex<Log>) {
        if let Some(p) = &mut self.privlevel {
            let d = drain(p);
            if !d.is_empty() {
                self.generation = self.generation.wrapping_add(1);
                log.lock().unwrap().privlevels.push(d);
            }
        }
        let d = drain(&mut self.inblob);
        if !d.is_empty() {
            if spec.inblob_bumps {
                // Wrapping: the fake must not panic when a test starts it at u64::MAX.
                self.generation = self.generation.wrapping_add(1 + spec.extra_bumps);
            }
            self.report_data = Some(d.clone());
            log.lock().unwrap().inblobs.push(d);
        }
    }

    fn outblob(&self, spec: &Spec) -> Vec<u8> {
        let mut out = spec.outblob.clone();
        if let (true, Some(rd)) = (spec.patch_report_data, &self.report_data) {
            if out.len() >= 0x50 + rd.len() {
                out[0x50..0x50 + rd.len()].copy_from_slice(rd);
            }
        }
        out
    }
}

impl Fake {
    fn start(spec: Spec) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let log = Arc::new(Mutex::new(Log::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log2, stop2) = (log.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut entries: HashMap<PathBuf, Entry> = HashMap::new();
            while !stop2.load(Ordering::Relaxed) {
                if let Ok(rd) = std::fs::read_dir(&root) {
                    for d in rd.flatten() {
                        let p = d.path();
                        if spec.populate && p.is_dir() && !entries.contains_key(&p) {
                            if let Ok(e) = Entry::populate(&p, &spec) {
                                log2.lock().unwrap().entries.push(p.clone());
                                entries.insert(p, e);
                            }
                        }
                    }
                }
                entries.retain(|_, e| e.dir.exists());
                for e in entries.values_mut() {
                    e.apply_writes(&spec, &log2);
                    serve(&e.dir.join("generation"), format!("{}\n", e.generation).as_bytes());
                    e.apply_writes(&spec, &log2);
                    serve(&e.dir.join("outblob"), &e.outblob(&spec));
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        });
        Self {
            dir,
            log,
            stop,
            thread: Some(thread),
        }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn attester(&self) -> ConfigfsAttester {
        ConfigfsAttester::new(self.root())
    }

    fn assert_no_entries(&self) {
        let left: Vec<_> = std::fs::read_dir(self.root())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(left.is_empty(), "entries left behind: {left:?}");
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn binding() -> BindingClaims {
    BindingClaims {
        hash: HashAlgorithm::Sha256,
        binder: vec![0x11; 32],
        aik_pub_hash: vec![0x22; 32],
    }
}

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vectors/sev-snp")
}

fn vector_report() -> Vec<u8> {
    let hex_text = std::fs::read_to_string(vectors().join("report_milan.hex")).unwrap();
    hex::decode(hex_text.trim()).unwrap()
}

fn vector_table() -> Vec<u8> {
    let vcek = std::fs::read(vectors().join("vcek_milan.der")).unwrap();
    let mut t = build_cert_table(&[(guid::VCEK, &vcek)]);
    t.resize(4096, 0); // the kernel returns whole pages
    t
}

fn record(cmw: &Cmw) -> (&str, &[u8]) {
    match cmw {
        Cmw::Record(r) => (r.media_type().unwrap(), &r.value),
        other => panic!("expected a record, got {other:?}"),
    }
}

fn platform_error(e: AttestError) -> String {
    match e {
        AttestError::Platform { interface, reason } => {
            assert_eq!(interface, "configfs-tsm");
            reason
        }
        other => panic!("expected a platform error, got {other:?}"),
    }
}

#[test]
fn snp_attestation_yields_the_envelope_with_report_and_cert_table() {
    let fake = Fake::start(Spec {
        outblob: vector_report(),
        auxblob: Some(vector_table()),
        ..Spec::snp()
    });
    let a = fake.attester();
    assert_eq!(a.platform(), "configfs-tsm");
    let b = binding();
    let cmw = a.attest(&b).unwrap();
    assert_eq!(a.platform(), "snp");
    let (mt, value) = record(&cmw);
    assert_eq!(mt, MEDIA_TYPE_ENVELOPE);
    let env = decode_envelope(value).unwrap();
    assert_eq!(env.report.len(), 1184);
    assert_eq!(&env.report[0x50..0x90], &b.report_data()[..]);
    assert_eq!(env.certs.as_deref(), Some(&vector_table()[..]));
    assert_eq!(parse_cert_table(env.certs.as_deref().unwrap()).unwrap().len(), 1);
    // What was written to inblob is exactly the binding's report_data.
    let log = fake.log.lock().unwrap();
    assert_eq!(log.inblobs, vec![b.report_data().to_vec()]);
    assert_eq!(log.entries.len(), 1);
    drop(log);
    fake.assert_no_entries();
}

#[test]
fn the_attester_output_is_appraised_by_the_snp_verifier() {
    // The real report (its own report_data, left unpatched so that its
    // signature holds) travels through the attester and the CMW into the
    // policy's appraiser.
    let fake = Fake::start(Spec {
        outblob: vector_report(),
        auxblob: Some(vector_table()),
        patch_report_data: false,
        ..Spec::snp()
    });
    let cmw = fake.attester().attest(&binding()).unwrap();
    let policy = Policy::from_toml(
        "id = \"configfs\"\n[snp]\nmeasurements = [\"7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f\"]\n\
         min_tcb = { bootloader = 3, tee = 0, snp = 8, microcode = 115 }\nmin_guest_svn = 0\n",
        Path::new("."),
    )
    .unwrap();
    let rd = &vector_report()[0x50..0x90];
    let expected = ExpectedBinding::ReportData(rd.try_into().unwrap());
    let now = time::OffsetDateTime::from_unix_timestamp(1_735_689_600).unwrap();
    let ear = policy
        .appraiser()
        .unwrap()
        .appraise_cmw_bytes(&cmw.to_cbor(), &expected, now);
    assert!(ear.is_affirming(), "{}", ear.render());
}

#[test]
fn snp_without_auxblob_has_no_certs() {
    let fake = Fake::start(Spec::snp());
    let cmw = fake.attester().attest(&binding()).unwrap();
    let env = decode_envelope(record(&cmw).1).unwrap();
    assert_eq!(env.certs, None);
    // An empty auxblob is the same as none.
    let fake = Fake::start(Spec {
        auxblob: Some(Vec::new()),
        ..Spec::snp()
    });
    let cmw = fake.attester().attest(&binding()).unwrap();
    assert_eq!(decode_envelope(record(&cmw).1).unwrap().certs, None);
    fake.assert_no_entries();
}

#[test]
fn tdx_and_cca_outputs_are_raw() {
    for (name, mt) in [
        ("tdx_guest", MEDIA_TYPE_TDX_QUOTE),
        ("arm-cca-guest", MEDIA_TYPE_CCA_TOKEN),
    ] {
        let fake = Fake::start(Spec {
            provider: Some(name),
            outblob: b"quote or token".to_vec(),
            patch_report_data: false,
            ..Spec::snp()
        });
        let cmw = fake.attester().attest(&binding()).unwrap();
        assert_eq!(record(&cmw), (mt, &b"quote or token"[..]));
        fake.assert_no_entries();
    }
}

#[test]
fn a_racing_writer_is_detected() {
    let fake = Fake::start(Spec {
        extra_bumps: 1,
        ..Spec::snp()
    });
    let err = fake.attester().report(&[7; 64]).unwrap_err();
    match &err {
        ConfigfsError::Race {
            before,
            after,
            expected,
            path,
        } => {
            assert_eq!((*before, *after, *expected), (0, 2, 1));
            assert!(path.ends_with("generation"));
        }
        other => panic!("expected a race, got {other}"),
    }
    assert!(err.to_string().contains("raced"), "{err}");
    fake.assert_no_entries();
}

#[test]
fn a_generation_that_does_not_advance_is_not_called_a_race() {
    let fake = Fake::start(Spec {
        inblob_bumps: false,
        ..Spec::snp()
    });
    let err = fake.attester().report(&[7; 64]).unwrap_err();
    match &err {
        ConfigfsError::NotAdvanced {
            before,
            after,
            expected,
            path,
        } => {
            assert_eq!((*before, *after, *expected), (0, 0, 1));
            assert!(path.ends_with("generation"));
        }
        other => panic!("expected NotAdvanced, got {other}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("did not advance"), "{msg}");
    assert!(!msg.contains("raced"), "{msg}");
    fake.assert_no_entries();
}

#[test]
fn a_generation_that_goes_backwards_is_a_race() {
    // The inblob write moves generation from 5 to 3 (the fake adds
    // 1 + extra_bumps, wrapping).
    let fake = Fake::start(Spec {
        initial_generation: 5,
        extra_bumps: u64::MAX - 2,
        ..Spec::snp()
    });
    let err = fake.attester().report(&[7; 64]).unwrap_err();
    match &err {
        ConfigfsError::Race {
            before,
            after,
            expected,
            path,
        } => {
            assert_eq!((*before, *after, *expected), (5, 3, 6));
            assert!(path.ends_with("generation"));
        }
        other => panic!("expected a race, got {other}"),
    }
    fake.assert_no_entries();
}

#[test]
fn a_generation_at_u64_max_fails_the_check_without_overflowing() {
    let fake = Fake::start(Spec {
        initial_generation: u64::MAX,
        ..Spec::snp()
    });
    // Without checked arithmetic this panics (debug) or wraps (release).
    let err = fake.attester().report(&[7; 64]).unwrap_err();
    match &err {
        ConfigfsError::GenerationOverflow { before, writes, path } => {
            assert_eq!((*before, *writes), (u64::MAX, 1));
            assert!(path.ends_with("generation"));
        }
        other => panic!("expected GenerationOverflow, got {other}"),
    }
    assert!(err.to_string().contains("overflow"), "{err}");
    // Through the Attester trait too: an error, never a panic.
    let err = fake.attester().attest(&binding()).unwrap_err();
    assert!(platform_error(err).contains("overflow"));
    fake.assert_no_entries();
}

#[test]
fn missing_provider_is_an_error_naming_the_file() {
    let fake = Fake::start(Spec {
        provider: None,
        ..Spec::snp()
    });
    let reason = platform_error(fake.attester().attest(&binding()).unwrap_err());
    assert!(reason.contains("provider") && reason.contains("read"), "{reason}");
    fake.assert_no_entries();
}

#[test]
fn unknown_or_unexpected_provider_is_an_error() {
    let fake = Fake::start(Spec {
        provider: Some("foo_guest"),
        ..Spec::snp()
    });
    let err = fake.attester().report(&[0; 64]).unwrap_err();
    assert!(
        matches!(&err, ConfigfsError::UnknownProvider { name, .. } if name == "foo_guest"),
        "{err}"
    );
    fake.assert_no_entries();

    let fake = Fake::start(Spec::snp());
    let err = fake
        .attester()
        .expect_provider(Provider::Tdx)
        .report(&[0; 64])
        .unwrap_err();
    assert!(matches!(
        err,
        ConfigfsError::WrongProvider {
            expected: Provider::Tdx,
            found: Provider::Snp
        }
    ));
    // No report was requested.
    assert!(fake.log.lock().unwrap().inblobs.is_empty());
    fake.assert_no_entries();
}

#[test]
fn privlevel_is_written_before_inblob() {
    let fake = Fake::start(Spec {
        privlevel: true,
        ..Spec::snp()
    });
    let r = fake.attester().with_privlevel(2).report(&[9; 64]).unwrap();
    assert_eq!(r.generation, 2);
    assert_eq!(fake.log.lock().unwrap().privlevels, vec![b"2\n".to_vec()]);
    fake.assert_no_entries();

    // Asked for, but the interface has no privlevel: an error naming it.
    let fake = Fake::start(Spec::snp());
    let err = fake.attester().with_privlevel(1).report(&[9; 64]).unwrap_err();
    assert!(err.to_string().contains("privlevel"), "{err}");
    fake.assert_no_entries();
}

#[test]
fn empty_and_oversized_outputs_are_refused() {
    let fake = Fake::start(Spec {
        outblob: Vec::new(),
        ..Spec::snp()
    });
    let err = fake.attester().report(&[0; 64]).unwrap_err();
    assert!(
        matches!(&err, ConfigfsError::Empty { path } if path.ends_with("outblob")),
        "{err}"
    );
    fake.assert_no_entries();

    let fake = Fake::start(Spec {
        provider: Some("tdx_guest"),
        outblob: vec![1; 70_000],
        ..Spec::snp()
    });
    let err = fake.attester().attest(&binding()).unwrap_err();
    assert!(matches!(err, AttestError::TooLarge(n) if n > 65533), "{err}");
    fake.assert_no_entries();
}

#[test]
fn an_outblob_over_the_attribute_limit_is_refused_while_reading() {
    let fake = Fake::start(Spec {
        provider: Some("tdx_guest"),
        outblob: vec![1; MAX_ATTRIBUTE_LEN + 1],
        ..Spec::snp()
    });
    let err = fake.attester().report(&[0; 64]).unwrap_err();
    assert!(
        matches!(&err, ConfigfsError::TooLarge { path } if path.ends_with("outblob")),
        "{err}"
    );
    fake.assert_no_entries();
}

#[test]
fn an_unpopulated_entry_times_out_and_is_removed() {
    let fake = Fake::start(Spec {
        populate: false,
        ..Spec::snp()
    });
    let err = fake
        .attester()
        .with_populate_timeout(Duration::from_millis(50))
        .report(&[0; 64])
        .unwrap_err();
    assert!(matches!(err, ConfigfsError::NotPopulated { .. }), "{err}");
    fake.assert_no_entries();
}

#[test]
fn a_missing_root_is_an_error_naming_it() {
    let err = ConfigfsAttester::new("/nonexistent/tsm/report")
        .report(&[0; 64])
        .unwrap_err();
    match err {
        ConfigfsError::Io { op, path, .. } => {
            assert_eq!(op, "create entry");
            assert!(path.starts_with("/nonexistent/tsm/report"));
        }
        other => panic!("{other}"),
    }
}

#[test]
fn concurrent_attestations_use_separate_entries() {
    let fake = Fake::start(Spec::snp());
    let a = Arc::new(fake.attester());
    let handles: Vec<_> = (0..4u8)
        .map(|i| {
            let a = a.clone();
            std::thread::spawn(move || a.report(&[i; 64]).map(|r| r.outblob[0x50]))
        })
        .collect();
    let mut got: Vec<u8> = handles.into_iter().map(|h| h.join().unwrap().unwrap()).collect();
    got.sort();
    assert_eq!(got, vec![0, 1, 2, 3]);
    assert_eq!(fake.log.lock().unwrap().entries.len(), 4);
    fake.assert_no_entries();
}

/// Mode `early` writes its own `report_data` mapping (prefix
/// "attested-tls early v1"), never the default mode's, so a report made for
/// one mode never matches in the other.
#[test]
fn early_mode_writes_its_own_report_data_mapping() {
    use attested_tls::modes::early::{EarlyAttester, EarlyBinding};
    let fake = Fake::start(Spec::snp());
    let a = fake.attester();
    let b = EarlyBinding::new(HashAlgorithm::Sha256, &[0x33; 32], b"not really an SPKI");
    let cmw = a.attest_early(&b).unwrap();
    let (mt, value) = record(&cmw);
    assert_eq!(mt, MEDIA_TYPE_ENVELOPE);
    let env = decode_envelope(value).unwrap();
    assert_eq!(&env.report[0x50..0x90], &b.report_data()[..]);
    let log = fake.log.lock().unwrap();
    assert_eq!(log.inblobs, vec![b.report_data().to_vec()]);
    assert_ne!(b.report_data(), b.direct_claims().report_data());
    // What the relying party expects for such a CMW: this mode's mapping.
    assert_eq!(b.expected_for(&cmw), ExpectedBinding::ReportData(b.report_data()));
}
