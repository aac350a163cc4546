//! The AS admin API (authserver 0.2.2 §3): resources by slug, machine clients.
//!
//! Every call carries `Authorization: Bearer <admin key>`. A 401 is
//! [`FlowError::AdminKeyRejected`] with the AS's own `error_description` (`missing API key`,
//! `invalid API key`, `admin API key not configured`); other errors keep the problem+json
//! `detail` verbatim ([`FlowError::Status`]).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::flow::{Exchange, FlowError, Response, error_message, send};

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
            200 => parse(response).map(Some),
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
            200 | 201 => parse(response),
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
            200 => parse(response),
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
            200 => parse(response).map(Some),
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
                let created: CreatedClient = parse(response.clone())?;
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

fn parse<T: serde::de::DeserializeOwned>(response: Response) -> Result<T, FlowError> {
    match serde_json::from_str::<T>(&response.body) {
        Ok(value) => Ok(value),
        Err(e) => {
            let reason = format!("not the documented JSON shape ({e})");
            Err(FlowError::malformed(response, reason))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
