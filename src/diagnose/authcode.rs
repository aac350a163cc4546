//! Findings of the interactive flow (`verify --flow auth-code`): what an AS answered an MCP
//! client at registration, authorization, login, consent, code exchange and refresh, named with
//! its fix. Pure: the steps (`steps::authcode*`) pass what they saw.

use super::{Code, Finding};

/// What the client left out on purpose (`verify --flow auth-code --omit …`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Omitted {
    pub pkce: bool,
    pub resource: bool,
}

/// The AS refused the redirect URI: at registration (`invalid_redirect_uri`) or on the
/// authorization request (an error page; never a redirect to a URI it does not trust).
pub fn redirect_uri_rejected(redirect_uri: &str, where_: &str, answer: &str) -> Finding {
    Finding::error(
        Code::RedirectUriRejected,
        format!("the AS refused the redirect URI {redirect_uri} {where_}: {answer}"),
        "register a redirect URI the AS accepts: a loopback one for a native or CLI client (http://127.0.0.1:<any port>/… or http://localhost…, port-agnostic per RFC 8252), or an https one; and send exactly a registered URI on the authorization request",
    )
    .why("the AS sends the authorization code only to a redirect URI registered for the client")
    .compare(
        "a registered https or loopback redirect URI",
        redirect_uri.to_owned(),
    )
}

/// The authorization was refused because no PKCE challenge was sent.
pub fn pkce_missing(answer: &str) -> Finding {
    Finding::error(
        Code::PkceMissing,
        format!("the AS refused an authorization request without PKCE: {answer}"),
        "send code_challenge=<BASE64URL(SHA-256(verifier))> with code_challenge_method=S256 on the authorization request and the code_verifier on the code exchange (RFC 7636); the MCP authorization spec requires PKCE S256",
    )
    .why("OAuth 2.1 and the MCP authorization spec make PKCE mandatory for every client")
    .compare("code_challenge + code_challenge_method=S256", "(none sent)")
}

/// The AS went on with an authorization request that carried no PKCE challenge.
pub fn pkce_not_enforced(how: &str) -> Finding {
    Finding::error(
        Code::PkceNotEnforced,
        format!("the AS accepted an authorization request without a PKCE challenge: {how}"),
        "make the AS require PKCE S256 on every authorization request (authserver 0.2.x does; check the version and that nothing in front of it rewrites /oauth/authorize)",
    )
    .why("without PKCE a stolen authorization code can be redeemed by anyone (RFC 9700 §2.1.1)")
    .compare(
        "an error (invalid_request) on the redirect URI or an error page",
        how.to_owned(),
    )
}

/// The authorization was refused with `invalid_target` because no `resource` was sent.
pub fn resource_missing(resource: &str, answer: &str) -> Finding {
    Finding::error(
        Code::ResourceMissing,
        format!("the AS refused an authorization request without `resource`: {answer}"),
        format!(
            "send resource={resource} (the MCP server's URL, byte for byte as registered) on the authorization request and on both token requests (RFC 8707); the MCP authorization spec requires it"
        ),
    )
    .why("authserver 0.2.x issues user tokens only for a named, registered resource: the token's audience")
    .compare(format!("resource={resource}"), "(none sent)")
}

/// The login form refused the dev user's credentials (or they are not set).
pub fn login_failed(email: &str, answer: &str) -> Finding {
    Finding::error(
        Code::LoginFailed,
        format!("the AS's login page refused {email}: {answer}"),
        "set AUTHPLANE_DEV_USER_EMAIL and AUTHPLANE_DEV_USER_PASSWORD (in .env or the environment) to the dev user `authplane-dev up` created (it writes both to .env; `authplane-dev up --show-secrets` prints them), or log in yourself with `verify --flow auth-code --browser`",
    )
    .why("the authorization code is issued to a logged-in user who approved the client")
    .compare("a session cookie and a redirect back to /oauth/authorize", answer.to_owned())
}

/// The user (this run, as asked by `--consent deny`) denied consent.
pub fn consent_denied(answer: &str) -> Finding {
    Finding::error(
        Code::ConsentDenied,
        format!("consent was denied: {answer}"),
        "approve the client on the consent page (without --consent deny); a client that gets error=access_denied must show it to the user and stop, not retry in a loop",
    )
    .why("no code is issued without the user's consent")
    .compare("code=… on the redirect URI", answer.to_owned())
}

