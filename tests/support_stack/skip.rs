//! Skipping a test (or part of one) that this machine cannot run, loudly and never in CI.
//!
//! Each skip names the `AUTHPLANE_DEV_REQUIRE_*` switch that forbids it: `.ci/run` sets the
//! switches on a machine that has what the tests need, so a broken path fails there instead of
//! passing as "skipped". Included by every test crate that can skip (`#[path]` from the AS helper).

use std::io::Write as _;

/// The switch for everything that needs the Docker engine of this machine (and the host-side
/// facts that come with a local engine, such as a volume's mount point being a local path).
pub const REQUIRE_DOCKER: &str = "AUTHPLANE_DEV_REQUIRE_DOCKER";

/// The switch for the scenarios that run the AS under Debian's libfaketime.
pub const REQUIRE_FAKETIME: &str = "AUTHPLANE_DEV_REQUIRE_FAKETIME";

/// The switch for the tests that run Python MCP servers (FastMCP + authplane-fastmcp) from the
/// venv `scripts/python-venv.sh` builds.
pub const REQUIRE_PYTHON: &str = "AUTHPLANE_DEV_REQUIRE_PYTHON";

/// The switch for the tests that drive a headless Chromium (Debian's `chromium` and
/// `chromium-driver`) through the AS's login and consent pages.
pub const REQUIRE_BROWSER: &str = "AUTHPLANE_DEV_REQUIRE_BROWSER";

/// Records that the caller is about to skip because of `reason`: panics when `switch` is set to
/// `1`, else writes `skipped: <reason>` to the process's stderr. Written to the stderr handle, not
/// with `eprintln!`, which libtest captures and shows only for a failed test.
pub fn skip(switch: &str, reason: &str) {
    assert!(
        std::env::var(switch).as_deref() != Ok("1"),
        "{reason}, and {switch}=1 forbids skipping"
    );
    let _ = writeln!(std::io::stderr(), "skipped: {reason}");
}
