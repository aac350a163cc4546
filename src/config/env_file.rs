//! The `.env` file as a file: reading it (parse errors with the line number), writing the first
//! complete one, appending missing secrets to the user's own, and knowing which ones we wrote.
//! Nothing here resolves settings.

use std::path::Path;

use super::{Settings, Source, var};
use crate::exit::ConfigError;

/// Reads `KEY=value` pairs from a `.env` file. A missing file yields no pairs; a malformed one is a
/// configuration error naming the file and the problem.
pub fn read_env_file(path: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    let iter = match dotenvy::from_path_iter(path) {
        Ok(iter) => iter,
        Err(dotenvy::Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Vec::new());
        }
        Err(e) => {
            return Err(ConfigError::EnvFile {
                path: path.display().to_string(),
                reason: e.to_string(),
            });
        }
    };
    let mut pairs = Vec::new();
    for item in iter {
        let (k, v) = item.map_err(|e| ConfigError::EnvFile {
            path: path.display().to_string(),
            reason: describe_dotenv_error(path, &e),
        })?;
        pairs.push((k, v));
    }
    Ok(pairs)
}

/// The parse error with the line number the user has to open (dotenvy reports the line's text and
/// a character index, not its number).
fn describe_dotenv_error(path: &Path, e: &dotenvy::Error) -> String {
    match e {
        dotenvy::Error::LineParse(line, index) => {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let wanted = line.trim();
            let number = text
                .lines()
                .position(|l| l.trim() == wanted)
                .or_else(|| {
                    // A value continued over several lines is reported joined: find its start.
                    let first = wanted.lines().next().unwrap_or(wanted);
                    text.lines().position(|l| l.trim() == first.trim())
                })
                .map(|i| i + 1);
            match number {
                Some(n) => format!(
                    "line {n} ({line:?}) cannot be parsed at character {index}; a line is \
                     KEY=value, a comment starting with #, or empty"
                ),
                None => format!("line {line:?} cannot be parsed (at character {index})"),
            }
        }
        other => other.to_string(),
    }
}

/// Generates a random secret of `len` URL-safe characters.
pub fn generate_secret(len: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

/// The first line of every `.env` authplane-dev writes; `clean --all` only deletes a file that
/// starts with it.
pub const ENV_FILE_HEADER: &str = "# Written by authplane-dev";

/// True when the `.env` at `path` says authplane-dev wrote it: its first line starts with
/// [`ENV_FILE_HEADER`]. Only such a file is ever deleted (`clean --all`).
pub fn env_file_written_by_us(path: &Path) -> std::io::Result<bool> {
    use std::io::BufRead as _;
    let mut first = Vec::new();
    std::io::BufReader::new(std::fs::File::open(path)?).read_until(b'\n', &mut first)?;
    Ok(first.starts_with(ENV_FILE_HEADER.as_bytes()))
}

/// Writes a first, complete `.env` (mode 0600) unless one exists: fresh secrets (or the ones
/// already set) and every value that shapes the stack, as `settings` resolved them — so a later
/// shell without the exported variables of this one sees the same stack. Returns true when a file
/// was written. Never overwrites; a concurrent reader sees no file or the whole one.
pub fn write_initial_env_file(path: &Path, settings: &Settings) -> std::io::Result<bool> {
    // Complete or absent, never half-written: another run may read it at any moment.
    crate::private_files::create_private_file(path, initial_env_text(settings).as_bytes())
}

/// The text of a first `.env` for `settings` (pure apart from the generated secrets).
pub fn initial_env_text(settings: &Settings) -> String {
    let secret = |value: &Option<String>| value.clone().unwrap_or_else(|| generate_secret(40));
    let mut lines = vec![
        format!(
            "{ENV_FILE_HEADER} on first run. Edit freely; authplane-dev never overwrites it."
        ),
        "# The same variable names as the real authserver and the Authplane SDKs. The values in"
            .to_owned(),
        "# each group must agree (doctor checks them); `authplane-dev init --ports` writes a new set."
            .to_owned(),
        format!("{}={}", var::ADMIN_API_KEY, secret(&settings.admin_api_key)),
        format!("{}={}", var::SESSION_SECRET, secret(&settings.session_secret)),
        "# The local dev user who signs in at the authorization server's login page.".to_owned(),
        format!(
            "{}={}",
            var::DEV_USER_EMAIL,
            dotenv_value(&settings.dev_user_email)
        ),
        format!(
            "{}={}",
            var::DEV_USER_PASSWORD,
            secret(&settings.dev_user_password)
        ),
        "# Authorization server: its listeners and the issuer it announces.".to_owned(),
    ];
    let mut written = vec![
        var::ADMIN_API_KEY,
        var::SESSION_SECRET,
        var::DEV_USER_EMAIL,
        var::DEV_USER_PASSWORD,
    ];
    let mut put = |lines: &mut Vec<String>, name: &'static str, value: &str| {
        lines.push(format!("{name}={}", dotenv_value(value)));
        written.push(name);
    };
    put(&mut lines, var::SERVER_ADDRESS, &settings.server_address);
    put(&mut lines, var::SERVER_ISSUER, &settings.server_issuer);
    put(&mut lines, var::ADMIN_ADDRESS, &settings.admin_address);
    lines.push(
        "# MCP server: where its SDK discovers the AS, its public URL and port, the scopes it requires."
            .to_owned(),
    );
    put(&mut lines, var::ISSUER, &settings.sdk_issuer);
    put(&mut lines, var::BASE_URL, &settings.base_url);
    put(&mut lines, var::MCP_PATH, &settings.mcp_path);
    put(&mut lines, var::PORT, &settings.port.to_string());
    put(&mut lines, var::SCOPES, &settings.scopes.join(" "));
    let from_env: Vec<String> = settings
        .vars
        .values
        .iter()
        .filter(|(name, (_, source))| *source == Source::Env && !written.contains(&name.as_str()))
        .map(|(name, (value, _))| format!("{name}={}", dotenv_value(value)))
        .collect();
    if !from_env.is_empty() {
        lines.push("# From the environment of the first run.".to_owned());
        lines.extend(from_env);
    }
    lines.join("\n") + "\n"
}

