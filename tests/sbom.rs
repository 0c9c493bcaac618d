//! `portcullis sbom`: CycloneDX 1.5 and SPDX 2.3 documents that validate against the
//! published schemas (../shared/corpus/schemas, with the SPDX license list and JSF schemas
//! CycloneDX references served from the same folder), carry every package with its package
//! URL, the distribution and the image, and come out byte for byte the same on the same
//! image and clock. Golden files under `tests/golden/sbom/`; re-bless with
//! `PORTCULLIS_BLESS=1 cargo test --test sbom`.

mod common;

use common::builder::{DockerArchive, Image, Layer};
use common::{corpus, portcullis, run_command, text};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const NOW: &str = "2026-01-15";

fn schemas() -> Option<PathBuf> {
    corpus().map(|c| c.join("schemas"))
}

fn load(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Serves the schemas CycloneDX's references name (`spdx.SNAPSHOT.schema.json`,
/// `jsf-0.82.SNAPSHOT.schema.json`) from the corpus instead of the network.
struct LocalSchemas(PathBuf);

impl jsonschema::Retrieve for LocalSchemas {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let name = uri.as_str().rsplit('/').next().unwrap_or("");
        let path = self.0.join(name);
        if !path.is_file() {
            return Err(format!("no local copy of {uri}").into());
        }
        Ok(load(&path))
    }
}

fn cyclonedx_validator(dir: &Path) -> jsonschema::Validator {
    jsonschema::options()
        .with_retriever(LocalSchemas(dir.to_path_buf()))
        .build(&load(&dir.join("bom-1.5.SNAPSHOT.schema.json")))
        .expect("the CycloneDX 1.5 schema compiles")
}

fn spdx_validator(dir: &Path) -> jsonschema::Validator {
    jsonschema::options()
        .with_retriever(LocalSchemas(dir.to_path_buf()))
        .build(&load(&dir.join("spdx-2.3.schema.json")))
        .expect("the SPDX 2.3 schema compiles")
}

fn assert_valid(validator: &jsonschema::Validator, document: &Value, what: &str) {
    let errors: Vec<String> = validator
        .iter_errors(document)
        .take(20)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}:\n{}", errors.join("\n"));
}

fn sbom(cwd: &Path, reference: &str, format: &str) -> String {
    let mut cmd = portcullis();
    cmd.current_dir(cwd)
        .env(portcullis::cli::scan::NOW_ENV, NOW)
        .args(["sbom", reference, "--format", format]);
    let run = run_command(&mut cmd);
    run.expect_code(0);
    run.stdout
}

/// The images the documents are checked on: (name, working directory, reference).
fn images(corpus: &Path, built: &Path) -> Vec<(&'static str, PathBuf, String)> {
    vec![
        (
            "alpine-310",
            corpus.to_path_buf(),
            "aquasecurity_trivy/pkg/fanal/test/testdata/alpine-310.tar.gz".into(),
        ),
        ("built-mixed", built.to_path_buf(), "mixed.tar".into()),
        ("built-centos7", built.to_path_buf(), "centos7.tar".into()),
    ]
}

/// A Debian image with language packages (Python, npm) and a duplicate library, and an
/// image carrying the real CentOS 7 rpm database of the corpus.
fn build_images(corpus: &Path, dir: &Path) {
    let mixed = Image::new()
        .layer(
            Layer::new()
                .dir("etc")
                .file(
                    "etc/os-release",
                    "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n",
                )
                .dir("var/lib/dpkg")
                .file(
                    "var/lib/dpkg/status",
                    "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: 2.36-9+deb12u4\n\n\
                     Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl (3.0.11-1~deb12u2)\nVersion: 3.0.11-1~deb12u2\n",
                ),
        )
        .layer(
            Layer::new()
                .dir("app/node_modules/@babel/core")
                .file(
                    "app/node_modules/@babel/core/package.json",
                    r#"{"name": "@babel/core", "version": "7.23.0", "license": "MIT"}"#,
                )
                .dir("usr/lib/python3/dist-packages/requests-2.31.0.dist-info")
                .file(
                    "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA",
                    "Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\nLicense: Apache 2.0\n",
                )
                .dir("opt/venv/lib/python3.11/site-packages/requests-2.31.0.dist-info")
                .file(
                    "opt/venv/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA",
                    "Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\nLicense: Apache-2.0 OR MIT\n",
                ),
        );
    DockerArchive::docker25()
        .image(&mixed.build(), &["registry.example:5000/team/mixed:1.0"])
        .write(&dir.join("mixed.tar"));

    let rpmdb = std::fs::read(corpus.join("knqyf263_go-rpmdb/pkg/testdata/centos7-plain/Packages"))
        .unwrap();
    let centos = Image::new().layer(
        Layer::new()
            .dir("etc")
            .file(
                "etc/centos-release",
                "CentOS Linux release 7.5.1804 (Core)\n",
            )
            .dir("var/lib/rpm")
            .file("var/lib/rpm/Packages", rpmdb),
    );
    DockerArchive::classic()
        .image(&centos.build(), &[])
        .write(&dir.join("centos7.tar"));
}

