//! The single output layer: every byte a command shows goes through here.
//!
//! Commands record [`Step`]s and [`Finding`]s in a [`Run`]; the [`Reporter`] renders them either as
//! human text (one line per step as it completes, then the findings and a summary) or, under
//! `--json`, as exactly one JSON object on stdout at the end. stdout carries the result; stderr
//! carries spinners and notes. Secrets registered with [`Reporter::secret`] are replaced in every
//! rendering unless `--show-secrets` was given.
//!
//! This is the one module allowed to print.
#![allow(clippy::print_stdout, clippy::print_stderr)]

pub mod pull;

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use console::Style;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::diagnose::{Finding, Severity};
use crate::exit::Exit;

/// What replaces a secret in output.
pub const REDACTED: &str = "[redacted]";

/// Secrets shorter than this are not redacted by substring: they would mangle ordinary text, and
/// nothing we generate is that short.
const MIN_SECRET_LEN: usize = 8;

/// `--color` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

/// How output should look; built once from the global flags.
#[derive(Debug, Clone, Default)]
pub struct OutputOptions {
    pub json: bool,
    pub color: ColorChoice,
    pub show_secrets: bool,
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    Skip,
}

/// One step of a command, as shown to the user.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Stable snake_case identifier for scripts (`mint_token`); derived from the name unless the
    /// name holds a variable part (then given explicitly, see [`Run::start_step`]).
    pub id: String,
    pub name: String,
    pub ok: bool,
    pub status: Status,
    pub duration_ms: u64,
    /// One line for humans (the values that matter, e.g. the issuer discovered).
    pub summary: String,
    /// Structured detail for `--json` (the request and response on failure, ids, versions).
    pub detail: Value,
}

/// Everything a command produced, rendered by [`Reporter::render`].
#[derive(Debug, Clone)]
pub struct Outcome {
    pub command: String,
    pub steps: Vec<Step>,
    pub findings: Vec<Finding>,
    /// Extra top-level JSON members (e.g. `components` for `status`).
    pub data: Map<String, Value>,
    /// The command's result for humans (e.g. the token for `token`), printed on stdout after the
    /// steps. Not part of the JSON object; put machine-readable results in `data`.
    pub text: Vec<String>,
    /// Set when a step failed without a finding explaining it.
    pub failed_step: bool,
    /// Set when the configuration pre-flight refused to act: the run ends with exit 2 whatever
    /// the findings' own classes.
    pub refused: bool,
    /// Set by a verb whose findings describe what it was asked about (`status`): any error ends
    /// the run with 1, the checked thing is wrong, whatever the findings' own classes.
    pub check_only: bool,
}

impl Outcome {
    /// An empty outcome for `command`.
    pub fn new(command: impl Into<String>) -> Outcome {
        Outcome {
            command: command.into(),
            steps: Vec::new(),
            findings: Vec::new(),
            data: Map::new(),
            text: Vec::new(),
            failed_step: false,
            refused: false,
            check_only: false,
        }
    }

    /// False when any error finding was recorded or a step failed.
    pub fn ok(&self) -> bool {
        !self.failed_step && !self.refused && !self.findings.iter().any(Finding::is_error)
    }

    /// The exit code this outcome leads to: the most serious class among the error findings
    /// (environment 3 > configuration 2 > failed check 1); warnings never fail a run.
    pub fn exit(&self) -> Exit {
        let from_findings = self
            .findings
            .iter()
            .filter(|f| f.is_error())
            .map(|f| f.code.exit())
            .max()
            .unwrap_or(Exit::Success);
        if self.refused {
            Exit::Usage
        } else if self.check_only {
            if self.ok() {
                Exit::Success
            } else {
                Exit::CheckFailed
            }
        } else if self.failed_step {
            from_findings.max(Exit::CheckFailed)
        } else {
            from_findings
        }
    }

    /// The `--json` document (DESIGN §4).
    pub fn to_json(&self) -> Value {
        let mut doc = Map::new();
        doc.insert("ok".into(), Value::Bool(self.ok()));
        doc.insert("command".into(), Value::String(self.command.clone()));
        doc.insert("exit_code".into(), json!(self.exit().code()));
        doc.insert("steps".into(), json!(self.steps));
        doc.insert("findings".into(), json!(self.findings));
        for (key, value) in &self.data {
            doc.insert(key.clone(), value.clone());
        }
        Value::Object(doc)
    }
}

