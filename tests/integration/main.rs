//! One integration test binary for the whole CLI (one link step, shared harness). Each area
//! has its own module; each test gets its own temp dir and a hermetic command.

mod act;
mod fixtures;
mod git;
mod harness;
mod monitor;
mod precision;
mod scan;
