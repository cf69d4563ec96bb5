//! Series identity: a metric name plus tags, with one canonical string form
//! `metric{key="value",...}` (tags sorted by key, values quoted and escaped).

use crate::error::{Error, Result};

pub const MAX_METRIC_BYTES: usize = 256;
pub const MAX_TAG_KEY_BYTES: usize = 128;
pub const MAX_TAG_VALUE_BYTES: usize = 1024;
pub const MAX_TAGS: usize = 64;
/// Canonical keys are stored with a u16 length.
pub const MAX_KEY_BYTES: usize = 8192;

/// The pseudo-tag naming a series' metric in `groupBy` (tag keys starting with `__` are
/// reserved).
pub const METRIC_TAG: &str = "__name__";

/// Metric names and tag keys starting with this are the engine's: tag keys for pseudo-tags,
/// metrics for its own series (rollup cells), which selections skip unless named exactly.
pub const RESERVED: &str = "__";

/// Whether a canonical key names one of the engine's own series.
pub fn is_engine_series(key: &str) -> bool {
    key.starts_with(RESERVED)
}

/// A dense, per-database series number; the index of the series everywhere.
pub type SeriesId = u32;

/// What a series holds; fixed by its first write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesKind {
    Numeric = 1,
    Event = 2,
}

impl SeriesKind {
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(SeriesKind::Numeric),
            2 => Some(SeriesKind::Event),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SeriesKind::Numeric => "numeric",
            SeriesKind::Event => "event",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesKey {
    pub metric: String,
    /// Sorted by key, keys unique.
    pub tags: Vec<(String, String)>,
}

/// Checks a metric and its tags against every rule of a series key, sorting the tags by key.
fn validate<K: AsRef<str>, V: AsRef<str>>(metric: &str, tags: &mut [(K, V)]) -> Result<()> {
    check_metric(metric)?;
    if tags.len() > MAX_TAGS {
        return Err(invalid(format!("{} tags (at most {MAX_TAGS})", tags.len())));
    }
    tags.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
    for pair in tags.windows(2) {
        if pair[0].0.as_ref() == pair[1].0.as_ref() {
            return Err(invalid(format!("tag '{}' given twice", pair[0].0.as_ref())));
        }
    }
    for (k, v) in tags.iter() {
        check_tag(k.as_ref(), v.as_ref())?;
    }
    Ok(())
}

/// The canonical form of any accepted text form of a key, in one pass: parsed without copying
/// the parts, checked, rendered.
pub fn canonical_of(text: &str) -> Result<String> {
    let (metric, mut tags) = parse_parts(text)?;
    validate(metric, &mut tags)?;
    let mut out = String::with_capacity(text.len() + 2 * tags.len());
    out.push_str(metric);
    for (i, (k, v)) in tags.iter().enumerate() {
        out.push(if i == 0 { '{' } else { ',' });
        render_tag(&mut out, k, v);
    }
    if !tags.is_empty() {
        out.push('}');
    }
    if out.len() > MAX_KEY_BYTES {
        return Err(invalid(format!(
            "series key is {} bytes (at most {MAX_KEY_BYTES})",
            out.len()
        )));
    }
    Ok(out)
}

/// A text key's metric and tags, borrowed from it where no escape needs undoing.
type Parts<'a> = (&'a str, Vec<(&'a str, std::borrow::Cow<'a, str>)>);

fn parse_parts(text: &str) -> Result<Parts<'_>> {
    let Some(open) = text.find('{') else {
        return Ok((text, Vec::new()));
    };
    let metric = &text[..open];
    let body = text[open + 1..]
        .strip_suffix('}')
        .ok_or_else(|| invalid(format!("'{text}' has '{{' but does not end with '}}'")))?;
    let mut tags = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let eq = rest
            .find('=')
            .ok_or_else(|| invalid(format!("tag without '=' in '{text}'")))?;
        let key = rest[..eq].trim();
        let (value, after) = parse_value(&rest[eq + 1..], text)?;
        tags.push((key, value));
        let after = after.trim_start();
        rest = match after.strip_prefix(',') {
            Some(more) => more.trim_start(),
            None if after.is_empty() => after,
            None => return Err(invalid(format!("expected ',' or '}}' in '{text}'"))),
        };
    }
    Ok((metric, tags))
}

