//! Throughput and latency of authenticated `tools/call` requests against `serve echo`.
//!
//! Starts the embedded AS and the echo server (the real binary) on free ports, mints a real
//! token, then measures `tools/call echo` round trips at 1 and 32 concurrent clients in both
//! protocol eras (session: one MCP session per client; stateless 2026-07-28: no session):
//! requests/second and p50/p99 latency. Every request goes through the full path: bearer
//! parsing, the token check (authplane-sdk verification, remembered per token for up to 30 s),
//! the scope check, rmcp. The load generator shares the machine with the servers.
//!
//! Run: `cargo bench --bench echo` (release), or `cargo test --bench echo -- --bench` (debug,
//! when the machine is too busy for a release build). `ECHO_BENCH_SECS` sets the seconds per
//! level (default 5). Without `--bench` (as under a plain `cargo test --all-targets`) it does
//! nothing, so test runs stay fast.
#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

#[path = "../tests/support_echo/mod.rs"]
mod support_echo;

use std::time::{Duration, Instant};

use serde_json::json;

use support_echo::{
    AuthProcess, Echo, mcp_post, mint_token, rpc_message, stateless_meta, tool_text,
};

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("echo bench: skipped (run `cargo bench --bench echo`)");
        return;
    }
    let secs: u64 = std::env::var("ECHO_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let work = tempfile::tempdir().expect("tempdir");
    let auth = AuthProcess::start(work.path());
    let echo = Echo::start(&auth.public_url);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let token = mint_token(
            &auth.admin_url,
            &auth.admin_key,
            &auth.public_url,
            &echo.mcp_url,
        )
        .await;
        println!(
            "echo bench: {} ({} build), {} s per level, {} CPUs",
            echo.mcp_url,
            if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
            secs,
            std::thread::available_parallelism().map_or(0, std::num::NonZero::get)
        );
        println!("| protocol era | clients | requests | req/s | p50 ms | p99 ms |");
        println!("|---|---|---|---|---|---|");
        for (era, clients) in [
            (Era::Session, 1usize),
            (Era::Session, 32),
            (Era::Stateless, 1),
            (Era::Stateless, 32),
        ] {
            let (count, mut latencies, elapsed) = level(
                &echo.mcp_url,
                &token,
                era,
                clients,
                Duration::from_secs(secs),
            )
            .await;
            latencies.sort_unstable();
            let pct = |p: f64| {
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    clippy::cast_precision_loss,
                    reason = "index into a short vector"
                )]
                let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
                latencies[i].as_secs_f64() * 1000.0
            };
            #[expect(clippy::cast_precision_loss, reason = "request counts are small")]
            let rps = count as f64 / elapsed.as_secs_f64();
            println!(
                "| {} | {clients} | {count} | {rps:.0} | {:.2} | {:.2} |",
                era.name(),
                pct(0.50),
                pct(0.99)
            );
        }
    });
    println!();
    println!(
        "peak resident memory (VmHWM): echo server {}, authorization server {}",
        peak_rss(echo.pid()),
        peak_rss(auth.pid())
    );
}

/// A process's peak resident set size as the kernel reports it (`VmHWM` in /proc/<pid>/status).
fn peak_rss(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The MCP protocol era a client speaks (DESIGN.md §8).
#[derive(Debug, Clone, Copy)]
enum Era {
    /// initialize + notifications/initialized once, then `tools/call` with the session header.
    Session,
    /// 2026-07-28: every `tools/call` stands alone (no session).
    Stateless,
}

impl Era {
    fn name(self) -> &'static str {
        match self {
            Era::Session => "2025-11-25 (session)",
            Era::Stateless => "2026-07-28 (stateless)",
        }
    }
}

/// Runs `clients` concurrent clients for `duration`; returns the number of calls, every latency
/// and the wall time.
async fn level(
    url: &str,
    token: &str,
    era: Era,
    clients: usize,
    duration: Duration,
) -> (usize, Vec<Duration>, Duration) {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for client in 0..clients {
        let url = url.to_owned();
        let token = token.to_owned();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let session = match era {
                Era::Session => Some(open_session(&http, &url, &token).await),
                Era::Stateless => None,
            };
            let mut latencies = Vec::new();
            let mut id = 1u64;
            while Instant::now() < deadline {
                let text = format!("client {client} call {id}");
                let mut params = json!({"name":"echo","arguments":{"text":text}});
                let request = if let Some(session) = &session {
                    let call =
                        json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":params});
                    mcp_post(&http, &url, Some(&token), &call)
                        .header("mcp-session-id", session)
                        .header("mcp-protocol-version", "2025-11-25")
                } else {
                    params["_meta"] = stateless_meta();
                    let call =
                        json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":params});
                    mcp_post(&http, &url, Some(&token), &call)
                        .header("mcp-protocol-version", "2026-07-28")
                        .header("mcp-method", "tools/call")
                        .header("mcp-name", "echo")
                };
                let t = Instant::now();
                let body = request
                    .send()
                    .await
                    .expect("tools/call")
                    .text()
                    .await
                    .expect("body");
                latencies.push(t.elapsed());
                assert_eq!(tool_text(&rpc_message(&body)), text);
                id += 1;
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("client task"));
    }
    (all.len(), all, started.elapsed())
}

/// initialize + notifications/initialized; returns the session id.
async fn open_session(http: &reqwest::Client, url: &str, token: &str) -> String {
    let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
            "protocolVersion":"2025-11-25","capabilities":{},
            "clientInfo":{"name":"echo-bench","version":"1"}}});
    let resp = mcp_post(http, url, Some(token), &init)
        .send()
        .await
        .expect("initialize");
    let session = resp.headers()["mcp-session-id"]
        .to_str()
        .expect("session")
        .to_owned();
    let _ = resp.text().await;
    let note = json!({"jsonrpc":"2.0","method":"notifications/initialized"});
    mcp_post(http, url, Some(token), &note)
        .header("mcp-session-id", &session)
        .send()
        .await
        .expect("initialized");
    session
}
