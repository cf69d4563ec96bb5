//! Rollups as JavaScript declares and lists them: the selection as matcher objects (as
//! queries give them), `every` as milliseconds or text such as `1m`.

use napi::bindgen_prelude::Either;
use napi_derive::napi;
use warp_core::query::{fixed_ms, EverySpec};
use warp_core::{Condition, Error, RollupInfo, RollupSpec};

use crate::select::{MatchOp, NativeMatcher};

#[napi(object)]
pub struct NativeRollupSpec {
    pub name: String,
    pub metric: String,
    pub tags: Vec<NativeMatcher>,
    pub every: Either<f64, String>,
    pub aggregates: Vec<String>,
}

#[napi(object)]
pub struct NativeRollup {
    pub name: String,
    pub metric: String,
    pub tags: Vec<NativeMatcher>,
    /// Bucket width in ms.
    pub every: f64,
    pub aggregates: Vec<String>,
    /// Whether its cells cover the data there was when it was declared.
    pub ready: bool,
    /// Series feeding it, and those with points not materialized yet.
    pub sources: f64,
    pub dirty: f64,
}

pub fn spec(js: NativeRollupSpec) -> warp_core::Result<RollupSpec> {
    let every = match js.every {
        Either::A(ms) => EverySpec::Ms(ms),
        Either::B(text) => EverySpec::Text(text),
    };
    Ok(RollupSpec {
        name: js.name,
        metric: js.metric,
        id: 0,
        conditions: js
            .tags
            .into_iter()
            .map(|m| Condition {
                name: m.name,
                op: match m.op {
                    MatchOp::Equal => "equal",
                    MatchOp::OneOf => "oneOf",
                    MatchOp::Regex => "regex",
                    MatchOp::Present => "present",
                }
                .to_owned(),
                values: m.values,
                negated: m.negated,
            })
            .collect(),
        every: fixed_ms(&every).map_err(|e| Error::invalid_query("every", e))?,
        aggregates: js.aggregates,
    })
}

pub fn info(r: RollupInfo) -> NativeRollup {
    NativeRollup {
        name: r.spec.name,
        metric: r.spec.metric,
        tags: r
            .spec
            .conditions
            .into_iter()
            .map(|c| NativeMatcher {
                op: match c.op.as_str() {
                    "oneOf" => MatchOp::OneOf,
                    "regex" => MatchOp::Regex,
                    "present" => MatchOp::Present,
                    _ => MatchOp::Equal,
                },
                name: c.name,
                values: c.values,
                negated: c.negated,
            })
            .collect(),
        every: r.spec.every as f64,
        aggregates: r.spec.aggregates,
        ready: r.ready,
        sources: r.sources as f64,
        dirty: r.dirty as f64,
    }
}
