//! Names for tagged Envoy stats.
//!
//! proxy-wasm metrics have no labels, so tags are encoded in the stat name as
//! `<name>.<tag>=.=<value>;.;` and `envoy.yaml` extracts them with `stats_config.stats_tags`
//! (see `envoy/envoy.yaml`), giving Prometheus labels such as `model="gpt-4.1"`.

/// Longest tag value kept; longer values are cut (stat names are memory on every worker).
pub const MAX_TAG_VALUE: usize = 64;

/// Makes a value safe inside a stat name: no tag delimiters, no whitespace, bounded length.
pub fn sanitize_tag_value(v: &str) -> String {
    let mut out: String = v
        .chars()
        .map(|c| {
            if c == ';' || c == '=' || c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .take(MAX_TAG_VALUE)
        .collect();
    if out.is_empty() {
        out.push('-');
    }
    out
}

/// `name.k1=.=v1;.;k2=.=v2;.;` with sanitised values.
pub fn tagged_name(name: &str, tags: &[(&str, &str)]) -> String {
    let mut s = String::with_capacity(name.len() + tags.len() * 24);
    s.push_str(name);
    for (k, v) in tags {
        s.push('.');
        s.push_str(k);
        s.push_str("=.=");
        s.push_str(&sanitize_tag_value(v));
        s.push_str(";.;");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            tagged_name(
                "tollgate_requests",
                &[("model", "gpt-4.1"), ("client", "a b;c=d")]
            ),
            "tollgate_requests.model=.=gpt-4.1;.;.client=.=a_b_c_d;.;"
        );
        assert_eq!(sanitize_tag_value(""), "-");
    }
}
