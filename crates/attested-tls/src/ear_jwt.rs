//! Signed EAR (JWT). Placeholder.