#[test]
fn documents_validate_against_the_published_schemas() {
    let (Some(corpus), Some(schemas)) = (corpus(), schemas()) else {
        return;
    };
    let built = tempfile::tempdir().unwrap();
    build_images(&corpus, built.path());
    let cyclonedx = cyclonedx_validator(&schemas);
    let spdx = spdx_validator(&schemas);
    for (name, cwd, reference) in images(&corpus, built.path()) {
        let cdx: Value = serde_json::from_str(&sbom(&cwd, &reference, "cyclonedx")).unwrap();
        assert_valid(&cyclonedx, &cdx, &format!("{name} CycloneDX"));
        let doc: Value = serde_json::from_str(&sbom(&cwd, &reference, "spdx")).unwrap();
        assert_valid(&spdx, &doc, &format!("{name} SPDX"));

        // The same packages in both, each with its package URL.
        let components = cdx["components"].as_array().unwrap();
        let cdx_purls: BTreeSet<&str> = components
            .iter()
            .filter(|c| c["type"] == "library")
            .map(|c| c["purl"].as_str().unwrap())
            .collect();
        let spdx_purls: BTreeSet<&str> = doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["primaryPackagePurpose"] == "LIBRARY")
            .map(|p| p["externalRefs"][0]["referenceLocator"].as_str().unwrap())
            .collect();
        assert_eq!(cdx_purls, spdx_purls, "{name}");
        assert!(!cdx_purls.is_empty(), "{name}");
        let refs: BTreeSet<&str> = components
            .iter()
            .map(|c| c["bom-ref"].as_str().unwrap())
            .collect();
        assert_eq!(refs.len(), components.len(), "{name}: bom-refs are unique");
        assert_eq!(cdx["metadata"]["component"]["type"], "container");
        assert_eq!(cdx["metadata"]["timestamp"], "2026-01-15T00:00:00Z");
        assert_eq!(doc["creationInfo"]["created"], "2026-01-15T00:00:00Z");
        assert_eq!(components[0]["type"], "operating-system", "{name}");
    }
}

#[test]
fn the_schemas_reject_what_they_should() {
    let (Some(corpus), Some(schemas)) = (corpus(), schemas()) else {
        return;
    };
    let reference = "aquasecurity_trivy/pkg/fanal/test/testdata/alpine-310.tar.gz";
    let mut cdx: Value = serde_json::from_str(&sbom(&corpus, reference, "cyclonedx")).unwrap();
    cdx["components"][1]["licenses"][0]["license"]["id"] = Value::from("Not-A-License");
    assert!(!cyclonedx_validator(&schemas).is_valid(&cdx));
    let mut doc: Value = serde_json::from_str(&sbom(&corpus, reference, "spdx")).unwrap();
    doc["packages"][1]
        .as_object_mut()
        .unwrap()
        .remove("downloadLocation");
    assert!(!spdx_validator(&schemas).is_valid(&doc));
}

