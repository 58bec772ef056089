//! The hosted pages' languages: the text of every page is in Fluent files under `locales/`
//! (compiled into the binary), and each request's language is chosen from, in order, a language the
//! person picked on the page (`?lang=`, remembered in a cookie), the language the app asked for
//! when it made the session, and the browser's `Accept-Language`; English when none of them is
//! one Coupler speaks.

use std::borrow::Cow;
use std::collections::HashMap;

use axum::http::{header, HeaderMap};
use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, Loader};

fluent_templates::static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "en",
        // Plain text around values: the pages are HTML with their own direction, and the isolation
        // marks Fluent adds by default would end up in attributes and in what tests read.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

/// The cookie that remembers a language the person picked on a page.
pub const LANG_COOKIE: &str = "coupler_lang";

/// Every language the pages are written in, with its own name for itself (for the switcher).
pub const LANGUAGES: [(&str, &str); 3] = [("en", "English"), ("de", "Deutsch"), ("nl", "Nederlands")];

/// The language a page is shown in, and its text.
#[derive(Debug, Clone)]
pub struct Tr {
    tag: &'static str,
    id: LanguageIdentifier,
}

impl Default for Tr {
    fn default() -> Self {
        Self::of("en")
    }
}

/// A language Coupler speaks, by its tag, or English.
fn known(tag: &str) -> Option<&'static str> {
    let primary = tag.split(['-', '_']).next().unwrap_or_default().to_ascii_lowercase();
    LANGUAGES.iter().map(|(t, _)| *t).find(|t| *t == primary)
}

impl Tr {
    /// The pages in `tag` (one of [`LANGUAGES`]; anything else is English).
    pub fn of(tag: &str) -> Self {
        let tag = known(tag).unwrap_or("en");
        let id = tag.parse().unwrap_or_default();
        Self { tag, id }
    }

    /// The language for a request: the person's pick (`picked`, from `?lang=`), then the language
    /// cookie, then the app's `language` when it is a tag (not `browser`), then `Accept-Language`.
    pub fn choose(picked: Option<&str>, headers: &HeaderMap, app_language: Option<&str>) -> Self {
        let cookie = crate::routes::pages::cookie(headers, LANG_COOKIE);
        let accept = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .map(accepted)
            .unwrap_or_default();
        let app = app_language.filter(|l| *l != "browser");
        picked
            .into_iter()
            .chain(cookie.as_deref())
            .chain(app)
            .chain(accept.iter().map(String::as_str))
            .find_map(known)
            .map(Self::of)
            .unwrap_or_default()
    }

