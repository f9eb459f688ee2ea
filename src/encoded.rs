//! Runs of base64 or hex in a text a server sent, and what they decode to,
//! so that the redactor can look inside them: a server may echo the request
//! body, or a secret escaped any way, encoded once or twice more.

use std::ops::Range;

use base64::Engine;
use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Shorter runs are not decoded: a secret's own base64 is looked for as
/// written (see `sanitize`), and most words of a text are shorter.
pub(crate) const MIN_RUN: usize = 16;

/// Base64 as a server may have written it: the last bits of a text cut
/// short need not be zero.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

fn is_base64(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"+/-_".contains(&byte)
}

/// Each run of at least [`MIN_RUN`] base64 characters in `text` (hex
/// being a part of that alphabet), with its padding. A run goes on across
/// a line break (one or two white-space characters) after a piece whose
/// length is a multiple of 4, as MIME and PEM break base64 into lines.
pub(crate) fn runs(text: &[u8]) -> Vec<Range<usize>> {
    let mut runs = Vec::new();
    let mut at = 0;
    while at < text.len() {
        if !is_base64(text[at]) {
            at += 1;
            continue;
        }
        let (start, mut characters) = (at, 0);
        loop {
            let piece = text[at..].iter().take_while(|&&b| is_base64(b)).count();
            at += piece;
            characters += piece;
            let space = text[at..]
                .iter()
                .take(2)
                .take_while(|b| b.is_ascii_whitespace())
                .count();
            let continues = piece % 4 == 0
                && piece >= MIN_RUN
                && space > 0
                && text.get(at + space).is_some_and(|&b| is_base64(b));
            if !continues {
                break;
            }
            at += space;
        }
        if characters >= MIN_RUN {
            let padding = text[at..]
                .iter()
                .take(2)
                .take_while(|&&b| b == b'=')
                .count();
            runs.push(start..at + padding);
        }
    }
    runs
}

/// What `run` can decode to: base64 (either alphabet) read from each of
/// its first four characters, and each stretch of [`MIN_RUN`] hex digits
/// or more in it as hex, from each of its first two.
pub(crate) fn decodings(run: &[u8]) -> Vec<Vec<u8>> {
    let characters: Vec<u8> = run
        .iter()
        .filter(|&&b| !b.is_ascii_whitespace() && b != b'=')
        .map(|&b| match b {
            b'-' => b'+',
            b'_' => b'/',
            b => b,
        })
        .collect();
    let mut decoded = Vec::new();
    for skip in 0..4.min(characters.len()) {
        let from = &characters[skip..];
        // One character alone cannot end a base64 text.
        let usable = &from[..from.len() - usize::from(from.len() % 4 == 1)];
        decoded.extend(LENIENT.decode(usable).ok());
    }
    let hex_stretches = characters.split(|b| !b.is_ascii_hexdigit());
    for hex in hex_stretches.filter(|hex| hex.len() >= MIN_RUN) {
        for skip in 0..2 {
            let pairs = hex[skip..].chunks_exact(2);
            decoded.push(
                pairs
                    .map(|pair| hex_value(pair[0]) << 4 | hex_value(pair[1]))
                    .collect(),
            );
        }
    }
    decoded
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};

    fn decodes_to(text: &str, wanted: &[u8]) -> bool {
        let bytes = text.as_bytes();
        runs(bytes).into_iter().any(|run| {
            let decoded = decodings(&bytes[run]);
            decoded
                .iter()
                .any(|d| d.windows(wanted.len()).any(|w| w == wanted))
        })
    }

    #[test]
    fn base64_hex_and_mime_lines_are_read_from_any_start() {
        let body = b"grant_type=client_credentials&client_secret=S3cr%26t";
        for prefix in ["", "x", "xy", "xyz"] {
            let mut with = prefix.as_bytes().to_vec();
            with.extend_from_slice(body);
            for encoded in [STANDARD.encode(&with), URL_SAFE.encode(&with)] {
                assert!(
                    decodes_to(&format!("?b={encoded}&c=1"), b"S3cr%26t"),
                    "{encoded}"
                );
            }
        }
        let hex: String = body.iter().map(|b| format!("{b:02x}")).collect();
        assert!(decodes_to(&format!("x{hex} y"), b"S3cr%26t"));
        let mime = STANDARD.encode([&b"0123456789abcdef"[..], body].concat());
        let (first, rest) = mime.split_at(20);
        assert!(decodes_to(&format!("{first} {rest}"), b"S3cr%26t"));
    }

    #[test]
    fn short_words_are_no_runs() {
        assert!(runs(b"401 Unauthorized: invalid_client, try again later").is_empty());
        assert_eq!(runs(b"a 0123456789abcdefXY b"), vec![2..20]);
    }
}
