//! The harness itself works: fixture archives of every engine and compression build.
mod common;
use common::*;

#[test]
fn every_engine_and_compression_builds_into_an_oci_layout() {
    let tmp = tempfile::tempdir().expect("tmp");
    for engine in Engine::ALL {
        for comp in Comp::ALL {
            let a = engine_archive(tmp.path(), engine, comp);
            let dest = format!(
                "oci:{}/{}-{}",
                tmp.path().display(),
                engine.id(),
                comp.ext()
            );
            let out = ok(run_s(&[
                "build",
                "--no-host-facts",
                "--format",
                "json",
                a.to_str().expect("utf8"),
                &dest,
            ]));
            let j = json(&out);
            assert_eq!(j["engine"], engine.id(), "{engine:?} {comp:?}");
        }
    }
}
