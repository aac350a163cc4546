//! The AS admin API (authserver 0.2.2 §3): resources by slug, machine clients.
//!
//! Every call carries `Authorization: Bearer <admin key>`. A 401 is
//! [`FlowError::AdminKeyRejected`] with the AS's own `error_description` (`missing API key`,
//! `invalid API key`, `admin API key not configured`); other errors keep the problem+json
//! `detail` verbatim ([`FlowError::Status`]).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::flow::{Exchange, FlowError, Response, error_message, parse_json, send};

/// A registered resource (ResourceView).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Resource {
    pub id: String,
    pub slug: String,
    #[serde(default)]
    pub uri: String,
    #[serde(default)]
    pub backend_kind: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub scopes: Vec<ResourceScope>,
}

impl Resource {
    /// The declared scope names.
    pub fn scope_names(&self) -> Vec<String> {
        self.scopes.iter().map(|s| s.name.clone()).collect()
    }
}

/// One scope a resource declares.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ResourceScope {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// What `POST /admin/resources` needs.
#[derive(Debug, Clone)]
pub struct NewResource {
    pub slug: String,
    pub uri: String,
    pub display_name: String,
    /// `(name, description)` pairs.
    pub scopes: Vec<(String, String)>,
}

/// A client as the admin API shows it (clientView: `id`, `name`, …).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ClientView {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub status: String,
}

impl ClientView {
    /// The scope ceiling, split on whitespace.
    pub fn ceiling(&self) -> Vec<String> {
        self.scope.split_whitespace().map(str::to_owned).collect()
    }
}

/// What `POST /admin/clients` returned: the id and the one-time secret.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CreatedClient {
    pub client_id: String,
    pub client_secret: String,
    #[serde(default)]
    pub scope: String,
}

/// A client of the admin API at `admin_url` with the admin key.
#[derive(Debug, Clone)]
pub struct AdminClient {
    http: reqwest::Client,
    admin_url: String,
    key: String,
}

impl AdminClient {
    /// A client for `admin_url` (e.g. `http://localhost:9001`) authenticating with `key`.
    pub fn new(http: reqwest::Client, admin_url: &str, key: &str) -> AdminClient {
        AdminClient {
            http,
            admin_url: admin_url.trim_end_matches('/').to_owned(),
            key: key.to_owned(),
        }
    }

    /// The admin base URL.
    pub fn url(&self) -> &str {
        &self.admin_url
    }

    /// `GET /admin/resources?slug=` — `None` on 404.
    pub async fn resource_by_slug(&self, slug: &str) -> Result<Option<Resource>, FlowError> {
        let url = format!("{}/admin/resources", self.admin_url);
        let shown = format!("{url}?slug={slug}");
        let request = self.http.get(&url).query(&[("slug", slug)]);
        let response = self.call(request, Exchange::new("GET", &shown)).await?;
        match response.status {
            404 => Ok(None),
            200 => parse_json(response).map(Some),
            _ => Err(FlowError::status(response)),
        }
    }

    /// `POST /admin/resources` with `backend_kind: "mint"`.
    pub async fn create_resource(&self, new: &NewResource) -> Result<Resource, FlowError> {
        let body = json!({
            "slug": new.slug,
            "uri": new.uri,
            "backend_kind": "mint",
            "display_name": new.display_name,
            "scopes": scopes_json(&new.scopes),
        });
        let url = format!("{}/admin/resources", self.admin_url);
        let request = self.http.post(&url).json(&body);
        let response = self
            .call(request, Exchange::new("POST", &url).body(body.to_string()))
            .await?;
        match response.status {
            200 | 201 => parse_json(response),
            _ => Err(FlowError::status(response)),
        }
    }

