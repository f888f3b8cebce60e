//! SEV-SNP appraisal cost against the raw cryptography it cannot avoid.
//!
//! In one run:
//! - (a) appraisal of the Milan vector (envelope with the host's
//!   certificate table) with an empty chain cache: ARK self-signature,
//!   ARK -> ASK, ASK -> VCEK and the report signature, plus parsing, policy
//!   checks and building the result;
//! - (b) the same with the chain cached;
//! - (c) raw aws-lc-rs: the same 3 RSA-PSS-4096 verifications + 1 P-384
//!   verification, on pre-parsed inputs;
//! - (d) raw aws-lc-rs: the P-384 verification alone.
//!
//! Prints criterion's statistics, then the ratios (a)/(c) (target <= 1.4)
//! and (b)/(d): medians of per-round ratios, each round timing both sides
//! back to back, so that other load on the machine cancels out.
//!
//! `cargo bench -p attested-tls --bench snp` (vectors from the repository's
//! `vectors/sev-snp`).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use attested_tls::binder::ExpectedBinding;
use attested_tls::platform::snp::*;
use attested_tls::policy::Policy;
use attested_tls::verifier::{AppraisalContext, Verifier};
use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P384_SHA384_FIXED, RSA_PSS_2048_8192_SHA384};
use criterion::Criterion;
use x509_parser::prelude::*;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vectors/sev-snp")
}

fn read(name: &str) -> Vec<u8> {
    let p = dir().join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// TBS, signature and the issuer's key bytes of one certificate.
struct Signed {
    tbs: Vec<u8>,
    sig: Vec<u8>,
    issuer_key: Vec<u8>,
}

fn signed(cert: &[u8], issuer: &[u8]) -> Signed {
    let (_, c) = X509Certificate::from_der(cert).unwrap();
    let (_, i) = X509Certificate::from_der(issuer).unwrap();
    Signed {
        tbs: c.tbs_certificate.as_ref().to_vec(),
        sig: c.signature_value.data.to_vec(),
        issuer_key: i.public_key().subject_public_key.data.to_vec(),
    }
}

struct Raw {
    chain: [Signed; 3],
    vcek_point: Vec<u8>,
    report_signed: Vec<u8>,
    report_sig: Vec<u8>,
}

impl Raw {
    fn new(report: &[u8], vcek: &[u8], ask: &[u8], ark: &[u8]) -> Self {
        let (_, v) = X509Certificate::from_der(vcek).unwrap();
        let mut sig = Vec::with_capacity(96);
        for off in [0x2A0, 0x2E8] {
            sig.extend(report[off..off + 48].iter().rev());
        }
        Self {
            chain: [signed(ark, ark), signed(ask, ark), signed(vcek, ask)],
            vcek_point: v.public_key().subject_public_key.data.to_vec(),
            report_signed: report[..0x2A0].to_vec(),
            report_sig: sig,
        }
    }

    fn p384(&self) {
        UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, &self.vcek_point)
            .verify(&self.report_signed, &self.report_sig)
            .unwrap();
    }

    fn all(&self) {
        for s in &self.chain {
            UnparsedPublicKey::new(&RSA_PSS_2048_8192_SHA384, &s.issuer_key)
                .verify(&s.tbs, &s.sig)
                .unwrap();
        }
        self.p384();
    }
}

/// Mean time of one call over a batch of `n`.
fn batch(f: &mut impl FnMut(), n: u32) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed() / n
}

/// Medians of `x`, `y` and `x / y`, timed in alternating batches so that a
/// change in machine load affects both sides of the ratio alike.
fn interleaved(mut x: impl FnMut(), mut y: impl FnMut()) -> (Duration, Duration, f64) {
    for _ in 0..10 {
        x();
        y();
    }
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    let mut ratios = Vec::new();
    for _ in 0..41 {
        let tx = batch(&mut x, 10);
        let ty = batch(&mut y, 10);
        ratios.push(tx.as_secs_f64() / ty.as_secs_f64());
        xs.push(tx);
        ys.push(ty);
    }
    xs.sort();
    ys.sort();
    ratios.sort_by(f64::total_cmp);
    (xs[xs.len() / 2], ys[ys.len() / 2], ratios[ratios.len() / 2])
}

fn main() {
    let report = hex::decode(String::from_utf8(read("report_milan.hex")).unwrap().trim()).unwrap();
    let vcek = read("vcek_milan.der");
    let chain: Vec<Vec<u8>> = x509_parser::pem::Pem::iter_from_buffer(&read("cert_chain_milan"))
        .map(|p| p.unwrap().contents)
        .collect();
    let (ask, ark) = (&chain[0], &chain[1]);
    let table = build_cert_table(&[(guid::VCEK, &vcek), (guid::ASK, ask), (guid::ARK, ark)]);
    let envelope = encode_envelope(&report, Some(&table));

    let policy = Policy::from_toml(
        "id = \"bench\"\n[snp]\nmeasurements = [\"7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f\"]\n\
         min_tcb = { bootloader = 3, tee = 0, snp = 8, microcode = 115 }\n",
        Path::new("."),
    )
    .unwrap();
    let v = SnpVerifier::new(policy.snp.as_ref().unwrap(), &policy).unwrap();
    let expected = ExpectedBinding::ReportData(report[0x50..0x90].try_into().unwrap());
    let ctx = AppraisalContext {
        expected: &expected,
        now: ::time::OffsetDateTime::from_unix_timestamp(1_735_689_600).unwrap(),
        policy_id: "bench",
    };
    let appraise = || {
        let a = v.appraise(MEDIA_TYPE_ENVELOPE, black_box(&envelope), &ctx);
        assert!(a.is_affirming(), "{:?}", a.findings);
        black_box(a);
    };
    let uncached = || {
        v.cache().clear();
        appraise();
    };
    let raw = Raw::new(&report, &vcek, ask, ark);

    let mut c = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let mut g = c.benchmark_group("snp");
    g.bench_function("a_appraisal_uncached_chain", |b| b.iter(uncached));
    g.bench_function("b_appraisal_cached_chain", |b| b.iter(appraise));
    g.bench_function("c_raw_3_rsa_pss_4096_plus_p384", |b| b.iter(|| raw.all()));
    g.bench_function("d_raw_p384", |b| b.iter(|| raw.p384()));
    g.finish();
    c.final_summary();

    let (a, cc, ac) = interleaved(uncached, || raw.all());
    let (b, d, bd) = interleaved(appraise, || raw.p384());
    println!();
    println!("SEV-SNP appraisal (medians of 41 alternating batches of 10 calls):");
    println!("  (a) appraisal, uncached chain   : {a:>10.1?}");
    println!("  (b) appraisal, cached chain     : {b:>10.1?}");
    println!("  (c) raw 3x RSA-PSS-4096 + P-384 : {cc:>10.1?}");
    println!("  (d) raw P-384 alone             : {d:>10.1?}");
    println!("  (a)/(c) = {ac:.3}  (target <= 1.4)");
    println!("  (b)/(d) = {bd:.3}");
}
