//! Redis's `long double` arithmetic for INCRBYFLOAT and HINCRBYFLOAT.
//!
//! Redis 7.0 on x86-64 parses with `strtold` (80-bit x87 extended precision, correctly
//! rounded), adds in that precision and prints with `%.17Lf` minus trailing zeros. Doing
//! the same in `f64` gives different digits (`10.5 + 0.1` must print `10.6`), so this
//! module emulates it exactly: `rustc_apfloat`'s software 80-bit float for parsing and
//! addition, and an exact decimal expansion of the binary result for printing.

use super::CommandError;
use bytes::Bytes;
use num_bigint::BigUint;
use rustc_apfloat::ieee::{Double, X87DoubleExtended};
use rustc_apfloat::{Float, Round, Status};

/// An 80-bit x87 `long double`.
#[derive(Debug, Clone, Copy)]
pub struct LongDouble(X87DoubleExtended);

/// Redis's `MAX_LONG_DOUBLE_CHARS`: longer inputs are not numbers to `string2ld`.
const MAX_LONG_DOUBLE_CHARS: usize = 5 * 1024;

/// Digits `%.17Lf` prints after the point.
const FRACTION_DIGITS: usize = 17;

/// INCRBYFLOAT's arithmetic: `current + incr`, formatted as Redis stores it.
pub fn incr_by_float(current: &[u8], incr: &[u8]) -> Result<Bytes, CommandError> {
    let value = LongDouble::parse(current).ok_or(CommandError::NotFloat)?;
    let incr = LongDouble::parse(incr).ok_or(CommandError::NotFloat)?;
    Ok(value.checked_add(incr)?.to_bytes())
}

impl LongDouble {
    pub const ZERO: LongDouble = LongDouble(X87DoubleExtended::ZERO);

    /// Redis's `string2ld`: the whole argument must be a `strtold` number, with no leading
    /// space, not NaN, and not overflowing or underflowing to zero.
    pub fn parse(text: &[u8]) -> Option<LongDouble> {
        if text.is_empty() || text.len() >= MAX_LONG_DOUBLE_CHARS {
            return None;
        }
        // strtold must consume the whole argument, so an embedded NUL is refused too.
        if is_c_space(text[0]) || text.contains(&0) {
            return None;
        }
        let number = StrtoldNumber::scan(text)?;
        number.value().map(LongDouble)
    }

    pub fn is_finite(self) -> bool {
        self.0.is_finite()
    }

    /// `a + b` in extended precision; Redis refuses a NaN or infinite result.
    pub fn checked_add(self, other: LongDouble) -> Result<LongDouble, CommandError> {
        let sum = self.0.add_r(other.0, Round::NearestTiesToEven).value;
        if !sum.is_finite() {
            return Err(CommandError::err("increment would produce NaN or Infinity"));
        }
        Ok(LongDouble(sum))
    }

    /// Redis's `ld2string(..., LD_STR_HUMAN)`: `%.17Lf`, trailing zeros and point
    /// dropped, `-0` printed as `0`. Only called on finite values.
    pub fn to_bytes(self) -> Bytes {
        let (negative, integer, fraction) = self.fixed_17();
        let mut text = String::new();
        if negative && (integer != BigUint::ZERO || fraction != 0) {
            text.push('-');
        }
        text.push_str(&integer.to_string());
        let fraction = format!("{fraction:0width$}", width = FRACTION_DIGITS);
        let fraction = fraction.trim_end_matches('0');
        if !fraction.is_empty() {
            text.push('.');
            text.push_str(fraction);
        }
        Bytes::from(text)
    }

