//! Semantic routing for virtual models (`auto`): a weighted keyword classifier, and nearest-centroid
//! classification over embeddings fetched from an OpenAI-compatible `/v1/embeddings` service.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use serde_json::{json, Value};

/// A route class.
#[derive(Debug, Clone)]
pub struct Class {
    /// Class name (for logs and the access log).
    pub name: String,
    /// Route it sends to.
    pub route: String,
}

/// The outcome of classifying a prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Winning class, `None` when the default route was taken.
    pub class: Option<String>,
    /// Route to use.
    pub route: String,
    /// Score of the winner (keyword weight sum, or cosine similarity).
    pub score: f64,
    /// `keywords`, `embeddings` or `default`.
    pub method: &'static str,
}

/// Weighted keywords and phrases per class, matched case-insensitively as whole words.
pub struct Keywords {
    ac: Option<AhoCorasick>,
    /// Per pattern: (class index, weight).
    weights: Vec<(usize, f64)>,
    classes: Vec<Class>,
    threshold: f64,
    default_route: String,
}

impl Keywords {
    /// Builds the classifier; `terms[i]` are the (phrase, weight) pairs of `classes[i]`.
    pub fn new(
        classes: Vec<Class>,
        terms: &[Vec<(String, f64)>],
        threshold: f64,
        default_route: String,
    ) -> Result<Self, String> {
        let mut pats = Vec::new();
        let mut weights = Vec::new();
        for (ci, t) in terms.iter().enumerate() {
            for (p, w) in t {
                pats.push(p.to_lowercase());
                weights.push((ci, *w));
            }
        }
        let ac = if pats.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .build(&pats)
                    .map_err(|e| e.to_string())?,
            )
        };
        Ok(Self {
            ac,
            weights,
            classes,
            threshold,
            default_route,
        })
    }

    /// Scores `text` (one pass) and picks the best class above the threshold.
    pub fn classify(&self, text: &str) -> Decision {
        let mut scores = vec![0.0; self.classes.len()];
        if let Some(ac) = &self.ac {
            let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
            // Overlapping matches so that a phrase and its words both count.
            for m in ac.find_overlapping_iter(text) {
                let before = text.get(..m.start()).and_then(|s| s.chars().next_back());
                let after = text.get(m.end()..).and_then(|s| s.chars().next());
                if word(before) || word(after) {
                    continue;
                }
                if let Some((ci, w)) = self.weights.get(m.pattern().as_usize()) {
                    if let Some(s) = scores.get_mut(*ci) {
                        *s += w;
                    }
                }
            }
        }
        let best = scores.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1));
        match best {
            Some((i, s)) if *s >= self.threshold && *s > 0.0 => Decision {
                class: self.classes.get(i).map(|c| c.name.clone()),
                route: self
                    .classes
                    .get(i)
                    .map(|c| c.route.clone())
                    .unwrap_or_default(),
                score: *s,
                method: "keywords",
            },
            other => Decision {
                class: None,
                route: self.default_route.clone(),
                score: other.map_or(0.0, |(_, s)| *s),
                method: "default",
            },
        }
    }
}

/// Cosine similarity of two vectors (0 for mismatched or zero vectors).
pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

/// Mean of vectors (the class centroid).
pub fn centroid(vs: &[Vec<f64>]) -> Vec<f64> {
    let Some(first) = vs.first() else {
        return Vec::new();
    };
    let dim = first.len();
    let mut c = vec![0.0; dim];
    for v in vs.iter().filter(|v| v.len() == dim) {
        c.iter_mut().zip(v).for_each(|(a, b)| *a += b);
    }
    c.iter_mut().for_each(|a| *a /= vs.len() as f64);
    c
}

/// Body of an OpenAI `/v1/embeddings` request.
pub fn embeddings_request(model: &str, inputs: &[String]) -> Vec<u8> {
    json!({"model": model, "input": inputs})
        .to_string()
        .into_bytes()
}

/// Vectors of an `/v1/embeddings` response, in input order.
pub fn parse_embeddings(body: &[u8]) -> Option<Vec<Vec<f64>>> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let mut items: Vec<(u64, Vec<f64>)> = v
        .get("data")?
        .as_array()?
        .iter()
        .map(|d| {
            let idx = d.get("index").and_then(Value::as_u64).unwrap_or(0);
            let e = d
                .get("embedding")?
                .as_array()?
                .iter()
                .map(Value::as_f64)
                .collect::<Option<Vec<f64>>>()?;
            Some((idx, e))
        })
        .collect::<Option<_>>()?;
    items.sort_by_key(|(i, _)| *i);
    Some(items.into_iter().map(|(_, e)| e).collect())
}

/// Class centroids, computed once from the examples' embeddings.
pub struct Centroids {
    /// (class index, centroid).
    pub centroids: Vec<(usize, Vec<f64>)>,
}

impl Centroids {
    /// From the embeddings of all examples, `counts[i]` of them belonging to class `i`, in order.
    pub fn new(vectors: &[Vec<f64>], counts: &[usize]) -> Option<Self> {
        let mut out = Vec::new();
        let mut at = 0;
        for (ci, n) in counts.iter().enumerate() {
            let slice = vectors.get(at..at + n)?;
            at += n;
            if *n > 0 {
                out.push((ci, centroid(slice)));
            }
        }
        Some(Self { centroids: out })
    }

    /// The nearest class and its similarity.
    pub fn nearest(&self, v: &[f64]) -> Option<(usize, f64)> {
        self.centroids
            .iter()
            .map(|(ci, c)| (*ci, cosine(c, v)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw() -> Keywords {
        let classes = vec![
            Class {
                name: "code".into(),
                route: "b".into(),
            },
            Class {
                name: "faq".into(),
                route: "a".into(),
            },
        ];
        let terms = vec![
            vec![
                ("python".into(), 3.0),
                ("function".into(), 2.0),
                ("stack trace".into(), 3.0),
                ("bug".into(), 2.0),
            ],
            vec![
                ("what is".into(), 1.0),
                ("opening hours".into(), 3.0),
                ("refund".into(), 3.0),
            ],
        ];
        Keywords::new(classes, &terms, 2.0, "a".into()).unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn keywords_pick_the_class() {
        let d = kw().classify("Write a Python function that parses this stack trace");
        assert_eq!(
            (d.class.as_deref(), d.route.as_str(), d.method),
            (Some("code"), "b", "keywords")
        );
        assert_eq!(d.score, 8.0);
        let d = kw().classify("What is your refund policy?");
        assert_eq!(d.route, "a");
        let d = kw().classify("debugging is fun"); // "bug" inside a word does not count
        assert_eq!((d.class, d.method), (None, "default"));
    }

    #[test]
    fn embeddings_math() {
        let c = Centroids::new(&[vec![1.0, 0.0], vec![0.8, 0.2], vec![0.0, 1.0]], &[2, 1])
            .unwrap_or_else(|| unreachable!());
        assert_eq!(c.nearest(&[0.9, 0.1]).map(|x| x.0), Some(0));
        assert_eq!(c.nearest(&[0.1, 0.9]).map(|x| x.0), Some(1));
        let body = br#"{"data":[{"index":1,"embedding":[0,1]},{"index":0,"embedding":[1,0]}]}"#;
        assert_eq!(
            parse_embeddings(body),
            Some(vec![vec![1.0, 0.0], vec![0.0, 1.0]])
        );
        assert_eq!(parse_embeddings(b"{}"), None);
    }
}
