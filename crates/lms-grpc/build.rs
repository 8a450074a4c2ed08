//! Compiles the protobuf contracts in /proto with the protoc shipped by
//! protoc-bin-vendored (no system protoc needed), and writes the descriptor
//! set that server reflection serves.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let protos = [
        root.join("lms/v1/resources.proto"),
        root.join("lms/v1/services.proto"),
        root.join("lms/migration/v1/migration.proto"),
    ];
    let mut config = tonic_prost_build::Config::new();
    // A PROTOC set in the environment wins, as prost-build documents.
    if std::env::var_os("PROTOC").is_none() {
        config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        // Requests that do not decode are the client's fault: INVALID_ARGUMENT.
        .codec_path("crate::codec::RequestCodec")
        .file_descriptor_set_path(out_dir.join("lms_descriptor.bin"))
        .include_file("_includes.rs")
        .compile_with_config(
            config,
            &protos,
            &[root.clone(), protoc_bin_vendored::include_path()?],
        )?;
    // tonic-prost-build emits no rerun-if-changed lines of its own.
    println!("cargo:rerun-if-changed={}", root.display());
    println!("cargo:rerun-if-changed=build.rs");
    Ok(())
}