    /// `PATCH /admin/resources/{id}` setting the URI and the scope list.
    pub async fn patch_resource(
        &self,
        id: &str,
        uri: &str,
        scopes: &[(String, String)],
    ) -> Result<Resource, FlowError> {
        let body = json!({"uri": uri, "scopes": scopes_json(scopes)});
        let url = format!("{}/admin/resources/{id}", self.admin_url);
        let request = self.http.patch(&url).json(&body);
        let response = self
            .call(request, Exchange::new("PATCH", &url).body(body.to_string()))
            .await?;
        match response.status {
            200 => parse_json(response),
            _ => Err(FlowError::status(response)),
        }
    }

    /// Adds `client_id` to the resource's `policy.runtime.client_ids` (so the client may
    /// introspect tokens minted for the resource): `GET /admin/resources/{id}`, then a `PATCH`
    /// with the whole policy (the real server replaces it). Nothing is sent when it is there.
    pub async fn add_runtime_client(
        &self,
        resource_id: &str,
        client_id: &str,
    ) -> Result<(), FlowError> {
        let url = format!("{}/admin/resources/{resource_id}", self.admin_url);
        let response = self
            .call(self.http.get(&url), Exchange::new("GET", &url))
            .await?;
        if response.status != 200 {
            return Err(FlowError::status(response));
        }
        let view: Value = parse_json(response)?;
        let mut policy = view.get("policy").cloned().unwrap_or_else(|| json!({}));
        if !policy.is_object() {
            policy = json!({});
        }
        let ids = &mut policy["runtime"]["client_ids"];
        let mut list: Vec<Value> = ids.as_array().cloned().unwrap_or_default();
        if list.iter().any(|v| v == client_id) {
            return Ok(());
        }
        list.push(json!(client_id));
        *ids = Value::Array(list);
        if policy.get("exchange").is_none_or(Value::is_null) {
            policy["exchange"] = json!({"allowed_client_ids": []});
        }
        let body = json!({"policy": policy});
        let request = self.http.patch(&url).json(&body);
        let response = self
            .call(request, Exchange::new("PATCH", &url).body(body.to_string()))
            .await?;
        match response.status {
            200 => Ok(()),
            _ => Err(FlowError::status(response)),
        }
    }

    /// `GET /admin/clients/{id}` — `None` on 404.
    pub async fn client(&self, id: &str) -> Result<Option<ClientView>, FlowError> {
        let url = format!("{}/admin/clients/{id}", self.admin_url);
        let request = self.http.get(&url);
        let response = self.call(request, Exchange::new("GET", &url)).await?;
        match response.status {
            404 => Ok(None),
            200 => parse_json(response).map(Some),
            _ => Err(FlowError::status(response)),
        }
    }

    /// `POST /admin/clients` for a confidential client_credentials client with the given ceiling.
    pub async fn create_client(&self, name: &str, scope: &str) -> Result<CreatedClient, FlowError> {
        let body = json!({
            "client_name": name,
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_basic",
            "scope": scope,
        });
        let url = format!("{}/admin/clients", self.admin_url);
        let request = self.http.post(&url).json(&body);
        let response = self
            .call(request, Exchange::new("POST", &url).body(body.to_string()))
            .await?;
        match response.status {
            200 | 201 => {
                let created: CreatedClient = parse_json(response.clone())?;
                if created.client_secret.is_empty() {
                    return Err(FlowError::malformed(
                        response,
                        "the new client has no client_secret",
                    ));
                }
                Ok(created)
            }
            _ => Err(FlowError::status(response)),
        }
    }

    async fn call(
        &self,
        request: reqwest::RequestBuilder,
        exchange: Exchange,
    ) -> Result<Response, FlowError> {
        let request = request.bearer_auth(&self.key);
        let exchange = exchange.header("Authorization", "Bearer <admin key>");
        let response = send(request, exchange).await?;
        if response.status == 401 {
            return Err(FlowError::AdminKeyRejected {
                status: response.status,
                description: error_message(&response.body),
                exchange: Box::new(response.exchange),
            });
        }
        Ok(response)
    }
}

