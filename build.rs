//! Sets the shared library's soname, and generates the C header with
//! cbindgen, failing the build when the checked-in `include/criteo_oauth.h`
//! differs from it, so the header can never drift from the code.
//! `CRITEO_OAUTH_UPDATE_HEADER=1 cargo build` writes the new header instead.

use std::env;
use std::fs;
use std::path::PathBuf;

const HEADER: &str = "include/criteo_oauth.h";
const UPDATE_VARIABLE: &str = "CRITEO_OAUTH_UPDATE_HEADER";

fn main() {
    // The soname carries the major version: libcriteo_oauth.so.0.
    println!(
        "cargo:rustc-cdylib-link-arg=-Wl,-soname,libcriteo_oauth.so.{}",
        env::var("CARGO_PKG_VERSION_MAJOR").unwrap()
    );
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed={HEADER}");
    println!("cargo:rerun-if-env-changed={UPDATE_VARIABLE}");

    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let generated_path = PathBuf::from(env::var("OUT_DIR").unwrap()).join("criteo_oauth.h");
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is readable");
    let version_macros = format!(
        "#define CRITEO_OAUTH_VERSION_MAJOR {}\n#define CRITEO_OAUTH_VERSION_MINOR {}\n#define CRITEO_OAUTH_VERSION_PATCH {}\n",
        env::var("CARGO_PKG_VERSION_MAJOR").unwrap(),
        env::var("CARGO_PKG_VERSION_MINOR").unwrap(),
        env::var("CARGO_PKG_VERSION_PATCH").unwrap(),
    );
    cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .with_after_include(version_macros)
        .generate()
        .expect("cbindgen can read src/")
        .write_to_file(&generated_path);

    let generated = fs::read_to_string(&generated_path).unwrap();
    let checked_in_path = crate_dir.join(HEADER);
    let checked_in = fs::read_to_string(&checked_in_path).unwrap_or_default();
    if generated == checked_in {
        return;
    }
    if env::var_os(UPDATE_VARIABLE).is_some_and(|v| v == "1") {
        fs::write(&checked_in_path, generated).expect("include/ is writable");
        return;
    }
    panic!(
        "{HEADER} is out of date with the Rust code (generated: {}).\n\
         Review the change, then regenerate it with: {UPDATE_VARIABLE}=1 cargo build",
        generated_path.display()
    );
}
