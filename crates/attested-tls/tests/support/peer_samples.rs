//! Where the peer samples are: `../shared/vectors/peers/` beside the
//! checkout. They are attested certificates, CSRs and tokens made by other
//! systems, taken from those projects' public repositories, and are not
//! redistributed with this one (unlike the registry vectors in `vectors/`).
//! A plain clone has no such directory: the tests that need it then report
//! a skip and pass.

use std::cell::Cell;
use std::io::Write;
use std::path::{Path, PathBuf};

thread_local! {
    /// Whether this test (the harness runs each test on its own thread)
    /// already reported its skip: one line per test, however many samples
    /// it asks for.
    static SKIP_REPORTED: Cell<bool> = const { Cell::new(false) };
}

/// The peer samples' directory, or `None` after reporting that the calling
/// test is skipped.
///
/// The skip line is written to the process's stderr directly: `eprintln!`
/// goes through the harness's output capture, which shows a passing test's
/// output only with `--nocapture`, so the skip would go unseen.
pub fn peers_dir() -> Option<PathBuf> {
    // CARGO_MANIFEST_DIR is crates/<crate>; the checkout is two levels up.
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let checkout = checkout.canonicalize().unwrap_or(checkout);
    let dir = match checkout.parent() {
        Some(beside) => beside.join("shared/vectors/peers"),
        None => checkout.join("../shared/vectors/peers"),
    };
    if dir.is_dir() {
        return Some(dir);
    }
    if !SKIP_REPORTED.with(|r| r.replace(true)) {
        let thread = std::thread::current();
        let test = thread.name().unwrap_or("a test");
        let line = format!(
            "SKIPPED {test}: {} is absent (the peer samples are not part of the repository)\n",
            dir.display()
        );
        // One write, so that the line is not split by the harness's own
        // output to the same terminal or pipe. Best effort: a failed write
        // to stderr must not fail the test.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
    None
}
