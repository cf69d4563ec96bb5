//! Work that may block (fsync, recovery, checkpoints, large reads) runs on the libuv pool.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use warp_core::{Engine, Options, RangeOptions, RangeResult, SeriesId};

use crate::convert::{self, NativeRange};
use crate::engine::NativeEngine;
use crate::error::{from_panic, IntoJs};

/// Runs core work, turning a panic into an `INTERNAL` error instead of unwinding into Node.
pub fn guarded<T>(work: impl FnOnce() -> warp_core::Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(work))
        .map_err(from_panic)?
        .js()
}

pub struct OpenTask {
    pub dir: PathBuf,
    pub options: Options,
}

impl Task for OpenTask {
    type Output = Engine;
    type JsValue = NativeEngine;

    fn compute(&mut self) -> Result<Engine> {
        guarded(|| Engine::open(&self.dir, self.options.clone()))
    }

    fn resolve(&mut self, _: Env, engine: Engine) -> Result<NativeEngine> {
        Ok(NativeEngine::wrap(engine))
    }
}

/// Waits until write `seq` is durable, or (without `seq`) flushes everything.
pub struct DurableTask {
    pub engine: Arc<Engine>,
    pub seq: Option<u64>,
}

impl Task for DurableTask {
    type Output = ();
    type JsValue = ();

    fn compute(&mut self) -> Result<()> {
        guarded(|| match self.seq {
            Some(seq) => self.engine.wait_durable(seq),
            None => self.engine.flush(),
        })
    }

    fn resolve(&mut self, _: Env, _: ()) -> Result<()> {
        Ok(())
    }
}

pub struct CheckpointTask {
    pub engine: Arc<Engine>,
}

impl Task for CheckpointTask {
    type Output = u64;
    type JsValue = f64;

    fn compute(&mut self) -> Result<u64> {
        guarded(|| self.engine.checkpoint())
    }

    fn resolve(&mut self, _: Env, bytes: u64) -> Result<f64> {
        Ok(bytes as f64)
    }
}

pub struct CloseTask {
    pub engine: Arc<Engine>,
}

impl Task for CloseTask {
    type Output = ();
    type JsValue = ();

    fn compute(&mut self) -> Result<()> {
        guarded(|| self.engine.close())
    }

    fn resolve(&mut self, _: Env, _: ()) -> Result<()> {
        Ok(())
    }
}

pub struct RangeTask {
    pub engine: Arc<Engine>,
    pub id: SeriesId,
    pub from: i64,
    pub to: i64,
    pub options: RangeOptions,
}

impl Task for RangeTask {
    type Output = RangeResult;
    type JsValue = NativeRange;

    fn compute(&mut self) -> Result<RangeResult> {
        guarded(|| self.engine.range(self.id, self.from, self.to, self.options))
    }

    fn resolve(&mut self, _: Env, result: RangeResult) -> Result<NativeRange> {
        Ok(convert::range(result))
    }
}
