//! The names: every variable authplane-dev reads (one constant each), the ones the real
//! authserver reads that are passed through, and finding the closest known name for a typo.

use super::{Source, Vars};

/// Every variable authplane-dev reads, one constant each (the table in docs/configuration.md is checked against
/// [`DOCUMENTED`]).
pub mod var {
    pub const SERVER_ISSUER: &str = "AUTHPLANE_SERVER_ISSUER";
    pub const SERVER_ADDRESS: &str = "AUTHPLANE_SERVER_ADDRESS";
    pub const ADMIN_ADDRESS: &str = "AUTHPLANE_ADMIN_ADDRESS";
    pub const ADMIN_API_KEY: &str = "AUTHPLANE_ADMIN_API_KEY";
    pub const SESSION_SECRET: &str = "AUTHPLANE_SESSION_SECRET";
    pub const ISSUER: &str = "AUTHPLANE_ISSUER";
    pub const BASE_URL: &str = "AUTHPLANE_BASE_URL";
    pub const MCP_PATH: &str = "AUTHPLANE_MCP_PATH";
    pub const PORT: &str = "PORT";
    pub const SCOPES: &str = "AUTHPLANE_SCOPES";
    pub const DEV_MODE: &str = "AUTHPLANE_DEV_MODE";
    pub const DEV_ECHO_DPOP: &str = "AUTHPLANE_DEV_ECHO_DPOP";
    pub const DEV_ADMIN_URL: &str = "AUTHPLANE_DEV_ADMIN_URL";
    pub const DEV_PUBLIC_URL: &str = "AUTHPLANE_DEV_PUBLIC_URL";
    pub const DEV_SCOPE: &str = "AUTHPLANE_DEV_SCOPE";
    pub const DEV_RESOURCE_SLUG: &str = "AUTHPLANE_DEV_RESOURCE_SLUG";
    pub const DEV_RESOURCE_URI: &str = "AUTHPLANE_DEV_RESOURCE_URI";
    pub const DEV_MCP_URL: &str = "AUTHPLANE_DEV_MCP_URL";
    pub const DEV_AS: &str = "AUTHPLANE_DEV_AS";
    pub const DEV_IMAGE: &str = "AUTHPLANE_DEV_IMAGE";
    pub const DEV_CONTAINER: &str = "AUTHPLANE_DEV_CONTAINER";
    pub const DEV_BEHIND_PROXY: &str = "AUTHPLANE_DEV_BEHIND_PROXY";
    pub const DEV_ECHO_REVOCATION: &str = "AUTHPLANE_DEV_ECHO_REVOCATION";
    pub const DEV_TOPOLOGY: &str = "AUTHPLANE_DEV_TOPOLOGY";
    pub const DEV_USER_EMAIL: &str = "AUTHPLANE_DEV_USER_EMAIL";
    pub const DEV_USER_PASSWORD: &str = "AUTHPLANE_DEV_USER_PASSWORD";
}

/// The variables documented in the docs/configuration.md table, in table order.
pub const DOCUMENTED: &[&str] = &[
    var::SERVER_ISSUER,
    var::SERVER_ADDRESS,
    var::ADMIN_ADDRESS,
    var::ADMIN_API_KEY,
    var::SESSION_SECRET,
    var::ISSUER,
    var::BASE_URL,
    var::MCP_PATH,
    var::PORT,
    var::SCOPES,
    var::DEV_MODE,
    var::DEV_ECHO_DPOP,
    var::DEV_ADMIN_URL,
    var::DEV_PUBLIC_URL,
    var::DEV_SCOPE,
    var::DEV_RESOURCE_SLUG,
    var::DEV_RESOURCE_URI,
    var::DEV_MCP_URL,
    var::DEV_AS,
    var::DEV_IMAGE,
    var::DEV_CONTAINER,
    var::DEV_BEHIND_PROXY,
    var::DEV_ECHO_REVOCATION,
    var::DEV_TOPOLOGY,
    var::DEV_USER_EMAIL,
    var::DEV_USER_PASSWORD,
];

