//! `HOOKIT_SLOW_HOST_SHARE`: a fraction greater than 0 and at most 1, from flag,
//! environment or config file, 0.5 by default.

use hookit::config::{ServeArgs, ServeConfig};

fn with_share(value: &str) -> ServeArgs {
    ServeArgs {
        slow_host_share: Some(value.into()),
        ..ServeArgs::default()
    }
}

#[test]
fn the_share_defaults_to_half_and_accepts_fractions_up_to_one() {
    let defaults = ServeConfig::load(&ServeArgs::default()).expect("defaults");
    assert_eq!(defaults.slow_host_share, 0.5);
    for (text, expected) in [("0.25", 0.25), ("1", 1.0), (" 0.01 ", 0.01)] {
        let config = ServeConfig::load(&with_share(text)).expect(text);
        assert_eq!(config.slow_host_share, expected, "{text}");
    }
}

#[test]
fn a_share_outside_zero_to_one_is_refused_naming_the_setting() {
    for text in ["0", "-0.5", "1.5", "half", "NaN"] {
        let err = ServeConfig::load(&with_share(text))
            .err()
            .unwrap_or_else(|| panic!("{text} was accepted"))
            .to_string();
        assert!(err.contains("HOOKIT_SLOW_HOST_SHARE"), "{err}");
        assert!(err.contains("--slow-host-share"), "{err}");
        assert!(err.contains("greater than 0 and at most 1"), "{err}");
    }
}

#[test]
fn the_share_can_come_from_the_config_file_as_a_number() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("hookit.toml");
    std::fs::write(&path, "slow_host_share = 0.75\n").expect("write");
    let args = ServeArgs {
        config: Some(path),
        ..ServeArgs::default()
    };
    let config = ServeConfig::load(&args).expect("load");
    assert_eq!(config.slow_host_share, 0.75);
}