    /// The value rounded to 17 decimals as glibc's printf does: on the exact binary
    /// value, ties to even. Returns (sign, integer part, fraction as 17 digits).
    fn fixed_17(self) -> (bool, BigUint, u64) {
        const SCALE: u128 = 10u128.pow(FRACTION_DIGITS as u32);
        let (negative, significand, exponent) = decompose(self.0.to_bits());
        if exponent >= 0 {
            return (negative, BigUint::from(significand) << exponent as usize, 0);
        }
        // value * 10^17 = significand * 10^17 / 2^shift; the product fits in 121 bits.
        let shift = exponent.unsigned_abs();
        let scaled = significand as u128 * SCALE;
        let rounded = if shift >= 128 {
            // Below 2^-7 after scaling: rounds to zero.
            0
        } else {
            let quotient = scaled >> shift;
            let remainder = scaled & ((1u128 << shift) - 1);
            let half = 1u128 << (shift - 1);
            let round_up = remainder > half || (remainder == half && quotient & 1 == 1);
            quotient + round_up as u128
        };
        (
            negative,
            BigUint::from(rounded / SCALE),
            (rounded % SCALE) as u64,
        )
    }
}

/// Splits the 80-bit encoding into sign, significand (explicit integer bit) and the power
/// of two it is multiplied by.
fn decompose(bits: u128) -> (bool, u64, i32) {
    const BIAS: i32 = 16383;
    let negative = bits >> 79 & 1 == 1;
    let biased = (bits >> 64 & 0x7fff) as i32;
    let significand = bits as u64;
    // Denormals use the smallest normal exponent.
    let exponent = biased.max(1) - BIAS - 63;
    (negative, significand, exponent)
}

/// C's `strtod` of a whole hex float (`0x1.8p3`, `-0X.8`): the correctly rounded double,
/// ±inf when it overflows and 0 or a subnormal when it underflows, as strtod returns
/// them; `None` unless all of `text` is one hex float.
pub fn hex_double(text: &[u8]) -> Option<f64> {
    let number = StrtoldNumber::scan(text)?;
    let NumberKind::Finite {
        hex: true,
        digits,
        exponent,
    } = number.kind
    else {
        return None;
    };
    let canonical = format!("0x{}p{exponent}", std::str::from_utf8(digits).ok()?);
    let parsed = Double::from_str_r(&canonical, Round::NearestTiesToEven).ok()?;
    let magnitude = f64::from_bits(parsed.value.to_bits() as u64);
    Some(if number.negative {
        -magnitude
    } else {
        magnitude
    })
}

/// C's `isspace` in the "C" locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// A number in `strtold`'s syntax, taken apart so it can be handed to apfloat in a form
/// apfloat accepts (which is stricter: hex needs an exponent, huge exponents saturate).
struct StrtoldNumber<'a> {
    negative: bool,
    kind: NumberKind<'a>,
}

enum NumberKind<'a> {
    Infinity,
    /// Digits (with at most one '.'), base 10 or 16, and the exponent (10^e or 2^e).
    Finite {
        hex: bool,
        digits: &'a [u8],
        exponent: i64,
    },
}

/// Exponents are clamped to this: far beyond where every 5 KB input over- or underflows.
const EXPONENT_CLAMP: i64 = 1_000_000;

impl<'a> StrtoldNumber<'a> {
    /// Accepts exactly the texts `strtold` consumes completely: optional sign, then
    /// `inf`/`infinity`, or hex (`0x1.8p3`) or decimal (`1.5e3`) digits. NaN is refused
    /// (Redis rejects it after parsing).
    fn scan(text: &'a [u8]) -> Option<Self> {
        let (negative, rest) = match text.first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let lower = rest.to_ascii_lowercase();
        if lower == b"inf" || lower == b"infinity" {
            return Some(StrtoldNumber {
                negative,
                kind: NumberKind::Infinity,
            });
        }
        let hex_body = rest
            .strip_prefix(b"0x")
            .or_else(|| rest.strip_prefix(b"0X"))
            .filter(|body| digits_len(body, true) > 0);
        let (hex, body) = match hex_body {
            Some(body) => (true, body),
            None => (false, rest),
        };
        let digits_end = digits_len(body, hex);
        if digits_end == 0 {
            return None;
        }
        let marker: &[u8] = if hex { b"pP" } else { b"eE" };
        let exponent = match body.get(digits_end) {
            None => 0,
            Some(c) if marker.contains(c) => parse_exponent(&body[digits_end + 1..])?,
            Some(_) => return None,
        };
        Some(StrtoldNumber {
            negative,
            kind: NumberKind::Finite {
                hex,
                digits: &body[..digits_end],
                exponent,
            },
        })
    }

