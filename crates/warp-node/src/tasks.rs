//! Work that may block (fsync, recovery, checkpoints, tier moves, large reads) runs on the
//! libuv thread pool as a `Job`: a closure over the core, and a conversion of its result.

use std::panic::{catch_unwind, AssertUnwindSafe};

use napi::bindgen_prelude::*;

use crate::error::{from_panic, IntoJs};

/// Runs core work, turning a panic into an `INTERNAL` error instead of unwinding into Node.
pub fn guarded<T>(work: impl FnOnce() -> warp_core::Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(work))
        .map_err(from_panic)?
        .js()
}

type Work<O> = Box<dyn FnOnce() -> warp_core::Result<O> + Send>;

pub struct Job<O, J> {
    work: Option<Work<O>>,
    finish: fn(O) -> J,
}

/// A promise of `finish(work())`, computed off the JS thread.
pub fn job<O, J>(
    work: impl FnOnce() -> warp_core::Result<O> + Send + 'static,
    finish: fn(O) -> J,
) -> AsyncTask<Job<O, J>>
where
    O: Send + 'static,
    J: ToNapiValue + TypeName,
{
    AsyncTask::new(Job {
        work: Some(Box::new(work)),
        finish,
    })
}

impl<O, J> Task for Job<O, J>
where
    O: Send + 'static,
    J: ToNapiValue + TypeName,
{
    type Output = O;
    type JsValue = J;

    fn compute(&mut self) -> Result<O> {
        let work = self
            .work
            .take()
            .ok_or_else(|| Error::from_reason("INTERNAL: a job ran twice"))?;
        guarded(work)
    }

    fn resolve(&mut self, _: Env, output: O) -> Result<J> {
        Ok((self.finish)(output))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_internal_error() {
        let err = guarded::<()>(|| panic!("boom")).unwrap_err();
        assert_eq!(err.reason, "INTERNAL: internal error: boom");
        let err = guarded::<()>(|| Err(warp_core::Error::Closed)).unwrap_err();
        assert_eq!(err.reason, "CLOSED: the database is closed");
        assert_eq!(guarded(|| Ok(7)).unwrap(), 7);
    }
}
