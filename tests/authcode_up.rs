//! `up` and the local dev user: the credentials are generated into `.env` like the other secrets
//! (appended to a user's own file, mode 0600, never shown without `--show-secrets`), and the
//! embedded AS that `up` starts lets that user sign in.

// Both helpers bring their own copy of the free-port helper.
#![allow(clippy::duplicate_mod)]

mod support_as;
mod support_stack;

use support_as::authcode::{Browser, form_fields};
use support_stack::{Stack, mode, step, str_of};

fn env_value(text: &str, name: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread")]
async fn up_generates_the_dev_user_and_the_embedded_as_lets_it_sign_in() {
    let stack = Stack::new();
    let env = stack.path(".env");
    let before = std::fs::read_to_string(&env).unwrap();
    let (code, doc) = stack.json(&["up", "--wait-timeout", "30"]);
    assert_eq!(code, 0, "{doc:#}");

    // Appended below the user's lines, which are kept byte for byte.
    let text = std::fs::read_to_string(&env).unwrap();
    assert!(text.starts_with(&before), "{text}");
    let email = env_value(&text, "AUTHPLANE_DEV_USER_EMAIL").expect("email in .env");
    let password = env_value(&text, "AUTHPLANE_DEV_USER_PASSWORD").expect("password in .env");
    assert_eq!(email, "dev@localhost.test");
    assert_eq!(password.len(), 40);
    assert_eq!(mode(&env), 0o600);
    assert!(
        str_of(step(&doc, ".env"), "summary").contains("AUTHPLANE_DEV_USER_PASSWORD"),
        "{doc:#}"
    );
    assert!(
        !doc.to_string().contains(&password),
        "the password leaked: {doc:#}"
    );
    assert_eq!(doc["dev_user"]["email"], email.as_str(), "{doc:#}");

    // Shown when asked for, redacted otherwise.
    let shown = stack.run(&["--show-secrets", "up", "--wait-timeout", "30"]);
    let stdout = String::from_utf8_lossy(&shown.stdout);
    assert!(
        stdout.contains(&format!("dev user:   {email} / {password}")),
        "{stdout}"
    );
    let hidden = stack.run(&["up", "--wait-timeout", "30"]);
    let stdout = String::from_utf8_lossy(&hidden.stdout);
    assert!(stdout.contains("dev user:"), "{stdout}");
    assert!(!stdout.contains(&password), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(&env).unwrap(),
        text,
        "never rewritten"
    );

    // The embedded AS knows the user: the login page accepts these credentials, not others.
    let public = format!("http://localhost:{}", stack.ports.public);
    let browser = Browser::new();
    let sign_in = |password: String| {
        let browser = &browser;
        let public = public.clone();
        let email = email.clone();
        async move {
            let html = browser
                .get(&format!("{public}/login?redirect=/done"))
                .await
                .text()
                .await
                .unwrap();
            let mut fields = form_fields(&html, None);
            fields.push(("email".into(), email));
            fields.push(("password".into(), password));
            browser
                .post_form(&format!("{public}/login"), &fields)
                .await
                .status()
                .as_u16()
        }
    };
    assert_eq!(sign_in("not-the-password".into()).await, 422);
    assert_eq!(sign_in(password.clone()).await, 303);
}