/// A step in progress; hand it back to [`Run::pass`] and friends to record how it ended.
pub struct StepTimer {
    id: String,
    name: String,
    started: Instant,
    spinner: Option<ProgressBar>,
}

impl StepTimer {
    /// Time since the step started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// Renders outcomes and keeps the list of secrets to redact.
pub struct Reporter {
    options: OutputOptions,
    color: bool,
    /// Where spinners and pull bars draw (stderr); `None` when stderr is not a terminal, under
    /// `--json` or with `NO_COLOR`.
    multi: Option<MultiProgress>,
    secrets: Mutex<Vec<String>>,
    /// Steps, findings and the summary go to stderr instead of stdout (`token`: stdout carries
    /// only the token).
    diverted: std::sync::atomic::AtomicBool,
}

impl Reporter {
    /// A reporter for the given options, reading the terminal state of stdout and stderr once.
    pub fn new(options: OutputOptions) -> Reporter {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
            || std::env::var("TERM").is_ok_and(|t| t == "dumb");
        let color = match options.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => !no_color && std::io::stdout().is_terminal(),
        };
        let spinners = !options.json && std::io::stderr().is_terminal() && !no_color;
        Reporter {
            options,
            color,
            multi: spinners.then(MultiProgress::new),
            secrets: Mutex::new(Vec::new()),
            diverted: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// True under `--json`.
    pub fn json(&self) -> bool {
        self.options.json
    }

    /// True under `--show-secrets`.
    pub fn show_secrets(&self) -> bool {
        self.options.show_secrets
    }

    /// Registers a secret (admin key, client secret, token) so it never appears in output unless
    /// `--show-secrets` was given.
    pub fn secret(&self, secret: &str) {
        if secret.len() < MIN_SECRET_LEN {
            return;
        }
        let mut secrets = self
            .secrets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !secrets.iter().any(|s| s == secret) {
            secrets.push(secret.to_owned());
            // Longest first, so a secret that contains another is replaced whole.
            secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// `text` with every registered secret replaced, unless `--show-secrets`.
    pub fn redact(&self, text: &str) -> String {
        if self.options.show_secrets {
            return text.to_owned();
        }
        let secrets = self
            .secrets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = text.to_owned();
        for secret in secrets.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }

    /// Starts recording a command's steps and findings.
    pub fn run(&self, command: &str) -> Run<'_> {
        Run {
            reporter: self,
            outcome: Outcome::new(command),
        }
    }

    /// Prints a line of streamed output (log lines, server banners) on stdout, redacted.
    pub fn line(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", self.redact(text));
        let _ = out.flush();
    }

    /// From now on, human step lines, findings and the summary go to stderr; stdout keeps only
    /// the command's result text (for `token`, whose stdout is captured as a credential).
    pub fn divert_human_output(&self) {
        self.diverted
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// A line of human report (steps, findings, summary): stdout, or stderr once diverted.
    fn report_line(&self, text: &str) {
        if self.diverted.load(std::sync::atomic::Ordering::Relaxed) {
            eprintln!("{}", self.redact(text));
        } else {
            self.line(text);
        }
    }

    /// Prints an informational note on stderr (human mode only; JSON mode stays silent there).
    pub fn note(&self, text: &str) {
        if !self.options.json {
            eprintln!("{}", self.redact(text));
        }
    }

    /// Prints a progress line on stderr in every mode (stdout stays the result): something the
    /// user waits on and should know about, such as another run holding the run directory.
    pub fn progress(&self, text: &str) {
        let line = self.redact(text);
        match &self.multi {
            Some(multi) => multi.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    /// Renders the end of a run: in human mode the findings and a summary (steps were printed as
    /// they completed), in JSON mode the whole document.
    pub fn render(&self, outcome: &Outcome) {
        if self.options.json {
            let doc = outcome.to_json();
            self.line(&serde_json::to_string_pretty(&doc).unwrap_or_else(|_| doc.to_string()));
            return;
        }
        for text in &outcome.text {
            self.line(text);
        }
        if !outcome.steps.is_empty() || !outcome.findings.is_empty() {
            self.report_line(&self.summary_line(outcome));
        }
    }

    /// Renders an error that ended a command before it produced an outcome.
    pub fn render_error(&self, command: &str, err: &anyhow::Error, exit: Exit) {
        let message = self.redact(&format!("{err:#}"));
        if self.options.json {
            let doc = json!({
                "ok": false,
                "command": command,
                "exit_code": exit.code(),
                "steps": [],
                "findings": [],
                "error": {"message": message, "exit_code": exit.code()},
            });
            self.line(&serde_json::to_string_pretty(&doc).unwrap_or_else(|_| doc.to_string()));
        } else {
            let red = self.style(Style::new().red().bold());
            eprintln!("{} {}", red.apply_to("error:"), message);
        }
    }

    /// Renders a command line clap refused (unknown flag, bad value, missing argument) as the
    /// JSON envelope with an `error` object: its `kind` is clap's error kind in snake_case
    /// (`unknown_argument`, `invalid_value`, …) and `message` clap's first line, without the
    /// `error: ` prefix. Call only under `--json`; the exit code is always 2.
    pub fn render_usage_error(&self, command: &str, err: &clap::Error) {
        let rendered = err.render().to_string();
        let message = rendered
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default()
            .trim_start_matches("error: ")
            .to_owned();
        let usage = rendered
            .lines()
            .find_map(|l| l.strip_prefix("Usage: "))
            .map(str::to_owned);
        let exit = Exit::Usage;
        let doc = json!({
            "ok": false,
            "command": command,
            "exit_code": exit.code(),
            "steps": [],
            "findings": [],
            "error": {
                "message": message,
                "exit_code": exit.code(),
                "kind": snake_case(&format!("{:?}", err.kind())),
                "usage": usage,
            },
        });
        self.line(&serde_json::to_string_pretty(&doc).unwrap_or_else(|_| doc.to_string()));
    }

    fn style(&self, style: Style) -> Style {
        style.force_styling(self.color)
    }

    fn marker(&self, status: Status) -> String {
        let (glyph, style) = match status {
            Status::Pass => ("✓", Style::new().green()),
            Status::Warn => ("!", Style::new().yellow()),
            Status::Fail => ("✗", Style::new().red()),
            Status::Skip => ("·", Style::new().dim()),
        };
        self.style(style).apply_to(glyph).to_string()
    }

    fn print_step(&self, step: &Step) {
        if self.options.json {
            return;
        }
        let duration = format_duration(step.duration_ms);
        let line = if step.summary.is_empty() {
            format!("{} {} ({duration})", self.marker(step.status), step.name)
        } else {
            format!(
                "{} {} ({duration}) — {}",
                self.marker(step.status),
                step.name,
                step.summary
            )
        };
        self.report_line(&line);
    }

    fn print_finding(&self, finding: &Finding) {
        if self.options.json {
            return;
        }
        let status = match finding.severity {
            Severity::Error => Status::Fail,
            Severity::Warning => Status::Warn,
        };
        let bold = self.style(Style::new().bold());
        let mut block = vec![format!(
            "  {} {}",
            self.marker(status),
            bold.apply_to(finding.code.as_str())
        )];
        block.push(format!("    what happened: {}", finding.message));
        if let Some(why) = &finding.why {
            block.push(format!("    why:           {why}"));
        }
        if let Some(expected) = &finding.expected {
            block.push(format!("    expected:      {expected:?}"));
        }
        if let Some(actual) = &finding.actual {
            block.push(format!("    actual:        {actual:?}"));
        }
        if let Some(differs) = &finding.differs {
            block.push(format!("    differs in:    {differs}"));
        }
        block.push(format!("    how to fix:    {}", finding.fix));
        self.report_line(&block.join("\n"));
    }

    fn summary_line(&self, outcome: &Outcome) -> String {
        let count = |s: Status| outcome.steps.iter().filter(|step| step.status == s).count();
        let errors = outcome.findings.iter().filter(|f| f.is_error()).count();
        let warnings = outcome.findings.len() - errors;
        let verdict = if outcome.ok() {
            self.style(Style::new().green().bold()).apply_to("OK")
        } else {
            self.style(Style::new().red().bold()).apply_to("FAILED")
        };
        format!(
            "{verdict}: {} passed, {} warned, {} failed, {} skipped; {errors} error(s), {warnings} warning(s)",
            count(Status::Pass),
            count(Status::Warn),
            count(Status::Fail),
            count(Status::Skip),
        )
    }
}

/// The snake_case id of a step name: letters and digits kept (lower-cased), every other run of
/// characters one underscore (`configuration: issuer` → `configuration_issuer`).
pub fn step_id(name: &str) -> String {
    let mut id = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c.to_ascii_lowercase());
        } else if !id.is_empty() && !id.ends_with('_') {
            id.push('_');
        }
    }
    id.trim_end_matches('_').to_owned()
}

/// A command's run in progress: steps print as they complete (human mode) and accumulate into
/// the [`Outcome`] returned by [`Run::finish`].
pub struct Run<'r> {
    reporter: &'r Reporter,
    outcome: Outcome,
}

impl<'r> Run<'r> {
    /// Starts a step whose id is its name in snake_case; on a terminal a spinner shows its name
    /// until it ends.
    pub fn start(&self, name: &str) -> StepTimer {
        self.start_step(&step_id(name), name)
    }

