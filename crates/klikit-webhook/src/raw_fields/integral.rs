//! Reading a JSON number as an integer the way JSON Schema counts integers: by its
//! value, not its spelling. `2`, `2.0`, `2e0` and `200e-2` are all the integer 2;
//! `2.5`, `1e-7` and `1e400` are not integers that fit an `i64`. The text is read as an
//! exact decimal, never through `f64`, so `9007199254740993.0` is 9007199254740993.

/// The integer a JSON number's text stands for, if it is one that fits an `i64`.
/// `None` for anything else (a fraction, a value out of range, or text that is not a
/// JSON number).
pub(crate) fn integral_value(text: &str) -> Option<i64> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], Some(&unsigned[at + 1..])),
        None => (unsigned, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    if mantissa.contains('.') && fraction.is_empty() {
        return None;
    }
    // The value is digits × 10^scale; leading zeros say nothing, trailing ones move
    // into the scale.
    let digits = format!("{whole}{fraction}");
    let significant = digits.trim_start_matches('0');
    let trimmed = significant.trim_end_matches('0');
    if trimmed.is_empty() {
        // Zero in any spelling (`0.0`, `-0`, `0e999`), whatever the exponent.
        return exponent.is_none_or(is_exponent).then_some(0);
    }
    let exponent = match exponent {
        None => 0,
        Some(text) if is_exponent(text) => {
            let digits = text.trim_start_matches(['+', '-']);
            let magnitude: i64 = digits.parse().unwrap_or(i64::MAX);
            // Far beyond anything an i64 holds, either way: no integer that fits.
            if magnitude > 1_000 {
                return None;
            }
            if text.starts_with('-') {
                -magnitude
            } else {
                magnitude
            }
        }
        Some(_) => return None,
    };
    let fraction_len = i64::try_from(fraction.len()).ok()?;
    let trailing = i64::try_from(significant.len() - trimmed.len()).ok()?;
    let scale = exponent - fraction_len + trailing;
    if scale < 0 {
        return None;
    }
    // An i64 has at most 19 digits.
    let length = i64::try_from(trimmed.len()).ok()?;
    if length + scale > 19 {
        return None;
    }
    let mut value: i128 = trimmed.parse().ok()?;
    for _ in 0..scale {
        value = value.checked_mul(10)?;
    }
    if negative {
        value = -value;
    }
    i64::try_from(value).ok()
}

/// An exponent's text: an optional sign, then at least one digit.
fn is_exponent(text: &str) -> bool {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|byte| byte.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::integral_value;

    #[test]
    fn integers_in_any_spelling_are_read_by_value() {
        for (text, value) in [
            ("42", 42),
            ("-7", -7),
            ("0", 0),
            ("-0", 0),
            ("2.0", 2),
            ("2.000", 2),
            ("-3.0", -3),
            ("0.0", 0),
            ("1e3", 1000),
            ("1E+3", 1000),
            ("2e0", 2),
            ("200e-2", 2),
            ("12.5e1", 125),
            ("0e999", 0),
            ("0.0e-999999999999999999999", 0),
            ("9223372036854775807", i64::MAX),
            ("-9223372036854775808", i64::MIN),
            ("9223372036854775807.0", i64::MAX),
            ("9007199254740993.0", 9_007_199_254_740_993),
        ] {
            assert_eq!(integral_value(text), Some(value), "{text}");
        }
    }

    #[test]
    fn fractions_and_values_out_of_range_are_not_integers() {
        for text in [
            "2.5",
            "-0.1",
            "1e-7",
            "25e-1",
            "1e400",
            "-1e400",
            "1e-400",
            "1e99999999999999999999999",
            "9223372036854775808",
            "9223372036854775808.0",
            "-9223372036854775809",
            "18446744073709551615",
            "1e19",
        ] {
            assert_eq!(integral_value(text), None, "{text}");
        }
    }

    #[test]
    fn text_that_is_not_a_number_is_not_an_integer() {
        for text in [
            "\"42\"", "null", "true", "[1]", "{}", "", "-", "2.", ".5", "1e", "1e+", "--1",
        ] {
            assert_eq!(integral_value(text), None, "{text}");
        }
    }
}
