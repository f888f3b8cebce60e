//! Standard output for the command's results.
//!
//! `println!` panics when standard output is a pipe whose reader has gone
//! (`atls lab | head -3`): Rust ignores SIGPIPE, so the write fails with
//! EPIPE and `println!` turns that into a panic with a backtrace hint. A
//! reader that stopped reading is not a fault of ours, and never a reason to
//! panic. [`outln!`] and [`out!`] write instead, and on a closed pipe end
//! the process at once with status 141 (128 + SIGPIPE), which is what a
//! program killed by SIGPIPE reports, so `set -o pipefail` scripts see the
//! same status as with any other Unix tool. Any other write error is
//! reported on stderr with status 1.

use std::io::Write;

/// The status of a process that stopped because its output pipe closed.
pub const BROKEN_PIPE_STATUS: i32 = 128 + 13;

/// Writes `args` (and a newline when `newline`) to standard output; see
/// the module documentation for what happens when that fails.
pub fn write(args: std::fmt::Arguments<'_>, newline: bool) {
    let mut out = std::io::stdout().lock();
    let written = out
        .write_fmt(args)
        .and_then(|()| if newline { out.write_all(b"\n") } else { Ok(()) });
    if let Err(e) = written {
        exit_on_write_error(&e);
    }
}

/// Ends the process after a failed write to standard output: quietly with
/// [`BROKEN_PIPE_STATUS`] when the reader has gone, with a message and
/// status 1 otherwise.
pub fn exit_on_write_error(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(BROKEN_PIPE_STATUS);
    }
    eprintln!("atls: cannot write to standard output: {e}");
    std::process::exit(1);
}