    /// Starts a step with an explicit stable `id`, for names that hold a value
    /// (`resource demo-mcp` has the id `resource`).
    pub fn start_step(&self, id: &str, name: &str) -> StepTimer {
        let spinner = self.reporter.multi.as_ref().map(|multi| {
            let bar = multi.add(ProgressBar::new_spinner());
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
                bar.set_style(style);
            }
            bar.set_message(name.to_owned());
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        StepTimer {
            id: id.to_owned(),
            name: name.to_owned(),
            started: Instant::now(),
            spinner,
        }
    }

    /// Shows the progress of a pull of `image` (during a step): bars on a terminal, plain lines
    /// on stderr otherwise.
    pub fn pull_progress(&self, image: &str) -> pull::PullProgress<'r> {
        pull::PullProgress::new(self.reporter, image)
    }

    /// Ends a step as passed.
    pub fn pass(&mut self, timer: StepTimer, summary: impl Into<String>, detail: Value) {
        self.end(timer, Status::Pass, &summary.into(), detail);
    }

    /// Ends a step with a warning (does not fail the run by itself).
    pub fn warn(&mut self, timer: StepTimer, summary: impl Into<String>, detail: Value) {
        self.end(timer, Status::Warn, &summary.into(), detail);
    }

    /// Ends a step as failed. Record a finding too, to say why and how to fix it.
    pub fn fail(&mut self, timer: StepTimer, summary: impl Into<String>, detail: Value) {
        self.outcome.failed_step = true;
        self.end(timer, Status::Fail, &summary.into(), detail);
    }

