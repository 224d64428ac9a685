//! How an error is written for a person: one line, its causes after it.

/// `e` and its causes on one line, like `{:#}`, but without a cause whose text the message
/// before it already includes (errors that print their source and also return it as `source`).
pub fn describe(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&cause);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::anyhow;

    #[test]
    fn causes_are_not_repeated() {
        let e = anyhow::Error::new(std::io::Error::other("disk on fire"))
            .context("reading zone: disk on fire")
            .context("reloading");
        assert_eq!(describe(&e), "reloading: reading zone: disk on fire");
        let e = anyhow!("inner").context("outer");
        assert_eq!(describe(&e), "outer: inner");
    }
}
