//! Why a signature did not match, as far as `hookit listen` can tell.
//!
//! A mismatch has two usual causes: the body was re-written on its way (a proxy or a
//! web framework parsed the JSON and serialised it again, so the bytes differ from
//! those klikit signed), or the secret is wrong (another partner's, or one rotated
//! since). The receiver knows the secret it was given, so it can tell them apart
//! better than a bare "mismatch": it signs the same JSON written in the usual forms
//! and sees whether one of them matches.

use klikit_webhook::verify;
use serde_json::Value;

/// What a signature mismatch most likely means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Diagnosis {
    /// The signature matches the same JSON written in another form: the body was
    /// re-serialised on its way.
    Reserialised {
        /// The form that matched, e.g. "compact, without whitespace".
        form: &'static str,
    },
    /// The body is JSON exactly as a serialiser writes it (as hookit sends it), so it
    /// was most likely not re-written: the secret is wrong.
    WrongSecret,
    /// The body is JSON, but not in the compact form hookit sends, and no other form
    /// matched: re-formatted on its way, or a wrong secret.
    Reformatted,
    /// The body is not JSON at all.
    NotJson,
}

impl Diagnosis {
    /// A stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Diagnosis::Reserialised { .. } => "body_reserialised",
            Diagnosis::WrongSecret => "wrong_secret_likely",
            Diagnosis::Reformatted => "body_reformatted_or_wrong_secret",
            Diagnosis::NotJson => "body_not_json",
        }
    }

    /// One sentence a partner can act on.
    pub fn explain(&self) -> String {
        match self {
            Diagnosis::Reserialised { form } => format!(
                "the body was re-serialised on its way: the signature matches the same JSON \
                 written {form}. A proxy or framework parsed and re-wrote the body; verify \
                 the raw bytes as received, before any JSON parsing"
            ),
            Diagnosis::WrongSecret => "the body is JSON exactly as a serialiser writes it, as \
                 hookit sends it, so it was most likely not re-written: the secret is probably \
                 wrong (this partner's webhook_secret_key, not its secret_key? rotated since?)"
                .to_owned(),
            Diagnosis::Reformatted => "the body is JSON but not in the compact form hookit \
                 sends, and no re-serialisation of it matches: either something re-formatted \
                 it on its way, or the secret is wrong"
                .to_owned(),
            Diagnosis::NotJson => "the body is not JSON: it was altered on its way, or the \
                 request did not come from klikit"
                .to_owned(),
        }
    }
}

/// Diagnoses a mismatch of `signature` over `body` with `secret`.
pub fn diagnose(secret: &[u8], body: &[u8], signature: &str) -> Diagnosis {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Diagnosis::NotJson;
    };
    let minified = minify(body);
    let candidates = [
        ("compact, without whitespace", Some(minified.clone())),
        (
            "compact, as a JSON library re-serialises it",
            serde_json::to_vec(&value).ok(),
        ),
        (
            "pretty-printed, as a JSON library re-serialises it",
            serde_json::to_vec_pretty(&value).ok(),
        ),
    ];
    for (form, candidate) in candidates {
        let Some(candidate) = candidate else { continue };
        if candidate != body && verify(secret, &candidate, Some(signature)).is_ok() {
            return Diagnosis::Reserialised { form };
        }
    }
    if minified == body {
        Diagnosis::WrongSecret
    } else {
        Diagnosis::Reformatted
    }
}

/// `json` without the whitespace between tokens (strings kept byte for byte).
fn minify(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for &byte in json {
        if in_string {
            out.push(byte);
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b' ' | b'\n' | b'\r' | b'\t' => {}
            b'"' => {
                in_string = true;
                out.push(byte);
            }
            _ => out.push(byte),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use klikit_webhook::sign;

    const SECRET: &[u8] = b"whsk_test_secret";
    const COMPACT: &[u8] =
        br#"{"brand_id":1,"branch_id":2,"orders":[{"id":3,"note":"a \"b\" c"}]}"#;

    #[test]
    fn minify_keeps_strings_and_drops_whitespace() {
        let pretty = b"{\n  \"a\": \"x y \\\" z\",\n  \"b\": [1, 2]\n}";
        assert_eq!(minify(pretty), br#"{"a":"x y \" z","b":[1,2]}"#);
    }

    #[test]
    fn a_pretty_printed_body_signed_compact_was_reserialised() {
        let signature = sign(SECRET, COMPACT);
        let pretty = "{\n  \"brand_id\": 1,\n  \"branch_id\": 2,\n  \"orders\": [\n    \
                      {\"id\": 3, \"note\": \"a \\\"b\\\" c\"}\n  ]\n}";
        assert_eq!(minify(pretty.as_bytes()), COMPACT);
        let diagnosis = diagnose(SECRET, pretty.as_bytes(), &signature);
        assert!(
            matches!(diagnosis, Diagnosis::Reserialised { .. }),
            "{diagnosis:?}"
        );
    }

    #[test]
    fn an_untouched_compact_body_means_a_wrong_secret() {
        let signature = sign(b"another secret", COMPACT);
        assert_eq!(
            diagnose(SECRET, COMPACT, &signature),
            Diagnosis::WrongSecret
        );
    }

    #[test]
    fn other_bodies_are_said_as_far_as_can_be_told() {
        let pretty = b"{ \"brand_id\": 1 }";
        let signature = sign(b"another secret", pretty);
        assert_eq!(diagnose(SECRET, pretty, &signature), Diagnosis::Reformatted);
        assert_eq!(
            diagnose(SECRET, b"not json", &signature),
            Diagnosis::NotJson
        );
    }
}
