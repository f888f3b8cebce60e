//! The only unsafe code of the crate: `SSL_CTX_set_msg_callback`, which
//! the `openssl` crate does not wrap. OpenSSL calls it with every handshake
//! message it sends or receives, exactly as it enters its own transcript
//! (4-byte header included). Mode `early` needs
//! `Transcript-Hash(ClientHello..ServerHello)`, and the draft's editors ask
//! that it come from the TLS stack's own view of the handshake. Also one
//! constant conversion the crate offers only as unsafe ([`cert_rejected`]).
#![allow(unsafe_code)]

use std::os::raw::{c_int, c_void};

use foreign_types::ForeignTypeRef;
use openssl::ssl::{SslContextBuilder, SslRef};

/// Content type of handshake records (`SSL3_RT_HANDSHAKE`).
const SSL3_RT_HANDSHAKE: c_int = 22;

type MsgCallback =
    unsafe extern "C" fn(c_int, c_int, c_int, *const c_void, libc::size_t, *mut openssl_sys::SSL, *mut c_void);

extern "C" {
    // void SSL_CTX_set_msg_callback(SSL_CTX *ctx, void (*cb)(int write_p,
    //     int version, int content_type, const void *buf, size_t len,
    //     SSL *ssl, void *arg));   (OpenSSL 1.0.0 and later, unchanged in 3.x)
    fn SSL_CTX_set_msg_callback(ctx: *mut openssl_sys::SSL_CTX, cb: Option<MsgCallback>);
}

/// Makes OpenSSL hand every handshake message of connections made from
/// `ctx` to [`crate::on_handshake_message`].
pub(crate) fn set_handshake_message_callback(ctx: &mut SslContextBuilder) {
    // SAFETY: `ctx.as_ptr()` is a valid SSL_CTX owned by the builder for
    // the duration of the call; `on_message` has exactly the C signature
    // OpenSSL declares and is a plain function (no captured state), so it
    // stays valid for the context's lifetime.
    unsafe { SSL_CTX_set_msg_callback(ctx.as_ptr(), Some(on_message)) }
}

unsafe extern "C" fn on_message(
    _write_p: c_int,
    _version: c_int,
    content_type: c_int,
    buf: *const c_void,
    len: libc::size_t,
    ssl: *mut openssl_sys::SSL,
    _arg: *mut c_void,
) {
    if content_type != SSL3_RT_HANDSHAKE || buf.is_null() || ssl.is_null() {
        return;
    }
    // SAFETY: for SSL3_RT_HANDSHAKE OpenSSL passes `len` readable bytes at
    // `buf` (its message buffer), valid for the duration of the callback;
    // we copy what we keep. `ssl` is the connection the message belongs to,
    // live for the callback; OpenSSL calls this from inside
    // SSL_do_handshake/SSL_read/SSL_write on that connection, where no
    // other Rust reference to it is in use; we only read it (ex_data), so
    // a shared reference suffices.
    let (bytes, ssl) = unsafe { (std::slice::from_raw_parts(buf.cast::<u8>(), len), SslRef::from_ptr(ssl)) };
    // A panic must not unwind into C; it poisons the connection's
    // transcript (mode `early`) or drops its ClientHello (profiles)
    // instead, so the binder computation, and the handshake, fail closed.
    let fed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        crate::on_handshake_message(ssl, bytes);
        // The binding profiles keep the ClientHello (each looks up only
        // its own connection state, so both calls are no-ops on the
        // other's connections).
        crate::profiles::on_handshake_message(ssl, bytes);
    }));
    if fed.is_err() {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crate::on_handshake_message_panicked(ssl);
            crate::profiles::on_handshake_message_panicked(ssl);
        }));
    }
}

/// `X509_V_ERR_CERT_REJECTED`: the verification error a refused host
/// identity (I1) reports, which OpenSSL sends as bad_certificate (42), the
/// alert of every other `attestation_failed` refusal (its
/// `X509_V_ERR_APPLICATION_VERIFICATION` would send handshake_failure).
pub(crate) fn cert_rejected() -> openssl::x509::X509VerifyResult {
    // SAFETY: `from_raw` is unsafe only because an invalid error number
    // makes later calls on the value undefined; this one is a valid
    // X509_V_ERR_* constant from openssl-sys.
    unsafe { openssl::x509::X509VerifyResult::from_raw(openssl_sys::X509_V_ERR_CERT_REJECTED) }
}