impl SeriesKey {
    pub fn new(metric: &str, tags: impl IntoIterator<Item = (String, String)>) -> Result<Self> {
        let mut tags: Vec<(String, String)> = tags.into_iter().collect();
        validate(metric, &mut tags)?;
        let key = SeriesKey {
            metric: metric.to_owned(),
            tags,
        };
        let len = key.canonical().len();
        if len > MAX_KEY_BYTES {
            return Err(invalid(format!(
                "series key is {len} bytes (at most {MAX_KEY_BYTES})"
            )));
        }
        Ok(key)
    }

    /// Parses `metric` or `metric{k="v",k2=v2}` (quotes optional for simple values).
    pub fn parse(text: &str) -> Result<Self> {
        let (metric, tags) = parse_parts(text)?;
        SeriesKey::new(
            metric,
            tags.into_iter()
                .map(|(k, v)| (k.to_owned(), v.into_owned())),
        )
    }

    pub fn canonical(&self) -> String {
        let mut out = self.metric.clone();
        if self.tags.is_empty() {
            return out;
        }
        out.push('{');
        for (i, (k, v)) in self.tags.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            render_tag(&mut out, k, v);
        }
        out.push('}');
        out
    }
}

/// Appends `name="value"`, the value's quotes and backslashes escaped.
fn render_tag(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str("=\"");
    let mut rest = value;
    // Copied in runs between the characters that need a backslash.
    while let Some(i) = rest.bytes().position(|b| b == b'"' || b == b'\\') {
        out.push_str(&rest[..i]);
        out.push('\\');
        out.push_str(&rest[i..=i]);
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
    out.push('"');
}

/// The metric of a canonical key (as [`SeriesKey::canonical`] writes it).
pub fn canonical_metric(key: &str) -> &str {
    key.split_once('{').map_or(key, |(metric, _)| metric)
}

/// The tags of a canonical key, in key order, values unescaped. Only for keys the engine
/// wrote: a malformed key yields fewer pairs, never a panic.
pub fn canonical_tags(key: &str) -> CanonicalTags<'_> {
    CanonicalTags {
        rest: key.split_once('{').map_or("", |(_, body)| body),
    }
}

pub struct CanonicalTags<'a> {
    rest: &'a str,
}

impl<'a> Iterator for CanonicalTags<'a> {
    type Item = (&'a str, std::borrow::Cow<'a, str>);

    fn next(&mut self) -> Option<Self::Item> {
        let (name, after) = self.rest.split_once("=\"")?;
        // The value ends at the first quote not escaped by a backslash.
        let bytes = after.as_bytes();
        let mut i = 0;
        let mut escaped = false;
        while let Some(&b) = bytes.get(i) {
            match b {
                b'\\' => {
                    escaped = true;
                    i += 2;
                }
                b'"' => break,
                _ => i += 1,
            }
        }
        let raw = after.get(..i)?;
        self.rest = after
            .get(i + 1..)
            .map_or("", |r| r.strip_prefix(',').unwrap_or(r));
        let value = if escaped {
            let mut out = String::with_capacity(raw.len());
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                out.push(if c == '\\' {
                    chars.next().unwrap_or(c)
                } else {
                    c
                });
            }
            std::borrow::Cow::Owned(out)
        } else {
            std::borrow::Cow::Borrowed(raw)
        };
        Some((name, value))
    }
}

