//! Turning text a server sent into something safe to put in a message: no
//! secrets, no control characters, no markup, a bounded length.

use std::borrow::Cow;
use std::fmt::Write;
use std::ops::Range;
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use memchr::arch::all::rabinkarp;
use zeroize::Zeroizing;

use crate::encoded;
use crate::escapes::Escape::{Html, Json, Percent};
use crate::escapes::{Escape, Unescaped};

const REDACTED: &str = "[redacted]";
/// Shorter secrets are not looked for: replacing every "a" or "id" in a
/// message would garble it, and such a value is no secret anyway.
const MIN_REDACTED_BYTES: usize = 4;
/// How much of a text is searched for secrets and kept.
const MAX_TEXT_BYTES: usize = 64 * 1024;
/// How many encodings deep a text is decoded (base64 of base64 of...).
const MAX_DECODINGS: usize = 2;
/// A piece of base64 this short could turn up by chance.
const MIN_BASE64_PIECE: usize = 8;

/// Replaces every secret of a request wherever a server may have echoed
/// it: as sent, under percent-encoding, form encoding, JSON or HTML escapes
/// or any mix of them (see [`Unescaped`]), and in base64 (standard or URL-safe,
/// padded or not, alone or inside a longer base64 text), including HTTP
/// Basic's `base64(client_id:client_secret)`. Made for every answer, used
/// only for errors: the patterns are worked out on first use.
///
/// (The patterns are copies of secrets; like every block the library
/// frees, they are wiped when dropped: see `ffi/allocator.rs`.)
pub struct Redactor {
    /// Copies, so that a trace span keeps one redactor (and its patterns)
    /// for all its events.
    secrets: Vec<Zeroizing<String>>,
    basic_credentials: Option<BasicCredentials>,
    /// Each secret as itself, with `+` for its spaces, and in base64.
    plain: OnceLock<Vec<Pattern>>,
    /// Each secret wholly escaped: only a text with escapes can hold them.
    escaped: OnceLock<Vec<Pattern>>,
}