    /// Ends a step as skipped (summary says why).
    pub fn skip(&mut self, timer: StepTimer, summary: impl Into<String>) {
        self.end(timer, Status::Skip, &summary.into(), Value::Null);
    }

    /// Marks the run as refused by the configuration pre-flight (exit 2): nothing was started.
    pub fn refuse(&mut self) {
        self.outcome.refused = true;
    }

    /// Makes any error end the run with 1 (the checked thing is wrong) rather than the class of
    /// its findings: for `status`, whose `as_unreachable` says what the stack looks like, not
    /// that the environment stopped the command.
    pub fn exit_as_check(&mut self) {
        self.outcome.check_only = true;
    }

    /// Records a finding, printed at once in human mode.
    pub fn finding(&mut self, finding: Finding) {
        let finding = self.redact_finding(finding);
        self.reporter.print_finding(&finding);
        self.outcome.findings.push(finding);
    }

    /// Adds a top-level JSON member.
    pub fn data(&mut self, key: &str, value: Value) {
        let value = self.redact_value(value);
        self.outcome.data.insert(key.to_owned(), value);
    }

    /// Adds a line of human result text (printed on stdout by [`Reporter::render`]).
    pub fn text(&mut self, line: impl Into<String>) {
        self.outcome.text.push(line.into());
    }

    /// True if no error was recorded so far.
    pub fn ok(&self) -> bool {
        self.outcome.ok()
    }

