use super::purl::Purl;
use super::*;

const DIGEST: &str = "sha256:9d7f5c4d0cbbda07b5b0e2f1a4fb3d5b6f3cd4e4d8d1dc6c9c8b8c5d7a9e1f00";

fn image() -> ImageIdentity {
    ImageIdentity {
        digests: vec![DIGEST.to_string()],
        names: vec![
            "ghcr.io/acme/app:1.4".into(),
            "docker.io/library/nginx:1".into(),
        ],
    }
}

#[test]
fn purls_name_packages_by_type_namespace_name_and_what_they_give() {
    let package = "pkg:apk/alpine/libssl3@3.1.4-r2?arch=x86_64&distro=alpine-3.19.1";
    let table = [
        ("pkg:apk/alpine/libssl3@3.1.4-r2", true),
        ("pkg:apk/alpine/libssl3", true),
        ("pkg:APK/Alpine/LibSSL3", true),
        ("pkg:apk/alpine/libssl3@3.1.4-r3", false),
        ("pkg:apk/alpine/libssl3@3.1.4-r2?arch=x86_64", true),
        ("pkg:apk/alpine/libssl3@3.1.4-r2?arch=armv7", false),
        ("pkg:apk/wolfi/libssl3@3.1.4-r2", false),
        ("pkg:apk/libssl3", false),
        ("pkg:deb/alpine/libssl3", false),
        ("pkg:apk/alpine/libcrypto3", false),
    ];
    let package = Purl::parse(package).unwrap();
    for (product, expected) in table {
        let product = Purl::parse(product).unwrap();
        assert_eq!(product.matches(&package), expected, "{product:?}");
    }
    let deb = Purl::parse("pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64").unwrap();
    assert!(
        Purl::parse("pkg:deb/debian/openssl@3.0.11-1%7Edeb12u2")
            .unwrap()
            .matches(&deb),
        "percent-encoded versions compare decoded"
    );
    let epoch = Purl::parse("pkg:deb/debian/libc6@1%3A2.36-9").unwrap();
    assert_eq!(epoch.version.as_deref(), Some("1:2.36-9"));
    let pypi = Purl::parse("pkg:pypi/zope.interface@6.0").unwrap();
    assert!(
        Purl::parse("pkg:pypi/Zope_Interface")
            .unwrap()
            .matches(&pypi)
    );
    let maven = Purl::parse("pkg:maven/org.apache/Commons@1").unwrap();
    assert!(
        !Purl::parse("pkg:maven/org.apache/commons")
            .unwrap()
            .matches(&maven),
        "maven names are case-sensitive"
    );
    let npm = Purl::parse("pkg:npm/%40angular/core@16.0.0").unwrap();
    assert_eq!(npm.namespace.as_deref(), Some("@angular"));
    assert!(Purl::parse("pkg:npm/@angular/core").unwrap().matches(&npm));
    assert_eq!(
        Purl::parse("pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.10.0?type=jar")
            .unwrap()
            .versionless(),
        "pkg:maven/com.fasterxml.jackson.core/jackson-databind"
    );
    for bad in ["", "pkg:", "pkg:apk", "apk/alpine/x", "pkg:/x"] {
        assert_eq!(Purl::parse(bad), None, "{bad}");
    }
}

#[test]
fn images_are_named_by_digest_oci_purl_or_reference() {
    let hex = DIGEST.trim_start_matches("sha256:");
    let table = [
        (DIGEST.to_string(), true),
        (format!("sha256:{}", "0".repeat(64)), false),
        (format!("pkg:oci/app@sha256%3A{hex}"), true),
        (
            format!("pkg:oci/app@sha256:{hex}?repository_url=ghcr.io/acme/app"),
            true,
        ),
        (format!("pkg:oci/other@sha256%3A{}", "0".repeat(64)), false),
        ("pkg:oci/app".into(), true),
        ("pkg:oci/app?repository_url=ghcr.io/acme/app".into(), true),
        ("pkg:oci/app?repository_url=quay.io/acme/app".into(), false),
        ("pkg:oci/nginx".into(), true),
        (format!("ghcr.io/acme/app@{DIGEST}"), true),
        ("ghcr.io/acme/app:1.4".into(), true),
        ("ghcr.io/acme/app".into(), true),
        ("ghcr.io/acme/app:1.5".into(), false),
        ("nginx:1".into(), true),
        ("docker.io/library/nginx".into(), true),
        ("acme/app".into(), false),
        ("pkg:apk/alpine/app".into(), false),
        ("".into(), false),
    ];
    let image = image();
    for (id, expected) in table {
        assert_eq!(image.is(&id), expected, "{id}");
    }
}

