//! Enrich, package indexes: the repositories' package lists the `outdated` family compares
//! the installed packages with — files and URLs given explicitly, and with `fetch` those of
//! the repositories the image itself is configured with.

use crate::facts::ImageFacts;
use portcullis_advisories::index::IndexSet;
use portcullis_advisories::index::fetch::{self, Fetcher, IndexSpec, SOURCE_DIRS, SOURCE_FILES};
use portcullis_advisories::index::sources::{self, ConfigFile, Sources};
use portcullis_layer::EntryKind;
use portcullis_model::{Source, SourceStatus};

/// An explicit package index that could not be read: the scan cannot go on as asked.
#[derive(Debug, thiserror::Error)]
#[error("--package-index {spec}")]
pub struct IndexError {
    pub spec: String,
    #[source]
    pub source: portcullis_advisories::index::fetch::FetchError,
}

/// Loads the explicit package indexes (`--package-index`); a note about one that loaded
/// (an old cached copy, say) is returned with its spec to be shown as a warning.
pub fn load_explicit(
    specs: &[IndexSpec],
    fetcher: &Fetcher,
) -> Result<(IndexSet, Vec<String>), IndexError> {
    let mut set = IndexSet::default();
    let mut warnings = Vec::new();
    for spec in specs {
        let (index, note) = fetcher.load(spec).map_err(|source| IndexError {
            spec: spec.to_string(),
            source,
        })?;
        if let Some(note) = note {
            warnings.push(format!("--package-index {spec}: {note}"));
        }
        set.push(index);
    }
    Ok((set, warnings))
}

/// Adds the explicit indexes, and with `fetch_indexes` those of the image's repositories, to
/// the facts, with the source line that says which suites the outdated checks compared with.
/// With neither (and `image_repositories`), the image's repositories are fetched too, but
/// what cannot be had (offline and not cached, say) is said in the source line rather than
/// as diagnostics: it was not asked for by name.
pub fn add(
    facts: &mut ImageFacts,
    explicit: IndexSet,
    fetch_indexes: bool,
    image_repositories: bool,
    check_outdated: bool,
    fetcher: &Fetcher,
) {
    if !check_outdated {
        facts.sources.push(Source::new(
            fetch::SOURCE,
            SourceStatus::Disabled,
            Some("packages.check_outdated = false".into()),
        ));
        return;
    }
    let auto = !fetch_indexes && image_repositories && explicit.is_empty();
    facts.package_indexes = explicit;
    let mut failed = false;
    let mut missing = Vec::new();
    if fetch_indexes {
        let (fetched, diagnostics) = fetch::fetch_for_sources(&image_sources(facts), fetcher);
        failed = !diagnostics.is_empty() && fetched.is_empty();
        facts.package_indexes.indexes.extend(fetched.indexes);
        facts.diagnostics.extend(diagnostics);
    } else if auto {
        let sources = image_sources(facts);
        if sources.sources.is_empty() && sources.notes.is_empty() {
            facts.sources.push(Source::new(
                fetch::SOURCE,
                SourceStatus::NotConfigured,
                Some(
                    "no --package-index, and the image configures no apt, apk or yum \
                     repository: outdated packages not checked"
                        .into(),
                ),
            ));
            return;
        }
        let mut sources = sources;
        sources.sources.retain(|source| {
            let known = source.urls.iter().all(|url| fetch::is_known_host(url));
            if !known {
                missing.push(format!(
                    "{} ({}): {} is not a distribution's own host, fetched only with \
                     --fetch-indexes",
                    source.suite,
                    portcullis_model::path::absolute(&source.file),
                    source
                        .urls
                        .first()
                        .and_then(|u| fetch::url_host(u))
                        .unwrap_or_else(|| "the URL".into())
                ));
            }
            known
        });
        if sources.sources.is_empty() && sources.notes.is_empty() {
            // Every repository was refused: nothing was tried.
            let mut source = Source::new(
                fetch::SOURCE,
                SourceStatus::Skipped,
                Some(format!(
                    "the image's repositories were not fetched: {}",
                    missing.join("; ")
                )),
            );
            if !facts.package_indexes.is_empty() {
                source = package_index_source(&facts.package_indexes, false);
            }
            facts.sources.push(source);
            return;
        }
        let (fetched, diagnostics) = fetch::fetch_for_sources(&sources, fetcher);
        failed = fetched.is_empty();
        facts.package_indexes.indexes.extend(fetched.indexes);
        missing.extend(diagnostics.into_iter().map(|d| d.message));
    }
    let mut source = package_index_source(&facts.package_indexes, failed);
    if !missing.is_empty() {
        let detail = source.detail.get_or_insert_default();
        if failed {
            detail.clear();
            if fetcher.is_offline() {
                // Nothing was tried: offline, and nothing cached.
                source.status = SourceStatus::Skipped;
                detail.push_str("offline, and the image's repositories are not in the index cache");
            } else {
                detail.push_str("the image's repositories could not be had");
            }
        }
        detail.push_str("; not had: ");
        detail.push_str(&missing.join("; "));
    }
    facts.sources.push(source);
}

/// The package indexes as a data source of the report: which suites the outdated checks
/// compared with, or why they compared with none.
fn package_index_source(indexes: &IndexSet, failed: bool) -> Source {
    if indexes.is_empty() {
        let (status, detail) = if failed {
            (
                SourceStatus::Failed,
                "no index could be fetched (see the diagnostics)",
            )
        } else {
            (
                SourceStatus::NotConfigured,
                "no --package-index or --fetch-indexes: outdated packages not checked",
            )
        };
        return Source::new(fetch::SOURCE, status, Some(detail.to_string()));
    }
    let suites: Vec<String> = indexes
        .indexes
        .iter()
        .map(|i| {
            i.origin
                .suite
                .clone()
                .unwrap_or_else(|| i.origin.location.clone())
        })
        .collect();
    let records: usize = indexes.indexes.iter().map(|i| i.records).sum();
    Source::new(
        fetch::SOURCE,
        SourceStatus::Used,
        Some(format!(
            "{} index(es), {records} records: {}",
            suites.len(),
            suites.join(", ")
        )),
    )
}

/// The repository configuration of the image's final filesystem.
pub fn image_sources(facts: &ImageFacts) -> Sources {
    let mut files = Vec::new();
    for path in SOURCE_FILES {
        if let Some(data) = facts.read_file(path) {
            files.push(ConfigFile {
                path: path.to_string(),
                data,
            });
        }
    }
    for dir in SOURCE_DIRS {
        let Some((resolved, node)) = facts.fs.resolve(dir) else {
            continue;
        };
        if node.entry.kind != EntryKind::Dir {
            continue;
        }
        let prefix = format!("{resolved}/");
        let mut children: Vec<String> = facts
            .fs
            .iter()
            .filter_map(|n| n.entry.path.strip_prefix(&prefix))
            .filter(|name| !name.contains('/'))
            .map(|name| format!("{dir}/{name}"))
            .collect();
        children.sort();
        for path in children {
            if let Some(data) = facts.read_file(&path) {
                files.push(ConfigFile { path, data });
            }
        }
    }
    let os = portcullis_inventory::os::detect(|p| facts.read_file(p));
    sources::sources(&files, &facts.meta.platform, os.as_ref())
}
