//! Argument parsing with Redis's rules and error texts.

use super::CommandError;
use bytes::Bytes;

/// Arguments up to this long are copied when a collection keeps them.
const COPY_MAX: usize = 256;

/// An argument for a collection to keep. A short one is copied: sharing the parser's
/// buffer would allocate a reference-counted header for it anyway (twice the memory of a
/// small element) and make every later clone and drop atomic. A long one is shared.
pub fn stored_arg(arg: &Bytes) -> Bytes {
    if arg.len() <= COPY_MAX {
        Bytes::copy_from_slice(arg)
    } else {
        arg.clone()
    }
}

/// Redis's `string2ll`: optional `-`, digits, no leading zeros or spaces, fits in i64.
pub fn parse_i64(arg: &[u8]) -> Result<i64, CommandError> {
    let digits = arg.strip_prefix(b"-").unwrap_or(arg);
    let well_formed = !digits.is_empty()
        && digits.len() <= 20
        && digits.iter().all(u8::is_ascii_digit)
        && (digits == b"0" || digits[0] != b'0')
        && arg != b"-0";
    if !well_formed {
        return Err(CommandError::NotInteger);
    }
    std::str::from_utf8(arg)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(CommandError::NotInteger)
}

/// An integer that must not be negative, with the caller's error for negatives.
pub fn parse_non_negative(arg: &[u8], negative: CommandError) -> Result<i64, CommandError> {
    let n = parse_i64(arg)?;
    if n < 0 {
        return Err(negative);
    }
    Ok(n)
}

/// Redis's `string2d` (strtod): no leading space, nothing after the number, never NaN.
pub fn parse_f64(arg: &[u8]) -> Result<f64, CommandError> {
    parse_float_text(arg).ok_or(CommandError::NotFloat)
}

pub(crate) fn parse_float_text(arg: &[u8]) -> Option<f64> {
    if arg.first().is_none_or(u8::is_ascii_whitespace) {
        return None;
    }
    strtod(arg).filter(|f| !f.is_nan())
}

/// C's `strtod` over all of `text`: decimal or hex (`0x1.8p3`) digits, `inf`, `infinity`
/// or `nan`, after one optional sign; ±inf on overflow and 0 on underflow, as strtod
/// returns them. `None` unless all of `text` is the number.
pub(crate) fn strtod(text: &[u8]) -> Option<f64> {
    let unsigned = text
        .strip_prefix(b"-")
        .or_else(|| text.strip_prefix(b"+"))
        .unwrap_or(text);
    if unsigned.len() > 2 && unsigned[0] == b'0' && unsigned[1].eq_ignore_ascii_case(&b'x') {
        return super::long_double::hex_double(text);
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// A database number for SELECT, MOVE, COPY … DB, SWAPDB.
pub fn parse_db_index(arg: &[u8]) -> Result<usize, CommandError> {
    let db = parse_i64(arg)?;
    if !(0..crate::keyspace::NUM_DBS as i64).contains(&db) {
        return Err(CommandError::err("DB index is out of range"));
    }
    Ok(db as usize)
}

/// Case-insensitive comparison of an argument with an option keyword.
pub fn is(arg: &[u8], keyword: &str) -> bool {
    arg.eq_ignore_ascii_case(keyword.as_bytes())
}

/// A blocking command's timeout in seconds (fractions allowed), as milliseconds; 0 = forever.
pub fn parse_timeout(arg: &[u8]) -> Result<u64, CommandError> {
    let secs = parse_float_text(arg)
        .filter(|f| f.is_finite())
        .ok_or_else(|| CommandError::err("timeout is not a float or out of range"))?;
    if secs < 0.0 {
        return Err(CommandError::err("timeout is negative"));
    }
    Ok((secs * 1000.0).ceil() as u64)
}

/// Redis's glob matcher (`stringmatchlen`): `*`, `?`, `[abc]`, `[^a-z]`, `\x` escapes.
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    glob_at(pattern, text, false)
}

/// Case-insensitive variant, used by CONFIG GET.
pub fn glob_match_nocase(pattern: &[u8], text: &[u8]) -> bool {
    glob_at(pattern, text, true)
}

fn glob_at(mut p: &[u8], mut s: &[u8], nocase: bool) -> bool {
    let fold = |c: u8| if nocase { c.to_ascii_lowercase() } else { c };
    while !p.is_empty() {
        match p[0] {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                return (0..=s.len()).any(|i| glob_at(&p[1..], &s[i..], nocase));
            }
            b'?' => {
                if s.is_empty() {
                    return false;
                }
                s = &s[1..];
            }
            b'[' => {
                let Some((&c, rest)) = s.split_first() else {
                    return false;
                };
                let (matched, after) = match_class(&p[1..], fold(c), &fold);
                if !matched {
                    return false;
                }
                s = rest;
                p = after;
                continue;
            }
            b'\\' if p.len() >= 2 => {
                if s.first().map(|&c| fold(c)) != Some(fold(p[1])) {
                    return false;
                }
                s = &s[1..];
                p = &p[2..];
                continue;
            }
            c => {
                if s.first().map(|&x| fold(x)) != Some(fold(c)) {
                    return false;
                }
                s = &s[1..];
            }
        }
        p = &p[1..];
    }
    s.is_empty()
}

/// Matches one character against a `[...]` class; returns the pattern after the class.
fn match_class<'p>(mut p: &'p [u8], c: u8, fold: &dyn Fn(u8) -> u8) -> (bool, &'p [u8]) {
    let negate = p.first() == Some(&b'^');
    if negate {
        p = &p[1..];
    }
    let mut matched = false;
    loop {
        match p {
            [] => break,
            [b']', rest @ ..] => {
                p = rest;
                break;
            }
            [b'\\', x, rest @ ..] => {
                matched |= fold(*x) == c;
                p = rest;
            }
            [a, b'-', b, rest @ ..] if *b != b']' => {
                let (lo, hi) = if fold(*a) <= fold(*b) {
                    (fold(*a), fold(*b))
                } else {
                    (fold(*b), fold(*a))
                };
                matched |= lo <= c && c <= hi;
                p = rest;
            }
            [x, rest @ ..] => {
                matched |= fold(*x) == c;
                p = rest;
            }
        }
    }
    (matched != negate, p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_follow_string2ll() {
        assert_eq!(parse_i64(b"-42"), Ok(-42));
        assert!(parse_i64(b"042").is_err());
        assert!(parse_i64(b" 1").is_err());
        assert!(parse_i64(b"+1").is_err());
        assert!(parse_i64(b"9223372036854775808").is_err());
        assert_eq!(parse_i64(b"-9223372036854775808"), Ok(i64::MIN));
    }

    #[test]
    fn globs() {
        assert!(glob_match(b"h?llo", b"hello"));
        assert!(glob_match(b"h*llo", b"heeeello"));
        assert!(glob_match(b"h[ae]llo", b"hallo"));
        assert!(!glob_match(b"h[^e]llo", b"hello"));
        assert!(glob_match(b"h[a-b]llo", b"hbllo"));
        assert!(glob_match(b"h\\*llo", b"h*llo"));
        assert!(!glob_match(b"*a", b"b"));
    }
}