/// Appends the secrets `settings` lacks (admin key, session secret, the dev user's password — with
/// the dev user's email when that is not set either) to the existing `.env` at `path`, under a
/// comment saying so. The user's lines are kept byte for byte and in order; the
/// file is replaced atomically and becomes mode 0600, since it now holds secrets. Returns the
/// names appended (none: the file is untouched).
pub fn append_missing_secrets(
    path: &Path,
    settings: &Settings,
) -> anyhow::Result<Vec<&'static str>> {
    let mut missing: Vec<&'static str> = [
        (var::ADMIN_API_KEY, &settings.admin_api_key),
        (var::SESSION_SECRET, &settings.session_secret),
        (var::DEV_USER_PASSWORD, &settings.dev_user_password),
    ]
    .into_iter()
    .filter(|(_, value)| value.is_none())
    .map(|(name, _)| name)
    .collect();
    if missing.is_empty() {
        return Ok(missing);
    }
    // The password's account, written out so the file says whom it belongs to.
    let email_unset = settings
        .vars
        .get(var::DEV_USER_EMAIL)
        .is_none_or(str::is_empty);
    if missing.contains(&var::DEV_USER_PASSWORD) && email_unset {
        missing.push(var::DEV_USER_EMAIL);
    }
    let mut text = std::fs::read(path)?;
    if !text.is_empty() && !text.ends_with(b"\n") {
        text.push(b'\n');
    }
    text.extend_from_slice(
        b"# Added by authplane-dev: the stack needs these secrets and they were not set.\n",
    );
    for name in &missing {
        let value = if *name == var::DEV_USER_EMAIL {
            dotenv_value(&settings.dev_user_email)
        } else {
            generate_secret(40)
        };
        text.extend_from_slice(format!("{name}={value}\n").as_bytes());
    }
    crate::private_files::write_private_file(path, &text)?;
    Ok(missing)
}

/// A value as a `.env` line holds it: bare when plain, single-quoted (verbatim) otherwise.
fn dotenv_value(value: &str) -> String {
    let plain = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.:/@+=,%~".contains(c));
    if plain && !value.is_empty() {
        value.to_owned()
    } else if !value.contains('\'') && !value.contains('\\') {
        format!("'{value}'")
    } else {
        format!(
            "\"{}\"",
            value
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('$', "\\$")
        )
    }
}
