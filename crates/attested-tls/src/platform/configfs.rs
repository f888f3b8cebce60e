//! Placeholder: the Linux configfs-tsm attester is being written (issue 3).
