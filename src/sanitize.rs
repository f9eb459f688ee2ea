//! Turning text a server sent into something safe to put in a message: no
//! secrets, no control characters, no markup, a bounded length.

use std::borrow::Cow;
use std::cell::OnceCell;

const REDACTED: &str = "[redacted]";
/// Shorter secrets are not looked for: replacing every "a" or "id" in a
/// message would garble it, and such a value is no secret anyway.
const MIN_REDACTED_BYTES: usize = 4;

/// Replaces every secret of a request, raw or form-encoded, wherever a
/// server may have echoed it. Made for every answer, used only for errors:
/// the encoded forms are worked out on first use.
pub struct Redactor<'a> {
    secrets: Vec<&'a str>,
    forms: OnceCell<Vec<Cow<'a, str>>>,
}

impl<'a> Redactor<'a> {
    pub fn new(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let secrets = secrets
            .into_iter()
            .filter(|secret| secret.len() >= MIN_REDACTED_BYTES)
            .collect();
        Redactor {
            secrets,
            forms: OnceCell::new(),
        }
    }

    /// Each secret as sent and as form-encoded, longest first, so a secret
    /// that contains another is replaced whole.
    fn forms(&self) -> &[Cow<'a, str>] {
        self.forms.get_or_init(|| {
            let mut forms: Vec<Cow<'a, str>> = Vec::new();
            for &secret in &self.secrets {
                let encoded: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
                if encoded != secret {
                    forms.push(Cow::Owned(encoded));
                }
                forms.push(Cow::Borrowed(secret));
            }
            forms.sort_by_key(|form| std::cmp::Reverse(form.len()));
            forms
        })
    }

    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut text = Cow::Borrowed(text);
        for secret in self.forms() {
            if text.contains(secret.as_ref()) {
                text = Cow::Owned(text.replace(secret.as_ref(), REDACTED));
            }
        }
        text
    }

    /// A server-supplied field (an OAuth error code, description, URI) as
    /// one clean line of at most `max_chars` characters.
    pub fn field(&self, text: &str, max_chars: usize) -> String {
        one_line(&self.redact(text), max_chars)
    }

    /// A short readable excerpt of a body that is not the JSON we expected
    /// (an HTML error page, say), or `None` when nothing readable is left.
    pub fn excerpt(&self, body: &[u8], max_chars: usize) -> Option<String> {
        let text = String::from_utf8_lossy(body);
        let line = one_line(&strip_markup(&self.redact(&text)), max_chars);
        (!line.is_empty()).then_some(line)
    }
}

/// Control characters become spaces, runs of white space one space, and
/// the result is cut at `max_chars` with "..." to show the cut.
pub fn one_line(text: &str, max_chars: usize) -> String {
    let mut words = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|word| !word.is_empty());
    let mut line = String::new();
    for (count, word) in words.by_ref().enumerate() {
        if count > 0 {
            line.push(' ');
        }
        line.push_str(word);
        if line.chars().count() > max_chars {
            break;
        }
    }
    match line.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}...", line[..cut].trim_end()),
        None => line,
    }
}

/// Drops `<...>` tags, so an HTML error page reads as its text.
fn strip_markup(text: &str) -> Cow<'_, str> {
    if !text.contains('<') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_removes_controls_and_collapses_space() {
        assert_eq!(one_line("  a\r\n\tb\u{1b}[31m c\0 ", 100), "a b [31m c");
    }

    #[test]
    fn one_line_cuts_long_text_at_a_character_boundary() {
        assert_eq!(one_line("ééééé", 3), "ééé...");
        assert_eq!(one_line("abc", 3), "abc");
        assert_eq!(one_line(&"word ".repeat(10_000), 9), "word word...");
    }

    #[test]
    fn redacts_raw_and_form_encoded_secrets() {
        let redactor = Redactor::new(["s3cr&t x", "code"]);
        assert_eq!(
            redactor.field("got s3cr&t x and s3cr%26t+x and code", 200),
            "got [redacted] and [redacted] and [redacted]"
        );
    }

    #[test]
    fn very_short_secrets_are_not_looked_for() {
        let redactor = Redactor::new(["a", "xyz"]);
        assert_eq!(
            redactor.field("invalid_client xyz", 100),
            "invalid_client xyz"
        );
    }

    #[test]
    fn excerpt_of_html_reads_as_text() {
        let redactor = Redactor::new([]);
        let page = b"<html><head><title>401 Authorization Required</title></head>\n<body><h1>Nope</h1></body></html>";
        assert_eq!(
            redactor.excerpt(page, 200).as_deref(),
            Some("401 Authorization Required Nope")
        );
        assert_eq!(redactor.excerpt(b" \r\n", 200), None);
        assert_eq!(
            redactor.excerpt(b"\xff\xfeok", 200).as_deref(),
            Some("\u{fffd}\u{fffd}ok")
        );
    }
}