/// Reads a quoted or bare tag value; returns it and the text after it.
fn parse_value<'a>(s: &'a str, whole: &str) -> Result<(std::borrow::Cow<'a, str>, &'a str)> {
    let s = s.trim_start();
    let Some(quoted) = s.strip_prefix('"') else {
        let end = s.find(',').unwrap_or(s.len());
        return Ok((s[..end].trim().into(), &s[end..]));
    };
    // Borrowed up to the closing quote unless an escape needs undoing.
    if let Some(end) = quoted
        .find(['"', '\\'])
        .filter(|&i| quoted[i..].starts_with('"'))
    {
        return Ok((quoted[..end].into(), &quoted[end + 1..]));
    }
    let mut value = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value.into(), &quoted[i + 1..])),
            '\\' => match chars.next() {
                Some((_, e)) => value.push(e),
                None => break,
            },
            c => value.push(c),
        }
    }
    Err(invalid(format!(
        "unterminated quoted tag value in '{whole}'"
    )))
}

fn invalid(msg: String) -> Error {
    Error::InvalidSeries(msg)
}

fn check_metric(metric: &str) -> Result<()> {
    if metric.is_empty() {
        return Err(invalid("metric name is empty".into()));
    }
    if metric.len() > MAX_METRIC_BYTES {
        return Err(invalid(format!(
            "metric name is {} bytes (at most {MAX_METRIC_BYTES})",
            metric.len()
        )));
    }
    if metric.starts_with(RESERVED) {
        return Err(invalid(format!(
            "metric name '{metric}' starts with '__', which is reserved for the engine's own \
             series (rollup cells)"
        )));
    }
    // Most names are plain ASCII: one pass over the bytes, characters only if that fails.
    let plain = |b: &u8| b.is_ascii_graphic() && !b"{}\",=".contains(b);
    if metric.bytes().all(|b| plain(&b)) {
        return Ok(());
    }
    if let Some(c) = metric
        .chars()
        .find(|c| c.is_control() || c.is_whitespace() || "{}\",=".contains(*c))
    {
        return Err(invalid(format!("metric name '{metric}' contains {c:?}")));
    }
    Ok(())
}

