//! Golden and negative tests of the Arm CCA verifier on the shared vectors.

use attested_tls::platform::cca::*;

macro_rules! vector {
    ($name:literal) => {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors/cca/", $name)
    };
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn probe() {
    let t = CcaToken::decode(&read(vector!("cca-token-01.cbor"))).unwrap();
    let cpak: serde_json::Value = serde_json::from_slice(&read(vector!("cpak.json"))).unwrap();
    let pkey: serde_json::Value = serde_json::from_slice(&read(vector!("pkey.json"))).unwrap();
    println!("cpak: {:?}", t.verify_platform(&EcPublicKey::from_jwk(&cpak).unwrap()));
    println!("pkey: {:?}", t.verify_platform(&EcPublicKey::from_jwk(&pkey).unwrap()));
    println!("realm: {:?} bind {:?}", t.verify_realm(), t.platform_binds_realm());
    let t2 = CcaToken::decode(&read(vector!("cca-token-02.cbor"))).unwrap();
    println!("realm2: {:?} bind {:?}", t2.verify_realm(), t2.platform_binds_realm());
    println!("{:?}", t.platform);
}
