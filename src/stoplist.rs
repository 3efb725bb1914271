//! The global stop list of credential values that providers publish in their documentation
//! (`rules/known-examples.txt`): they match real rules but are not anyone's secret, so every
//! rule drops them. Kept as data so the list grows without code changes.

use std::sync::OnceLock;

use aho_corasick::AhoCorasick;

static KNOWN_EXAMPLES: &str = include_str!("../rules/known-examples.txt");

fn values() -> impl Iterator<Item = &'static str> {
    KNOWN_EXAMPLES
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

fn automaton() -> &'static AhoCorasick {
    static AC: OnceLock<AhoCorasick> = OnceLock::new();
    AC.get_or_init(|| AhoCorasick::new(values()).expect("literal stop list"))
}

/// Whether `secret` is, or contains, a published documentation example.
pub fn is_known_example(secret: &[u8]) -> bool {
    automaton().is_match(secret)
}

/// How many values the stop list holds.
pub fn len() -> usize {
    values().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documentation_values_are_known() {
        assert!(is_known_example(b"AKIAIOSFODNN7EXAMPLE"));
        assert!(is_known_example(
            b"aws_secret=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        ));
        assert!(!is_known_example(
            ["AKIA", "Q3EGT7XK2VD4WRNM"].concat().as_bytes()
        ));
        assert!(len() >= 20);
    }
}
