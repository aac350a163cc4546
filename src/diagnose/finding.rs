//! The finding type and the stable finding codes (DESIGN §4, docs/findings.md).

use serde::Serialize;

use crate::exit::Exit;

/// How bad a finding is. Only errors make a run fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Error,
}

/// Stable snake_case identifiers; scripts branch on these, never on message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    DockerUnreachable,
    ImageUnavailable,
    PortInUse,
    AsUnreachable,
    VolumeUnwritable,
    JwksInvalid,
    AsServerError,
    AdminKeyRejected,
    IssuerMismatch,
    AudienceMismatch,
    ScopeMismatch,
    ResourceDrift,
    ClientGrantMissing,
    TokenRejected,
    McpUnreachable,
    McpHandshakeFailed,
    ScopeNotEnforced,
    DpopNotBound,
    DpopNotEnforced,
    RevocationIgnored,
    RedirectUriRejected,
    PkceMissing,
    PkceNotEnforced,
    ResourceMissing,
    LoginFailed,
    ConsentDenied,
    AuthorizationResponseMismatch,
    RefreshRotationBroken,
    AuthorizationFailed,
    ClockSkew,
    WeakSecret,
    FilePermissions,
    UnknownVariable,
    StaleComponent,
    ConfigInvalid,
}

impl Code {
    /// Every code, in documentation order (the docs/findings.md table is checked against this list).
    pub const ALL: &'static [Code] = &[
        Code::DockerUnreachable,
        Code::ImageUnavailable,
        Code::PortInUse,
        Code::AsUnreachable,
        Code::VolumeUnwritable,
        Code::JwksInvalid,
        Code::AsServerError,
        Code::AdminKeyRejected,
        Code::IssuerMismatch,
        Code::AudienceMismatch,
        Code::ScopeMismatch,
        Code::ResourceDrift,
        Code::ClientGrantMissing,
        Code::TokenRejected,
        Code::McpUnreachable,
        Code::McpHandshakeFailed,
        Code::ScopeNotEnforced,
        Code::DpopNotBound,
        Code::DpopNotEnforced,
        Code::RevocationIgnored,
        Code::RedirectUriRejected,
        Code::PkceMissing,
        Code::PkceNotEnforced,
        Code::ResourceMissing,
        Code::LoginFailed,
        Code::ConsentDenied,
        Code::AuthorizationResponseMismatch,
        Code::RefreshRotationBroken,
        Code::AuthorizationFailed,
        Code::ClockSkew,
        Code::WeakSecret,
        Code::FilePermissions,
        Code::UnknownVariable,
        Code::StaleComponent,
        Code::ConfigInvalid,
    ];

    /// The snake_case spelling used in JSON and docs/findings.md.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::DockerUnreachable => "docker_unreachable",
            Code::ImageUnavailable => "image_unavailable",
            Code::PortInUse => "port_in_use",
            Code::AsUnreachable => "as_unreachable",
            Code::VolumeUnwritable => "volume_unwritable",
            Code::JwksInvalid => "jwks_invalid",
            Code::AsServerError => "as_server_error",
            Code::AdminKeyRejected => "admin_key_rejected",
            Code::IssuerMismatch => "issuer_mismatch",
            Code::AudienceMismatch => "audience_mismatch",
            Code::ScopeMismatch => "scope_mismatch",
            Code::ResourceDrift => "resource_drift",
            Code::ClientGrantMissing => "client_grant_missing",
            Code::TokenRejected => "token_rejected",
            Code::McpUnreachable => "mcp_unreachable",
            Code::McpHandshakeFailed => "mcp_handshake_failed",
            Code::ScopeNotEnforced => "scope_not_enforced",
            Code::DpopNotBound => "dpop_not_bound",
            Code::DpopNotEnforced => "dpop_not_enforced",
            Code::RevocationIgnored => "revocation_ignored",
            Code::RedirectUriRejected => "redirect_uri_rejected",
            Code::PkceMissing => "pkce_missing",
            Code::PkceNotEnforced => "pkce_not_enforced",
            Code::ResourceMissing => "resource_missing",
            Code::LoginFailed => "login_failed",
            Code::ConsentDenied => "consent_denied",
            Code::AuthorizationResponseMismatch => "authorization_response_mismatch",
            Code::RefreshRotationBroken => "refresh_rotation_broken",
            Code::AuthorizationFailed => "authorization_failed",
            Code::ClockSkew => "clock_skew",
            Code::WeakSecret => "weak_secret",
            Code::FilePermissions => "file_permissions",
            Code::UnknownVariable => "unknown_variable",
            Code::StaleComponent => "stale_component",
            Code::ConfigInvalid => "config_invalid",
        }
    }

    /// The exit code an error finding with this code leads to: problems of the surroundings
    /// (Docker, ports, services that do not answer) are 3, configuration that cannot work is 2,
    /// everything else is a failed check (1).
    pub fn exit(self) -> Exit {
        match self {
            Code::DockerUnreachable
            | Code::ImageUnavailable
            | Code::PortInUse
            | Code::AsUnreachable
            | Code::VolumeUnwritable
            | Code::AsServerError
            | Code::McpUnreachable => Exit::Environment,
            Code::ConfigInvalid => Exit::Usage,
            _ => Exit::CheckFailed,
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found: what happened, why, the exact values compared, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: Code,
    pub severity: Severity,
    /// What happened, in one sentence.
    pub message: String,
    /// Why it matters or what rule it breaks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// The value the rule wants (quoted verbatim when rendered, so trailing bytes are visible).
    pub expected: Option<String>,
    /// The value observed.
    pub actual: Option<String>,
    /// The part that differs, named precisely (e.g. "trailing slash", "host: localhost vs 127.0.0.1").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub differs: Option<String>,
    /// How to fix it: the variable to change or the exact command.
    pub fix: String,
}

impl Finding {
    /// An error finding; add detail with the builder methods.
    pub fn error(code: Code, message: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            code,
            severity: Severity::Error,
            message: message.into(),
            why: None,
            expected: None,
            actual: None,
            differs: None,
            fix: fix.into(),
        }
    }

    /// A warning finding: reported, but does not fail the run.
    pub fn warning(code: Code, message: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Warning,
            ..Finding::error(code, message, fix)
        }
    }

    /// Sets the reason.
    #[must_use]
    pub fn why(mut self, why: impl Into<String>) -> Finding {
        self.why = Some(why.into());
        self
    }

    /// Sets the expected and actual values.
    #[must_use]
    pub fn compare(mut self, expected: impl Into<String>, actual: impl Into<String>) -> Finding {
        self.expected = Some(expected.into());
        self.actual = Some(actual.into());
        self
    }

    /// Names the part that differs.
    #[must_use]
    pub fn differs(mut self, differs: impl Into<String>) -> Finding {
        self.differs = Some(differs.into());
        self
    }

    /// True for error findings.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}