    /// The correctly rounded value, or `None` where Redis refuses `strtold`'s result
    /// (overflow to infinity, or a nonzero number underflowing to zero).
    fn value(&self) -> Option<X87DoubleExtended> {
        let magnitude = match self.kind {
            NumberKind::Infinity => X87DoubleExtended::INFINITY,
            NumberKind::Finite {
                hex,
                digits,
                exponent,
            } => {
                let digits = std::str::from_utf8(digits).ok()?;
                let canonical = if hex {
                    format!("0x{digits}p{exponent}")
                } else {
                    format!("{digits}e{exponent}")
                };
                let parsed =
                    X87DoubleExtended::from_str_r(&canonical, Round::NearestTiesToEven).ok()?;
                let nonzero_input = digits
                    .bytes()
                    .any(|b| b.is_ascii_alphanumeric() && b != b'0');
                let out_of_range = parsed.status.contains(Status::OVERFLOW)
                    || (parsed.value.is_zero() && nonzero_input);
                if out_of_range {
                    return None;
                }
                parsed.value
            }
        };
        Some(if self.negative { -magnitude } else { magnitude })
    }
}

/// Length of the leading run of digits with at most one '.', if it holds a digit.
fn digits_len(text: &[u8], hex: bool) -> usize {
    let mut seen_dot = false;
    let mut seen_digit = false;
    let mut len = 0;
    for &b in text {
        let digit = if hex {
            b.is_ascii_hexdigit()
        } else {
            b.is_ascii_digit()
        };
        if digit {
            seen_digit = true;
        } else if b == b'.' && !seen_dot {
            seen_dot = true;
        } else {
            break;
        }
        len += 1;
    }
    if seen_digit {
        len
    } else {
        0
    }
}

/// An exponent: optional sign and at least one digit, to the end of the text.
fn parse_exponent(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let magnitude = digits.iter().fold(0i64, |acc, &d| {
        (acc * 10 + (d - b'0') as i64).min(EXPONENT_CLAMP)
    });
    Some(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incr(a: &str, b: &str) -> String {
        match incr_by_float(a.as_bytes(), b.as_bytes()) {
            Ok(v) => String::from_utf8(v.to_vec()).unwrap(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn sums_print_like_redis() {
        assert_eq!(incr("10.5", "0.1"), "10.6");
        assert_eq!(incr("0.1", "0.2"), "0.3");
        assert_eq!(incr("0", "-0"), "0");
        assert_eq!(incr("5.0e3", "2.0e2"), "5200");
        assert_eq!(incr("0x10", "1"), "17");
        assert_eq!(incr("1", "1e-30"), "1");
        assert_eq!(incr("-1e-30", "0"), "0");
    }

    #[test]
    fn refusals_match_redis() {
        assert_eq!(incr("abc", "1"), "ERR value is not a valid float");
        assert_eq!(incr("1", " 1"), "ERR value is not a valid float");
        assert_eq!(incr("1", "1e"), "ERR value is not a valid float");
        assert_eq!(incr("1", "nan"), "ERR value is not a valid float");
        assert_eq!(incr("1", "1e5000"), "ERR value is not a valid float");
        assert_eq!(incr("1", "1e-5000"), "ERR value is not a valid float");
        assert_eq!(
            incr("1", "inf"),
            "ERR increment would produce NaN or Infinity"
        );
    }
}
