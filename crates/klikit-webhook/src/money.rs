//! [`Money`]: an amount kept as its exact decimal text, never as a float.

use std::fmt;
use std::str::FromStr;

use serde_json::value::RawValue;

/// A decimal amount such as `"12.50"`, kept exactly as klikit wrote it.
///
/// klikit sends prices as decimal strings; a JSON number is accepted too and its text
/// kept as written. Convert to integer minor units with [`Money::minor_units`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Money {
    text: String,
}

/// Why a text is not an amount, or cannot be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The text is not a decimal number.
    #[error("{text:?} is not a decimal amount (expected e.g. \"12.50\")")]
    NotDecimal {
        /// The rejected text.
        text: String,
    },
    /// The amount has more fractional digits than the requested scale.
    #[error("{text:?} has non-zero digits beyond {scale} decimal places")]
    TooPrecise {
        /// The amount.
        text: String,
        /// The requested scale.
        scale: u32,
    },
    /// The amount does not fit in an `i64` of minor units.
    #[error("{text:?} does not fit in 64-bit minor units at scale {scale}")]
    Overflow {
        /// The amount.
        text: String,
        /// The requested scale.
        scale: u32,
    },
}

/// The parts of a decimal number: sign, all digits, and the power of ten they are
/// multiplied by.
struct Decimal<'a> {
    negative: bool,
    integer: &'a str,
    fraction: &'a str,
    exponent: i64,
}

fn split_decimal(text: &str) -> Option<Decimal<'_>> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => {
            let exponent_text = &unsigned[at + 1..];
            let exponent_text = exponent_text.strip_prefix('+').unwrap_or(exponent_text);
            (&unsigned[..at], exponent_text.parse::<i64>().ok()?)
        }
        None => (unsigned, 0),
    };
    let (integer, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    let fraction_ok = !mantissa.contains('.') || !fraction.is_empty();
    if integer.is_empty() || !all_digits(integer) || !all_digits(fraction) || !fraction_ok {
        return None;
    }
    Some(Decimal {
        negative,
        integer,
        fraction,
        exponent,
    })
}

impl Money {
    /// Parses a decimal amount: `12.50`, `-3`, `0.125`, or a JSON number like `1.5e2`.
    pub fn parse(text: &str) -> Result<Money, MoneyError> {
        match split_decimal(text) {
            Some(_) => Ok(Money {
                text: text.to_owned(),
            }),
            None => Err(MoneyError::NotDecimal {
                text: text.to_owned(),
            }),
        }
    }

    /// Reads a JSON value holding an amount: a decimal string or a JSON number.
    /// Anything else is `None`.
    pub fn from_json(raw: &RawValue) -> Option<Money> {
        let text = raw.get();
        if text.starts_with('"') {
            let decoded: String = serde_json::from_str(text).ok()?;
            Money::parse(&decoded).ok()
        } else {
            Money::parse(text).ok()
        }
    }

    /// The exact text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The amount in minor units at `scale` decimal places: `"12.50"` at scale 2 is
    /// `1250`. Fails rather than round if the amount has non-zero digits beyond `scale`.
    pub fn minor_units(&self, scale: u32) -> Result<i64, MoneyError> {
        let too_precise = || MoneyError::TooPrecise {
            text: self.text.clone(),
            scale,
        };
        let overflow = || MoneyError::Overflow {
            text: self.text.clone(),
            scale,
        };
        let decimal = split_decimal(&self.text).ok_or_else(|| MoneyError::NotDecimal {
            text: self.text.clone(),
        })?;
        let digits: String = [decimal.integer, decimal.fraction].concat();
        let fraction_len = i64::try_from(decimal.fraction.len()).map_err(|_| overflow())?;
        // value = digits × 10^(exponent − fraction_len); minor = value × 10^scale.
        let shift = decimal
            .exponent
            .checked_sub(fraction_len)
            .and_then(|shift| shift.checked_add(i64::from(scale)))
            .ok_or_else(overflow)?;
        let kept = if shift >= 0 {
            digits.as_str()
        } else {
            let drop = usize::try_from(shift.unsigned_abs()).map_err(|_| overflow())?;
            let keep = digits.len().saturating_sub(drop);
            if digits[keep..].bytes().any(|byte| byte != b'0') {
                return Err(too_precise());
            }
            &digits[..keep]
        };
        let mut units: i64 = 0;
        for byte in kept.bytes() {
            units = units
                .checked_mul(10)
                .and_then(|units| units.checked_add(i64::from(byte - b'0')))
                .ok_or_else(overflow)?;
        }
        for _ in 0..shift.max(0) {
            if units == 0 {
                break;
            }
            units = units.checked_mul(10).ok_or_else(overflow)?;
        }
        Ok(if decimal.negative { -units } else { units })
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Money {
    type Err = MoneyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Money::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).expect("valid JSON")
    }

    #[test]
    fn parses_strings_and_numbers_exactly() {
        assert_eq!(
            Money::from_json(&raw("\"12.50\"")).map(|m| m.text),
            Some("12.50".into())
        );
        assert_eq!(
            Money::from_json(&raw("12.50")).map(|m| m.text),
            Some("12.50".into())
        );
        assert_eq!(Money::from_json(&raw("\"abc\"")), None);
        assert_eq!(Money::from_json(&raw("null")), None);
        assert!(Money::parse("1.").is_err());
        assert!(Money::parse(".5").is_err());
        assert!(Money::parse("").is_err());
    }

    #[test]
    fn minor_units() {
        let units = |text: &str, scale| Money::parse(text).expect("valid").minor_units(scale);
        assert_eq!(units("12.50", 2), Ok(1250));
        assert_eq!(units("12.5", 2), Ok(1250));
        assert_eq!(units("-0.07", 2), Ok(-7));
        assert_eq!(units("15000", 0), Ok(15000));
        assert_eq!(units("1.5e2", 2), Ok(15000));
        assert_eq!(units("12.500", 2), Ok(1250));
        assert!(matches!(
            units("12.505", 2),
            Err(MoneyError::TooPrecise { .. })
        ));
        assert!(matches!(
            units("99999999999999999999", 2),
            Err(MoneyError::Overflow { .. })
        ));
        assert_eq!(units("0e999999", 2), Ok(0));
    }
}
