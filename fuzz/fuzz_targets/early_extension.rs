//! `modes::early::RemoteAttestation::decode` (mode `early`, the
//! `remoteAttestation` extension bodies) and `modes::early::HelloTranscript`
//! on arbitrary bytes. The first byte picks the handshake context (low two
//! bits); the rest is the extension body. Never panics; whatever decodes
//! re-encodes to the very input (the encoding is canonical). The same bytes
//! are also fed to the transcript as handshake messages, split at the
//! second byte.
#![no_main]

use attested_tls::modes::early::{ExtensionContext, HelloTranscript, RemoteAttestation};
use libfuzzer_sys::fuzz_target;

const CONTEXTS: [ExtensionContext; 4] = [
    ExtensionContext::ClientHello,
    ExtensionContext::EncryptedExtensions,
    ExtensionContext::CertificateRequest,
    ExtensionContext::Certificate,
];

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let ctx = CONTEXTS[usize::from(first & 3)];
    if let Ok(ext) = RemoteAttestation::decode(ctx, body) {
        assert_eq!(ext.context(), ctx);
        let again = ext.encode().expect("a decoded body re-encodes");
        assert_eq!(again, body, "re-encoding differs from the input");
    }
    let split = body.first().map_or(0, |&b| usize::from(b)).min(body.len());
    let mut t = HelloTranscript::default();
    if t.push(&body[..split]).is_ok() {
        let _ = t.push(&body[split..]);
    }
    if let Ok((hash, th)) = t.finish() {
        assert_eq!(th.len(), hash.output_len());
    }
});
