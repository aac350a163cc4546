//! Test support for the echo server: starts the real `authplane-dev serve echo` against a running
//! AS on a free port (killed on drop), mints real tokens through the AS's admin API and token
//! endpoint, forges tokens with the AS's own signing key, and speaks just enough MCP over HTTP.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[path = "../support_stack/port.rs"]
mod port;

pub use port::free_port;

/// The scope the tests register and require.
pub const SCOPE: &str = "mcp:echo";

/// The command for the real binary with a scrubbed environment, run in `dir`.
pub fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_authplane-dev"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("NO_COLOR", "1")
        .current_dir(dir);
    cmd
}

/// A running `serve echo`; killed on drop.
pub struct Echo {
    child: Child,
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// `http://localhost:<port>`.
    pub base_url: String,
    /// The audience and MCP URL: `<base_url>/mcp`.
    pub mcp_url: String,
    /// `<base_url>/.well-known/oauth-protected-resource/mcp`.
    pub prm_url: String,
    pub issuer: String,
}

impl Echo {
    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts `serve echo` for `issuer` on a free port (scope `mcp:echo`) and waits until its PRM
    /// answers.
    pub fn start(issuer: &str) -> Echo {
        Echo::start_with(issuer, &[])
    }

    /// Like [`Echo::start`], with extra environment variables.
    pub fn start_with(issuer: &str, extra_env: &[(&str, &str)]) -> Echo {
        Echo::start_in(
            tempfile::tempdir().expect("tempdir"),
            free_port(),
            issuer,
            extra_env,
        )
    }

    /// Like [`Echo::start_with`], in a directory the test prepared (its run directory is
    /// `<dir>/.run`) and on a port it chose.
    pub fn start_in(
        dir: tempfile::TempDir,
        port: u16,
        issuer: &str,
        extra_env: &[(&str, &str)],
    ) -> Echo {
        let base_url = format!("http://localhost:{port}");
        let mut cmd = command(dir.path());
        cmd.args(["serve", "echo"])
            .env("AUTHPLANE_ISSUER", issuer)
            .env("AUTHPLANE_BASE_URL", &base_url)
            .env("PORT", port.to_string())
            .env("AUTHPLANE_SCOPES", SCOPE);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let stdout = std::fs::File::create(dir.path().join("echo.out")).expect("stdout file");
        let stderr = std::fs::File::create(dir.path().join("echo.err")).expect("stderr file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("spawn serve echo");
        let mut echo = Echo {
            child,
            port,
            mcp_url: format!("{base_url}/mcp"),
            prm_url: format!("{base_url}/.well-known/oauth-protected-resource/mcp"),
            base_url,
            issuer: issuer.to_owned(),
            dir,
        };
        echo.wait_ready();
        echo
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = format!(
            "http://127.0.0.1:{}/.well-known/oauth-protected-resource",
            self.port
        );
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!(
                    "serve echo exited early with {status}\nstdout:\n{}\nstderr:\n{}",
                    self.stdout(),
                    self.stderr()
                );
            }
            if let Ok(resp) = blocking_get(&url)
                && resp == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "serve echo did not answer {url} within 30 s\nstderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the server printed on stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("echo.out")).unwrap_or_default()
    }

