//! The echo server's own introspection client, registered when `AUTHPLANE_DEV_ECHO_REVOCATION` is
//! on, between starting the authorization server and starting the echo server: a confidential
//! client (no scopes: it never mints) made a runtime client of the resource, so authserver answers
//! its introspection calls about tokens minted for the resource (0.1.2+ answers nobody else). The
//! credentials go to `<run-dir>/echo-introspection.json` (0600), which `serve echo` reads; a stored
//! client the AS still knows is reused.

use serde_json::json;

use crate::config::{Settings, var};
use crate::diagnose::failure::{admin_key_rejected, as_server_error, as_unreachable};
use crate::echo::revocation::{self, StoredIntrospectionClient};
use crate::flow::admin::{AdminClient, NewResource};
use crate::flow::{FlowError, http_client};
use crate::report::{Run, StepTimer};
use crate::steps::PROBE_SCOPE;

/// The step's name.
pub const STEP: &str = "echo introspection client";

/// What [`prepare`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prepared {
    /// The stored client is still registered and linked.
    Reused,
    /// A new client was registered (an echo server started before uses the old one).
    Registered,
    /// It failed; the step and a finding say why.
    Failed,
}

/// Makes sure the echo server has a registered, linked introspection client.
pub async fn prepare(settings: &Settings, run: &mut Run<'_>) -> anyhow::Result<Prepared> {
    let t = run.start(STEP);
    let Some(key) = settings.admin_api_key.as_deref() else {
        run.fail(
            t,
            format!("not registered: {} is not set", var::ADMIN_API_KEY),
            json!({}),
        );
        return Ok(Prepared::Failed);
    };
    let http = http_client().map_err(|e| anyhow::anyhow!("{e}"))?;
    let admin = AdminClient::new(http, &settings.admin_url, key);
    match register(settings, &admin).await {
        Ok((stored, prepared)) => {
            let verb = if prepared == Prepared::Reused {
                "reused"
            } else {
                "registered"
            };
            run.pass(
                t,
                format!(
                    "{verb} {} as a runtime client of {}",
                    stored.client_id, settings.resource_slug
                ),
                json!({"client_id": stored.client_id, "resource": settings.resource_slug,
                       "file": revocation::path(&settings.run_dir)}),
            );
            Ok(prepared)
        }
        Err(Failure::Flow(err)) => {
            fail(settings, run, t, &err);
            Ok(Prepared::Failed)
        }
        Err(Failure::File(e)) => Err(e),
    }
}

enum Failure {
    Flow(FlowError),
    File(anyhow::Error),
}

impl From<FlowError> for Failure {
    fn from(e: FlowError) -> Failure {
        Failure::Flow(e)
    }
}

async fn register(
    settings: &Settings,
    admin: &AdminClient,
) -> Result<(StoredIntrospectionClient, Prepared), Failure> {
    // The resource the tokens are minted for; registered as `verify` would, when missing.
    let resource = match admin.resource_by_slug(&settings.resource_slug).await? {
        Some(r) => r,
        None => {
            admin
                .create_resource(&NewResource {
                    slug: settings.resource_slug.clone(),
                    uri: settings.resource_uri.clone(),
                    display_name: format!("{} (authplane-dev)", settings.resource_slug),
                    scopes: vec![
                        (
                            settings.scope.clone(),
                            "required by the MCP server".to_owned(),
                        ),
                        (
                            PROBE_SCOPE.to_owned(),
                            "authplane-dev negative probe (grants nothing)".to_owned(),
                        ),
                    ],
                })
                .await?
        }
    };
    // A stored file that cannot be read is replaced by a fresh registration.
    let stored = revocation::load(&settings.run_dir)
        .ok()
        .flatten()
        .filter(|s| s.admin_url == settings.admin_url);
    let reusable = match &stored {
        Some(s) => admin
            .client(&s.client_id)
            .await?
            .is_some_and(|view| view.status == "active"),
        None => false,
    };
    let (stored, prepared) = if let (Some(s), true) = (stored, reusable) {
        (s, Prepared::Reused)
    } else {
        {
            let created = admin
                .create_client("authplane-dev echo server (introspection)", "")
                .await?;
            let stored = StoredIntrospectionClient {
                client_id: created.client_id,
                client_secret: created.client_secret,
                admin_url: settings.admin_url.clone(),
            };
            revocation::save(&settings.run_dir, &stored).map_err(Failure::File)?;
            (stored, Prepared::Registered)
        }
    };
    admin
        .add_runtime_client(&resource.id, &stored.client_id)
        .await?;
    Ok((stored, prepared))
}

fn fail(settings: &Settings, run: &mut Run<'_>, t: StepTimer, err: &FlowError) {
    run.fail(t, err.to_string(), err.detail());
    match err {
        FlowError::AdminKeyRejected {
            status,
            description,
            ..
        } => run.finding(admin_key_rejected(settings, *status, description)),
        FlowError::Unreachable { .. } => {
            run.finding(as_unreachable(err, &settings.admin_url, var::DEV_ADMIN_URL));
        }
        _ => {
            if let Some(f) = as_server_error(err) {
                run.finding(f);
            }
        }
    }
}
