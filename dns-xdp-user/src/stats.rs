//! `dns-xdp stats`: the fast-path counters of a running agent, read from its pinned map.

use std::path::Path;

use anyhow::{Context, Result};

use crate::dataplane::Counters;

pub fn print(pin_dir: &Path, json: bool) -> Result<()> {
    let counters = Counters::read_pinned(pin_dir).with_context(|| {
        format!(
            "reading the counters pinned in {}: is `dns-xdp run` running with XDP on (and are you \
             root)?",
            pin_dir.display()
        )
    })?;
    print!("{}", render(&counters, json));
    Ok(())
}

pub fn render(counters: &Counters, json: bool) -> String {
    if json {
        let map: serde_json::Map<String, serde_json::Value> = counters
            .iter()
            .map(|(c, v)| (c.name().to_string(), v.into()))
            .collect();
        format!("{}\n", serde_json::Value::Object(map))
    } else {
        let width = counters
            .iter()
            .map(|(c, _)| c.name().len())
            .max()
            .unwrap_or(0);
        counters
            .iter()
            .map(|(c, v)| format!("{:width$}  {v}\n", c.name()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use dns_xdp_common::counters::{Counter, COUNTER_COUNT};

    use super::*;

    #[test]
    fn renders_every_counter_by_name() {
        let mut values = [0u64; COUNTER_COUNT];
        values[Counter::AnsweredV6 as usize] = 7;
        let c = Counters(values);
        let text = render(&c, false);
        assert_eq!(text.lines().count(), COUNTER_COUNT);
        assert!(text.contains("answered_v6          7"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&render(&c, true)).unwrap();
        assert_eq!(json["answered_v6"], 7);
        assert_eq!(json["pass_miss"], 0);
    }
}
