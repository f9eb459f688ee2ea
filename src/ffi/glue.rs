//! The few helpers every exported function is built from: the panic
//! boundary, borrowing a C string, out-parameters, and boxed handles.

use std::ffi::{CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use crate::error::Error;
use crate::ffi::error::criteo_error;
use crate::ffi::process;
use crate::ffi::status::{CRITEO_OK, criteo_status, status_of};
use crate::process::QuietPanics;

/// Longest string accepted from C; anything longer is surely a mistake.
pub(crate) const MAX_C_STRING_BYTES: usize = 64 * 1024;

/// The panic boundary: runs `body`, turning a panic into an `Internal`
/// error. A panic prints nothing: its text goes into the error. (It also
/// makes sure the library hears of a `fork()`.)
pub(crate) fn catch_panic<T>(body: impl FnOnce() -> T) -> Result<T, Error> {
    crate::process::watch_for_fork();
    let _quiet = QuietPanics::enter();
    catch_unwind(AssertUnwindSafe(body)).map_err(|payload| Error::from_panic(&*payload))
}

/// For the work that may reach a cancellation point (network I/O, reading a
/// file, closing a socket, waiting): a `pthread_cancel` that arrives during
/// it takes effect at the caller's next cancellation point, after the call
/// has returned. (Unwinding a cancelled thread through Rust frames would
/// abort the process.)
pub(crate) fn blocking<T>(body: impl FnOnce() -> T) -> T {
    let _deferred = process::CancellationDeferred::start();
    body()
}

/// For functions that return a status: runs `body` inside the boundary and
/// reports any failure through `error_out`.
pub(crate) fn run_fallible(
    error_out: Option<OutParam<criteo_error>>,
    body: impl FnOnce() -> Result<(), Error>,
) -> criteo_status {
    match catch_panic(body).and_then(|result| result) {
        Ok(()) => CRITEO_OK,
        Err(error) => {
            let status = status_of(error.kind());
            if let Some(error_out) = error_out {
                error_out.write(criteo_error::from(&error));
            }
            status
        }
    }
}

/// For functions that cannot fail (accessors, frees): runs `body` inside
/// the boundary, answering `on_panic` if it panics.
pub(crate) fn run_infallible<T>(on_panic: T, body: impl FnOnce() -> T) -> T {
    catch_panic(body).unwrap_or(on_panic)
}

/// Borrows a C string argument as UTF-8 text. `name` is the argument's name
/// in the header, for the error message.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn borrow_str<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, Error> {
    // SAFETY: forwarded from this function's contract.
    unsafe { borrow_optional_str(ptr, name) }?
        .ok_or_else(|| Error::invalid_argument(format!("{name} must not be NULL")))
}

/// As [`borrow_str`], with NULL meaning "not given".
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn borrow_optional_str<'a>(
    ptr: *const c_char,
    name: &str,
) -> Result<Option<&'a str>, Error> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: ptr is a NUL-terminated string; strnlen reads no further than
    // its NUL or the cap, whichever comes first.
    let length = unsafe { libc::strnlen(ptr, MAX_C_STRING_BYTES + 1) };
    if length > MAX_C_STRING_BYTES {
        return Err(Error::invalid_argument(format!(
            "{name} is longer than {MAX_C_STRING_BYTES} bytes"
        )));
    }
    // SAFETY: strnlen found `length` readable bytes before the NUL.
    let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), length) };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Error::invalid_argument(format!(
            "{name} is not valid UTF-8 (at byte {})",
            e.valid_up_to()
        ))
    })?;
    Ok(Some(text))
}

/// Text for C. Every string handed out is checked free of NUL bytes before
/// it gets here; should one slip through, the caller sees "" rather than a
/// cut-short string.
pub(crate) fn to_c_string(text: &str) -> CString {
    CString::new(text).unwrap_or_default()
}

/// Copies `text` and a NUL into a caller's buffer of `capacity` bytes, and
/// its length (without the NUL) into `*length_out` when that is not NULL.
/// A buffer too small is an invalid argument, and is left untouched.
///
/// # Safety
/// `buffer` is NULL or writable for `capacity` bytes; `length_out` is NULL
/// or writable.
pub(crate) unsafe fn write_text(
    text: &[u8],
    buffer: *mut c_char,
    capacity: usize,
    length_out: *mut usize,
) -> Result<(), Error> {
    if !length_out.is_null() {
        // SAFETY: checked non-NULL; writable, as documented.
        unsafe { length_out.write(text.len()) };
    }
    if buffer.is_null() && capacity > 0 {
        return Err(Error::invalid_argument("buffer must not be NULL"));
    }
    if capacity <= text.len() {
        return Err(Error::invalid_argument(format!(
            "capacity ({capacity}) is too small: the value needs {} bytes with its NUL",
            text.len() + 1
        )));
    }
    // SAFETY: buffer is writable for capacity > text.len() bytes, and a
    // caller's buffer cannot overlap the library's text.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buffer.cast::<u8>(), text.len());
        buffer.add(text.len()).write(0);
    }
    Ok(())
}

