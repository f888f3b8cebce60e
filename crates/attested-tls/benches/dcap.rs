//! TDX appraisal with cached collateral vs dcap-qvl's full verify, on the
//! same quote, collateral and verification time, plus the raw aws-lc-rs
//! P-256 verifications a cached appraisal contains (QE report, quote).
//!
//! `cargo bench -p attested-tls --bench dcap -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use attested_tls::binder::ExpectedBinding;
use attested_tls::platform::dcap::pki::{self, verify_p256_raw};
use attested_tls::platform::dcap::quote::Quote;
use attested_tls::platform::dcap::TDX_MEDIA_TYPE;
use attested_tls::policy::Policy;
use attested_tls::verifier::AppraisalContext;
use criterion::{criterion_group, criterion_main, Criterion};

const V: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../vectors/");
const MRTD: &str = "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7";
const RD: &str = "9a9d48e7f6799642d3d1b34e1e5e1742d4bb02dd6ddd551862c1211d35c304f9eca3efdbb481601c163cf52493d6e44aed55d51ec39b7e518fadb92c2b523f20";
const NOW: i64 = 1_751_328_000; // 2025-07-01T00:00:00Z

fn per_iter(mut f: impl FnMut(), budget: Duration) -> Duration {
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < budget {
        f();
        n += 1;
    }
    start.elapsed() / n.max(1)
}

fn bench(c: &mut Criterion) {
    let quote = std::fs::read(format!("{V}tdx/tdx_quote")).expect("quote");
    let col_path = format!("{V}tdx/tdx_quote_collateral.json");
    let col: dcap_qvl::QuoteCollateralV3 =
        serde_json::from_slice(&std::fs::read(&col_path).expect("collateral")).expect("collateral JSON");
    let policy = Policy::from_toml(
        &format!("id = \"bench\"\n[tdx]\nmrtd = [\"{MRTD}\"]\ncollateral = [\"{col_path}\"]\n"),
        Path::new("/"),
    )
    .expect("policy");
    let appraiser = policy.appraiser().expect("appraiser");
    let verifier = appraiser.verifier_for(TDX_MEDIA_TYPE).expect("tdx verifier").clone();
    let expected = ExpectedBinding::report_data_from_hex(RD).expect("report data");
    let now = time::OffsetDateTime::from_unix_timestamp(NOW).expect("time");
    let ctx = AppraisalContext {
        expected: &expected,
        now,
        policy_id: "bench",
    };
    assert!(verifier.appraise(TDX_MEDIA_TYPE, &quote, &ctx).is_affirming());
    assert_eq!(
        dcap_qvl::verify::verify(&quote, &col, NOW as u64)
            .expect("dcap-qvl")
            .status,
        "UpToDate"
    );

    // Inputs of the two raw P-256 verifications of a cached appraisal.
    let q = Quote::parse(&quote).expect("parse");
    let pck = pki::parse_pem_chain(q.pck_cert_data, "pck").expect("pck")[0].clone();
    let mut att_key = [0x04u8; 65];
    att_key[1..].copy_from_slice(&q.attestation_key);

    let mut g = c.benchmark_group("dcap");
    g.bench_function("attested-tls TDX appraisal (cached collateral)", |b| {
        b.iter(|| black_box(verifier.appraise(TDX_MEDIA_TYPE, black_box(&quote), &ctx)))
    });
    g.bench_function("dcap-qvl verify::verify (full)", |b| {
        b.iter(|| black_box(dcap_qvl::verify::verify(black_box(&quote), &col, NOW as u64)))
    });
    g.bench_function("aws-lc-rs 2x P-256 verify (QE report + quote)", |b| {
        b.iter(|| {
            verify_p256_raw(&pck.public_key, q.qe_report_raw, &q.qe_report_signature, "qe").expect("qe");
            verify_p256_raw(&att_key, q.signed, &q.signature, "quote").expect("quote");
        })
    });
    g.finish();

    // One plain-timed comparison for the ratio (informative, no assertion).
    let budget = Duration::from_secs(2);
    let ours = per_iter(
        || {
            black_box(verifier.appraise(TDX_MEDIA_TYPE, &quote, &ctx));
        },
        budget,
    );
    let theirs = per_iter(
        || {
            let _ = black_box(dcap_qvl::verify::verify(&quote, &col, NOW as u64));
        },
        budget,
    );
    println!(
        "dcap ratio: attested-tls {:.1} us / dcap-qvl {:.1} us = {:.3} (target <= 0.75)",
        ours.as_secs_f64() * 1e6,
        theirs.as_secs_f64() * 1e6,
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