    /// True when a step named `name` was recorded (passed, failed or skipped).
    pub fn has_step(&self, name: &str) -> bool {
        self.outcome.steps.iter().any(|s| s.name == name)
    }

    /// The findings recorded so far.
    pub fn findings(&self) -> &[Finding] {
        &self.outcome.findings
    }

    /// Ends the run.
    pub fn finish(self) -> Outcome {
        self.outcome
    }

    fn end(&mut self, timer: StepTimer, status: Status, summary: &str, detail: Value) {
        if let Some(spinner) = &timer.spinner {
            spinner.finish_and_clear();
            if let Some(multi) = &self.reporter.multi {
                multi.remove(spinner);
            }
        }
        let step = Step {
            id: timer.id,
            name: timer.name,
            ok: status != Status::Fail,
            status,
            duration_ms: u64::try_from(timer.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            summary: self.reporter.redact(summary),
            detail: self.redact_value(detail),
        };
        self.reporter.print_step(&step);
        self.outcome.steps.push(step);
    }

    fn redact_value(&self, value: Value) -> Value {
        if self.reporter.show_secrets() {
            return value;
        }
        let text = value.to_string();
        let redacted = self.reporter.redact(&text);
        if redacted == text {
            value
        } else {
            serde_json::from_str(&redacted).unwrap_or(Value::String(redacted))
        }
    }

    fn redact_finding(&self, mut finding: Finding) -> Finding {
        let r = |s: &str| self.reporter.redact(s);
        finding.message = r(&finding.message);
        finding.fix = r(&finding.fix);
        finding.why = finding.why.as_deref().map(r);
        finding.expected = finding.expected.as_deref().map(r);
        finding.actual = finding.actual.as_deref().map(r);
        finding
    }
}

/// `UnknownArgument` → `unknown_argument`.
fn snake_case(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn format_duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        #[expect(
            clippy::cast_precision_loss,
            reason = "durations are far below 2^52 ms"
        )]
        let secs = ms as f64 / 1000.0;
        format!("{secs:.1} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::Code;

    fn reporter(show_secrets: bool) -> Reporter {
        Reporter::new(OutputOptions {
            json: true,
            color: ColorChoice::Never,
            show_secrets,
        })
    }

    #[test]
    fn secrets_are_redacted_everywhere_unless_asked() {
        let r = reporter(false);
        r.secret("s3cr3t-value-123");
        r.secret("short");
        assert_eq!(r.redact("key=s3cr3t-value-123!"), "key=[redacted]!");
        assert_eq!(r.redact("short stays"), "short stays");
        let mut run = r.run("x");
        run.finding(
            Finding::error(
                Code::AdminKeyRejected,
                "key s3cr3t-value-123 rejected",
                "fix",
            )
            .compare("s3cr3t-value-123", "other"),
        );
        run.data("token", json!({"t": "s3cr3t-value-123"}));
        let doc = run.finish().to_json().to_string();
        assert!(!doc.contains("s3cr3t-value-123"), "{doc}");
        let shown = reporter(true);
        shown.secret("s3cr3t-value-123");
        assert_eq!(shown.redact("s3cr3t-value-123"), "s3cr3t-value-123");
    }

    #[test]
    fn exit_code_is_the_most_serious_error_class_and_ignores_warnings() {
        let mut outcome = Outcome::new("verify");
        assert_eq!(outcome.exit(), Exit::Success);
        outcome
            .findings
            .push(Finding::warning(Code::ScopeNotEnforced, "m", "f"));
        assert_eq!(outcome.exit(), Exit::Success);
        assert!(outcome.ok());
        outcome
            .findings
            .push(Finding::error(Code::AudienceMismatch, "m", "f"));
        assert_eq!(outcome.exit(), Exit::CheckFailed);
        outcome
            .findings
            .push(Finding::error(Code::AsUnreachable, "m", "f"));
        assert_eq!(outcome.exit(), Exit::Environment);
        let json = outcome.to_json();
        assert_eq!(json["ok"], false);
        assert_eq!(json["findings"][0]["code"], "scope_not_enforced");
        assert_eq!(json["findings"][0]["severity"], "warning");
    }
}