    /// What the server printed on stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("echo.err")).unwrap_or_default()
    }

    /// Waits (bounded) until stderr contains `needle`; log lines are written asynchronously.
    pub fn wait_for_stderr(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let stderr = self.stderr();
            if stderr.contains(needle) || Instant::now() > deadline {
                return stderr;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM and waits for the exit status (bounded).
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("pid"));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "serve echo ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `serve echo` expecting it to fail at startup (bounded by a timeout).
pub fn run_echo_expecting_failure(issuer: &str, extra_env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut cmd = command(dir.path());
    cmd.args(["serve", "echo"])
        .env("AUTHPLANE_ISSUER", issuer)
        .env("AUTHPLANE_BASE_URL", format!("http://localhost:{port}"))
        .env("PORT", port.to_string())
        .env("AUTHPLANE_SCOPES", SCOPE);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve echo kept running although it should have failed");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

/// Status code of a plain GET (connection errors are `Err`).
fn blocking_get(url: &str) -> std::io::Result<u16> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let mut stream = std::net::TcpStream::connect(authority)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = String::new();
    stream.read_to_string(&mut buf)?;
    buf.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status line"))
}

// ---------------------------------------------------------------------------------------------
// Tokens from the real AS

/// Registers a Mint resource (uri = `audience`, scope `mcp:echo`) and a client_credentials
/// client (client_secret_basic), then mints a token with `resource=` and `scope=`.
pub async fn mint_token(
    admin_url: &str,
    admin_key: &str,
    public_url: &str,
    audience: &str,
) -> String {
    let http = reqwest::Client::new();
    let slug = format!("echo-{}", free_port());
    let resp = http
        .post(format!("{admin_url}/admin/resources"))
        .bearer_auth(admin_key)
        .json(&json!({
            "slug": slug,
            "uri": audience,
            "backend_kind": "mint",
            "display_name": "Echo test",
            "scopes": [{"name": SCOPE, "description": "echo tool"}],
        }))
        .send()
        .await
        .expect("POST /admin/resources");
    assert_eq!(
        resp.status().as_u16(),
        201,
        "resource: {}",
        resp.text().await.unwrap_or_default()
    );
    let resp = http
        .post(format!("{admin_url}/admin/clients"))
        .bearer_auth(admin_key)
        .json(&json!({
            "client_name": "echo-test-client",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_basic",
            "scope": SCOPE,
        }))
        .send()
        .await
        .expect("POST /admin/clients");
    assert_eq!(
        resp.status().as_u16(),
        201,
        "client: {}",
        resp.text().await.unwrap_or_default()
    );
    let client: Value = resp.json().await.expect("client json");
    let id = client["client_id"].as_str().expect("client_id");
    let secret = client["client_secret"].as_str().expect("client_secret");
    let resp = http
        .post(format!("{public_url}/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", SCOPE),
            ("resource", audience),
        ])
        .send()
        .await
        .expect("POST /oauth/token");
    assert_eq!(
        resp.status().as_u16(),
        200,
        "token: {}",
        resp.text().await.unwrap_or_default()
    );
    let body: Value = resp.json().await.expect("token json");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

// ---------------------------------------------------------------------------------------------
// Forged tokens signed with the AS's own key

/// The AS's current signing key, read from `<state_dir>/keys/`.
pub struct Forger {
    pub pem: String,
    pub kid: String,
    pub issuer: String,
}

pub fn now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs(),
    )
    .expect("time fits")
}

impl Forger {
    /// Reads `keys/current.pem` and `keys/current.kid` (the key must be ES256).
    pub fn from_state_dir(state_dir: &Path, issuer: &str) -> Forger {
        let keys = state_dir.join("keys");
        let alg =
            std::fs::read_to_string(keys.join("current.alg")).unwrap_or_else(|_| "ES256".into());
        assert_eq!(alg.trim(), "ES256", "the forger signs with ES256 keys only");
        Forger {
            pem: std::fs::read_to_string(keys.join("current.pem")).expect("keys/current.pem"),
            kid: std::fs::read_to_string(keys.join("current.kid"))
                .expect("keys/current.kid")
                .trim()
                .to_owned(),
            issuer: issuer.to_owned(),
        }
    }

    /// Claims a valid token for `audience` would carry.
    pub fn claims(&self, audience: &str, scope: &str) -> Value {
        let now = now();
        json!({
            "iss": self.issuer,
            "sub": "forged-client",
            "aud": [audience],
            "client_id": "forged-client",
            "scope": scope,
            "jti": format!("forged-{now}-{}", free_port()),
            "iat": now,
            "nbf": now,
            "exp": now + 600,
        })
    }

    /// A header `{"alg":"ES256","kid":<kid>,"typ":"at+jwt"}`.
    pub fn header(&self) -> jsonwebtoken::Header {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        header.typ = Some("at+jwt".to_owned());
        header
    }

    /// Signs `claims` under `header` with the AS's key.
    pub fn sign(&self, header: &jsonwebtoken::Header, claims: &Value) -> String {
        let key = jsonwebtoken::EncodingKey::from_ec_pem(self.pem.as_bytes()).expect("AS key");
        jsonwebtoken::encode(header, claims, &key).expect("sign")
    }