impl Redactor {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        Redactor {
            secrets: Vec::new(),
            basic_credentials: None,
            plain: OnceLock::new(),
            escaped: OnceLock::new(),
        }
        .with_secrets(secrets)
    }

    /// Also redacts these (a proxy's password, say).
    pub fn with_secrets<'a>(mut self, secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let long_enough = |secret: &&str| secret.len() >= MIN_REDACTED_BYTES;
        let copy = |secret: &str| Zeroizing::new(secret.to_owned());
        self.secrets
            .extend(secrets.into_iter().filter(long_enough).map(copy));
        self
    }

    /// Also redacts `client_id:client_secret` as HTTP Basic would carry it.
    pub fn with_basic_credentials(mut self, client_id: &str, client_secret: &str) -> Self {
        let form =
            |text: &str| form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
        self.basic_credentials = Some(BasicCredentials {
            plain: Zeroizing::new(format!("{client_id}:{client_secret}")),
            form_encoded: Zeroizing::new(format!("{}:{}", form(client_id), form(client_secret))),
        });
        self
    }

    fn plain(&self) -> &[Pattern] {
        self.plain.get_or_init(|| {
            let mut patterns = Vec::new();
            for secret in &self.secrets {
                patterns.push(secret.as_bytes().to_vec());
                patterns.push(secret.replace(' ', "+").into_bytes());
                // Searches ignore ASCII case; these cover a server that
                // changed the case of letters beyond ASCII.
                patterns.push(secret.to_uppercase().into_bytes());
                patterns.push(secret.to_lowercase().into_bytes());
                // A server that base64-encodes what it echoes may have
                // been given the secret escaped (the form body we send).
                for form in forms_to_base64(secret) {
                    patterns.extend(base64_forms(form.as_bytes()));
                }
            }
            if let Some(pair) = &self.basic_credentials {
                patterns.extend(base64_forms(pair.plain.as_bytes()));
                // RFC 6749 §2.3.1 form-encodes both halves before base64.
                patterns.extend(base64_forms(pair.form_encoded.as_bytes()));
            }
            distinct(patterns)
        })
    }

    fn escaped(&self) -> &[Pattern] {
        self.escaped.get_or_init(|| {
            let forms = self
                .secrets
                .iter()
                .flat_map(|secret| escaped_forms(secret, HexCase::Lower));
            distinct(forms.map(String::into_bytes).collect())
        })
    }

    /// `text` without any secret. Only its first [`MAX_TEXT_BYTES`] are
    /// kept (with "..." to show the cut): messages are short, and searching
    /// a longer text would cost memory for nothing.
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if text.len() <= MAX_TEXT_BYTES {
            return match self.secret_ranges(text) {
                found if found.is_empty() => Cow::Borrowed(text),
                found => Cow::Owned(cut_out(text, found)),
            };
        }
        let window = &text[..floor_char_boundary(text, MAX_TEXT_BYTES)];
        // A secret running past the window may have begun in its last
        // bytes: those are dropped, so no part of it is shown.
        let keep = floor_char_boundary(window, window.len().saturating_sub(self.longest_echo()));
        let found = self
            .secret_ranges(window)
            .into_iter()
            .filter(|range| range.start < keep)
            .map(|range| range.start..range.end.min(keep))
            .collect();
        Cow::Owned(cut_out(&window[..keep], found) + "...")
    }

    /// Where `text` holds a secret, as sent or in any form we look for.
    fn secret_ranges(&self, text: &str) -> Vec<Range<usize>> {
        self.secret_ranges_within(text, MAX_DECODINGS)
    }

    /// [`secret_ranges`](Self::secret_ranges), looking inside base64 and
    /// hex runs `depth` encodings deep (base64 of base64, say).
    fn secret_ranges_within(&self, text: &str, depth: usize) -> Vec<Range<usize>> {
        let mut found = Vec::new();
        if self.secrets.is_empty() {
            return found;
        }
        let bytes = text.as_bytes();
        // Patterns are lower case: a server may echo a secret in any case.
        let lowered = bytes.to_ascii_lowercase();
        let families: Vec<Escape> = [(b'%', Percent), (b'\\', Json), (b'&', Html)]
            .into_iter()
            .filter(|&(lead, _)| memchr::memchr(lead, bytes).is_some())
            .map(|(_, family)| family)
            .collect();
        let mut as_sent = self.plain().iter().collect::<Vec<_>>();
        if !families.is_empty() {
            as_sent.extend(self.escaped());
        }
        for pattern in as_sent {
            found.extend(pattern.find_all(&lowered));
        }
        // Read again with each family of escapes the text holds undone,
        // and with all of them when it holds more than one.
        let mut readings: Vec<Vec<Escape>> = families.iter().map(|&f| vec![f]).collect();
        if families.len() > 1 {
            readings.push(families);
        }
        if depth > 0 {
            found.extend(self.encoded_runs_holding_secrets(bytes, depth));
        }
        for families in readings {
            let reading = Unescaped::new(text, &families);
            let lowered = reading.bytes.to_ascii_lowercase();
            // Escaped once more than sent (a form body percent-encoded
            // into a URL) reads, undone once, as sent.
            for pattern in self.plain().iter().chain(self.escaped()) {
                let matches = pattern.find_all(&lowered);
                found.extend(matches.map(|range| reading.origin_of(range)));
            }
            if depth > 0 {
                let runs = self.encoded_runs_holding_secrets(&reading.bytes, depth);
                found.extend(runs.into_iter().map(|run| reading.origin_of(run)));
            }
        }
        found
    }

    /// The runs of base64 or hex in `bytes` that decode to a text holding
    /// a secret in any form, each whole: whatever else an echo escaped or
    /// encoded on the way, reading it decoded with its escapes undone finds
    /// the secret.
    fn encoded_runs_holding_secrets(&self, bytes: &[u8], depth: usize) -> Vec<Range<usize>> {
        let holds_secret = |decoded: &Vec<u8>| {
            let text = String::from_utf8_lossy(decoded);
            !self.secret_ranges_within(&text, depth - 1).is_empty()
        };
        encoded::runs(bytes)
            .into_iter()
            .filter(|run| {
                encoded::decodings(&bytes[run.clone()])
                    .iter()
                    .any(holds_secret)
            })
            .collect()
    }

    /// The most bytes an echo of a secret can take: six per byte (`\u0041`).
    fn longest_echo(&self) -> usize {
        let longest = self.plain().iter().map(|p| p.bytes.len()).max();
        6 * longest.unwrap_or_default()
    }

    /// A server-supplied field (an OAuth error code, description, URI) as
    /// one clean line of at most `max_chars` characters.
    pub fn field(&self, text: &str, max_chars: usize) -> String {
        self.one_clean_line(&self.redact(text), max_chars)
    }

    /// A short readable excerpt of a body that is not the JSON we expected
    /// (an HTML error page, say), or `None` when nothing readable is left.
    pub fn excerpt(&self, body: &[u8], max_chars: usize) -> Option<String> {
        let text = String::from_utf8_lossy(body);
        let line = self.one_clean_line(&strip_markup(&self.redact(&text)), max_chars);
        (!line.is_empty()).then_some(line)
    }

    /// [`one_line`], redacted again: making one line of a text turns tabs,
    /// line breaks and runs of spaces into one space, which can make a
    /// secret's own spaces appear.
    pub(crate) fn one_clean_line(&self, redacted: &str, max_chars: usize) -> String {
        let line = one_line(redacted, max_chars);
        match self.redact(&line) {
            Cow::Borrowed(_) => line,
            Cow::Owned(again) => again,
        }
    }
}