/// The authorization response does not carry the `state` sent, or its `iss` is not the issuer.
pub fn response_mismatch(parameter: &str, expected: &str, actual: Option<&str>) -> Finding {
    let (what, fix) = if parameter == "state" {
        (
            "the state on the redirect is not the one this client sent",
            "an AS must return state unchanged (RFC 6749 §4.1.2); a mismatch means the response belongs to another request (or a CSRF attempt): reject it, as clients do",
        )
    } else {
        (
            "the iss on the redirect is not the issuer this client discovered",
            "the AS must send iss = its issuer on every authorization response when it advertises authorization_response_iss_parameter_supported (RFC 9207); a mismatch is a mix-up attack signal: set AUTHPLANE_SERVER_ISSUER to the issuer the metadata announces and restart the AS",
        )
    };
    Finding::error(Code::AuthorizationResponseMismatch, what, fix)
        .compare(expected.to_owned(), actual.unwrap_or("(none)").to_owned())
        .differs(parameter.to_owned())
}

/// The refresh grant did not rotate, or the used refresh token still works.
pub fn refresh_rotation_broken(what: &str, expected: &str, actual: &str) -> Finding {
    Finding::error(
        Code::RefreshRotationBroken,
        format!("refresh token rotation is broken: {what}"),
        "the AS must answer each refresh with a new refresh token and refuse the used one with invalid_grant (OAuth 2.1 §4.3.1 for public clients; authserver 0.2.x revokes the whole token family on replay); for a client: store the new refresh token after every refresh",
    )
    .why("a public client's refresh token is a bearer credential: rotation is what limits a stolen one")
    .compare(expected.to_owned(), actual.to_owned())
}

/// Any other refusal on the way (registration disabled, unknown client, an OAuth error code the
/// flow has no better name for), with the AS's words.
pub fn authorization_failed(step: &str, answer: &str, fix: &str) -> Finding {
    Finding::error(
        Code::AuthorizationFailed,
        format!("{step}: {answer}"),
        fix.to_owned(),
    )
    .why("an MCP client stops at this point, so users never reach the tools")
}

/// The finding for an error the AS sent to the redirect URI (`error`, `error_description`),
/// knowing what this run left out on purpose.
pub fn authorization_error(
    error: &str,
    description: &str,
    omitted: Omitted,
    resource: &str,
) -> Finding {
    let answer = if description.is_empty() {
        format!("error={error}")
    } else {
        format!("error={error} ({description})")
    };
    let about_pkce = {
        let d = description.to_ascii_lowercase();
        d.contains("code_challenge") || d.contains("pkce")
    };
    match error {
        "access_denied" => consent_denied(&answer),
        "invalid_target" if omitted.resource => resource_missing(resource, &answer),
        "invalid_target" => authorization_failed(
            "the AS refused the resource on the authorization request",
            &answer,
            &format!(
                "register {resource} as a resource (byte for byte) — `authplane-dev verify` registers it; `verify --fix` repairs a drifted one"
            ),
        ),
        // authserver answers a missing challenge with invalid_grant "PKCE verification failed".
        _ if about_pkce || (omitted.pkce && error == "invalid_request") => pkce_missing(&answer),
        _ => authorization_failed(
            "the AS refused the authorization request",
            &answer,
            "read the error_description; `authplane-dev logs authserver` shows the AS's side",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_on_the_redirect_get_the_name_of_their_cause() {
        let none = Omitted::default();
        let r = "http://localhost:8080/mcp";
        assert_eq!(
            authorization_error("access_denied", "", none, r).code,
            Code::ConsentDenied
        );
        let omitted = Omitted {
            pkce: true,
            resource: true,
        };
        assert_eq!(
            authorization_error("invalid_target", "x", omitted, r).code,
            Code::ResourceMissing
        );
        assert_eq!(
            authorization_error("invalid_target", "x", none, r).code,
            Code::AuthorizationFailed
        );
        assert_eq!(
            authorization_error("invalid_request", "code_challenge is required", none, r).code,
            Code::PkceMissing
        );
        assert_eq!(
            authorization_error("invalid_grant", "PKCE verification failed: x", none, r).code,
            Code::PkceMissing
        );
        assert_eq!(
            authorization_error("invalid_scope", "", none, r).code,
            Code::AuthorizationFailed
        );
        let f = response_mismatch("iss", "http://localhost:9000", None);
        assert_eq!(f.actual.as_deref(), Some("(none)"));
    }
}
