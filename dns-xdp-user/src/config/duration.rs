//! The one way dns-xdp writes a length of time, in its config file and on its command line: a
//! whole number and a unit, `500ms`, `10s`, `2m`, `1h` or `7d`. Whole numbers keep a value
//! exact and printable the way it was written; every unit from milliseconds to days covers
//! what each setting needs (check intervals, timeouts, signature validity).

use std::time::Duration;

const UNITS: [(&str, u64); 5] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

/// `text` as a duration longer than zero; the error says what is wrong with it.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let scale = UNITS
        .iter()
        .find(|(name, _)| *name == unit.trim())
        .map(|&(_, scale)| scale);
    let millis = number
        .parse::<u64>()
        .ok()
        .zip(scale)
        .and_then(|(n, scale)| n.checked_mul(scale))
        .ok_or_else(|| {
            format!(
                "{text:?} is not a duration: write a whole number and a unit (ms, s, m, h or \
                 d), such as 500ms, 10s, 2m, 1h or 7d"
            )
        })?;
    if millis == 0 {
        return Err(format!("{text:?} must be longer than zero"));
    }
    Ok(Duration::from_millis(millis))
}

/// A duration in a config file, read by [`parse`]: `#[serde(deserialize_with = "...")]`.
pub fn deserialize<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Duration, D::Error> {
    let text = <String as serde::Deserialize>::deserialize(deserializer)?;
    parse(&text).map_err(serde::de::Error::custom)
}

/// `duration` the way [`parse`] reads it, in the largest unit that keeps it exact.
pub fn format(duration: Duration) -> String {
    if !duration.subsec_nanos().is_multiple_of(1_000_000) {
        return format!("{duration:?}");
    }
    let millis = duration.as_millis();
    if millis == 0 {
        return "0s".into();
    }
    let (unit, scale) = UNITS
        .iter()
        .rev()
        .find(|(_, scale)| millis.is_multiple_of(u128::from(*scale)))
        .expect("every whole number of milliseconds is a multiple of 1 ms");
    format!("{}{unit}", millis / u128::from(*scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_from_milliseconds_to_days() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("7d"), Ok(Duration::from_secs(7 * 86400)));
        assert_eq!(parse(" 3 s "), Ok(Duration::from_secs(3)));
    }

    #[test]
    fn anything_else_is_refused_with_the_grammar() {
        for bad in [
            "",
            "s",
            "1.5s",
            "-1s",
            "10",
            "10w",
            "1e3ms",
            "99999999999999999999h",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains("whole number and a unit"), "{bad:?}: {e}");
        }
        assert!(parse("0s").unwrap_err().contains("longer than zero"));
    }

    #[test]
    fn formatting_round_trips() {
        for text in ["500ms", "10s", "2m", "1h", "7d", "1500ms", "90s", "36h"] {
            assert_eq!(format(parse(text).unwrap()), text);
        }
        assert_eq!(format(Duration::ZERO), "0s");
    }
}
