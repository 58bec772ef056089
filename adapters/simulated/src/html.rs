//! The simulated maker's sign-in pages: plain HTML forms, as a browser (or a test) submits them,
//! rendered from the askama templates in `templates/` (which escape every value).

use askama::Template;

#[derive(Template)]
#[template(path = "login.html")]
struct Login<'a> {
    brand: &'a str,
    request_id: &'a str,
    error: Option<&'a str>,
    test_logins: &'a [(String, String)],
}

#[derive(Template)]
#[template(path = "consent.html")]
struct Consent<'a> {
    brand: &'a str,
    request_id: &'a str,
    client_id: &'a str,
    scopes: &'a [String],
}

#[derive(Template)]
#[template(path = "error.html")]
struct Error<'a> {
    message: &'a str,
}

/// Renders a page; the templates are checked when the crate is built, so only a failing `Display`
/// of a value could make this fail, and the pages show only strings.
fn render(page: &impl Template) -> String {
    page.render().unwrap_or_else(|_| {
        "<!doctype html><html lang=\"en\"><title>Error</title><p>Something went wrong.</p></html>".to_owned()
    })
}

/// The login form for a pending authorization request, with the simulation's test logins for the
/// brand (`(username, password)`) shown above it: this maker is a sandbox, and a person trying it
/// needs to know what to type.
pub(crate) fn login(brand: &str, request_id: &str, error: Option<&str>, test_logins: &[(String, String)]) -> String {
    render(&Login {
        brand,
        request_id,
        error,
        test_logins,
    })
}

/// The consent page after a successful login.
pub(crate) fn consent(brand: &str, request_id: &str, client_id: &str, scopes: &[String]) -> String {
    render(&Consent {
        brand,
        request_id,
        client_id,
        scopes,
    })
}

/// An error page for requests that cannot be redirected (unknown client, unregistered redirect URI).
pub(crate) fn error(message: &str) -> String {
    render(&Error { message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_values_is_escaped() {
        let page = login("B", "\"><script>", Some("<b>"), &[]);
        assert!(!page.contains("<script>") && !page.contains("<b>"), "{page}");
        let page = login("B", "r", None, &[("<i>".to_owned(), "demo".to_owned())]);
        assert!(
            page.contains("username <code>&#60;i&#62;</code>, password <code>demo</code>"),
            "{page}"
        );
        let page = consent("B", "r", "<app>", &["<scope>".to_owned()]);
        assert!(!page.contains("<app>") && !page.contains("<scope>"), "{page}");
        assert!(!error("<x>").contains("<x>"));
    }

    #[test]
    fn the_login_page_lists_test_logins_only_when_there_are_some() {
        assert!(!login("B", "r", None, &[]).contains("Test logins"));
        assert!(login("B", "r", None, &[("u".to_owned(), "p".to_owned())]).contains("Test logins"));
    }
}