/// `client_id:client_secret` as HTTP Basic carries it: as is, and with
/// both halves form-encoded first.
struct BasicCredentials {
    plain: Zeroizing<String>,
    form_encoded: Zeroizing<String>,
}

#[derive(Clone, Copy)]
enum HexCase {
    Lower,
    Upper,
}

/// Every form of `secret` whose base64 is looked for: as sent, and each
/// way [`escaped_forms`] writes it, with hex in both cases (base64 tells
/// `%2f` from `%2F`, where a text search need not).
fn forms_to_base64(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_owned()];
    forms.extend(escaped_forms(secret, HexCase::Lower));
    forms.extend(escaped_forms(secret, HexCase::Upper));
    forms.sort();
    forms.dedup();
    forms
}

/// `secret` escaped whole in the common ways: RFC 3986, form encoding and
/// every byte percent-encoded; JSON `\u` for every character; HTML
/// character references (the hex in `case`: text searches ignore ASCII
/// case, so they need only one). Reading a text with its escapes undone finds most echoes, but
/// not one that begins inside what looks like another escape
/// (`%2fuzz%20...` holds an echo of `fuzz ...`); looking for these forms as
/// written finds those.
fn escaped_forms(secret: &str, case: HexCase) -> Vec<String> {
    let hex = |out: &mut String, lead: &str, value: u32, width: usize| {
        let _ = match case {
            HexCase::Lower => write!(out, "{lead}{value:0width$x}"),
            HexCase::Upper => write!(out, "{lead}{value:0width$X}"),
        };
    };
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b);
    let form_safe = |b: u8| b.is_ascii_alphanumeric() || b"*-._".contains(&b);
    let percent = |keep: &dyn Fn(u8) -> bool, plus_for_space: bool| {
        let mut out = String::with_capacity(3 * secret.len());
        for byte in secret.bytes() {
            match byte {
                b' ' if plus_for_space => out.push('+'),
                byte if keep(byte) => out.push(char::from(byte)),
                byte => hex(&mut out, "%", byte.into(), 2),
            }
        }
        out
    };
    let each_char = |escape: &dyn Fn(&mut String, char)| {
        let mut out = String::with_capacity(8 * secret.len());
        secret.chars().for_each(|c| escape(&mut out, c));
        out
    };
    let mut forms = vec![
        percent(&unreserved, false),
        percent(&form_safe, true),
        percent(&|_| false, false),
        each_char(&|out, c| {
            for &unit in c.encode_utf16(&mut [0; 2]).iter() {
                hex(out, "\\u", unit.into(), 4);
            }
        }),
        each_char(&|out, c| {
            hex(out, "&#x", c.into(), 0);
            out.push(';');
        }),
        each_char(&|out, c| {
            let _ = write!(out, "&#{};", u32::from(c));
        }),
        each_char(&|out, c| match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }),
    ];
    let json = serde_json::to_string(secret).unwrap_or_default();
    forms.extend(json.get(1..json.len().saturating_sub(1)).map(str::to_owned));
    forms
}

