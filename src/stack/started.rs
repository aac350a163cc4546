//! What each managed component was started with: the values that shape its behaviour, recorded
//! in `<run_dir>/<component>.started.json` (0600) when it starts, secrets only as hashes.
//!
//! A verb compares the record with the resolved configuration ([`changes`]) and restarts a
//! component whose inputs changed, saying which values did (`AUTHPLANE_SCOPES mcp:echo →
//! mcp:read`); `status` and `doctor` report the difference as a stale component. Nothing here
//! starts or stops anything.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::cli::Component;
use crate::config::{Settings, var};

/// Variables whose values are secrets: recorded and shown as a hash prefix only.
const SECRET_VARIABLES: &[&str] = &[
    var::ADMIN_API_KEY,
    var::SESSION_SECRET,
    var::DEV_USER_PASSWORD,
    "AUTHPLANE_CLIENT_SECRET_PEPPER",
];

/// Variables only the MCP server's SDK side reads (the echo server), never the AS.
const ECHO_VARIABLES: &[&str] = &[
    var::ISSUER,
    var::BASE_URL,
    var::MCP_PATH,
    var::PORT,
    var::SCOPES,
    var::DEV_MODE,
    var::DEV_ECHO_DPOP,
    var::DEV_ECHO_REVOCATION,
];

/// The inputs of `component` under `settings`: name → value (secrets hashed). For the AS, every
/// variable it may read ([`crate::config::read_by_authserver`]) plus, for the Docker backend, the image; for the echo
/// server, the SDK-side variables.
pub fn inputs(settings: &Settings, component: Component, image: Option<&str>) -> Inputs {
    let mut values: BTreeMap<String, String> = settings
        .vars
        .child_env()
        .into_iter()
        .filter(|(name, _)| match component {
            // The embedded server also reads the dev user (it creates it at startup).
            Component::Authserver => {
                crate::config::read_by_authserver(name)
                    || (image.is_none()
                        && (name == var::DEV_USER_EMAIL || name == var::DEV_USER_PASSWORD))
            }
            Component::Echo => ECHO_VARIABLES.contains(&name.as_str()),
        })
        .map(|(name, value)| {
            let value = if SECRET_VARIABLES.contains(&name.as_str()) {
                hashed(&value)
            } else {
                value
            };
            (name, value)
        })
        .collect();
    if let Some(image) = image {
        values.insert("image".to_owned(), image.to_owned());
    }
    Inputs(values)
}

/// A component's recorded inputs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Inputs(BTreeMap<String, String>);

/// One value that differs between the record and the configuration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    pub name: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(unset)".to_owned());
        if SECRET_VARIABLES.contains(&self.name.as_str()) {
            write!(f, "{} (changed)", self.name)
        } else {
            write!(
                f,
                "{} {} → {}",
                self.name,
                show(&self.before),
                show(&self.after)
            )
        }
    }
}

/// The values that differ between what a component was started with and what it would be
/// started with now; empty when they agree.
pub fn changes(recorded: &Inputs, wanted: &Inputs) -> Vec<Change> {
    let names: std::collections::BTreeSet<&String> =
        recorded.0.keys().chain(wanted.0.keys()).collect();
    names
        .into_iter()
        .filter_map(|name| {
            let before = recorded.0.get(name);
            let after = wanted.0.get(name);
            (before != after).then(|| Change {
                name: name.clone(),
                before: before.cloned(),
                after: after.cloned(),
            })
        })
        .collect()
}

/// The changes joined for a step line: `AUTHPLANE_SCOPES mcp:echo → mcp:read; PORT 1 → 2`.
pub fn describe(changes: &[Change]) -> String {
    changes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// What changed for `component` since it was started, when it runs with a record that differs
/// from `settings` (empty otherwise: not running, no record, or nothing changed).
pub fn stale(settings: &Settings, component: Component) -> Vec<Change> {
    use crate::stack::process::{self, PidState};
    if !matches!(
        process::inspect(&settings.run_dir, component),
        PidState::Running(_)
    ) {
        return Vec::new();
    }
    read(&settings.run_dir, component)
        .map(|recorded| changes(&recorded, &inputs(settings, component, None)))
        .unwrap_or_default()
}

/// `<run_dir>/<component>.started.json`.
pub fn path(run_dir: &Path, component: Component) -> PathBuf {
    let name = match component {
        Component::Authserver => "authserver",
        Component::Echo => "echo",
    };
    run_dir.join(format!("{name}.started.json"))
}

/// Records what `component` was started with (mode 0600, atomic).
pub fn record(run_dir: &Path, component: Component, inputs: &Inputs) -> anyhow::Result<()> {
    let text = serde_json::to_vec_pretty(inputs)?;
    // The Docker backend may be the first to use the run directory.
    crate::private_files::create_private_dir(run_dir)?;
    crate::private_files::write_private_file(&path(run_dir, component), &text)
}

/// What `component` was started with, if a record exists and reads.
pub fn read(run_dir: &Path, component: Component) -> Option<Inputs> {
    let text = std::fs::read(path(run_dir, component)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Removes the record (the component stopped).
pub fn forget(run_dir: &Path, component: Component) {
    let _ = std::fs::remove_file(path(run_dir, component));
}

fn hashed(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let hex = digest.iter().take(8).fold(String::new(), |mut acc, b| {
        use std::fmt::Write as _;
        let _ = write!(acc, "{b:02x}");
        acc
    });
    format!("sha256:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Overrides, Vars};

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        let owned = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        Settings::resolve(
            Vars::from_parts(Vec::new(), owned),
            &Overrides::default(),
            Path::new(".env"),
            Path::new(".run"),
        )
        .unwrap()
    }

    #[test]
    fn a_scope_change_concerns_the_echo_server_only_and_secrets_stay_hashed() {
        let before = settings(&[(var::ADMIN_API_KEY, "first-key-0123456789")]);
        let after = settings(&[
            (var::ADMIN_API_KEY, "first-key-0123456789"),
            (var::SCOPES, "mcp:read"),
        ]);
        let echo = changes(
            &inputs(&before, Component::Echo, None),
            &inputs(&after, Component::Echo, None),
        );
        assert_eq!(describe(&echo), "AUTHPLANE_SCOPES mcp:echo → mcp:read");
        let auth = changes(
            &inputs(&before, Component::Authserver, None),
            &inputs(&after, Component::Authserver, None),
        );
        assert!(auth.is_empty(), "{auth:?}");
        let recorded = inputs(&before, Component::Authserver, None);
        assert!(!format!("{recorded:?}").contains("first-key"));
        let rekeyed = settings(&[(var::ADMIN_API_KEY, "second-key-0123456789")]);
        let key = changes(&recorded, &inputs(&rekeyed, Component::Authserver, None));
        assert_eq!(describe(&key), "AUTHPLANE_ADMIN_API_KEY (changed)");
    }

    #[test]
    fn a_port_change_moves_the_derived_base_url_too() {
        let before = inputs(&settings(&[]), Component::Echo, None);
        let after = inputs(&settings(&[(var::PORT, "8180")]), Component::Echo, None);
        let names: Vec<String> = changes(&before, &after)
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, [var::BASE_URL, var::PORT]);
    }
}
