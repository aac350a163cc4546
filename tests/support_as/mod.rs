//! Test helper: runs the real binary's embedded authorization server (`serve authserver`) on free
//! loopback ports inside a test's temporary directory, waits for discovery, and kills it on drop.
//! Other test files use it with `mod support_as;`.
#![allow(dead_code)] // each test crate uses a different subset

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub mod authcode;
#[path = "../support_stack/port.rs"]
mod port;
#[path = "../support_stack/skip.rs"]
pub mod skip;

pub use port::free_port;

/// How long the server may take to answer discovery.
const START_DEADLINE: Duration = Duration::from_mins(1);

/// A running `authplane-dev serve authserver`.
pub struct AuthServer {
    /// `http://127.0.0.1:<port>`; also the issuer unless overridden.
    pub public_url: String,
    /// `http://127.0.0.1:<port>` of the admin listener.
    pub admin_url: String,
    /// The configured issuer.
    pub issuer: String,
    /// The admin Bearer key.
    pub admin_key: String,
    /// The server's state directory (`keys/current.pem` etc.).
    pub state_dir: PathBuf,
    /// Where the child's stdout/stderr go.
    pub log_path: PathBuf,
    child: Option<Child>,
}

/// The real binary.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_authplane-dev")
}

/// A `serve authserver` command with a scrubbed environment rooted in `dir`.
pub fn command(dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(binary());
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("NO_COLOR", "1")
        .current_dir(dir)
        // An empty env file: everything comes from `env` (a named --env-file must exist).
        .arg("--env-file")
        .arg("/dev/null")
        .arg("--run-dir")
        .arg(dir.join(".run"))
        .args(["serve", "authserver", "--state-dir"])
        .arg(dir.join("authserver-state"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

impl AuthServer {
    /// Starts a server in `dir` (state in `dir/authserver-state`) with the issuer set to its own
    /// public URL, an admin key, and `extra_env` on top (which may override any of them).
    pub fn start(dir: &Path, extra_env: &[(&str, &str)]) -> AuthServer {
        let public_port = free_port();
        let admin_port = free_port();
        let public_url = format!("http://127.0.0.1:{public_port}");
        let admin_url = format!("http://127.0.0.1:{admin_port}");
        let server_address = format!("127.0.0.1:{public_port}");
        let admin_address = format!("127.0.0.1:{admin_port}");
        let mut env: Vec<(&str, &str)> = vec![
            ("AUTHPLANE_SERVER_ISSUER", &public_url),
            ("AUTHPLANE_SERVER_ADDRESS", &server_address),
            ("AUTHPLANE_ADMIN_ADDRESS", &admin_address),
            ("AUTHPLANE_ADMIN_API_KEY", "test-admin-key-0123456789"),
        ];
        env.extend_from_slice(extra_env);
        let lookup = |name: &str| {
            env.iter()
                .rev()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        };
        let issuer = lookup("AUTHPLANE_SERVER_ISSUER").unwrap_or_default();
        let admin_key = lookup("AUTHPLANE_ADMIN_API_KEY").unwrap_or_default();
        let log_path = dir.join(format!("authserver-{public_port}.log"));
        let log = std::fs::File::create(&log_path).expect("creating the server log");
        let child = command(dir, &env)
            .stdout(Stdio::from(
                log.try_clone().expect("cloning the log handle"),
            ))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawning authplane-dev serve authserver");
        let mut server = AuthServer {
            public_url,
            admin_url,
            issuer,
            admin_key,
            state_dir: dir.join("authserver-state"),
            log_path,
            child: Some(child),
        };
        server.wait_ready(public_port);
        server
    }

    fn wait_ready(&mut self, port: u16) {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("authserver exited early with {status}:\n{}", self.log());
            }
            if http_status(port, "/.well-known/oauth-authorization-server") == Some(200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "authserver did not answer discovery within {START_DEADLINE:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the server printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Waits (up to 10 s) until the server's output contains `needle`; returns the output.
    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "server output never contained {needle:?}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits for the exit status (graceful shutdown).
    pub fn stop(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running child");
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid fits i32"));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("waiting for the child") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return child.wait().expect("waiting for the killed child");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// An HTTP client for the tests.
    pub fn http() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("building a reqwest client")
    }

    /// An admin request with the Bearer key.
    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        AuthServer::http()
            .request(method, format!("{}{path}", self.admin_url))
            .bearer_auth(&self.admin_key)
    }

    /// The JSON an admin `GET path` answers (whatever its status).
    pub async fn admin_get(&self, path: &str) -> Value {
        self.admin(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("GET {path} JSON: {e}"))
    }

    /// The id of the user with `email`, as the admin API lists users.
    pub async fn user_id(&self, email: &str) -> String {
        let users = self.admin_get("/admin/users").await;
        users
            .as_array()
            .unwrap_or_else(|| panic!("{users}"))
            .iter()
            .find(|u| u["email"] == email)
            .and_then(|u| u["id"].as_str())
            .unwrap_or_else(|| panic!("{email} not in {users}"))
            .to_owned()
    }

    /// Registers a mint resource; returns the ResourceView.
    pub async fn create_resource(&self, slug: &str, uri: &str, scopes: &[&str]) -> Value {
        let scopes: Vec<Value> = scopes.iter().map(|s| json!({"name": s})).collect();
        let response = self
            .admin(reqwest::Method::POST, "/admin/resources")
            .json(&json!({
                "slug": slug, "uri": uri, "backend_kind": "mint",
                "display_name": slug, "scopes": scopes,
            }))
            .send()
            .await
            .expect("POST /admin/resources");
        assert_eq!(response.status(), 201, "creating resource {slug}");
        response.json().await.expect("ResourceView JSON")
    }

    /// Registers a confidential client_credentials client; returns `(client_id, client_secret)`.
    pub async fn create_client(&self, scope: &str) -> (String, String) {
        let response = self
            .admin(reqwest::Method::POST, "/admin/clients")
            .json(&json!({
                "client_name": "test-client",
                "grant_types": ["client_credentials"],
                "token_endpoint_auth_method": "client_secret_basic",
                "scope": scope,
            }))
            .send()
            .await
            .expect("POST /admin/clients");
        assert_eq!(response.status(), 201, "creating a client");
        let body: Value = response.json().await.expect("client JSON");
        (
            body["client_id"].as_str().expect("client_id").to_owned(),
            body["client_secret"]
                .as_str()
                .expect("client_secret")
                .to_owned(),
        )
    }

    /// `POST /oauth/token` with Basic auth and the given form fields.
    pub async fn token(&self, id: &str, secret: &str, form: &[(&str, &str)]) -> reqwest::Response {
        AuthServer::http()
            .post(format!("{}/oauth/token", self.public_url))
            .basic_auth(id, Some(secret))
            .form(form)
            .send()
            .await
            .expect("POST /oauth/token")
    }

    /// Mints a client_credentials token for `resource` (`scope` may be empty); panics unless 200.
    pub async fn mint(&self, id: &str, secret: &str, scope: &str, resource: &str) -> String {
        let mut form = vec![("grant_type", "client_credentials")];
        if !scope.is_empty() {
            form.push(("scope", scope));
        }
        if !resource.is_empty() {
            form.push(("resource", resource));
        }
        let response = self.token(id, secret, &form).await;
        let status = response.status();
        let body: Value = response.json().await.expect("token JSON");
        assert_eq!(status, 200, "{body}");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Status code of a plain HTTP/1.1 GET on loopback, `None` when nothing answers.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// Decodes a JWT's header and claims (no verification).
pub fn decode_jwt(token: &str) -> (Value, Value) {
    use base64::Engine as _;
    let mut parts = token.split('.');
    let mut next = || {
        let part = parts.next().expect("JWT part");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .expect("base64url JWT part");
        serde_json::from_slice::<Value>(&bytes).expect("JSON JWT part")
    };
    let header = next();
    let claims = next();
    (header, claims)
}

/// A fresh temporary directory for one server's state.
pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// A response's status, headers, and body (JSON, or the text as a JSON string).
pub async fn json_of(r: reqwest::Response) -> (u16, reqwest::header::HeaderMap, Value) {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, body)
}

/// A header's value ("" when absent or not text).
pub fn header<'h>(h: &'h reqwest::header::HeaderMap, name: &str) -> &'h str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// Asserts an admin problem body (§3.1).
pub fn assert_admin_error(status: u16, body: &Value, code: u16, detail: &str) {
    assert_eq!(status, code, "{body}");
    let title = reqwest::StatusCode::from_u16(code)
        .unwrap()
        .canonical_reason()
        .unwrap();
    assert_eq!(
        body,
        &json!({"type": "about:blank", "title": title, "status": code, "detail": detail})
    );
}