const OPENVEX: &str = r#"{
  "@context": "https://openvex.dev/ns/v0.2.0",
  "@id": "https://example.com/vex/1",
  "author": "Acme",
  "timestamp": "2024-01-08T18:02:03Z",
  "version": 1,
  "statements": [
    {
      "vulnerability": {"name": "CVE-2023-5678", "aliases": ["GHSA-aaaa-bbbb-cccc"]},
      "products": [{"@id": "pkg:oci/app", "subcomponents": [{"@id": "pkg:apk/alpine/libssl3"}]}],
      "status": "not_affected",
      "justification": "vulnerable_code_not_in_execute_path",
      "impact_statement": "DH keys are never generated"
    },
    {
      "vulnerability": {"@id": "https://nvd.nist.gov/vuln/detail/CVE-2023-1", "name": "CVE-2023-1"},
      "products": [{"identifiers": {"purl": "pkg:apk/alpine/busybox@1.36.1-r15"}}],
      "status": "affected",
      "action_statement": "upgrade",
      "timestamp": "2024-02-01T00:00:00+01:00"
    }
  ]
}"#;

#[test]
fn openvex_statements_read_names_products_and_reasons() {
    let doc = parse("a.json", OPENVEX.as_bytes()).unwrap();
    assert_eq!(doc.format, Format::OpenVex);
    assert_eq!(doc.author.as_deref(), Some("Acme"));
    let [first, second] = doc.statements.as_slice() else {
        panic!("{doc:?}")
    };
    assert_eq!(first.index, 1);
    assert!(first.is_about(["ghsa-AAAA-bbbb-cccc"]));
    assert!(!first.is_about(["CVE-2023-1"]));
    assert_eq!(first.status, Status::NotAffected);
    assert_eq!(
        first.justification.as_deref(),
        Some("vulnerable_code_not_in_execute_path")
    );
    let image = ImageIdentity {
        digests: vec![DIGEST.into()],
        names: vec!["app:1".into()],
    };
    let libssl = "pkg:apk/alpine/libssl3@3.1.4-r2?arch=x86_64";
    assert!(first.covers(&image, Some(libssl)));
    assert!(!first.covers(&image, Some("pkg:apk/alpine/libcrypto3@3.1.4-r2")));
    assert!(!first.covers(&ImageIdentity::default(), Some(libssl)));

    assert_eq!(
        second.aliases,
        ["https://nvd.nist.gov/vuln/detail/CVE-2023-1"]
    );
    assert_eq!(second.products[0].id, "pkg:apk/alpine/busybox@1.36.1-r15");
    assert!(second.covers(
        &ImageIdentity::default(),
        Some("pkg:apk/alpine/busybox@1.36.1-r15?arch=x86_64")
    ));
    assert!(!second.status.suppresses());
    assert!(second.timestamp > first.timestamp);
    assert_eq!(first.timestamp, doc.statements[0].timestamp);
}

#[test]
fn openvex_v0_0_1_strings_are_read_too() {
    let doc = parse(
        "old.json",
        br#"{"@context": "https://openvex.dev/ns", "@id": "x", "author": "a",
             "timestamp": "2023-01-09T21:23:03Z", "version": "1",
             "statements": [{"vulnerability": "CVE-2014-123456", "products": ["pkg:oci/app"],
                             "subcomponents": ["pkg:deb/debian/bash"], "status": "fixed"}]}"#,
    )
    .unwrap();
    let s = &doc.statements[0];
    assert_eq!(s.vulnerability, "CVE-2014-123456");
    assert_eq!(s.status, Status::Fixed);
    assert_eq!(s.products[0].subcomponents, ["pkg:deb/debian/bash"]);
}

const CYCLONEDX: &str = r#"{
  "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
  "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
  "metadata": {"component": {"type": "container", "name": "ghcr.io/acme/app", "version": "1.4", "bom-ref": "the-image"}},
  "components": [
    {"type": "library", "name": "openssl", "bom-ref": "os", "components": [
      {"type": "library", "name": "libssl3", "bom-ref": "ssl", "purl": "pkg:apk/alpine/libssl3@3.1.4-r2"}
    ]}
  ],
  "vulnerabilities": [
    {"id": "CVE-2023-5678", "references": [{"id": "GHSA-x", "source": {"name": "GitHub"}}],
     "analysis": {"state": "false_positive", "justification": "code_not_reachable", "detail": "no DH"},
     "affects": [{"ref": "ssl"}]},
    {"id": "CVE-2023-2", "analysis": {"state": "resolved"},
     "affects": [{"ref": "urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/1#the-image"},
                 {"ref": "urn:cdx:00000000-0000-0000-0000-000000000000/1#pkg:npm/left-pad@1.0.0"},
                 {"ref": "pkg:npm/left-pad@1.0.1"}]},
    {"id": "CVE-2023-3", "affects": [{"ref": "ssl"}]}
  ]
}"#;

