//! Reading the HTML forms of an AS's login and consent pages as a browser does: the form's
//! `action` and `method`, the values it would submit (hidden inputs such as `csrf_token`, text
//! inputs, checked checkboxes and radios, textareas) in document order, and its submit buttons
//! with their `name=value` and label. Only what form submission needs is read; this is no HTML
//! renderer. Owns no I/O: [`super::browser`] fetches the pages and posts what this returns.

/// A submit button: a `<button>` (type submit, the default) or an `<input type=submit>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    /// Its `name`, empty when it has none (then pressing it adds nothing to the form data).
    pub name: String,
    pub value: String,
    /// The text a user reads on it (the button's content, or an input's `value`).
    pub label: String,
}

/// One `<form>` of a page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    /// The `action` attribute as written (empty: the page's own URL).
    pub action: String,
    /// `get` or `post`, lower-cased (`get` when absent, as browsers do).
    pub method: String,
    /// The `name=value` pairs the form submits without any button, in document order.
    pub fields: Vec<(String, String)>,
    /// The names of its password inputs (a login form has one).
    pub password_fields: Vec<String>,
    pub buttons: Vec<Button>,
}

impl Form {
    /// Sets the value of field `name` (added when the form has no such field).
    pub fn fill(&mut self, name: &str, value: &str) {
        if let Some(field) = self.fields.iter_mut().find(|(n, _)| n == name) {
            value.clone_into(&mut field.1);
        } else {
            self.fields.push((name.to_owned(), value.to_owned()));
        }
    }

    /// The value of field `name`, if the form has one.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// What a browser posts when `button` is pressed: the fields, then the button's pair.
    pub fn submission(&self, button: Option<&Button>) -> Vec<(String, String)> {
        let mut pairs = self.fields.clone();
        if let Some(b) = button.filter(|b| !b.name.is_empty()) {
            pairs.push((b.name.clone(), b.value.clone()));
        }
        pairs
    }

    /// The button whose value, name or label says one of `words` (case-insensitive): how a user
    /// finds "Allow" or "Deny" on a consent page whatever the AS calls the field.
    pub fn button_saying(&self, words: &[&str]) -> Option<&Button> {
        let says = |text: &str| {
            let text = text.to_ascii_lowercase();
            words.iter().any(|w| text.contains(w))
        };
        self.buttons
            .iter()
            .find(|b| says(&b.value) || says(&b.label))
            .or_else(|| self.buttons.iter().find(|b| says(&b.name)))
    }
}

/// Every form of `html`, in document order.
pub fn forms(html: &str) -> Vec<Form> {
    let mut forms = Vec::new();
    let mut current: Option<Form> = None;
    let mut open_button: Option<Button> = None;
    let mut open_textarea: Option<(String, usize)> = None;
    let mut rest = html;
    let mut offset = 0;
    while let Some(lt) = rest.find('<') {
        let text_before = &rest[..lt];
        if let Some(button) = open_button.as_mut() {
            button.label.push_str(text_before);
        }
        let after = &rest[lt..];
        if after.starts_with("<!--") {
            let end = after.find("-->").map_or(after.len(), |i| i + 3);
            offset += lt + end;
            rest = &after[end..];
            continue;
        }
        let Some(tag) = read_tag(after) else {
            offset += lt + 1;
            rest = &after[1..];
            continue;
        };
        let consumed = lt + tag.len;
        match (tag.closing, tag.name.as_str()) {
            (false, "script" | "style") => {
                // Their content is not markup.
                let close = format!("</{}", tag.name);
                let body = &rest[consumed..];
                let end = find_ci(body, &close).unwrap_or(body.len());
                offset += consumed + end;
                rest = &body[end..];
                continue;
            }
            (false, "form") => {
                if let Some(done) = current.take() {
                    forms.push(done);
                }
                current = Some(Form {
                    action: tag.attr("action").unwrap_or_default().to_owned(),
                    method: tag.attr("method").unwrap_or("get").to_ascii_lowercase(),
                    ..Form::default()
                });
            }
            (true, "form") => {
                if let Some(done) = current.take() {
                    forms.push(done);
                }
            }
            (false, "input") => {
                if let Some(form) = current.as_mut() {
                    add_input(form, &tag);
                }
            }
            (false, "button") => {
                let kind = tag.attr("type").unwrap_or("submit").to_ascii_lowercase();
                if kind == "submit" && tag.attr("disabled").is_none() {
                    open_button = Some(Button {
                        name: tag.attr("name").unwrap_or_default().to_owned(),
                        value: tag.attr("value").unwrap_or_default().to_owned(),
                        label: String::new(),
                    });
                }
            }
            (true, "button") => {
                if let (Some(mut button), Some(form)) = (open_button.take(), current.as_mut()) {
                    button.label = decode_entities(strip_tags(&button.label).trim());
                    form.buttons.push(button);
                }
            }
            (false, "textarea") => {
                if let Some(name) = tag.attr("name") {
                    open_textarea = Some((name.to_owned(), offset + consumed));
                }
            }
            (true, "textarea") => {
                if let (Some((name, start)), Some(form)) = (open_textarea.take(), current.as_mut())
                {
                    let text = &html[start..offset + lt];
                    form.fields.push((name, decode_entities(text)));
                }
            }
            _ => {}
        }
        offset += consumed;
        rest = &rest[consumed..];
    }
    if let Some(done) = current.take() {
        forms.push(done);
    }
    forms
}