/// A checked `T **` out-parameter, written once the call has succeeded.
pub(crate) struct OutParam<T>(*mut *mut T);

impl<T> OutParam<T> {
    /// An out-parameter the caller must supply.
    ///
    /// # Safety
    /// `ptr` is NULL or points to writable storage for a `T *`.
    pub(crate) unsafe fn required(ptr: *mut *mut T, name: &str) -> Result<Self, Error> {
        // SAFETY: forwarded from this function's contract.
        unsafe { Self::optional(ptr) }
            .ok_or_else(|| Error::invalid_argument(format!("{name} must not be NULL")))
    }

    /// An out-parameter the caller may leave NULL (`error_out`).
    ///
    /// # Safety
    /// `ptr` is NULL or points to writable storage for a `T *`.
    pub(crate) unsafe fn optional(ptr: *mut *mut T) -> Option<Self> {
        (!ptr.is_null()).then_some(OutParam(ptr))
    }

    /// Boxes `value` into a handle and stores it for the caller.
    pub(crate) fn write(self, value: T) {
        // SAFETY: checked non-NULL and writable when this OutParam was made.
        unsafe { self.0.write(into_handle(value)) }
    }

    /// Stores a shared handle (see [`free_shared_handle`]) for the caller.
    pub(crate) fn write_shared(self, value: Arc<T>) {
        // SAFETY: checked non-NULL and writable when this OutParam was made.
        unsafe { self.0.write(Arc::into_raw(value).cast_mut()) }
    }

    /// Stores NULL, for "nothing to hand out" on success.
    pub(crate) fn write_null(self) {
        // SAFETY: checked non-NULL and writable when this OutParam was made.
        unsafe { self.0.write(std::ptr::null_mut()) }
    }
}

/// Moves `value` to the heap; C owns it until it passes it to the free function.
pub(crate) fn into_handle<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// For accessors: reads a field of a handle inside the panic boundary,
/// answering `on_null` when the handle is NULL.
///
/// # Safety
/// `handle` is NULL or came from [`into_handle`] and has not been freed.
pub(crate) unsafe fn read_handle<H, T: Copy>(
    handle: *const H,
    on_null: T,
    field: impl FnOnce(&H) -> T,
) -> T {
    // SAFETY: forwarded from this function's contract.
    run_infallible(on_null, || {
        unsafe { handle.as_ref() }.map_or(on_null, field)
    })
}

/// Borrows the object behind a handle argument.
///
/// # Safety
/// `handle` is NULL or came from [`into_handle`] and has not been freed.
pub(crate) unsafe fn borrow_handle<'a, T>(handle: *const T, name: &str) -> Result<&'a T, Error> {
    // SAFETY: forwarded from this function's contract.
    unsafe { handle.as_ref() }
        .ok_or_else(|| Error::invalid_argument(format!("{name} must not be NULL")))
}

/// Borrows the object behind a handle argument, for changing it.
///
/// # Safety
/// `handle` is NULL or came from [`into_handle`], has not been freed, and no other reference to the object is live.
pub(crate) unsafe fn borrow_handle_mut<'a, T>(
    handle: *mut T,
    name: &str,
) -> Result<&'a mut T, Error> {
    // SAFETY: forwarded from this function's contract.
    unsafe { handle.as_mut() }
        .ok_or_else(|| Error::invalid_argument(format!("{name} must not be NULL")))
}

/// Takes back ownership of a handle: `None` for NULL.
///
/// # Safety
/// `handle` is NULL or came from [`into_handle`] and is not used again.
pub(crate) unsafe fn take_handle<T>(handle: *mut T) -> Option<T> {
    // SAFETY: forwarded from this function's contract.
    (!handle.is_null()).then(|| *unsafe { Box::from_raw(handle) })
}

/// Releases a shared handle, made from an `Arc` so that copies handed out
/// cost a reference count, not an allocation; NULL is a no-op.
///
/// # Safety
/// `handle` is NULL or came from [`OutParam::write_shared`] and is not used again.
pub(crate) unsafe fn free_shared_handle<T>(handle: *mut T) {
    if !handle.is_null() {
        // SAFETY: forwarded from this function's contract.
        drop(unsafe { Arc::from_raw(handle.cast_const()) });
    }
}

/// Frees a handle; NULL is a no-op.
///
/// # Safety
/// As [`take_handle`].
pub(crate) unsafe fn free_handle<T>(handle: *mut T) {
    // SAFETY: forwarded from this function's contract.
    drop(unsafe { take_handle(handle) });
}
