//! `/admin/users` (§3.4): the users who sign in at `/login`, in upstream's userView shape
//! (`id`, `email`, `name`, `role`, `status`, `provider`, `created_at`; never the password hash).
//! Create (`email`, `password`, optional `name` and `role`), list, get, patch (`email`, `name`),
//! delete, disable and enable. Disabling a user also stops their refresh tokens and codes.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Object, Unknown, bad_request, json_response, read_body, store_error};
use crate::authserver::AppState;
use crate::authserver::problem::AdminError;
use crate::authserver::store::{User, now_rfc3339};
use crate::authserver::users::{MAX_EMAIL_LEN, find_by_email, new_user};

const CREATE_FIELDS: &[&str] = &["email", "name", "password", "role"];
const PATCH_FIELDS: &[&str] = &["email", "name"];

fn not_found() -> AdminError {
    AdminError::not_found("user not found")
}

fn exists() -> AdminError {
    AdminError::conflict("user with this email already exists")
}

/// The userView shape.
pub fn view(u: &User) -> Value {
    json!({
        "id": u.id,
        "email": u.email,
        "name": u.name,
        "role": if u.role.is_empty() { "user" } else { u.role.as_str() },
        "status": u.status,
        "provider": "local",
        "created_at": u.created_at,
    })
}

fn check_email(email: &str) -> Result<(), AdminError> {
    let email = email.trim();
    if email.is_empty() {
        return Err(bad_request("email is required"));
    }
    if email.len() > MAX_EMAIL_LEN || !email.contains('@') {
        return Err(bad_request(format!(
            "email {email:?} is not a valid address"
        )));
    }
    Ok(())
}

/// `POST /admin/users`.
pub async fn create(State(state): State<AppState>, body: Body) -> Result<Response, AdminError> {
    let bytes = read_body(body).await?;
    let decoded = Object::parse(&bytes, "createUserRequest", CREATE_FIELDS, Unknown::Ignore)
        .and_then(|o| {
            Ok((
                o.string("email")?.unwrap_or_default(),
                o.string("name")?.unwrap_or_default(),
                o.string("password")?.unwrap_or_default(),
                o.string("role")?.unwrap_or_default(),
            ))
        });
    let Ok((email, name, password, role)) = decoded else {
        return Err(bad_request("invalid JSON body"));
    };
    check_email(&email)?;
    if password.is_empty() {
        return Err(bad_request("password is required"));
    }
    let role = if role.is_empty() {
        "user".to_owned()
    } else {
        role
    };
    if role != "user" && role != "admin" {
        return Err(bad_request(format!("role {role:?} is not user or admin")));
    }
    let mut user = new_user(&email, &password);
    user.name = name;
    user.role = role;
    let stored = user.clone();
    state
        .store
        .update(move |d| {
            if find_by_email(d, &stored.email).is_some() {
                return Err(exists());
            }
            d.users.push(stored);
            Ok(())
        })
        .map_err(store_error)?;
    Ok(json_response(StatusCode::CREATED, &view(&user)))
}

/// `GET /admin/users`.
pub async fn list(State(state): State<AppState>) -> Response {
    let users: Vec<Value> = state.store.read(|d| d.users.iter().map(view).collect());
    json_response(StatusCode::OK, &Value::Array(users))
}

/// `GET /admin/users/{id}`.
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    state
        .store
        .read(|d| d.users.iter().find(|u| u.id == id).map(view))
        .map(|v| json_response(StatusCode::OK, &v))
        .ok_or_else(not_found)
}

/// `PATCH /admin/users/{id}`: `email`, `name`.
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, AdminError> {
    let bytes = read_body(body).await?;
    let decoded = Object::parse(&bytes, "updateUserRequest", PATCH_FIELDS, Unknown::Ignore)
        .and_then(|o| Ok((o.string("email")?, o.string("name")?)));
    let Ok((email, name)) = decoded else {
        return Err(bad_request("invalid JSON body"));
    };
    if let Some(e) = &email {
        check_email(e)?;
    }
    let updated = state
        .store
        .update(|d| {
            if let Some(e) = &email
                && d.users
                    .iter()
                    .any(|u| u.id != id && u.email.eq_ignore_ascii_case(e.trim()))
            {
                return Err(exists());
            }
            let u = d
                .users
                .iter_mut()
                .find(|u| u.id == id)
                .ok_or_else(not_found)?;
            if let Some(e) = email {
                e.trim().clone_into(&mut u.email);
            }
            if let Some(n) = name {
                u.name = n;
            }
            u.updated_at = now_rfc3339();
            Ok(u.clone())
        })
        .map_err(store_error)?;
    Ok(json_response(StatusCode::OK, &view(&updated)))
}

/// `DELETE /admin/users/{id}` → 204; the user's refresh tokens stop working.
pub async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    state
        .store
        .update(|d| {
            let before = d.users.len();
            d.users.retain(|u| u.id != id);
            if d.users.len() == before {
                return Err(not_found());
            }
            d.families.retain(|f| f.user_id != id);
            d.consents.retain(|g| g.user_id != id);
            Ok(())
        })
        .map_err(store_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn set_status(state: &AppState, id: &str, status: &str) -> Result<Response, AdminError> {
    state
        .store
        .update(|d| {
            let u = d
                .users
                .iter_mut()
                .find(|u| u.id == id)
                .ok_or_else(not_found)?;
            status.clone_into(&mut u.status);
            u.updated_at = now_rfc3339();
            Ok(())
        })
        .map_err(store_error)?;
    Ok(json_response(StatusCode::OK, &json!({"status": status})))
}

/// `PATCH /admin/users/{id}/disable`: the user can no longer sign in or refresh.
pub async fn disable(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    set_status(&state, &id, "disabled")
}

/// `PATCH /admin/users/{id}/enable`.
pub async fn enable(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    set_status(&state, &id, "active")
}