fn add_input(form: &mut Form, tag: &Tag) {
    if tag.attr("disabled").is_some() {
        return;
    }
    let kind = tag.attr("type").unwrap_or("text").to_ascii_lowercase();
    let name = tag.attr("name").unwrap_or_default().to_owned();
    let value = tag.attr("value").unwrap_or_default().to_owned();
    match kind.as_str() {
        "submit" => form.buttons.push(Button {
            name,
            label: value.clone(),
            value,
        }),
        "checkbox" | "radio" => {
            if !name.is_empty() && tag.attr("checked").is_some() {
                let value = if value.is_empty() { "on".into() } else { value };
                form.fields.push((name, value));
            }
        }
        "button" | "reset" | "image" | "file" => {}
        _ => {
            if kind == "password" {
                form.password_fields.push(name.clone());
            }
            if !name.is_empty() {
                form.fields.push((name, value));
            }
        }
    }
}

/// A start or end tag with its attributes (names lower-cased, values entity-decoded).
struct Tag {
    name: String,
    closing: bool,
    attrs: Vec<(String, Option<String>)>,
    /// Bytes from `<` to `>` inclusive.
    len: usize,
}

impl Tag {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_deref().unwrap_or(""))
    }
}

/// Reads the tag `text` starts with (`text` begins with `<`); None when it is not a tag.
fn read_tag(text: &str) -> Option<Tag> {
    let bytes = text.as_bytes();
    let mut i = 1;
    let closing = bytes.get(i) == Some(&b'/');
    if closing {
        i += 1;
    }
    let name_start = i;
    while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
        i += 1;
    }
    if i == name_start {
        return None;
    }
    let name = text[name_start..i].to_ascii_lowercase();
    let mut attrs = Vec::new();
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        match bytes.get(i) {
            None => return None,
            Some(b'>') => break,
            Some(_) => {}
        }
        let start = i;
        while i < bytes.len()
            && !bytes[i].is_ascii_whitespace()
            && !matches!(bytes[i], b'=' | b'>' | b'/')
        {
            i += 1;
        }
        let attr_name = text[start..i].to_ascii_lowercase();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes.get(i) != Some(&b'=') {
            attrs.push((attr_name, None));
            continue;
        }
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let value = match bytes.get(i) {
            Some(&q) if q == b'"' || q == b'\'' => {
                let end = text[i + 1..].find(q as char)? + i + 1;
                let v = &text[i + 1..end];
                i = end + 1;
                v
            }
            _ => {
                let start = i;
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                    i += 1;
                }
                &text[start..i]
            }
        };
        attrs.push((attr_name, Some(decode_entities(value))));
    }
    Some(Tag {
        name,
        closing,
        attrs,
        len: i + 1,
    })
}

fn find_ci(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .to_ascii_lowercase()
        .find(&needle.to_ascii_lowercase())
}

