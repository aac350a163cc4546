//! The local dev user in a Docker-run authorization server: the container reads only the real
//! server's variables, so `up` creates the user through the admin API (`POST /admin/users`,
//! which the real server has). The embedded server needs none of this: it reads
//! `AUTHPLANE_DEV_USER_*` at startup.

use serde_json::json;

use crate::config::{Settings, var};
use crate::report::Run;

/// The step's name.
pub const STEP: &str = "dev user";

/// Creates the dev user unless the AS already has one with that email. Never fails the run: the
/// machine flow does not need the user, and the step says what to do when it could not be made.
pub async fn ensure_via_admin(settings: &Settings, run: &mut Run<'_>) {
    let t = run.start(STEP);
    let email = &settings.dev_user_email;
    let (Some(key), Some(password)) = (
        settings.admin_api_key.as_deref(),
        settings.dev_user_password.as_deref(),
    ) else {
        run.skip(
            t,
            format!(
                "not created: {} or {} is not set",
                var::ADMIN_API_KEY,
                var::DEV_USER_PASSWORD
            ),
        );
        return;
    };
    let http = match crate::flow::http_client() {
        Ok(h) => h,
        Err(e) => {
            run.warn(t, format!("not created: {e}"), json!({"email": email}));
            return;
        }
    };
    let url = format!("{}/admin/users", settings.admin_url.trim_end_matches('/'));
    let body = json!({"email": email, "password": password, "name": "Dev User"});
    let sent = http.post(&url).bearer_auth(key).json(&body).send().await;
    match sent.map(|r| r.status().as_u16()) {
        Ok(201) => run.pass(
            t,
            format!(
                "created {email} (password in {})",
                settings.env_file.display()
            ),
            json!({"email": email, "created": true}),
        ),
        Ok(409) => run.pass(
            t,
            format!(
                "{email} already exists (created earlier with the password of that time; \
                 `DELETE /admin/users/{{id}}` and run `up` again to recreate it)"
            ),
            json!({"email": email, "created": false}),
        ),
        Ok(status) => run.warn(
            t,
            format!(
                "not created: POST {url} answered {status}; sign-in at the login page will fail \
                 until a user exists (create one with POST /admin/users)"
            ),
            json!({"email": email, "status": status}),
        ),
        Err(e) => run.warn(
            t,
            format!("not created: POST {url} failed: {e}"),
            json!({"email": email}),
        ),
    }
}