#[test]
fn every_license_id_portcullis_names_is_on_the_spdx_list() {
    let Some(schemas) = schemas() else {
        return;
    };
    let list = load(&schemas.join("spdx.SNAPSHOT.schema.json"));
    let ids: BTreeSet<&str> = list["enum"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for id in portcullis::report::sbom::known_spdx_ids() {
        assert!(ids.contains(id), "{id} is not an SPDX license id");
    }
}

#[test]
fn contents_of_the_alpine_document() {
    let Some(corpus) = corpus() else {
        return;
    };
    let reference = "aquasecurity_trivy/pkg/fanal/test/testdata/alpine-310.tar.gz";
    let cdx: Value = serde_json::from_str(&sbom(&corpus, reference, "cyclonedx")).unwrap();
    let components = cdx["components"].as_array().unwrap();
    assert_eq!(components.len(), 15, "alpine 3.10 and its 14 apk packages");
    assert_eq!(components[0]["name"], "alpine");
    assert_eq!(components[0]["version"], "3.10.4");
    let image = &cdx["metadata"]["component"];
    assert_eq!(image["name"], "alpine:3.10");
    assert_eq!(
        image["version"],
        "sha256:af341ccd2df8b0e2d67cf8dd32e087bfda4e5756ebd1c76bbf3efa0dc246590e"
    );
    assert_eq!(
        image["purl"],
        "pkg:oci/alpine@sha256:af341ccd2df8b0e2d67cf8dd32e087bfda4e5756ebd1c76bbf3efa0dc246590e?arch=amd64&tag=3.10"
    );
    assert_eq!(
        cdx["dependencies"][0]["dependsOn"]
            .as_array()
            .unwrap()
            .len(),
        15
    );
    let musl = components.iter().find(|c| c["name"] == "musl").unwrap();
    assert_eq!(
        musl["purl"],
        "pkg:apk/alpine/musl@1.1.22-r3?arch=x86_64&distro=alpine-3.10.4"
    );

    let doc: Value = serde_json::from_str(&sbom(&corpus, reference, "spdx")).unwrap();
    assert_eq!(doc["documentDescribes"][0], "SPDXRef-Image");
    let packages = doc["packages"].as_array().unwrap();
    assert_eq!(packages.len(), 16, "the image, alpine and 14 packages");
    assert_eq!(
        doc["relationships"].as_array().unwrap().len(),
        16,
        "the document describes the image, which contains 15"
    );
}

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/sbom")
        .join(name)
}

#[test]
fn documents_are_deterministic_and_match_their_golden_files() {
    let Some(corpus) = corpus() else {
        return;
    };
    let bless = std::env::var_os("PORTCULLIS_BLESS").is_some_and(|v| !v.is_empty());
    let reference = "aquasecurity_trivy/pkg/fanal/test/testdata/alpine-310.tar.gz";
    for (format, file) in [
        ("cyclonedx", "alpine-310.cdx.json"),
        ("spdx", "alpine-310.spdx.json"),
    ] {
        let first = sbom(&corpus, reference, format);
        assert_eq!(
            first,
            sbom(&corpus, reference, format),
            "{format} is deterministic"
        );
        let actual = first.replace(env!("CARGO_PKG_VERSION"), "[VERSION]");
        let path = golden(file);
        if bless {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            expected == actual,
            "{} differs from this run; if intended: PORTCULLIS_BLESS=1 cargo test --test sbom",
            path.display()
        );
    }
}

#[test]
fn output_files_and_source_date_epoch() {
    let Some(corpus) = corpus() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bom.json");
    let image = corpus.join("aquasecurity_trivy/pkg/fanal/test/testdata/alpine-310.tar.gz");
    let mut cmd = portcullis();
    cmd.env_remove(portcullis::cli::scan::NOW_ENV)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args(["sbom", text(&image), "--format", "spdx", "-o", text(&out)]);
    let run = run_command(&mut cmd);
    run.expect_code(0);
    assert!(run.stdout.is_empty());
    let doc = load(&out);
    assert_eq!(doc["creationInfo"]["created"], "2023-11-14T22:13:20Z");

    let mut cmd = portcullis();
    cmd.args(["sbom", "missing.tar"]);
    let run = run_command(&mut cmd);
    run.expect_scan_error("missing.tar", &[]);
}

