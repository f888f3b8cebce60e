//! Writes the seed corpus of `profile_carriers` under
//! `fuzz/seeds/profile_carriers/`: one input per carrier, the first byte
//! picking the carrier as the target reads it (0 server name, 1 ALPN list,
//! 2 nonce extension, 3 certificate with the Evidence extension).
//!
//! ```text
//! cd fuzz && cargo run --example gen_profile_seeds
//! ```

use std::path::PathBuf;

use attested_tls::modes::profiles::{alpn_wire, certificate_with_evidence, sni_for_nonce};

fn write(name: &str, carrier: u8, bytes: &[u8]) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("seeds/profile_carriers");
    std::fs::create_dir_all(&dir).unwrap();
    let mut out = vec![carrier];
    out.extend_from_slice(bytes);
    std::fs::write(dir.join(name), &out).unwrap();
    println!("seeds/profile_carriers/{name}: {} bytes", out.len());
}

fn main() {
    let nonce: Vec<u8> = (0u8..32).collect();
    write("sni.bin", 0, sni_for_nonce(&nonce).as_bytes());
    write("alpn.bin", 1, &alpn_wire(&nonce, &["h2", "http/1.1"]));
    write("extension.bin", 2, &nonce);
    // A small CBOR CMW record stands in for Evidence: the carrier does not
    // look inside it.
    let cmw = [0x82, 0x61, b'x', 0x41, 0x00];
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    write("certificate.bin", 3, &certificate_with_evidence(&key, &cmw).unwrap());
}