fn strip_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// Decodes the character references HTML templates emit (`&amp;`, `&#34;`, `&#x27;`, …).
pub fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let decoded = after.find(';').filter(|&end| end <= 10).and_then(|end| {
            let entity = &after[..end];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, end))
        });
        if let Some((c, end)) = decoded {
            out.push(c);
            rest = &after[end + 1..];
        } else {
            out.push('&');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONSENT: &str = r#"<!DOCTYPE html><html><head><style>.a>b{x:1}</style>
<script>if (a<b) { document.write("<form action='/evil'>") }</script></head><body>
<!-- <form action="/commented"> -->
<form method="POST" action="/consent">
<input type="hidden" name="session_id" value="s&#43;1">
<input type="hidden" name="csrf_token" value="a&amp;b&#34;c">
<input type="checkbox" name="scopes" value="mcp:echo" id="scope-mcp:echo" checked>
<input type="checkbox" name="scopes" value="other">
<label><input type="checkbox" name="remember"> Remember</label>
<div class="buttons">
<button type="submit" name="action" value="deny" class="btn-deny">Deny</button>
<button type="submit" name="action" value="allow" class="btn-allow"><b>Allow</b> access</button>
<button type="button" name="x" value="y">not a submit</button>
</div>
</form></body></html>"#;

    #[test]
    fn a_consent_form_reads_as_a_browser_submits_it() {
        let forms = forms(CONSENT);
        assert_eq!(forms.len(), 1, "{forms:#?}");
        let form = &forms[0];
        assert_eq!(form.action, "/consent");
        assert_eq!(form.method, "post");
        assert_eq!(
            form.fields,
            [
                ("session_id".to_owned(), "s+1".to_owned()),
                ("csrf_token".to_owned(), "a&b\"c".to_owned()),
                ("scopes".to_owned(), "mcp:echo".to_owned()),
            ]
        );
        assert_eq!(form.buttons.len(), 2);
        let allow = form.button_saying(&["allow", "approve"]).unwrap();
        assert_eq!(
            (allow.name.as_str(), allow.value.as_str()),
            ("action", "allow")
        );
        assert_eq!(allow.label, "Allow access");
        let deny = form.button_saying(&["deny"]).unwrap();
        let posted = form.submission(Some(deny));
        assert_eq!(
            posted.last().unwrap(),
            &("action".to_owned(), "deny".to_owned())
        );
    }

    #[test]
    fn a_login_form_has_its_password_field_and_can_be_filled() {
        let html = r#"<form method=post action='/login'>
<input name=email type=email autocomplete="username">
<input type="password" name="password" required>
<input type="hidden" name="redirect" value="/oauth/authorize?client_id=a&amp;state=b">
<input type="hidden" name="csrf_token" value="tok">
<input type=submit value="Sign in">
<input type="text" name="ignored" value="x" disabled>
</form>"#;
        let mut form = forms(html).remove(0);
        assert_eq!(form.password_fields, ["password"]);
        assert_eq!(
            form.value("redirect"),
            Some("/oauth/authorize?client_id=a&state=b")
        );
        form.fill("email", "dev@localhost.test");
        form.fill("password", "pw");
        let posted = form.submission(form.buttons.first());
        assert_eq!(
            posted,
            [
                ("email".to_owned(), "dev@localhost.test".to_owned()),
                ("password".to_owned(), "pw".to_owned()),
                (
                    "redirect".to_owned(),
                    "/oauth/authorize?client_id=a&state=b".to_owned()
                ),
                ("csrf_token".to_owned(), "tok".to_owned()),
            ]
        );
        assert_eq!(form.buttons[0].label, "Sign in");
    }

    #[test]
    fn entities_and_broken_markup_do_not_panic() {
        assert_eq!(
            decode_entities("a &lt;b&gt; &#x27;c&#39; &bogus; &"),
            "a <b> 'c' &bogus; &"
        );
        for html in [
            "<",
            "<form",
            "<input name='x",
            "<<>>",
            "<form><button>",
            "</",
            "<a b=>",
        ] {
            let _ = forms(html);
        }
    }
}