#[test]
fn cyclonedx_refs_resolve_through_components_and_bom_links() {
    let doc = parse("bom.json", CYCLONEDX.as_bytes()).unwrap();
    assert_eq!(doc.format, Format::CycloneDx);
    assert_eq!(doc.without_analysis, 1);
    let [first, second] = doc.statements.as_slice() else {
        panic!("{doc:?}")
    };
    assert_eq!(first.status, Status::NotAffected);
    assert_eq!(first.written_status.as_deref(), Some("false_positive"));
    assert_eq!(first.aliases, ["GHSA-x"]);
    assert_eq!(first.impact_statement.as_deref(), Some("no DH"));
    assert_eq!(
        first.products[0].identifiers,
        ["ssl", "pkg:apk/alpine/libssl3@3.1.4-r2"]
    );
    assert!(first.covers(
        &ImageIdentity::default(),
        Some("pkg:apk/alpine/libssl3@3.1.4-r2?arch=x86_64")
    ));
    assert_eq!(second.status, Status::Fixed);
    assert_eq!(second.written_status.as_deref(), Some("resolved"));
    let ids: Vec<&[String]> = second
        .products
        .iter()
        .map(|p| p.identifiers.as_slice())
        .collect();
    assert_eq!(ids[0][1], "ghcr.io/acme/app:1.4");
    assert_eq!(ids[1][1], "pkg:npm/left-pad@1.0.0");
    assert_eq!(ids[2].len(), 1);
    assert!(second.covers(&image(), Some("pkg:apk/alpine/anything@1")));
    assert!(second.covers(&ImageIdentity::default(), Some("pkg:npm/left-pad@1.0.1")));
}

#[test]
fn cyclonedx_version_lists_narrow_a_product_to_exact_versions() {
    let doc = parse(
        "v.json",
        br#"{"bomFormat": "CycloneDX", "vulnerabilities": [
          {"id": "CVE-1", "analysis": {"state": "not_affected", "justification": "code_not_present"},
           "affects": [{"ref": "pkg:npm/a", "versions": [
             {"version": "1.0.0", "status": "unaffected"}, {"version": "1.1.0"},
             {"range": "vers:npm/>=2.0.0", "status": "unaffected"}]}]}]}"#,
    )
    .unwrap();
    let s = &doc.statements[0];
    assert_eq!(s.products[0].versions, Some(vec!["1.0.0".to_string()]));
    let none = ImageIdentity::default();
    assert!(s.covers(&none, Some("pkg:npm/a@1.0.0")));
    assert!(
        !s.covers(&none, Some("pkg:npm/a@1.1.0")),
        "affected by default"
    );
    assert!(
        !s.covers(&none, Some("pkg:npm/a@2.1.0")),
        "ranges are not evaluated"
    );
}

#[test]
fn bad_documents_are_refused_with_the_file_and_the_reason() {
    let cases: &[(&str, &str)] = &[
        ("{", "v.json: not JSON: EOF while parsing"),
        ("[]", "v.json: not a VEX document: expected a JSON object"),
        ("{\"a\": 1}", "v.json: not a VEX document: neither OpenVEX"),
        (
            r#"{"@context": "https://openvex.dev/ns/v0.2.0", "statements": [{"vulnerability": {"name": "X"}, "status": "maybe"}]}"#,
            "v.json: statement 1: unknown status \"maybe\"",
        ),
        (
            r#"{"@context": "https://openvex.dev/ns/v0.2.0", "statements": [{"status": "fixed"}]}"#,
            "v.json: statement 1: no vulnerability",
        ),
        (
            r#"{"@context": "https://openvex.dev/ns/v0.2.0", "statements": [{"vulnerability": {"name": "X"}, "status": "fixed", "products": [{"subcomponents": []}]}]}"#,
            "v.json: statement 1: products[0]: neither an @id nor identifiers",
        ),
        (
            r#"{"@context": "https://openvex.dev/ns/v0.2.0", "timestamp": "yesterday", "statements": []}"#,
            "v.json: timestamp \"yesterday\" is not an RFC 3339 time",
        ),
        (
            r#"{"bomFormat": "CycloneDX", "vulnerabilities": [{"id": "X", "analysis": {"state": "fine"}}]}"#,
            "v.json: vulnerabilities[0]: unknown analysis.state \"fine\"",
        ),
        (
            r#"{"bomFormat": "CycloneDX", "vulnerabilities": {}}"#,
            "v.json: vulnerabilities is an object, expected an array",
        ),
    ];
    for (text, expected) in cases {
        let e = parse("v.json", text.as_bytes()).unwrap_err().to_string();
        assert!(e.starts_with(expected), "got {e:?}, expected {expected:?}");
    }
}

#[test]
fn documents_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.json");
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(MAX_FILE_SIZE + 1).unwrap();
    let e = load(&big).unwrap_err().to_string();
    assert!(e.contains("big.json: larger than"), "{e}");

    let statement = r#"{"vulnerability": "X", "status": "fixed"}"#;
    let many = format!(
        r#"{{"@context": "https://openvex.dev/ns/v0.2.0", "statements": [{}]}}"#,
        vec![statement; MAX_STATEMENTS + 1].join(",")
    );
    let e = parse("many.json", many.as_bytes()).unwrap_err().to_string();
    assert!(e.contains("more than the 100000"), "{e}");

    let missing = load(&dir.path().join("none.json")).unwrap_err().to_string();
    assert!(missing.contains("none.json: "), "{missing}");
}
