//! Text as it reads with the escapes a server may apply undone: RFC 3986
//! percent-encoding (either case of hex), JSON's `\uXXXX` and `\/`-style escapes, and HTML character references
//! (`&#115;`, `&#x73;`, `&amp;` and the other four XML names). Each byte of
//! the unescaped text remembers which bytes of the original it came from,
//! so that a secret found in the unescaped text can be cut out of the
//! original, whatever mix of escapes it was written in. (Form encoding's
//! `+` for a space is left alone: it is the redactor's to look for, since
//! a `+` may as well be itself.)

use std::ops::Range;

/// A family of escapes. A text can often be read more than one way (`\f`
/// is a JSON escape, or a backslash before `fuzz`), so the redactor reads
/// it once per family it holds and once with all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    Percent,
    Json,
    Html,
}

pub struct Unescaped {
    pub bytes: Vec<u8>,
    /// For each byte of `bytes`, where it came from in the original.
    origins: Vec<Range<usize>>,
}

impl Unescaped {
    /// `text` with the escapes of `families` undone.
    pub fn new(text: &str, families: &[Escape]) -> Unescaped {
        let source = text.as_bytes();
        let mut unescaped = Unescaped {
            bytes: Vec::with_capacity(source.len()),
            origins: Vec::with_capacity(source.len()),
        };
        let mut at = 0;
        while at < source.len() {
            let (character, length) = escape_at(&source[at..], families).unwrap_or((None, 1));
            match character {
                Some(character) => {
                    let mut utf8 = [0; 4];
                    for &byte in character.encode_utf8(&mut utf8).as_bytes() {
                        unescaped.push(byte, at..at + length);
                    }
                }
                None if length == 3 => unescaped.push(percent_byte(&source[at..]), at..at + 3),
                None => unescaped.push(source[at], at..at + 1),
            }
            at += length;
        }
        unescaped
    }

    fn push(&mut self, byte: u8, origin: Range<usize>) {
        self.bytes.push(byte);
        self.origins.push(origin);
    }

    /// The part of the original that `range` of the unescaped bytes came from.
    pub fn origin_of(&self, range: Range<usize>) -> Range<usize> {
        self.origins[range.start].start..self.origins[range.end - 1].end
    }
}

/// The escape that starts `rest`, if any: the character it stands for
/// (`None` for a percent-encoded byte, which may be part of a UTF-8
/// sequence) and its length in bytes.
fn escape_at(rest: &[u8], families: &[Escape]) -> Option<(Option<char>, usize)> {
    let family = match rest.first()? {
        b'%' => Escape::Percent,
        b'\\' => Escape::Json,
        b'&' => Escape::Html,
        _ => return None,
    };
    if !families.contains(&family) {
        return None;
    }
    match rest {
        [b'%', high, low, ..] if high.is_ascii_hexdigit() && low.is_ascii_hexdigit() => {
            Some((None, 3))
        }
        [b'\\', b'u', hex @ ..] => {
            let digits = hex.get(..4)?;
            char::from_u32(number(digits, 16)?).map(|c| (Some(c), 6))
        }
        [b'\\', escaped, ..] => json_escape(*escaped).map(|c| (Some(c), 2)),
        [b'&', reference @ ..] => {
            let end = reference.iter().take(10).position(|&b| b == b';')?;
            character_reference(&reference[..end]).map(|c| (Some(c), end + 2))
        }
        _ => None,
    }
}

fn percent_byte(escape: &[u8]) -> u8 {
    u8::try_from(number(&escape[1..3], 16).unwrap_or_default()).unwrap_or_default()
}

fn json_escape(escaped: u8) -> Option<char> {
    Some(match escaped {
        b'"' | b'\\' | b'/' => escaped.into(),
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        _ => return None,
    })
}

/// `#115`, `#x73` or a name, between `&` and `;`.
fn character_reference(reference: &[u8]) -> Option<char> {
    let code = match reference {
        [b'#', b'x' | b'X', hex @ ..] => number(hex, 16)?,
        [b'#', decimal @ ..] => number(decimal, 10)?,
        b"amp" => '&'.into(),
        b"lt" => '<'.into(),
        b"gt" => '>'.into(),
        b"quot" => '"'.into(),
        b"apos" => '\''.into(),
        _ => return None,
    };
    char::from_u32(code)
}

fn number(digits: &[u8], radix: u32) -> Option<u32> {
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    u32::from_str_radix(std::str::from_utf8(digits).ok()?, radix).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVERY_ESCAPE: &[Escape] = &[Escape::Percent, Escape::Json, Escape::Html];

    fn unescape(text: &str) -> String {
        String::from_utf8(Unescaped::new(text, EVERY_ESCAPE).bytes).unwrap()
    }

    #[test]
    fn every_escape_reads_as_its_character() {
        assert_eq!(unescape("a%20b%2a%2A+c~"), "a b**+c~");
        assert_eq!(unescape(r"\u0073\u00E9\/\n"), "sé/\n");
        assert_eq!(
            unescape("&#115;&#x73;&#X53;&amp;&lt;&gt;&quot;&apos;"),
            "ssS&<>\"'"
        );
        assert_eq!(unescape("%C3%A9"), "é");
    }

    #[test]
    fn what_is_not_an_escape_stays() {
        for text in [
            "100%", "%zz", r"\u12", r"\q", "&nbsp;", "&#;", "& x;", "&#xD800;", "é",
        ] {
            assert_eq!(unescape(text), text);
        }
    }

    #[test]
    fn only_the_families_asked_for_are_undone() {
        let text = r"\f%41&#66;";
        let read = |families| String::from_utf8(Unescaped::new(text, families).bytes).unwrap();
        assert_eq!(read(&[Escape::Percent]), r"\fA&#66;");
        assert_eq!(read(&[Escape::Json]), "\u{c}%41&#66;");
        assert_eq!(read(&[Escape::Html]), r"\f%41B");
    }

    #[test]
    fn origins_point_back_into_the_original() {
        let text = "x&#115;%65c";
        let unescaped = Unescaped::new(text, EVERY_ESCAPE);
        assert_eq!(unescaped.bytes, b"xsec");
        assert_eq!(&text[unescaped.origin_of(1..3)], "&#115;%65");
    }
}