/// Bytes to look for. Rabin-Karp costs next to nothing to set up, which
/// matters more here than search speed: texts are short, and the patterns
/// are made anew for each request. (Its hash depends on the secret, which
/// a server cannot choose its text to collide with.)
struct Pattern {
    bytes: Vec<u8>,
    finder: rabinkarp::Finder,
}

impl Pattern {
    /// Every place `haystack` holds the pattern, overlapping ones included.
    fn find_all<'h>(&'h self, haystack: &'h [u8]) -> impl Iterator<Item = Range<usize>> + 'h {
        let mut from = 0;
        std::iter::from_fn(move || {
            let at = from + self.finder.find(haystack.get(from..)?, &self.bytes)?;
            from = at + 1;
            Some(at..at + self.bytes.len())
        })
    }
}

/// The patterns in ASCII lower case, each once.
fn distinct(mut patterns: Vec<Vec<u8>>) -> Vec<Pattern> {
    patterns.iter_mut().for_each(|p| p.make_ascii_lowercase());
    patterns.sort();
    patterns.dedup();
    let pattern = |bytes: Vec<u8>| Pattern {
        finder: rabinkarp::Finder::new(&bytes),
        bytes,
    };
    patterns.into_iter().map(pattern).collect()
}

/// `secret` in base64, standard and URL-safe: whole (the padding left
/// aside), and as the piece that any longer base64 text holding `secret`
/// contains, for each of the three places it can start in a 3-byte group.
fn base64_forms(secret: &[u8]) -> Vec<Vec<u8>> {
    let mut forms = Vec::new();
    let mut shifted = Vec::with_capacity(secret.len() + 2);
    for offset in 0..3 {
        shifted.clear();
        shifted.resize(offset, 0);
        shifted.extend_from_slice(secret);
        let encoded = STANDARD_NO_PAD.encode(&shifted).into_bytes();
        if offset == 0 {
            forms.push(encoded.clone());
        }
        // Characters that also hold bits of the bytes before or after.
        let skip = [0, 2, 3][offset];
        let drop_last = usize::from(shifted.len() % 3 != 0);
        if let Some(piece) = encoded.get(skip..encoded.len() - drop_last)
            && piece.len() >= MIN_BASE64_PIECE
        {
            forms.push(piece.to_vec());
        }
    }
    let url_safe = forms
        .iter()
        .filter(|form| form.iter().any(|b| b"+/".contains(b)));
    let url_safe: Vec<Vec<u8>> = url_safe
        .map(|form| {
            let to_url_safe = |&b: &u8| match b {
                b'+' => b'-',
                b'/' => b'_',
                b => b,
            };
            form.iter().map(to_url_safe).collect()
        })
        .collect();
    forms.extend(url_safe);
    forms
}