/// Variables the real authserver reads that authplane-dev passes through without interpreting
/// (reference §1.3); an unknown name close to one of these or to [`DOCUMENTED`] gets a "did you
/// mean".
pub const AUTHSERVER_PASSTHROUGH: &[&str] = &[
    "AUTHPLANE_ADMIN_ENABLED",
    "AUTHPLANE_CIMD_ALLOW_PRIVATE_ADDRESSES",
    "AUTHPLANE_CIMD_ENABLED",
    "AUTHPLANE_CIMD_REQUIRE_HTTPS",
    "AUTHPLANE_CLIENT_CREDENTIALS_ENABLED",
    "AUTHPLANE_CLIENT_CREDENTIALS_TOKEN_EXPIRY",
    "AUTHPLANE_CLIENT_SECRET_PEPPER",
    "AUTHPLANE_DCR_DEFAULT_REFRESH_EXPIRY",
    "AUTHPLANE_DCR_DEFAULT_TOKEN_EXPIRY",
    "AUTHPLANE_DCR_MODE",
    "AUTHPLANE_DPOP_ENABLED",
    "AUTHPLANE_DPOP_NONCE_TTL",
    "AUTHPLANE_DPOP_PROOF_LIFETIME",
    "AUTHPLANE_DPOP_REQUIRE_NONCE",
    "AUTHPLANE_LOG_FORMAT",
    "AUTHPLANE_LOG_LEVEL",
    "AUTHPLANE_OAUTH_REQUIRE_SCOPE",
    "AUTHPLANE_OAUTH_STATE_MAX_AGE",
    "AUTHPLANE_RATE_LIMIT_AUTH_FAIL_MAX",
    "AUTHPLANE_RATE_LIMIT_BURST",
    "AUTHPLANE_RATE_LIMIT_ENABLED",
    "AUTHPLANE_RATE_LIMIT_RPS",
    "AUTHPLANE_RESOURCE_SCOPES",
    "AUTHPLANE_RESOURCE_URI",
    "AUTHPLANE_SERVER_ALLOWED_ORIGINS",
    "AUTHPLANE_SESSION_COOKIE_NAME",
    "AUTHPLANE_SESSION_MAX_AGE",
    "AUTHPLANE_SESSION_SECURE",
    "AUTHPLANE_SIGNING_ALGORITHM",
    "AUTHPLANE_SIGNING_KEY_STORE",
    "AUTHPLANE_STORAGE_DRIVER",
    "AUTHPLANE_STORAGE_POSTGRES_DSN",
    "AUTHPLANE_STORAGE_SQLITE_PATH",
    "AUTHPLANE_TOKEN_EXCHANGE_ENABLED",
    "AUTHPLANE_XAA_ENABLED",
];

/// Variables the MCP server side reads (our echo server, the Authplane SDKs), never the
/// authorization server (reference §1.3, "SDK-side"): kept out of the AS container.
pub const MCP_SERVER_SIDE: &[&str] = &[
    var::ISSUER,
    var::BASE_URL,
    var::MCP_PATH,
    var::PORT,
    var::SCOPES,
    var::DEV_MODE,
    "AUTHPLANE_RESOURCE",
];

/// Whether the real authorization server may read `name`: an `AUTHPLANE_*` variable that is
/// neither authplane-dev's own (`AUTHPLANE_DEV_*`) nor the MCP server side's. Names the reference
/// does not list pass too: the real server reads more than it lists.
pub fn read_by_authserver(name: &str) -> bool {
    name.starts_with("AUTHPLANE_")
        && !name.starts_with("AUTHPLANE_DEV_")
        && !MCP_SERVER_SIDE.contains(&name)
}

/// A variable name that is set but that nothing reads, with the closest name that something does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    pub name: String,
    pub source: Source,
    pub suggestion: Option<String>,
}

/// The switches of the project's own test suite (docs/development.md): read by the tests, never
/// by the tool, and set in the shell that runs both (`.ci/run` runs the README's `verify` with
/// them set), so they are not someone's misspelling.
const TEST_SUITE_SWITCHES: &[&str] = &[
    "AUTHPLANE_DEV_REQUIRE_DOCKER",
    "AUTHPLANE_DEV_REQUIRE_FAKETIME",
    "AUTHPLANE_DEV_REQUIRE_SHELLS",
    "AUTHPLANE_DEV_REQUIRE_PYTHON",
    "AUTHPLANE_DEV_REQUIRE_BROWSER",
    "AUTHPLANE_DEV_PYTHON",
    "AUTHPLANE_DEV_TEST_SCREENSHOTS",
];

/// The `AUTHPLANE_*` names set in `vars` that neither authplane-dev nor the authserver reads.
///
/// A name in our own namespace (`AUTHPLANE_DEV_*`) is always reported; any other `AUTHPLANE_*`
/// name only when it is within a few typos of a known one, because the real authserver reads
/// more variables than the reference lists and an unrelated name may be one of them.
pub fn unknown_names(vars: &Vars) -> Vec<UnknownName> {
    let known = || {
        DOCUMENTED
            .iter()
            .chain(AUTHSERVER_PASSTHROUGH)
            .chain(MCP_SERVER_SIDE)
            .copied()
    };
    vars.values
        .iter()
        .filter(|(name, _)| name.starts_with("AUTHPLANE_") && !known().any(|k| k == *name))
        .filter(|(name, _)| !TEST_SUITE_SWITCHES.contains(&name.as_str()))
        .filter_map(|(name, (_, source))| {
            let (distance, closest) = known()
                .map(|k| (edit_distance(name, k), k))
                .min_by_key(|(d, _)| *d)?;
            let close = distance <= 3;
            (close || name.starts_with("AUTHPLANE_DEV_")).then(|| UnknownName {
                name: name.clone(),
                source: *source,
                suggestion: close.then(|| closest.to_owned()),
            })
        })
        .collect()
}

/// Levenshtein distance between two ASCII-ish names (characters, not bytes).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}
