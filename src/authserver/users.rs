//! Users who sign in at `/login`: checking a password, and putting the local dev user
//! (`AUTHPLANE_DEV_USER_EMAIL` / `AUTHPLANE_DEV_USER_PASSWORD`) in place at startup so `up` never
//! has to call an API for it. Emails compare case-insensitively, as an address is one account
//! however it is typed.

use super::keys;
use super::store::{Data, Store, UpdateError, User, hash_secret, now_rfc3339, verify_secret};

/// The longest email accepted (RFC 5321's limit; upstream refuses longer identities before any
/// lookup).
pub const MAX_EMAIL_LEN: usize = 254;

/// The user `email` names, if any.
pub fn find_by_email<'d>(data: &'d Data, email: &str) -> Option<&'d User> {
    data.users
        .iter()
        .find(|u| u.email.eq_ignore_ascii_case(email.trim()))
}

/// The active user with these credentials; `None` for any mismatch (unknown email, wrong
/// password, disabled account) so the login page cannot tell them apart.
pub fn authenticate(data: &Data, email: &str, password: &str) -> Option<User> {
    if email.len() > MAX_EMAIL_LEN || password.is_empty() {
        return None;
    }
    let user = find_by_email(data, email)?;
    (verify_secret(&user.password_hash, password) && user.is_active()).then(|| user.clone())
}

/// A new active user (not stored).
pub fn new_user(email: &str, password: &str) -> User {
    let now = now_rfc3339();
    User {
        id: keys::random_id(16),
        email: email.trim().to_owned(),
        name: String::new(),
        role: "user".to_owned(),
        password_hash: hash_secret(password),
        status: "active".to_owned(),
        created_at: now.clone(),
        updated_at: now,
    }
}

/// Creates the user, or gives an existing one this password and makes it active (the `.env`
/// is the dev user's source of truth). Leaves the state file alone when nothing changes.
pub fn ensure(store: &Store, email: &str, password: &str) -> anyhow::Result<()> {
    let current = store.read(|d| find_by_email(d, email).cloned());
    if let Some(u) = &current
        && u.is_active()
        && verify_secret(&u.password_hash, password)
    {
        return Ok(());
    }
    store
        .update(|d| {
            match d
                .users
                .iter_mut()
                .find(|u| u.email.eq_ignore_ascii_case(email.trim()))
            {
                Some(u) => {
                    u.password_hash = hash_secret(password);
                    "active".clone_into(&mut u.status);
                    u.updated_at = now_rfc3339();
                }
                None => d.users.push(new_user(email, password)),
            }
            Ok::<_, ()>(())
        })
        .map_err(|e| match e {
            UpdateError::Persist(e) => e.context("saving the dev user"),
            UpdateError::Refused(()) => anyhow::anyhow!("saving the dev user"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ensure_creates_then_updates_and_authentication_follows() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        ensure(&store, "Dev@Localhost.test", "first-password").unwrap();
        let user = store
            .read(|d| authenticate(d, "dev@localhost.test", "first-password"))
            .unwrap();
        ensure(&store, "dev@localhost.test", "second-password").unwrap();
        store.read(|d| {
            assert_eq!(d.users.len(), 1);
            assert_eq!(d.users[0].id, user.id, "the same account, new password");
            assert!(authenticate(d, "dev@localhost.test", "first-password").is_none());
            assert!(authenticate(d, "DEV@localhost.test", "second-password").is_some());
            assert!(authenticate(d, "nobody@x", "second-password").is_none());
        });
    }
}
