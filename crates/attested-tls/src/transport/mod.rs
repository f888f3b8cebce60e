//! The in-band transport of attested-tls: frames ([`frame`]) and the
//! sans-IO attestation session ([`session`]). Specified byte by byte in
//! `docs/transport.md`.

pub mod frame;
pub mod session;

pub use frame::{Frame, FrameDecoder, FrameError};
pub use session::{Awaiting, Event, Session, SessionConfig, SessionError};