fn check_tag(key: &str, value: &str) -> Result<()> {
    let mut bytes = key.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    if !first_ok || !bytes.all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)) {
        return Err(invalid(format!(
            "tag key '{key}' must match [A-Za-z_][A-Za-z0-9_.-]*"
        )));
    }
    if key.starts_with(RESERVED) {
        return Err(invalid(format!(
            "tag key '{key}' starts with '__', which is reserved (__name__ is the metric)"
        )));
    }
    if key.len() > MAX_TAG_KEY_BYTES {
        return Err(invalid(format!(
            "tag key '{key}' is longer than {MAX_TAG_KEY_BYTES} bytes"
        )));
    }
    if value.is_empty() {
        return Err(invalid(format!("tag '{key}' has an empty value")));
    }
    if value.len() > MAX_TAG_VALUE_BYTES {
        return Err(invalid(format!(
            "tag '{key}' value is {} bytes (at most {MAX_TAG_VALUE_BYTES})",
            value.len()
        )));
    }
    // Control characters are C0, DEL and C1 (U+0080–U+009F, which UTF-8 writes 0xC2 0x80–0x9F).
    if value.bytes().any(|b| b < 0x20 || b == 0x7f || b == 0xc2)
        && value.chars().any(char::is_control)
    {
        return Err(invalid(format!(
            "tag '{key}' value contains a control character"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn canonical_form_sorts_and_escapes() {
        let key = SeriesKey::new("cpu", tags(&[("region", "eu \"w\""), ("host", "a")])).unwrap();
        assert_eq!(key.canonical(), r#"cpu{host="a",region="eu \"w\""}"#);
        assert_eq!(SeriesKey::parse(&key.canonical()).unwrap(), key);
    }

    #[test]
    fn canonical_keys_read_back_as_metric_and_tags() {
        let key = SeriesKey::new(
            "cpu",
            tags(&[("region", "eu \"w\" \\"), ("host", "a,b}"), ("z", "=")]),
        )
        .unwrap();
        let text = key.canonical();
        assert_eq!(canonical_metric(&text), "cpu");
        let pairs: Vec<(String, String)> = canonical_tags(&text)
            .map(|(k, v)| (k.to_owned(), v.into_owned()))
            .collect();
        assert_eq!(pairs, key.tags);
        assert_eq!(canonical_tags("mem").count(), 0);
        assert_eq!(canonical_metric("mem"), "mem");
    }

    #[test]
    fn canonical_of_agrees_with_parse_on_any_text() {
        let fixed = [
            "cpu",
            r#"cpu{host="a"}"#,
            r#"cpu{host=a, dc = "x"}"#,
            r#"cpu{dc="x",host="a \"q\" \\"}"#,
            r#"cpu{host="a",host="b"}"#,
            r#"cpu{}"#,
            r#"cpu{1h="a"}"#,
            r#"cpu{h=""}"#,
            r#"cpu{__name__="x"}"#,
            "",
            "a b",
            r#"cpu{host="a""#,
        ];
        let same = |text: &str| {
            let parsed = SeriesKey::parse(text).map(|k| k.canonical());
            assert_eq!(canonical_of(text).ok(), parsed.ok(), "{text:?}");
        };
        fixed.iter().for_each(|t| same(t));
        // Random texts over the characters the grammar cares about.
        let alphabet: Vec<char> = "ab_.{}=,\" \\\u{1}é".chars().collect();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            let mut text = String::new();
            for _ in 0..(state % 24) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            same(&text);
        }
    }

    #[test]
    fn parses_bare_values_and_plain_metrics() {
        let key = SeriesKey::parse("cpu.usage_user{host=a, dc=x}").unwrap();
        assert_eq!(key.canonical(), r#"cpu.usage_user{dc="x",host="a"}"#);
        // Spaces around quoted values are layout, as around bare ones.
        for spaced in [
            r#"q{ b = "c" }"#,
            r#"q{b="c" }"#,
            r#"q{b= "c"}"#,
            "q{ b = c }",
        ] {
            assert_eq!(SeriesKey::parse(spaced).unwrap().canonical(), r#"q{b="c"}"#);
        }
        assert_eq!(SeriesKey::parse("mem").unwrap().canonical(), "mem");
    }

    #[test]
    fn rejects_bad_names() {
        for bad in [
            "",
            "a b",
            "cpu{",
            "cpu{host}",
            "cpu{host=\"a}",
            "cpu{1x=a}",
            "cpu{h=a,h=b}",
            "cpu{h=}",
            "cpu{__name__=x}",
        ] {
            let err = SeriesKey::parse(bad).unwrap_err();
            assert_eq!(err.code(), "INVALID_SERIES", "{bad}");
        }
        let long = "m".repeat(MAX_METRIC_BYTES + 1);
        assert!(SeriesKey::parse(&long).is_err());
    }

    /// The byte-level checks and the run-copying renderer against their plain definitions,
    /// over texts mixing ASCII, C0 and C1 controls, DEL, non-ASCII spaces and letters.
    #[test]
    fn fast_checks_and_rendering_match_their_definitions() {
        let alphabet: Vec<char> =
            "aZ_.-9{}=,\" \\\t\u{0}\u{1f}\u{7f}\u{85}\u{9f}\u{a0}\u{2028}é€😀"
                .chars()
                .collect();
        let metric_ok = |m: &str| {
            !m.chars()
                .any(|c| c.is_control() || c.is_whitespace() || "{}\",=".contains(c))
        };
        let rendered = |v: &str| {
            let mut out = String::from("k=\"");
            for c in v.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    c => out.push(c),
                }
            }
            out + "\""
        };
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..50_000 {
            let mut text = String::new();
            for _ in 0..1 + state % 12 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            let metric = format!("m{text}");
            assert_eq!(
                check_metric(&metric).is_ok(),
                metric_ok(&metric),
                "{metric:?}"
            );
            let control = check_tag("k", &text)
                .err()
                .is_some_and(|e| e.to_string().contains("control"));
            assert_eq!(control, text.chars().any(char::is_control), "{text:?}");
            let key_ok = text.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
                && !text.starts_with("__");
            assert_eq!(check_tag(&text, "v").is_ok(), key_ok, "{text:?}");
            let mut out = String::new();
            render_tag(&mut out, "k", &text);
            assert_eq!(out, rendered(&text), "{text:?}");
        }
    }
}
