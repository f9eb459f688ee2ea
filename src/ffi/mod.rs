//! The C ABI. Each exported function is a thin wrapper: check the C inputs
//! with the helpers in [`glue`], call the Rust core, hand back handles.
//! Every exported function goes through [`glue::catch_panic`], so no panic
//! crosses into C.
#![allow(non_camel_case_types)]

#[cfg(not(fuzzing))]
mod allocator;
pub mod client;
pub mod consent;
pub mod error;
pub mod get_token;
mod glue;
mod process;
pub mod source;
pub mod status;
pub mod token;
pub mod trace;
pub mod version;

/// The fuzz targets count allocations with an allocator of their own.
#[cfg(not(fuzzing))]
#[global_allocator]
static WIPING_ALLOCATOR: allocator::WipingAllocator = allocator::WipingAllocator;