fn scopes_json(scopes: &[(String, String)]) -> Value {
    Value::Array(
        scopes
            .iter()
            .map(|(name, description)| json!({"name": name, "description": description}))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{http_client, real_as};

    #[tokio::test]
    async fn admin_calls_against_the_embedded_as() {
        let server = real_as::start().await;
        let admin = AdminClient::new(
            http_client().unwrap(),
            &format!("{}/", server.admin_url),
            &server.admin_key,
        );
        assert!(admin.resource_by_slug("demo-mcp").await.unwrap().is_none());
        let new = NewResource {
            slug: "demo-mcp".into(),
            uri: "http://localhost:8080/mcp".into(),
            display_name: "Demo MCP".into(),
            scopes: vec![("mcp:echo".into(), "echo".into())],
        };
        let created = admin.create_resource(&new).await.unwrap();
        assert!(!created.id.is_empty());
        assert_eq!(created.scope_names(), vec!["mcp:echo"]);
        let found = admin.resource_by_slug("demo-mcp").await.unwrap().unwrap();
        assert_eq!(found, created);
        assert!(admin.resource_by_slug("absent").await.unwrap().is_none());
        let err = admin.create_resource(&new).await.unwrap_err();
        match &err {
            FlowError::Status {
                status, message, ..
            } => {
                assert_eq!(*status, 409);
                assert_eq!(message, "slug \"demo-mcp\" is already in use");
            }
            other => panic!("{other:?}"),
        }
        let patched = admin
            .patch_resource(
                &created.id,
                "http://localhost:8080/other",
                &[("mcp:echo".into(), "echo".into()), ("x".into(), "x".into())],
            )
            .await
            .unwrap();
        assert_eq!(patched.uri, "http://localhost:8080/other");
        assert_eq!(patched.scope_names(), vec!["mcp:echo", "x"]);

        let c = admin
            .create_client("authplane-dev", "mcp:echo x")
            .await
            .unwrap();
        assert_eq!(c.scope, "mcp:echo x");
        let view = admin.client(&c.client_id).await.unwrap().unwrap();
        assert_eq!(view.status, "active");
        assert_eq!(view.grant_types, vec!["client_credentials"]);
        assert_eq!(view.ceiling(), vec!["mcp:echo", "x"]);
        assert!(admin.client("no-such-client").await.unwrap().is_none());

        let wrong_key = "wrong-admin-key-0123456789";
        let wrong = AdminClient::new(http_client().unwrap(), &server.admin_url, wrong_key);
        let err = wrong.resource_by_slug("demo-mcp").await.unwrap_err();
        match &err {
            FlowError::AdminKeyRejected {
                status,
                description,
                exchange,
            } => {
                assert_eq!(*status, 401);
                assert_eq!(description, "invalid API key");
                assert_eq!(
                    exchange.response_header("www-authenticate"),
                    Some("Bearer realm=\"admin\"")
                );
                // The key itself is never recorded.
                assert!(!format!("{exchange:?}").contains(wrong_key));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn resource_view_and_client_view_parse() {
        let r: Resource = serde_json::from_str(
            r#"{"id":"abc","slug":"demo-mcp","uri":"http://localhost:8080/mcp","backend_kind":"mint","broker_provider_id":"","display_name":"Demo MCP","scopes":[{"name":"mcp:echo","description":"echo tool"},{"name":"x"}],"policy":{},"created_at":"t","updated_at":"t"}"#,
        )
        .unwrap();
        assert_eq!(r.scope_names(), vec!["mcp:echo", "x"]);
        let c: ClientView = serde_json::from_str(
            r#"{"id":"c1","name":"n","redirect_uris":null,"grant_types":["client_credentials"],"scope":"mcp:echo  authplane-dev:probe","status":"active"}"#,
        )
        .unwrap();
        assert_eq!(c.ceiling(), vec!["mcp:echo", "authplane-dev:probe"]);
    }
}
