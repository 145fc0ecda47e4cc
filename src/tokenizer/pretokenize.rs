//! GPT-2's byte-to-character map and its pre-tokenisation regex, written out by hand (no regex
//! engine in the wasm build; tests compare with fancy-regex).

use std::collections::HashMap;

/// GPT-2's `bytes_to_unicode`: byte -> a printable character. Printable Latin-1 bytes map to
/// themselves, the other 68 to U+0100.. in byte order.
pub fn byte_to_char() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut n = 0u32;
    for b in 0..=255u8 {
        let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        table[b as usize] = if printable {
            b as char
        } else {
            n += 1;
            char::from_u32(255 + n).expect("U+0100..U+0143 are chars")
        };
    }
    table
}

pub(crate) fn char_to_byte() -> HashMap<char, u8> {
    byte_to_char().iter().enumerate().map(|(b, &c)| (c, b as u8)).collect()
}

/// Bytes as a byte-level vocabulary string.
pub fn bytes_to_token(bytes: &[u8]) -> String {
    let t = byte_to_char();
    bytes.iter().map(|&b| t[b as usize]).collect()
}

/// The classes GPT-2's pattern tells apart: `\p{L}`, `\p{N}`, `\s` and everything else.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Class {
    Letter,
    Number,
    Space,
    Other,
}

fn class(c: char) -> Class {
    if c.is_ascii() {
        return match c {
            'a'..='z' | 'A'..='Z' => Class::Letter,
            '0'..='9' => Class::Number,
            ' ' | '\t' | '\n' | '\r' | '\x0B' | '\x0C' => Class::Space,
            _ => Class::Other,
        };
    }
    let in_l = super::letters::LETTER
        .binary_search_by(|&(lo, hi)| if hi < c { std::cmp::Ordering::Less } else if lo > c { std::cmp::Ordering::Greater } else { std::cmp::Ordering::Equal })
        .is_ok();
    if in_l {
        Class::Letter
    } else if c.is_numeric() {
        Class::Number // general category N (Nd, Nl, No)
    } else if c.is_whitespace() {
        Class::Space // White_Space, as \s
    } else {
        Class::Other
    }
}

/// Splits text into GPT-2 pre-tokens, as repeated leftmost-first matches of
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
/// (written out by hand: no regex engine in the wasm build; tests compare with fancy-regex).
pub fn pretokenize(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < text.len() {
        let end = next_pretoken(text, pos);
        out.push(&text[pos..end]);
        pos = end;
    }
    out
}

/// End of the pre-token that starts at `pos`.
fn next_pretoken(text: &str, pos: usize) -> usize {
    let rest = &text[pos..];
    // 's|'t|'re|'ve|'m|'ll|'d
    if rest.starts_with('\'') {
        for c in ["s", "t", "re", "ve", "m", "ll", "d"] {
            if rest[1..].starts_with(c) {
                return pos + 1 + c.len();
            }
        }
    }
    let mut chars = rest.char_indices().map(|(i, c)| (i, class(c)));
    let (_, first) = chars.next().expect("rest is not empty");
    // ` ?X+` for X in L, N, other: an optional space, then a run of one class.
    let (run_start, run_class) = match (rest.starts_with(' '), first) {
        (true, _) => match rest[1..].chars().next().map(class) {
            Some(k) if k != Class::Space => (1, k),
            _ => (0, Class::Space),
        },
        (false, k) => (0, k),
    };
    let run_end = |from: usize, k: Class| {
        rest[from..].char_indices().find(|&(_, c)| class(c) != k).map_or(rest.len(), |(i, _)| from + i)
    };
    if run_class != Class::Space {
        return pos + run_end(run_start, run_class);
    }
    // \s+(?!\S)|\s+ : a run of whitespace; before a non-space it leaves its last character
    // (unless that is all of it) to start the next pre-token.
    let end = run_end(0, Class::Space);
    if end < rest.len() {
        let last = rest[..end].chars().next_back().expect("run is not empty");
        if end > last.len_utf8() {
            return pos + end - last.len_utf8();
        }
    }
    pos + end
}