/// Debian packages take their licences from `/usr/share/doc/PACKAGE/copyright`, machine
/// readable or free-form, also through a doc directory linked to another package's; the
/// image's own application (`package.json`, `pyproject.toml` outside any dependency tree)
/// is an application component; known licence spellings become SPDX identifiers.
#[test]
fn os_package_licences_and_the_application_component() {
    use common::builder::{DockerArchive, Image, Layer};
    let dir = tempfile::tempdir().unwrap();
    let status = "Package: liba\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0-1\n\n\
                  Package: libb\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.0-1\n\n\
                  Package: libc-linked\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0-1\n";
    let image = Image::new().user("app").layer(
        Layer::new()
            .dir("etc")
            .file(
                "etc/os-release",
                "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n",
            )
            .dir("var/lib/dpkg")
            .file("var/lib/dpkg/status", status)
            .dir("usr/share/doc/liba")
            .file(
                "usr/share/doc/liba/copyright",
                "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n\
                     Files: *\nCopyright: 2020 A\nLicense: Apache 2.0\n",
            )
            .dir("usr/share/doc/libb")
            .file(
                "usr/share/doc/libb/copyright",
                "On Debian systems the license is in /usr/share/common-licenses/GPL-2.\n",
            )
            .symlink("usr/share/doc/libc-linked", "liba")
            .dir("app")
            .file(
                "app/package.json",
                r#"{"name": "shop", "version": "1.4.0", "license": "Apache 2.0"}"#,
            )
            .dir("srv/api")
            .file(
                "srv/api/pyproject.toml",
                "[project]\nname = \"api\"\nversion = \"0.3.0\"\nlicense = {text = \"MIT\"}\n",
            ),
    );
    let archive = dir.path().join("app.tar");
    DockerArchive::docker25()
        .image(&image.build(), &["acme/app:1"])
        .write(&archive);
    let run = common::run(&["sbom", common::text(&archive), "-f", "cyclonedx"]);
    run.expect_code(0);
    let bom = run.json();
    let component = |name: &str| {
        bom["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no component {name}: {bom:#}"))
            .clone()
    };
    let license_id = |name: &str| component(name)["licenses"][0]["license"]["id"].clone();
    assert_eq!(license_id("liba"), "Apache-2.0");
    assert_eq!(license_id("libb"), "GPL-2.0-only");
    assert_eq!(license_id("libc-linked"), "Apache-2.0");
    assert_eq!(component("shop")["type"], "application");
    assert_eq!(license_id("shop"), "Apache-2.0");
    assert_eq!(component("api")["type"], "application");
    assert_eq!(license_id("api"), "MIT");
    assert_eq!(component("liba")["type"], "library");

    let run = common::run(&["sbom", common::text(&archive), "-f", "spdx"]);
    run.expect_code(0);
    let spdx = run.json();
    let libb = spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "libb")
        .unwrap();
    assert_eq!(libb["licenseDeclared"], "GPL-2.0-only");
}

/// Trivy's copyright samples: the licences each file names (Trivy's expectations in
/// `expected/dpkg-copyright-trivy.json`, as SPDX identifiers where the names map). Where
/// Trivy reads Debian's `Artistic` as Artistic-2.0, portcullis reads it as Debian's
/// /usr/share/common-licenses/Artistic, the Perl Artistic License 1.0.
#[test]
fn copyright_files_of_the_corpus_name_trivys_licences() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let dir = corpus.join("aquasecurity_trivy/pkg/fanal/analyzer/pkg/dpkg/testdata");
    let found = |file: &str| -> Vec<String> {
        let data = std::fs::read(dir.join(file)).unwrap();
        portcullis::inventory::copyright::licenses(&data)
            .iter()
            .map(|name| {
                portcullis::report::sbom::spdx_expression(name).unwrap_or_else(|| name.clone())
            })
            .collect()
    };
    assert_eq!(found("common-license-copyright"), vec!["GPL-2.0-only"]);
    assert_eq!(
        found("all-patterns-copyright"),
        vec!["GPL-2.0-or-later", "GPL-2.0-only"]
    );
    assert!(found("no-license-copyright").is_empty());
    let zlib = found("license-pattern-and-classifier-copyright");
    assert!(zlib.contains(&"Zlib".to_string()), "{zlib:?}");
    assert!(
        zlib.iter().any(|l| l.contains("BSD-4-clause-POWERDOG")),
        "{zlib:?}"
    );
}
