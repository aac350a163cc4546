//! Step "client": the client_credentials client the flow mints with, reused from
//! `<run_dir>/client.json` while the AS still vouches for it, replaced otherwise. Never patches a
//! client and never creates a resource.

use std::collections::BTreeSet;

use serde_json::json;

use crate::flow::credentials::{self, StoredClient};
use crate::report::Run;

use super::{CLIENT_NAME, Flow, PROBE_SCOPE};

impl Flow<'_> {
    /// Step "client": a client_credentials client whose ceiling holds the configured scope, the
    /// probe scope and `extra`. A stored client is reused while the AS still has it active with
    /// that grant and ceiling; otherwise a new one is created (never patched: a client we cannot
    /// vouch for is replaced, so runs do not pile up clients nor mutate foreign ones). None after
    /// a failed step.
    pub async fn ensure_client(
        &mut self,
        run: &mut Run<'_>,
        extra: &[String],
    ) -> Option<StoredClient> {
        let admin = self.admin(run, "client", "client")?;
        let t = run.start("client");
        let settings = self.settings().clone();
        let mut ceiling: Vec<String> = Vec::new();
        for scope in self
            .scope
            .split_whitespace()
            .map(str::to_owned)
            .chain([PROBE_SCOPE.to_owned()])
            .chain(
                extra
                    .iter()
                    .flat_map(|s| s.split_whitespace().map(str::to_owned)),
            )
        {
            if !ceiling.contains(&scope) {
                ceiling.push(scope);
            }
        }

        let mut replaced = None;
        // Scopes of a replaced client that still fit: kept in the new ceiling, so alternating
        // between servers with different scopes converges on one client.
        let mut kept: Vec<String> = Vec::new();
        if let Some(stored) = credentials::load(&settings.run_dir) {
            self.reporter.secret(&stored.client_secret);
            if stored.belongs_to(&settings.admin_url, &self.issuer) {
                match admin.client(&stored.client_id).await {
                    Ok(Some(view)) => {
                        let have: BTreeSet<&String> = view.grant_types.iter().collect();
                        let view_ceiling = view.ceiling();
                        let reason = if view.status != "active" {
                            Some(format!("it is {}", view.status))
                        } else if !have.contains(&"client_credentials".to_owned()) {
                            Some("it lacks the client_credentials grant".to_owned())
                        } else {
                            ceiling
                                .iter()
                                .find(|s| !view_ceiling.contains(s))
                                .map(|missing| format!("its scope ceiling lacks {missing}"))
                        };
                        match reason {
                            None => {
                                self.ledger.client_ceiling = Some(view_ceiling);
                                run.pass(
                                    t,
                                    format!("reusing {} (from {})", view.id, credentials::path(&settings.run_dir).display()),
                                    json!({"client_id": view.id, "reused": true, "scope": view.scope, "grant_types": view.grant_types}),
                                );
                                run.data("client_id", json!(view.id));
                                return Some(stored);
                            }
                            Some(reason) => {
                                if view.status == "active" {
                                    kept = view_ceiling;
                                }
                                replaced = Some(format!(
                                    "stored client {} replaced: {reason}",
                                    stored.client_id
                                ));
                            }
                        }
                    }
                    Ok(None) => {
                        replaced = Some(format!(
                            "stored client {} is gone from the AS",
                            stored.client_id
                        ));
                    }
                    Err(err) => {
                        self.admin_failure(run, t, &err);
                        return None;
                    }
                }
            } else {
                replaced = Some("stored client belongs to another AS".to_owned());
            }
        }

        for scope in kept {
            if !ceiling.contains(&scope) {
                ceiling.push(scope);
            }
        }
        let scope = ceiling.join(" ");
        match admin.create_client(CLIENT_NAME, &scope).await {
            Ok(created) => {
                self.reporter.secret(&created.client_secret);
                let stored = StoredClient {
                    client_id: created.client_id.clone(),
                    client_secret: created.client_secret.clone(),
                    admin_url: settings.admin_url.clone(),
                    issuer: self.issuer.clone(),
                };
                let saved = credentials::save(&settings.run_dir, &stored);
                self.ledger.client_ceiling = Some(ceiling);
                let mut summary = format!("created {} with scope {scope:?}", created.client_id);
                if let Some(why) = &replaced {
                    summary.push_str(" (");
                    summary.push_str(why);
                    summary.push(')');
                }
                let detail = json!({
                    "client_id": created.client_id,
                    "reused": false,
                    "scope": scope,
                    "replaced": replaced,
                    "saved_to": credentials::path(&settings.run_dir).display().to_string(),
                });
                run.data("client_id", json!(created.client_id));
                match saved {
                    Ok(()) => run.pass(t, summary, detail),
                    Err(e) => run.warn(
                        t,
                        format!(
                            "{summary}; could not save it ({e:#}), the next run creates another"
                        ),
                        detail,
                    ),
                }
                Some(stored)
            }
            Err(err) => {
                self.admin_failure(run, t, &err);
                None
            }
        }
    }
}
