//! No panic crosses into C: a panic forced inside an exported call (with
//! the test-only `test-panic` feature) comes back as CRITEO_ERR_INTERNAL
//! with a message, and the process and the library carry on.

mod support;

use criteo_oauth::ffi::status::*;
use support::{Call, Client, Source, TestServer, demo_call};

#[test]
fn a_panic_inside_a_call_is_an_internal_error_and_the_process_lives_on() {
    let server = TestServer::start().unwrap();
    let client = Client::new(&server.url());
    let forced = Call {
        grant_type: "test-panic",
        ..demo_call()
    };

    let error = client.get(&forced).unwrap_err();
    assert_eq!(error.status, CRITEO_ERR_INTERNAL);
    assert_eq!(
        error.message,
        "internal error (a bug in criteo-oauth): forced by the test-panic feature"
    );
    let error = Source::new(&client, &forced).err().unwrap();
    assert_eq!(error.status, CRITEO_ERR_INTERNAL);

    // The same client, and the library, still work.
    assert_eq!(client.get(&demo_call()).unwrap().expires_in, 900);
    assert!(Source::new(&client, &demo_call()).unwrap().get().is_ok());
    assert!(
        server.requests().len() == 2,
        "the panicking calls sent nothing"
    );
}
