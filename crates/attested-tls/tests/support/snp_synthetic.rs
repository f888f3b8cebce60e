//! A synthetic AMD-shaped certificate hierarchy (own roots, RSASSA-PSS
//! SHA-384 salt 48, P-384 endorsement keys) and reports signed with it, for
//! what the real vectors do not cover. Shared by the library's SEV-SNP tests
//! (`tests/snp_vectors.rs`) and the CLI's (`crates/atls/tests/cli.rs`, by
//! path), so that both forge the same way.
#![allow(dead_code)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P384_SHA384_FIXED_SIGNING, RSA_PSS_SHA384};

pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend_from_slice(&[0x81, n as u8]);
    } else {
        out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(content);
    out
}
pub fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}
pub fn oid(s: &str) -> Vec<u8> {
    let arcs: Vec<u64> = s.split('.').map(|a| a.parse().unwrap()).collect();
    let mut body = vec![(arcs[0] * 40 + arcs[1]) as u8];
    for &a in &arcs[2..] {
        let mut chunk = vec![(a & 0x7f) as u8];
        let mut v = a >> 7;
        while v > 0 {
            chunk.insert(0, 0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
        body.extend(chunk);
    }
    tlv(0x06, &body)
}
pub fn int(v: u64) -> Vec<u8> {
    let mut b: Vec<u8> = v.to_be_bytes().into_iter().skip_while(|x| *x == 0).collect();
    if b.first().is_none_or(|x| x & 0x80 != 0) {
        b.insert(0, 0);
    }
    tlv(0x02, &b)
}
pub fn name(cn: &str) -> Vec<u8> {
    seq(&[
        tlv(0x31, &seq(&[oid("2.5.4.11"), tlv(0x0c, b"Engineering")])),
        tlv(0x31, &seq(&[oid("2.5.4.3"), tlv(0x0c, cn.as_bytes())])),
    ])
}
/// AMD's exact distinguished name for `cn`, as in the real ARK-Milan and
/// SEV-Milan certificates (OU, C, L, ST, O, CN, in that order): a forged
/// certificate with this name matches a built-in root by name, so only
/// the signature tells them apart.
pub fn amd_name(cn: &str) -> Vec<u8> {
    let rdn = |o: &str, tag: u8, v: &[u8]| tlv(0x31, &seq(&[oid(o), tlv(tag, v)]));
    seq(&[
        rdn("2.5.4.11", 0x0c, b"Engineering"),
        rdn("2.5.4.6", 0x13, b"US"),
        rdn("2.5.4.7", 0x0c, b"Santa Clara"),
        rdn("2.5.4.8", 0x0c, b"CA"),
        rdn("2.5.4.10", 0x0c, b"Advanced Micro Devices"),
        rdn("2.5.4.3", 0x0c, cn.as_bytes()),
    ])
}
pub fn pss(salt: u64) -> Vec<u8> {
    let sha384 = seq(&[oid("2.16.840.1.101.3.4.2.2")]);
    seq(&[
        oid("1.2.840.113549.1.1.10"),
        seq(&[
            tlv(0xa0, &sha384),
            tlv(0xa1, &seq(&[oid("1.2.840.113549.1.1.8"), sha384.clone()])),
            tlv(0xa2, &int(salt)),
        ]),
    ])
}
pub fn bits(b: &[u8]) -> Vec<u8> {
    let mut c = vec![0];
    c.extend_from_slice(b);
    tlv(0x03, &c)
}

pub enum Key<'a> {
    Rsa(&'a RsaKeyPair),
    P384(&'a EcdsaKeyPair),
}

pub fn spki(k: &Key<'_>) -> Vec<u8> {
    match k {
        Key::Rsa(r) => seq(&[
            seq(&[oid("1.2.840.113549.1.1.1"), vec![0x05, 0x00]]),
            bits(r.public_key().as_ref()),
        ]),
        Key::P384(e) => seq(&[
            seq(&[oid("1.2.840.10045.2.1"), oid("1.3.132.0.34")]),
            bits(e.public_key().as_ref()),
        ]),
    }
}

/// A certificate valid 2024-01-01..2030-01-01; `exts` are `(oid, DER value)`.
pub fn cert(
    subject: &str,
    issuer: &str,
    key: &Key<'_>,
    signer: &RsaKeyPair,
    exts: &[(&str, Vec<u8>)],
    salt: u64,
) -> Vec<u8> {
    cert_named(name(subject), name(issuer), key, signer, exts, salt)
}

/// [`cert`] with the subject and issuer names given as DER.
pub fn cert_named(
    subject: Vec<u8>,
    issuer: Vec<u8>,
    key: &Key<'_>,
    signer: &RsaKeyPair,
    exts: &[(&str, Vec<u8>)],
    salt: u64,
) -> Vec<u8> {
    let mut tbs = vec![
        tlv(0xa0, &int(2)),
        int(0),
        pss(salt),
        issuer,
        seq(&[tlv(0x17, b"240101000000Z"), tlv(0x17, b"300101000000Z")]),
        subject,
        spki(key),
    ];
    if !exts.is_empty() {
        let list: Vec<Vec<u8>> = exts.iter().map(|(o, v)| seq(&[oid(o), tlv(0x04, v)])).collect();
        tbs.push(tlv(0xa3, &seq(&list)));
    }
    let tbs = seq(&tbs);
    let mut sig = vec![0u8; signer.public_modulus_len()];
    signer
        .sign(&RSA_PSS_SHA384, &SystemRandom::new(), &tbs, &mut sig)
        .unwrap();
    seq(&[tbs, pss(salt), bits(&sig)])
}

/// A DER INTEGER SPL value below 128.
pub fn spl(v: u8) -> Vec<u8> {
    vec![0x02, 0x01, v]
}

pub struct Hierarchy {
    pub ark: Vec<u8>,
    pub intermediate: Vec<u8>,
    pub leaf: Vec<u8>,
    pub leaf_key: EcdsaKeyPair,
}

/// ARK-`product` -> `intermediate_cn` -> `leaf_cn`, with `exts` on the leaf.
pub fn hierarchy(product: &str, intermediate_cn: &str, leaf_cn: &str, exts: &[(&str, Vec<u8>)]) -> Hierarchy {
    let ark_key = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let int_key = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let leaf_key = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING).unwrap();
    let ark_cn = format!("ARK-{product}");
    Hierarchy {
        ark: cert(&ark_cn, &ark_cn, &Key::Rsa(&ark_key), &ark_key, &[], 48),
        intermediate: cert(intermediate_cn, &ark_cn, &Key::Rsa(&int_key), &ark_key, &[], 48),
        leaf: cert(leaf_cn, intermediate_cn, &Key::P384(&leaf_key), &int_key, exts, 48),
        leaf_key,
    }
}

/// [`hierarchy`] with AMD's exact names ([`amd_name`]) on every certificate.
pub fn hierarchy_with_amd_names(
    product: &str,
    intermediate_cn: &str,
    leaf_cn: &str,
    exts: &[(&str, Vec<u8>)],
) -> Hierarchy {
    let ark_key = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let int_key = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let leaf_key = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING).unwrap();
    let ark = amd_name(&format!("ARK-{product}"));
    let int = amd_name(intermediate_cn);
    Hierarchy {
        ark: cert_named(ark.clone(), ark.clone(), &Key::Rsa(&ark_key), &ark_key, &[], 48),
        intermediate: cert_named(int.clone(), ark, &Key::Rsa(&int_key), &ark_key, &[], 48),
        leaf: cert_named(amd_name(leaf_cn), int, &Key::P384(&leaf_key), &int_key, exts, 48),
        leaf_key,
    }
}

/// A version 3 report (guest policy 0x30000, VMPL 0, VCEK-signed) with
/// `measurement` and `report_data`, changed by `f`, then signed with `key`.
pub fn signed_report(key: &EcdsaKeyPair, measurement: &[u8], report_data: &[u8], f: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let mut r = vec![0u8; 1184];
    r[0] = 3;
    r[0x08..0x10].copy_from_slice(&0x30000u64.to_le_bytes());
    r[0x34] = 1;
    r[0x50..0x90].copy_from_slice(report_data);
    r[0x90..0xC0].copy_from_slice(measurement);
    f(&mut r);
    let sig = key.sign(&SystemRandom::new(), &r[..0x2A0]).unwrap();
    let sig = sig.as_ref();
    for (i, off) in [0x2A0, 0x2E8].into_iter().enumerate() {
        for (j, b) in sig[i * 48..(i + 1) * 48].iter().rev().enumerate() {
            r[off + j] = *b;
        }
    }
    r
}

/// A host-made Milan hierarchy, named as AMD names it (ARK-Milan ->
/// SEV-Milan -> SEV-VCEK, certifying TCB bootloader 3, tee 0, snp 8,
/// microcode 115 and chip id `[0xc1; 64]`), and a report it signs with the
/// given measurement and report data, consistent with the VCEK: everything
/// a relying party checks holds except that AMD never signed the chain.
pub fn forged_milan(measurement: &[u8], report_data: &[u8]) -> (Hierarchy, Vec<u8>) {
    forged_milan_changed(measurement, report_data, |_| {})
}

/// [`forged_milan`], with the report changed by `f` before it is signed.
pub fn forged_milan_changed(measurement: &[u8], report_data: &[u8], f: impl FnOnce(&mut [u8])) -> (Hierarchy, Vec<u8>) {
    forged_milan_built(measurement, report_data, f, hierarchy)
}

/// [`forged_milan`] whose certificates carry AMD's exact names
/// ([`amd_name`]): the forged ARK matches the built-in ARK-Milan by name.
pub fn forged_milan_with_amd_names(measurement: &[u8], report_data: &[u8]) -> (Hierarchy, Vec<u8>) {
    forged_milan_built(measurement, report_data, |_| {}, hierarchy_with_amd_names)
}

/// [`hierarchy`] or [`hierarchy_with_amd_names`].
type BuildHierarchy = fn(&str, &str, &str, &[(&str, Vec<u8>)]) -> Hierarchy;

fn forged_milan_built(
    measurement: &[u8],
    report_data: &[u8],
    f: impl FnOnce(&mut [u8]),
    build: BuildHierarchy,
) -> (Hierarchy, Vec<u8>) {
    let exts = vec![
        ("1.3.6.1.4.1.3704.1.2", b"\x16\x08Milan-B0".to_vec()),
        ("1.3.6.1.4.1.3704.1.3.1", spl(3)),
        ("1.3.6.1.4.1.3704.1.3.2", spl(0)),
        ("1.3.6.1.4.1.3704.1.3.3", spl(8)),
        ("1.3.6.1.4.1.3704.1.3.8", spl(115)),
        ("1.3.6.1.4.1.3704.1.4", vec![0xc1; 64]),
    ];
    let h = build("Milan", "SEV-Milan", "SEV-VCEK", &exts);
    let r = signed_report(&h.leaf_key, measurement, report_data, |r| {
        r[0x180..0x188].copy_from_slice(&[3, 0, 0, 0, 0, 0, 8, 115]);
        r[0x1A0..0x1E0].copy_from_slice(&[0xc1; 64]);
        f(r);
    });
    (h, r)
}