    /// Signs with a freshly generated P-256 key under the AS's kid.
    pub fn sign_with_other_key(&self, claims: &Value) -> String {
        use p256::pkcs8::EncodePrivateKey;
        let other = p256::SecretKey::random(&mut rand::thread_rng());
        let pem = other
            .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
            .expect("pem");
        let key = jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes()).expect("other key");
        jsonwebtoken::encode(&self.header(), claims, &key).expect("sign")
    }

    /// The AS's public key as SPKI PEM bytes (what an HS256 key-confusion attack uses as secret).
    pub fn public_pem(&self) -> Vec<u8> {
        use p256::pkcs8::{DecodePrivateKey, EncodePublicKey};
        let secret = p256::SecretKey::from_pkcs8_pem(&self.pem).expect("parse AS key");
        secret
            .public_key()
            .to_public_key_pem(p256::pkcs8::LineEnding::LF)
            .expect("public pem")
            .into_bytes()
    }

    /// `alg: none`, empty signature.
    pub fn unsigned(&self, claims: &Value) -> String {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = json!({"alg": "none", "typ": "at+jwt", "kid": self.kid});
        format!(
            "{}.{}.",
            b64.encode(header.to_string()),
            b64.encode(claims.to_string())
        )
    }
}

// ---------------------------------------------------------------------------------------------
// MCP over HTTP

pub const ACCEPT_BOTH: &str = "application/json, text/event-stream";

/// A POST to the MCP endpoint with the usual headers.
pub fn mcp_post(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: &Value,
) -> reqwest::RequestBuilder {
    let mut req = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", ACCEPT_BOTH)
        .body(body.to_string());
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    req
}

/// The JSON-RPC message in a response body: a JSON object, or the last non-empty `data:` line
/// of a short SSE stream.
pub fn rpc_message(body: &str) -> Value {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        return v;
    }
    body.lines()
        .rev()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .find_map(|d| serde_json::from_str::<Value>(d).ok())
        .unwrap_or_else(|| panic!("no JSON-RPC message in body: {body:?}"))
}

/// The text of the first content item of a `tools/call` result.
pub fn tool_text(message: &Value) -> &str {
    message["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text content in {message}"))
}

/// `params._meta` of a 2026-07-28 stateless request.
pub fn stateless_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "echo-test", "version": "1.0"},
    })
}

/// A path inside the test's state.
pub fn path_in(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

// ---------------------------------------------------------------------------------------------
// An AS on chosen ports and state dir (for restarts on the same ports)

/// `serve authserver` on given ports with a given state dir; killed on drop.
pub struct AuthProcess {
    child: Child,
    pub public_url: String,
    pub admin_url: String,
    pub admin_key: String,
    pub state_dir: PathBuf,
    log: PathBuf,
}

impl AuthProcess {
    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts the embedded AS on free ports with a fresh state dir under `work_dir`.
    pub fn start(work_dir: &Path) -> AuthProcess {
        let state = work_dir.join(format!("as-state-{}", free_port()));
        AuthProcess::spawn(free_port(), free_port(), &state, work_dir)
    }

    /// Starts the embedded AS (issuer `http://localhost:<public_port>`) and waits for discovery.
    pub fn spawn(
        public_port: u16,
        admin_port: u16,
        state_dir: &Path,
        work_dir: &Path,
    ) -> AuthProcess {
        let admin_key = "echo-test-admin-key-0123456789abcdefghijklmnop".to_owned();
        let public_url = format!("http://localhost:{public_port}");
        let log = work_dir.join(format!("authserver-{}.log", free_port()));
        let mut cmd = command(work_dir);
        cmd.arg("serve")
            .arg("authserver")
            .arg("--state-dir")
            .arg(state_dir)
            .env("AUTHPLANE_SERVER_ISSUER", &public_url)
            .env("AUTHPLANE_SERVER_ADDRESS", format!(":{public_port}"))
            .env("AUTHPLANE_ADMIN_ADDRESS", format!(":{admin_port}"))
            .env("AUTHPLANE_ADMIN_API_KEY", &admin_key)
            .env(
                "AUTHPLANE_SESSION_SECRET",
                "echo-test-session-secret-0123456789abcdefghij",
            );
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn serve authserver");
        let mut this = AuthProcess {
            child,
            admin_url: format!("http://localhost:{admin_port}"),
            public_url,
            admin_key,
            state_dir: state_dir.to_owned(),
            log,
        };
        let url = format!("http://127.0.0.1:{public_port}/.well-known/oauth-authorization-server");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = this.child.try_wait().expect("try_wait") {
                panic!("serve authserver exited with {status}:\n{}", this.log());
            }
            if blocking_get(&url).is_ok_and(|s| s == 200) {
                return this;
            }
            assert!(Instant::now() < deadline, "AS not ready:\n{}", this.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The AS's combined output.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the AS and waits for it to exit.
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for AuthProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