/// `text` with each of the `found` byte ranges replaced by [`REDACTED`];
/// overlapping ranges become one, and none cuts a character in two.
fn cut_out(text: &str, found: Vec<Range<usize>>) -> String {
    let mut ranges: Vec<Range<usize>> = found
        .into_iter()
        .map(|range| widen_to_characters(text, range))
        .collect();
    ranges.sort_by_key(|range| range.start);
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for range in merged {
        out.push_str(&text[copied..range.start]);
        out.push_str(REDACTED);
        copied = range.end;
    }
    out.push_str(&text[copied..]);
    out
}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn widen_to_characters(text: &str, range: Range<usize>) -> Range<usize> {
    let (start, mut end) = (floor_char_boundary(text, range.start), range.end);
    while !text.is_char_boundary(end) {
        end += 1;
    }
    start..end
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
    fn redacts_echoes_in_another_letter_case() {
        let redactor = Redactor::new(["Secret-7f3a", "clé-Über"]);
        assert_eq!(
            redactor.field(
                "SECRET-7F3A secret-7f3a SeCrEt%2D7F3A CLÉ-ÜBER clé-über c%4cÉ-ÜBER",
                200
            ),
            "[redacted] [redacted] [redacted] [redacted] [redacted] [redacted]"
        );
    }

    #[test]
    fn redacts_raw_and_form_encoded_secrets() {
        let redactor = Redactor::new(["s3cr&t x", "code"]);
        assert_eq!(
            redactor.field("got s3cr&t x and s3cr%26t+x and code", 200),
            "got [redacted] and [redacted] and [redacted]"
        );
    }

    /// RFC 3986 percent-encoding: unreserved characters literal, the rest
    /// as `%XX` in the given case; `everything` encodes every byte.
    fn percent_encoded(text: &str, lowercase: bool, everything: bool) -> String {
        let mut out = String::new();
        for &byte in text.as_bytes() {
            let unreserved = byte.is_ascii_alphanumeric() || b"-._~".contains(&byte);
            match (unreserved && !everything, lowercase) {
                (true, _) => out.push(byte.into()),
                (false, false) => out.push_str(&format!("%{byte:02X}")),
                (false, true) => out.push_str(&format!("%{byte:02x}")),
            }
        }
        out
    }

    fn escaped_each(text: &str, escape: impl Fn(char) -> String) -> String {
        text.chars().map(escape).collect()
    }

    /// Every way the tests expect a server to echo `secret`.
    fn encodings_of(secret: &str, client_id: &str) -> Vec<(&'static str, String)> {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
        let pair = format!("{client_id}:{secret}");
        let mut forms = vec![
            ("raw", secret.to_owned()),
            (
                "form",
                form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
            ),
            ("rfc3986", percent_encoded(secret, false, false)),
            ("rfc3986 lowercase", percent_encoded(secret, true, false)),
            (
                "every byte percent-encoded",
                percent_encoded(secret, false, true),
            ),
            ("json", serde_json::to_string(secret).unwrap()),
            (
                "json \\u",
                escaped_each(secret, |c| {
                    let mut units = [0; 2];
                    c.encode_utf16(&mut units)
                        .iter()
                        .map(|u| format!("\\u{u:04x}"))
                        .collect()
                }),
            ),
            (
                "json \\U",
                escaped_each(secret, |c| format!("\\u{:04X}", c as u32)),
            ),
            (
                "html decimal",
                escaped_each(secret, |c| format!("&#{};", c as u32)),
            ),
            (
                "html hex",
                escaped_each(secret, |c| format!("&#x{:x};", c as u32)),
            ),
            (
                "html names",
                escaped_each(secret, |c| match c {
                    '&' => "&amp;".into(),
                    '<' => "&lt;".into(),
                    '"' => "&quot;".into(),
                    c => c.into(),
                }),
            ),
            ("basic", format!("Basic {}", STANDARD.encode(&pair))),
            ("basic url-safe", URL_SAFE.encode(&pair)),
        ];
        for engine in [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
            forms.push(("base64", engine.encode(secret)));
            if secret.len() < 9 {
                continue; // too short to be told apart inside other base64
            }
            for prefix in ["", "x", "xy", "{\"client_secret\":\""] {
                forms.push((
                    "inside base64",
                    engine.encode(format!("{prefix}{secret}\"}}")),
                ));
            }
        }
        forms
    }

    /// The body of a request with `secret` in it, escaped each way of
    /// [`encodings_of`], then base64-encoded whole (standard and URL-safe)
    /// as a server that echoes the request body in a header would; and
    /// Basic credentials with both halves form-encoded (RFC 6749 §2.3.1).
    fn base64_bodies_of(secret: &str, client_id: &str) -> Vec<(String, String)> {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let escaped = encodings_of(secret, client_id)
            .into_iter()
            .filter(|(name, _)| !name.contains("base64") && !name.starts_with("basic"));
        let mut forms = Vec::new();
        for (name, encoded) in escaped {
            for prefix in ["", "g", "gr"] {
                let body = format!("{prefix}grant_type=x&client_secret={encoded}&client_id=y");
                forms.push((format!("base64 of {name}"), STANDARD.encode(&body)));
                forms.push((
                    format!("url-safe base64 of {name}"),
                    URL_SAFE_NO_PAD.encode(&body),
                ));
            }
        }
        let form =
            |text: &str| form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
        let pair = format!("{}:{}", form(client_id), form(secret));
        forms.push(("basic, form-encoded".into(), STANDARD.encode(pair)));
        forms
    }

    /// `secret` percent-encoded keeping `kept` as is (each library keeps its
    /// own set: Python's quote keeps `/`, JavaScript's encodeURIComponent
    /// `!'()*`), with `+` for a space when `plus`.
    fn percent_keeping(secret: &str, kept: &str, plus: bool) -> String {
        let keep = |b: u8| {
            b.is_ascii_alphanumeric() || b"-._~".contains(&b) || kept.as_bytes().contains(&b)
        };
        secret
            .bytes()
            .map(|b| match b {
                b' ' if plus => "+".to_owned(),
                b if keep(b) => char::from(b).to_string(),
                b => format!("%{b:02X}"),
            })
            .collect()
    }

    /// Any escaping, then any wrapping in base64 or hex, once or twice: the
    /// redactor decodes what it finds and reads it with escapes undone.
    #[test]
    fn redacts_a_secret_escaped_any_way_then_encoded_again() {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let mime = |bytes: &[u8]| {
            let encoded = STANDARD.encode(bytes);
            let lines: Vec<&str> = encoded
                .as_bytes()
                .chunks(76)
                .map(|l| std::str::from_utf8(l).unwrap())
                .collect();
            lines.join("\r\n")
        };
        for secret in [
            "S3cr&t=x+y/z%Q-long",
            "sp ace sec'ret (x)!*~long",
            "pässwörd-ünïcode-long",
        ] {
            let redactor = Redactor::new([secret]);
            let escaped = [
                percent_keeping(secret, "/", false),
                percent_keeping(secret, "!'()*", false),
                percent_keeping(secret, "", true),
                secret.replace('&', "&amp;").replace('\'', "&#x27;"),
                serde_json::to_string(secret).unwrap(),
            ];
            for escaped in escaped {
                let body = format!("grant_type=x&client_secret={escaped}&client_id=y");
                let wrapped = [
                    STANDARD.encode(&body),
                    URL_SAFE_NO_PAD.encode(&body),
                    STANDARD.encode(STANDARD.encode(&body)),
                    mime(body.as_bytes()),
                    hex(body.as_bytes()),
                    hex(body.as_bytes()).to_uppercase(),
                ];
                for wrapped in wrapped {
                    let message = redactor.field(&format!("echo: {wrapped} (end)"), 100_000);
                    assert_eq!(
                        message, "echo: [redacted] (end)",
                        "{escaped:?} in {wrapped}"
                    );
                }
            }
        }
    }

    /// The form body a server percent-encodes again into a URL
    /// (`client_secret%3DS3cr%2526t...`), and that in base64.
    #[test]
    fn redacts_the_form_body_percent_encoded_once_more() {
        use base64::engine::general_purpose::STANDARD;
        let secret = "S3cr&t=x+y/z%Q-long";
        let redactor = Redactor::new([secret]);
        let body: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("client_secret", secret)
            .finish();
        let again: String = form_urlencoded::byte_serialize(body.as_bytes()).collect();
        for echo in [again.clone(), STANDARD.encode(&again)] {
            let message = redactor.field(&format!("?e={echo} x"), 1000);
            assert!(
                message.contains(REDACTED) && !message.contains("S3cr"),
                "{message}"
            );
        }
    }

    #[test]
    fn redacts_base64_of_every_escaped_form() {
        // The review's secret: its form encoding differs from itself.
        for secret in [
            "S3cr&t=x+y/z%Q-long",
            "s3cr&t x~*/<é\"+",
            "plain-Secret_123.~",
        ] {
            let redactor = Redactor::new([secret]).with_basic_credentials("client-7", secret);
            for (name, encoded) in base64_bodies_of(secret, "client-7") {
                let message = redactor.field(&format!("echo: {encoded} (end)"), 100_000);
                assert!(
                    message.contains(REDACTED),
                    "{name} of {secret:?}: {message}"
                );
                assert!(
                    !message.contains(&encoded),
                    "{name} of {secret:?}: {message}"
                );
            }
        }
    }

    #[test]
    fn redacts_every_encoding_a_server_is_likely_to_use() {
        for secret in ["s3cr&t x~*/<é\"+", "plain-Secret_123.~", "x y z"] {
            let redactor = Redactor::new([secret]).with_basic_credentials("client-7", secret);
            for (name, encoded) in encodings_of(secret, "client-7") {
                let message = redactor.field(&format!("echo: {encoded} (end)"), 1000);
                assert!(
                    message.starts_with("echo: ") && message.ends_with(" (end)"),
                    "{name} of {secret:?}: {message}"
                );
                assert!(
                    message.contains(REDACTED),
                    "{name} of {secret:?}: {message}"
                );
                assert!(
                    !message.contains(secret) && !message.contains(&encoded),
                    "{name} of {secret:?}: {message}"
                );
            }
        }
    }

    /// Found by the `answer` fuzz target: an echo that begins inside what
    /// reads as another escape.
    #[test]
    fn an_echo_overlapping_another_escape_is_redacted() {
        let redactor = Redactor::new(["fuzz secret~*/"]);
        for text in [r#"{"\fuzz+secret%7E*%2F"}"#, "x~%2fuzz%20secret~%2a%2f y"] {
            let redacted = redactor.field(text, 200);
            assert!(
                redacted.contains(REDACTED) && !redacted.contains("uzz"),
                "{redacted}"
            );
        }
    }

    #[test]
    fn a_secret_whose_spaces_are_sent_as_other_white_space_is_redacted() {
        let redactor = Redactor::new(["my secret"]);
        assert_eq!(redactor.field("my\tsecret", 100), "[redacted]");
        assert_eq!(
            redactor.excerpt(b"<b>my\r\n  secret</b>", 100).as_deref(),
            Some("[redacted]")
        );
    }

    #[test]
    fn long_texts_are_cut_before_a_secret_that_runs_past_the_window() {
        let secret = "secret-0123456789";
        let redactor = Redactor::new([secret]);
        for filler in MAX_TEXT_BYTES - 40..MAX_TEXT_BYTES + 2 {
            let text = format!("{}{secret}{}", "é".repeat(filler / 2), "x".repeat(100));
            let redacted = redactor.redact(&text);
            assert!(redacted.len() <= MAX_TEXT_BYTES + 3, "{filler}");
            assert!(redacted.ends_with("..."));
            for cut in 4..secret.len() {
                assert!(
                    !redacted.contains(&secret[..cut]) || cut < 7,
                    "{filler}: {cut}"
                );
            }
        }
        let whole = format!("{secret}{}", " ".repeat(MAX_TEXT_BYTES));
        assert!(redactor.redact(&whole).starts_with("[redacted] "));
    }

    #[test]
    fn redaction_keeps_the_text_around_and_merges_overlaps() {
        let redactor = Redactor::new(["secret-one", "one-two"]);
        assert_eq!(
            redactor.field("é secret-one-two é %73ecret-one", 100),
            "é [redacted] é [redacted]"
        );
        assert_eq!(redactor.field("nothing here", 100), "nothing here");
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
