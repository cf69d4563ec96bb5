//! Work that may block (fsync, recovery, checkpoints, lifecycle passes, large reads) runs on
//! the libuv thread pool as a `Job`: a closure over the core, and a conversion of its result.

use std::panic::{catch_unwind, AssertUnwindSafe};

use napi::bindgen_prelude::*;

use crate::error::{from_panic, IntoJs, JsError};

/// Runs core work, turning a panic into an `INTERNAL` error instead of unwinding into Node.
pub fn guarded<T>(work: impl FnOnce() -> warp_core::Result<T>) -> crate::error::Result<T> {
    catch_unwind(AssertUnwindSafe(work))
        .map_err(from_panic)?
        .js()
}

type Work<O> = Box<dyn FnOnce() -> warp_core::Result<O> + Send>;

pub struct Job<O, J> {
    work: Option<Work<O>>,
    finish: fn(O) -> J,
    /// The error of `compute`, kept with its code until `reject` builds the JS error.
    failed: Option<JsError>,
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
        failed: None,
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
            .ok_or_else(|| Error::new(Status::GenericFailure, "a job ran twice".to_owned()))?;
        guarded(work).map_err(|e| {
            let placeholder = Error::new(Status::GenericFailure, e.reason.clone());
            self.failed = Some(e);
            placeholder
        })
    }

    fn resolve(&mut self, _: Env, output: O) -> Result<J> {
        Ok((self.finish)(output))
    }

    /// Rejects with the error `compute` kept, as a JS error whose `code` is the core's.
    fn reject(&mut self, env: Env, err: Error) -> Result<J> {
        let Some(failed) = self.failed.take() else {
            return Err(err);
        };
        // SAFETY: `env` is the live environment napi hands to `reject` on the JS thread.
        #[allow(unsafe_code)]
        let value = unsafe { napi::JsError::from(failed).into_value(env.raw()) };
        // SAFETY: as above; `value` was just created in this environment.
        #[allow(unsafe_code)]
        let unknown = unsafe { Unknown::from_raw_unchecked(env.raw(), value) };
        Err(Error::from(unknown))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_internal_error() {
        let err = guarded::<()>(|| panic!("boom")).unwrap_err();
        assert_eq!(
            (err.status.as_str(), err.reason.as_str()),
            ("INTERNAL", "internal error: boom")
        );
        let err = guarded::<()>(|| Err(warp_core::Error::Closed)).unwrap_err();
        assert_eq!(
            (err.status.as_str(), err.reason.as_str()),
            ("CLOSED", "the database is closed")
        );
        assert_eq!(guarded(|| Ok(7)).unwrap(), 7);
    }
}
