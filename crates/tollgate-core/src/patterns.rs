//! Model-name patterns used across configs: an exact name, or a prefix ending in `*`.

/// Patterns → values; exact names win, then the longest matching prefix.
#[derive(Debug, Clone)]
pub struct ModelPatterns<T> {
    /// (pattern without `*`, is a prefix, value), exact first then longer prefixes first.
    entries: Vec<(String, bool, T)>,
}

impl<T> Default for ModelPatterns<T> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<T> ModelPatterns<T> {
    /// Builds from `(pattern, value)` pairs (`gpt-4o` exact, `gpt-4o*` prefix).
    pub fn new(items: impl IntoIterator<Item = (String, T)>) -> Self {
        let mut entries: Vec<(String, bool, T)> = items
            .into_iter()
            .map(|(p, v)| match p.strip_suffix('*') {
                Some(prefix) => (prefix.to_owned(), true, v),
                None => (p, false, v),
            })
            .collect();
        entries.sort_by_key(|(p, prefix, _)| (*prefix, std::cmp::Reverse(p.len())));
        Self { entries }
    }

    /// Appends lower-priority prefix rules (e.g. built-in defaults after the user's).
    pub fn with_fallback_prefixes(mut self, items: impl IntoIterator<Item = (String, T)>) -> Self {
        self.entries
            .extend(items.into_iter().map(|(p, v)| (p, true, v)));
        self
    }

    /// The value for `model`.
    pub fn lookup(&self, model: &str) -> Option<&T> {
        self.entries
            .iter()
            .find(|(p, prefix, _)| {
                if *prefix {
                    model.starts_with(p.as_str())
                } else {
                    model == p
                }
            })
            .map(|(_, _, v)| v)
    }

    /// All values, in priority order.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().map(|(_, _, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_then_longest_prefix_then_fallback() {
        let p = ModelPatterns::new([
            ("gpt-*".to_owned(), 1),
            ("gpt-4o*".to_owned(), 2),
            ("gpt-4o".to_owned(), 3),
        ])
        .with_fallback_prefixes([("g".to_owned(), 4)]);
        assert_eq!(p.lookup("gpt-4o"), Some(&3));
        assert_eq!(p.lookup("gpt-4o-mini"), Some(&2));
        assert_eq!(p.lookup("gpt-5"), Some(&1));
        assert_eq!(p.lookup("gemini"), Some(&4));
        assert_eq!(p.lookup("claude"), None);
    }
}
