//! The simulated maker's sign-in pages: plain HTML forms, as a browser (or a test) submits them.

/// Escapes text for HTML content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title>\
         <style>body{{font-family:system-ui,sans-serif;line-height:1.5;max-width:28rem;margin:2rem auto;padding:0 1rem}}\
         label,input,button{{display:block;margin:.5rem 0}}input,button{{box-sizing:border-box;width:100%;min-height:3rem;font:inherit;padding:.5rem}}\
         button{{font-weight:600}}.error{{color:#b00020}}.test{{border:2px dashed;padding:.5rem 1rem;margin:1rem 0}}\
         :focus-visible{{outline:3px solid Highlight;outline-offset:2px}}</style>\
         </head><body>{body}</body></html>\n",
        title = escape(title)
    )
}

/// The login form for a pending authorization request, with the simulation's test logins for the
/// brand (`(username, password)`) shown above it: this maker is a sandbox, and a person trying it
/// needs to know what to type.
pub(crate) fn login(brand: &str, request_id: &str, error: Option<&str>, test_logins: &[(String, String)]) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    let logins = if test_logins.is_empty() {
        String::new()
    } else {
        let items: String = test_logins
            .iter()
            .map(|(user, password)| {
                format!(
                    "<li>username <code>{}</code>, password <code>{}</code></li>",
                    escape(user),
                    escape(password)
                )
            })
            .collect();
        format!(
            "<section class=\"test\" aria-labelledby=\"test-logins\"><h2 id=\"test-logins\">Test logins</h2>\
             <p>This is a simulated car maker in Coupler's sandbox. These logins work here:</p><ul>{items}</ul></section>"
        )
    };
    page(
        &format!("Sign in to {brand}"),
        &format!(
            "<main><h1>Sign in to {brand}</h1>{error}{logins}\
             <form method=\"post\" action=\"login\">\
             <input type=\"hidden\" name=\"request_id\" value=\"{rid}\">\
             <label>Username <input name=\"username\" autocomplete=\"username\" required></label>\
             <label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
             <button type=\"submit\">Sign in</button></form></main>",
            brand = escape(brand),
            rid = escape(request_id),
        ),
    )
}

/// The consent page after a successful login.
pub(crate) fn consent(brand: &str, request_id: &str, client_id: &str, scopes: &[String]) -> String {
    let items: String = scopes.iter().map(|s| format!("<li>{}</li>", escape(s))).collect();
    page(
        &format!("Allow access to your {brand} account"),
        &format!(
            "<main><h1>Allow {client} to access your {brand} account?</h1><ul>{items}</ul>\
             <form method=\"post\" action=\"consent\">\
             <input type=\"hidden\" name=\"request_id\" value=\"{rid}\">\
             <button type=\"submit\" name=\"decision\" value=\"approve\">Allow</button>\
             <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form></main>",
            brand = escape(brand),
            client = escape(client_id),
            rid = escape(request_id),
        ),
    )
}

/// An error page for requests that cannot be redirected (unknown client, unregistered redirect URI).
pub(crate) fn error(message: &str) -> String {
    page(
        "Sign-in error",
        &format!(
            "<main><h1>Sign-in error</h1><p class=\"error\">{}</p></main>",
            escape(message)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_values_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert!(!login("B", "\"><script>", Some("<b>"), &[]).contains("<script>"));
        let page = login("B", "r", None, &[("<i>".to_owned(), "demo".to_owned())]);
        assert!(
            page.contains("username <code>&lt;i&gt;</code>, password <code>demo</code>"),
            "{page}"
        );
    }
}
