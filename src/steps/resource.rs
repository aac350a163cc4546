//! Steps "resource URI" and "resource `<slug>`": the configured resource URI checked against
//! the server's audience, then the Mint resource ensured on the AS (created when missing, drift
//! reported or, with `--fix`, patched). Never touches a client or a token.

use serde_json::{Value, json};

use crate::config::var;
use crate::diagnose::claims::{self, AudienceSource};
use crate::diagnose::{Code, Finding, url};
use crate::flow::admin::{NewResource, Resource};
use crate::report::Run;

use super::{Flow, PROBE_SCOPE};

impl Flow<'_> {
    /// Step "resource URI": the configured resource URI must be the audience the server checks.
    /// False when it is not — then nothing should be registered or patched with it.
    pub fn check_resource_uri(&self, run: &mut Run<'_>) -> bool {
        let settings = self.settings();
        let exp = &self.expectations;
        let t = run.start("resource URI");
        let source = match exp.audience_source {
            AudienceSource::Echo => format!("{} + {}", var::BASE_URL, var::MCP_PATH),
            AudienceSource::McpUrl => "the MCP URL dialled".to_owned(),
        };
        match claims::check_resource_uri(&settings.resource_uri, exp) {
            None => {
                run.pass(
                    t,
                    format!(
                        "{} is the server's audience ({source})",
                        settings.resource_uri
                    ),
                    json!({"resource_uri": settings.resource_uri, "audience": exp.audience}),
                );
                true
            }
            Some(f) => {
                run.fail(
                    t,
                    format!(
                        "{} is not the server's audience {} ({source})",
                        settings.resource_uri, exp.audience
                    ),
                    json!({"resource_uri": settings.resource_uri, "audience": exp.audience}),
                );
                run.finding(f);
                false
            }
        }
    }

    /// Step "resource `<slug>`": the Mint resource by slug, created when missing (declaring the
    /// configured scope and [`PROBE_SCOPE`]); drift is a finding, patched with `fix`. None when
    /// the resource cannot be used as it is.
    pub async fn ensure_resource(&mut self, run: &mut Run<'_>, fix: bool) -> Option<Resource> {
        let settings = self.settings().clone();
        let step = format!("resource {}", settings.resource_slug);
        // The slug is part of the name, not of the id scripts look for.
        let admin = self.admin(run, "resource", &step)?;
        let t = run.start_step("resource", &step);
        let mut wanted_scopes: Vec<(String, String)> = self
            .scope
            .split_whitespace()
            .map(|s| (s.to_owned(), "required by the MCP server".to_owned()))
            .collect();
        wanted_scopes.push((
            PROBE_SCOPE.to_owned(),
            "authplane-dev negative probe (grants nothing)".to_owned(),
        ));
        let existing = match admin.resource_by_slug(&settings.resource_slug).await {
            Ok(existing) => existing,
            Err(err) => {
                self.admin_failure(run, t, &err);
                return None;
            }
        };
        let Some(resource) = existing else {
            let new = NewResource {
                slug: settings.resource_slug.clone(),
                uri: settings.resource_uri.clone(),
                display_name: format!("{} (authplane-dev)", settings.resource_slug),
                scopes: wanted_scopes,
            };
            return match admin.create_resource(&new).await {
                Ok(created) => {
                    run.pass(
                        t,
                        format!("registered {} → {}", created.slug, created.uri),
                        resource_detail(&created, "created"),
                    );
                    self.ledger.resource_declares = Some(created.scope_names());
                    Some(created)
                }
                Err(err) => {
                    self.admin_failure(run, t, &err);
                    None
                }
            };
        };

        let declared = resource.scope_names();
        let uri_drift = url::difference(&settings.resource_uri, &resource.uri);
        let missing_scopes: Vec<&str> = self
            .scope
            .split_whitespace()
            .filter(|s| !declared.iter().any(|d| d == s))
            .collect();
        let scope_missing = !missing_scopes.is_empty();
        let probe_missing = !declared.iter().any(|s| s == PROBE_SCOPE);
        if uri_drift.is_none() && !scope_missing && !(probe_missing && fix) {
            let mut summary = format!("{} → {} (already registered)", resource.slug, resource.uri);
            if probe_missing {
                summary.push_str("; no ");
                summary.push_str(PROBE_SCOPE);
                summary.push_str(" scope, the missing-scope probe will be skipped");
            }
            run.pass(t, summary, resource_detail(&resource, "reused"));
            self.ledger.resource_declares = Some(declared);
            return Some(resource);
        }

        // Drift (or a missing probe scope under --fix): keep the declared scopes, add ours.
        let mut scopes: Vec<(String, String)> = resource
            .scopes
            .iter()
            .map(|s| (s.name.clone(), s.description.clone()))
            .collect();
        for (name, description) in &wanted_scopes {
            if !declared.contains(name) {
                scopes.push((name.clone(), description.clone()));
            }
        }
        if fix {
            return match admin
                .patch_resource(&resource.id, &settings.resource_uri, &scopes)
                .await
            {
                Ok(patched) => {
                    run.pass(
                        t,
                        format!("patched {} → {} (--fix)", patched.slug, patched.uri),
                        json!({"before": resource_detail(&resource, "drifted"), "after": resource_detail(&patched, "patched")}),
                    );
                    self.ledger.resource_declares = Some(patched.scope_names());
                    Some(patched)
                }
                Err(err) => {
                    self.admin_failure(run, t, &err);
                    None
                }
            };
        }
        run.fail(
            t,
            format!(
                "{} is registered with other values (use --fix to patch it)",
                resource.slug
            ),
            resource_detail(&resource, "drifted"),
        );
        let fix_text = format!(
            "run `authplane-dev verify --fix` to patch resource {} (or set {} to the registered URI if that one is right)",
            resource.slug,
            var::DEV_RESOURCE_URI
        );
        if let Some(differs) = uri_drift {
            run.finding(
                Finding::error(
                    Code::ResourceDrift,
                    format!(
                        "resource {} is registered with URI {}, but the configured resource URI is {}",
                        resource.slug, resource.uri, settings.resource_uri
                    ),
                    fix_text.clone(),
                )
                .why("the AS matches resource= against registered URIs byte for byte (invalid_target otherwise) and stamps that URI into aud")
                .compare(settings.resource_uri.clone(), resource.uri.clone())
                .differs(differs),
            );
        }
        if scope_missing {
            run.finding(
                Finding::error(
                    Code::ResourceDrift,
                    format!(
                        "resource {} does not declare scope {}",
                        resource.slug,
                        missing_scopes.join(" ")
                    ),
                    fix_text,
                )
                .why("since authserver 0.2.2 a token for a resource carries only scopes it declares (invalid_scope otherwise)")
                .compare(
                    wanted_scopes.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(" "),
                    declared.join(" "),
                ),
            );
        }
        None
    }
}

fn resource_detail(resource: &Resource, state: &str) -> Value {
    json!({
        "state": state,
        "id": resource.id,
        "slug": resource.slug,
        "uri": resource.uri,
        "scopes": resource.scope_names(),
    })
}
