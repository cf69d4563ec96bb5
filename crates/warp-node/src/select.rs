//! Series selections as JavaScript gives them: a metric condition and tag conditions, each a
//! matcher object the TypeScript layer builds from `metric` and `where`.

use napi_derive::napi;
use warp_core::{Error, Match, Matcher, Selector};

/// How a matcher compares a tag value (or the metric name).
#[napi(string_enum = "camelCase")]
pub enum MatchOp {
    /// Equal to `values[0]`.
    Equal,
    /// Equal to one of `values`.
    OneOf,
    /// Matches the regular expression `values[0]` (anchored; Rust `regex` syntax).
    Regex,
    /// Has the tag, whatever its value.
    Present,
}

#[napi(object)]
pub struct NativeMatcher {
    /// The tag's name (unused for the metric condition).
    pub name: String,
    pub op: MatchOp,
    pub values: Vec<String>,
    /// Selects the series the plain matcher does not (those without the tag included).
    pub negated: bool,
}

#[napi(object)]
pub struct NativeSelector {
    pub metric: Option<NativeMatcher>,
    pub tags: Vec<NativeMatcher>,
}

/// The core selection; `INVALID_QUERY` naming the field for a matcher that cannot work.
pub fn selector(js: NativeSelector) -> warp_core::Result<Selector> {
    let metric = js.metric.map(|m| matching(&m, "metric")).transpose()?;
    let matchers = js
        .tags
        .into_iter()
        .map(|m| {
            let matching = matching(&m, &format!("where.{}", m.name))?;
            Ok(Matcher {
                name: m.name,
                matching,
                negated: m.negated,
            })
        })
        .collect::<warp_core::Result<_>>()?;
    Ok(Selector { metric, matchers })
}

fn matching(m: &NativeMatcher, field: &str) -> warp_core::Result<Match> {
    let one = || {
        m.values
            .first()
            .cloned()
            .ok_or_else(|| Error::invalid_query(field, "needs a value"))
    };
    Ok(match m.op {
        MatchOp::Equal => Match::Equal(one()?),
        MatchOp::OneOf => Match::OneOf(m.values.clone()),
        MatchOp::Regex => Match::regex(&one()?)
            .map_err(|e| Error::invalid_query(field, format!("the regex does not compile: {e}")))?,
        MatchOp::Present => Match::Any,
    })
}