    /// The language's tag, for `<html lang>`.
    pub fn lang(&self) -> &'static str {
        self.tag
    }

    /// The text `key`.
    pub fn t(&self, key: &str) -> String {
        LOCALES.lookup(&self.id, key)
    }

    /// The text `key` with its values.
    pub fn with(&self, key: &str, args: &[(&'static str, &str)]) -> String {
        let args: HashMap<Cow<'static, str>, FluentValue<'_>> = args
            .iter()
            .map(|(name, value)| (Cow::Borrowed(*name), FluentValue::from(value.to_string())))
            .collect();
        LOCALES.lookup_with_args(&self.id, key, &args)
    }

    /// The text `key` with a count (for plurals) and other values.
    pub fn count(&self, key: &str, count: u64, args: &[(&'static str, &str)]) -> String {
        let mut all: HashMap<Cow<'static, str>, FluentValue<'_>> = args
            .iter()
            .map(|(name, value)| (Cow::Borrowed(*name), FluentValue::from(value.to_string())))
            .collect();
        all.insert(Cow::Borrowed("count"), FluentValue::from(count));
        LOCALES.lookup_with_args(&self.id, key, &all)
    }

    /// The languages to offer on the page, each with the link that switches to it (`base` plus
    /// `lang=`); the current one marked.
    pub fn switcher(&self, base: &str) -> Vec<LanguageChoice> {
        let joiner = if base.contains('?') { '&' } else { '?' };
        LANGUAGES
            .iter()
            .map(|(tag, name)| LanguageChoice {
                tag,
                name,
                href: format!("{base}{joiner}lang={tag}"),
                current: *tag == self.tag,
            })
            .collect()
    }
}

/// One language in the page's language switcher.
#[derive(Debug, Clone)]
pub struct LanguageChoice {
    /// Its tag.
    pub tag: &'static str,
    /// Its name, in itself.
    pub name: &'static str,
    /// The page in it.
    pub href: String,
    /// Whether the page is in it now.
    pub current: bool,
}

/// The tags of an `Accept-Language` value, most wanted first (by `q`, then by order); `q=0` and
/// malformed entries are left out.
fn accepted(header: &str) -> Vec<String> {
    let mut tags: Vec<(f32, usize, String)> = header
        .split(',')
        .take(32)
        .enumerate()
        .filter_map(|(i, entry)| {
            let mut parts = entry.split(';');
            let tag = parts.next()?.trim();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
            let valid = !tag.is_empty() && tag != "*" && tag.parse::<LanguageIdentifier>().is_ok();
            (valid && q > 0.0).then(|| (q, i, tag.to_owned()))
        })
        .collect();
    tags.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    tags.into_iter().map(|(_, _, tag)| tag).collect()
}

/// The `Set-Cookie` that remembers `tag` for the hosted pages, when the person picked one.
pub fn remember(picked: Option<&str>, secure: &str) -> Option<String> {
    let tag = known(picked?)?;
    Some(format!(
        "{LANG_COOKIE}={tag}; Path=/; Max-Age=31536000; SameSite=Lax{secure}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(accept: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_LANGUAGE,
            accept.parse().unwrap_or_else(|_| unreachable!()),
        );
        headers
    }

    #[test]
    fn the_browser_s_most_wanted_known_language_wins() {
        assert_eq!(Tr::choose(None, &headers("de-DE,de;q=0.9,en;q=0.8"), None).lang(), "de");
        assert_eq!(
            Tr::choose(None, &headers("fr;q=0.9, nl-BE;q=0.95, en;q=0.1"), None).lang(),
            "nl"
        );
        assert_eq!(Tr::choose(None, &headers("fr-FR, ja"), None).lang(), "en");
        assert_eq!(Tr::choose(None, &headers("de;q=0, en"), None).lang(), "en");
        assert_eq!(Tr::choose(None, &HeaderMap::new(), None).lang(), "en");
    }

    #[test]
    fn a_pick_on_the_page_beats_the_app_and_the_app_beats_the_browser() {
        let german = headers("de");
        assert_eq!(Tr::choose(None, &german, Some("nl-NL")).lang(), "nl");
        assert_eq!(Tr::choose(None, &german, Some("browser")).lang(), "de");
        assert_eq!(Tr::choose(Some("en"), &german, Some("nl-NL")).lang(), "en");
        assert_eq!(Tr::choose(Some("xx"), &german, None).lang(), "de");
    }

    /// The message ids a Fluent file defines.
    fn ids(ftl: &str) -> std::collections::BTreeSet<&str> {
        ftl.lines()
            .filter(|l| l.starts_with(|c: char| c.is_ascii_lowercase()))
            .filter_map(|l| l.split(" =").next())
            .collect()
    }

    #[test]
    fn every_language_has_every_text_english_has_and_no_other() {
        let english = ids(include_str!("../locales/en/pages.ftl"));
        assert!(english.len() > 40, "{english:?}");
        for (tag, ftl) in [
            ("de", include_str!("../locales/de/pages.ftl")),
            ("nl", include_str!("../locales/nl/pages.ftl")),
        ] {
            let other = ids(ftl);
            let missing: Vec<_> = english.difference(&other).collect();
            let extra: Vec<_> = other.difference(&english).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{tag}: missing {missing:?}, extra {extra:?}"
            );
        }
    }

    #[test]
    fn values_fill_in_without_isolation_marks() {
        let text = Tr::of("de").with("link-heading", &[("app", "Volt")]);
        assert!(text.contains("Volt") && !text.contains('\u{2068}'), "{text}");
    }
}
