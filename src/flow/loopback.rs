//! `verify --flow auth-code --browser`: the loopback redirect listener and opening the user's
//! browser, the way `gh auth login` and the MCP SDKs' native clients do (RFC 8252 §7.3). The
//! listener binds 127.0.0.1 on a free port, answers the one request on the callback path with a
//! short "you can close this tab" page, and hands the request's URL back; anything else it
//! answers 404 and keeps waiting. The browser is `$BROWSER` when set (a command; `%s` is replaced
//! by the URL, else the URL is its last argument), else the platform's opener.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

/// The page the browser shows once the redirect arrived.
const DONE_PAGE: &str = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>authplane-dev</title></head><body><h1>authplane-dev received the authorization response</h1><p>You can close this tab and go back to the terminal.</p></body></html>";

/// A listener for the authorization response on `http://127.0.0.1:<port><path>`.
pub struct Loopback {
    listener: TcpListener,
    path: String,
}

impl Loopback {
    /// Binds 127.0.0.1 on a free port for `path`.
    pub async fn bind(path: &str) -> std::io::Result<Loopback> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        Ok(Loopback {
            listener,
            path: path.to_owned(),
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map_or(0, |a| a.port())
    }

    /// Waits up to `timeout` for `GET <path>?…`; returns the full URL it was called with.
    pub async fn wait(&self, timeout: Duration) -> Result<String, String> {
        tokio::time::timeout(timeout, self.accept_callback())
            .await
            .map_err(|_| {
                format!(
                    "no redirect arrived within {} s (was the login finished in the browser?)",
                    timeout.as_secs()
                )
            })?
    }

    async fn accept_callback(&self) -> Result<String, String> {
        loop {
            let (mut stream, _) = self.listener.accept().await.map_err(|e| e.to_string())?;
            let mut buffer = Vec::new();
            let mut chunk = [0u8; 2048];
            // Only the request line and headers matter; a browser sends no body on this GET.
            while !buffer.windows(4).any(|w| w == b"\r\n\r\n") && buffer.len() < 16 * 1024 {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                }
            }
            let head = String::from_utf8_lossy(&buffer);
            let target = head
                .lines()
                .next()
                .and_then(|line| {
                    let mut parts = line.split_whitespace();
                    (parts.next() == Some("GET"))
                        .then(|| parts.next())
                        .flatten()
                })
                .unwrap_or("")
                .to_owned();
            let on_path = target.split('?').next() == Some(self.path.as_str());
            let (status, body) = if on_path {
                ("200 OK", DONE_PAGE)
            } else {
                ("404 Not Found", "not found")
            };
            let answer = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes()).await;
            let _ = stream.shutdown().await;
            if on_path {
                return Ok(format!("http://127.0.0.1:{}{target}", self.port()));
            }
        }
    }
}

/// Opens `url` in the user's browser: `$BROWSER` if set, else `xdg-open` / `open` / `start`.
/// Does not wait for the browser; returns the command line it started.
pub fn open_browser(url: &str) -> Result<String, String> {
    let (program, args) = browser_command(std::env::var("BROWSER").ok().as_deref(), url);
    std::process::Command::new(&program)
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(|_| format!("{program} {}", args.join(" ")))
        .map_err(|e| format!("could not start {program}: {e}"))
}

/// The command for `$BROWSER` (first of a `:`-separated list; `%s` replaced by the URL, else
/// the URL appended), or the platform's opener.
fn browser_command(browser: Option<&str>, url: &str) -> (String, Vec<String>) {
    if let Some(first) = browser
        .and_then(|b| b.split(':').find(|c| !c.trim().is_empty()))
        .map(str::trim)
    {
        let mut words: Vec<String> = first.split_whitespace().map(str::to_owned).collect();
        let program = words.remove(0);
        if words.iter().any(|w| w.contains("%s")) {
            for w in &mut words {
                *w = w.replace("%s", url);
            }
        } else {
            words.push(url.to_owned());
        }
        return (program, words);
    }
    if cfg!(target_os = "macos") {
        ("open".to_owned(), vec![url.to_owned()])
    } else if cfg!(windows) {
        (
            "cmd".to_owned(),
            vec!["/C".into(), "start".into(), String::new(), url.to_owned()],
        )
    } else {
        ("xdg-open".to_owned(), vec![url.to_owned()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_takes_percent_s_or_appends_the_url() {
        assert_eq!(
            browser_command(Some("firefox --new-tab %s:lynx"), "http://x/"),
            (
                "firefox".into(),
                vec!["--new-tab".into(), "http://x/".into()]
            )
        );
        assert_eq!(
            browser_command(Some("/tmp/fake browser"), "u"),
            ("/tmp/fake".into(), vec!["browser".into(), "u".into()])
        );
    }

    #[tokio::test]
    async fn the_listener_answers_the_callback_and_ignores_other_paths() {
        let loopback = Loopback::bind("/callback").await.unwrap();
        let base = format!("http://127.0.0.1:{}", loopback.port());
        let client = reqwest::Client::new();
        let waiter = tokio::spawn(async move { loopback.wait(Duration::from_secs(10)).await });
        let favicon = client
            .get(format!("{base}/favicon.ico"))
            .send()
            .await
            .unwrap();
        assert_eq!(favicon.status(), 404);
        let page = client
            .get(format!("{base}/callback?code=c&state=s"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("close this tab"));
        let url = waiter.await.unwrap().unwrap();
        assert!(url.ends_with("/callback?code=c&state=s"), "{url}");
    }
}
