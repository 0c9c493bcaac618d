//! Secrets left in an image: content rules run over every text file while its layer
//! streams, credential files recognised by name and shape, and leftovers of the build.
//!
//! Most files of an OS image never reach a regex: a path allow rule (docs, tests, binary
//! extensions ...), the binary sniff on the first chunk, or the keyword prefilter rejects
//! them. What is found is stored in the layer report redacted, with a fingerprint for
//! deduplication; the secret itself never leaves this module.

#![forbid(unsafe_code)]

pub mod allow;
pub mod checksum;
pub mod config;
pub mod engine;
pub mod files;
pub mod params;
pub mod redact;
pub mod rules;
pub mod scrub;

pub use engine::{Match, PathContext, Scratch};
pub use files::{CredentialFile, Leftover};
pub use params::SecretParams;
pub use rules::{Allow, Origin, Rule, RuleSet, RulesError};

use portcullis_layer::{Analyzer, Entry, EntryKind, Interest, Note};
use portcullis_model::Severity;
use portcullis_model::params::GlobList;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// Content is scanned in windows of this size ...
const WINDOW: usize = 1 << 20;
/// ... that overlap by this much, so a secret cut by a window boundary is found whole in the
/// next window. Longer than any secret the rules describe (a 16384-bit RSA key in PEM is
/// about 12 KiB).
const OVERLAP: usize = 64 << 10;
/// Text files larger than this are skipped with a note, unless the policy sets another
/// limit (`[params.secrets] max_file_size`).
pub const MAX_SCAN_SIZE: u64 = 64 << 20;
/// How much of a file the binary sniff looks at (as ripgrep and git do: a NUL byte there
/// marks a binary file).
const SNIFF: usize = 8000;
/// Findings kept per file; a file with more is a dump, and its first findings say enough.
const MAX_HITS_PER_FILE: usize = 100;

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HitKind {
    /// A content rule matched.
    Content,
    /// A credential file, recognised by name and shape.
    CredentialFile,
    /// A leftover of the build (.git directory, Dockerfile, shell history).
    Leftover,
}

/// One secret (or credential file, or leftover) in one layer. Holds the redacted secret and
/// its fingerprint, never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretHit {
    pub path: String,
    pub kind: HitKind,
    /// Content rule id, or the credential file / leftover id.
    pub rule: String,
    pub title: String,
    pub category: String,
    pub severity: Severity,
    /// 1-based line where the secret starts (and ends, when it spans lines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_line: Option<u32>,
    /// The secret redacted: a few leading characters and its length.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub evidence: String,
    /// First 16 bytes of the secret's SHA-256 (of the path, for files and leftovers), to
    /// recognise the same secret in several layers.
    pub fingerprint: String,
    /// The file whose fate in later layers decides this hit's (a .git directory's HEAD),
    /// when it is not `path` itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<String>,
}

/// Builds a [`SecretsAnalyzer`] per layer around one compiled rule set and the policy's
/// file limits.
#[derive(Debug, Clone)]
pub struct Secrets {
    rules: Arc<RuleSet>,
    skip_paths: Option<GlobList>,
    max_file_size: u64,
}

impl Secrets {
    pub fn new(rules: Arc<RuleSet>) -> Secrets {
        Secrets {
            rules,
            skip_paths: None,
            max_file_size: MAX_SCAN_SIZE,
        }
    }

    /// The secret scan a policy asks for (`[params.secrets]`): its rule set, the files it
    /// never reads, the largest file it reads. `None` when the policy leaves the built-in
    /// rules out and names no rule file.
    pub fn from_params(params: &SecretParams) -> Result<Secrets, RulesError> {
        let mut rules = RuleSet::builtin();
        if !params.builtin_rules {
            let ids: Vec<String> = rules.rules().iter().map(|r| r.id.clone()).collect();
            rules = Arc::new(rules.disable(ids)?);
        }
        for file in &params.rule_files {
            rules = Arc::new(rules.with_user_file(file)?);
        }
        if !params.disabled_rules.is_empty() {
            rules = Arc::new(rules.disable(&params.disabled_rules)?);
        }
        Ok(Secrets {
            rules,
            skip_paths: (!params.skip_paths.is_empty()).then(|| params.skip_paths.clone()),
            max_file_size: params.max_file_size.bytes(),
        })
    }

    /// This scan with one more rule file (`--secret-rules`).
    pub fn with_user_file(mut self, path: &std::path::Path) -> Result<Secrets, RulesError> {
        self.rules = Arc::new(self.rules.with_user_file(path)?);
        Ok(self)
    }

    /// Identifies the rule set and the settings that change what the analyzer reports.
    pub fn fingerprint(&self) -> String {
        let skip: Vec<&str> = self
            .skip_paths
            .as_ref()
            .map(|g| g.patterns().iter().map(String::as_str).collect())
            .unwrap_or_default();
        format!(
            "{};skip={};max={}",
            self.rules.digest(),
            skip.join(","),
            self.max_file_size
        )
    }

    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.rules
    }

    pub fn analyzer(&self) -> SecretsAnalyzer {
        let mut analyzer = SecretsAnalyzer::new(self.rules.clone());
        analyzer.skip_paths = self.skip_paths.clone();
        analyzer.max_file_size = self.max_file_size;
        analyzer
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Nothing read yet.
    Start,
    /// Text (or text-bearing binary such as .pyc): content is collected and scanned.
    Scan,
    /// Binary, or too large: the rest of the content is ignored.
    Ignore,
}

#[derive(Debug)]
struct FileState {
    path: String,
    ctx: PathContext,
    credential: Option<CredentialFile>,
    /// Text inside a binary format (.pyc): scanned, but lines mean nothing there.
    binary_text: bool,
    mode: Mode,
    size: u64,
    /// Lines of the file before `buf[0]`.
    lines_before: u32,
    shape_seen: bool,
    content_hits: usize,
}

/// The secrets analyzer of one layer.
pub struct SecretsAnalyzer {
    rules: Arc<RuleSet>,
    /// The policy's `skip_paths` (globs on `/`-rooted image paths).
    skip_paths: Option<GlobList>,
    max_file_size: u64,
    file: Option<FileState>,
    buf: Vec<u8>,
    matches: Vec<Match>,
    scratch: Scratch,
    hits: Vec<SecretHit>,
    notes: Vec<Note>,
    /// `.git` directories seen in this layer: index into `hits`.
    git_dirs: HashMap<String, usize>,
}

impl SecretsAnalyzer {
    pub fn new(rules: Arc<RuleSet>) -> SecretsAnalyzer {
        SecretsAnalyzer {
            rules,
            skip_paths: None,
            max_file_size: MAX_SCAN_SIZE,
            file: None,
            buf: Vec::new(),
            matches: Vec::new(),
            scratch: Scratch::default(),
            hits: Vec::new(),
            notes: Vec::new(),
            git_dirs: HashMap::new(),
        }
    }

    fn note_git_dir(&mut self, git_dir: &str, entry: &Entry) {
        if entry.kind != EntryKind::File {
            return;
        }
        // HEAD defines a repository; any other file stands in until HEAD shows up.
        let defining = entry.path.len() == git_dir.len() + 5 && entry.path.ends_with("/HEAD");
        match self.git_dirs.get(git_dir) {
            Some(&i) => {
                if defining && let Some(hit) = self.hits.get_mut(i) {
                    hit.anchor = Some(entry.path.to_string());
                }
            }
            None => {
                if self.rules.path_allowed_by(&entry.path).is_some() {
                    return;
                }
                self.git_dirs.insert(git_dir.to_string(), self.hits.len());
                self.hits.push(leftover_hit(
                    git_dir,
                    files::Leftover::GitDirectory,
                    Some(entry.path.to_string()),
                ));
            }
        }
    }

    /// Scans what is buffered. `last` when the file ended; otherwise the tail of the
    /// buffer is kept for the next window.
    fn scan_buffer(&mut self, last: bool) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        if file.mode != Mode::Scan {
            return;
        }
        if !file.shape_seen {
            file.shape_seen = true;
            if let Some(kind) = file.credential
                && !kind.shape_matches(&self.buf)
            {
                file.credential = None;
            }
        }
        let limit = if last {
            self.buf.len()
        } else {
            self.buf.len().saturating_sub(OVERLAP)
        };
        self.matches.clear();
        if file.content_hits < MAX_HITS_PER_FILE {
            self.rules.scan(
                &file.ctx,
                &file.path,
                &self.buf,
                limit,
                &mut self.scratch,
                &mut self.matches,
            );
        }
        let mut line = file.lines_before;
        let mut counted = 0;
        for m in &self.matches {
            if file.content_hits >= MAX_HITS_PER_FILE {
                break;
            }
            line += count_newlines(&self.buf[counted..m.start]);
            counted = m.start;
            let secret = &self.buf[m.start..m.end];
            let secret_trimmed = trim_end_whitespace(secret);
            let end_line = line + count_newlines(secret_trimmed);
            let rule = &self.rules.rules()[m.rule];
            let (line, end_line) = if file.binary_text {
                (None, None)
            } else {
                (Some(line + 1), (end_line > line).then_some(end_line + 1))
            };
            let (title, severity) = self.rules.judged(m);
            self.hits.push(SecretHit {
                path: file.path.clone(),
                kind: HitKind::Content,
                rule: rule.id.clone(),
                title,
                category: rule.category.clone(),
                severity,
                line,
                end_line,
                evidence: redact::redact(secret_trimmed),
                fingerprint: redact::fingerprint(secret_trimmed),
                anchor: None,
            });
            file.content_hits += 1;
        }
        if last {
            return;
        }
        file.lines_before += count_newlines(&self.buf[..limit]);
        self.buf.drain(..limit);
    }

    fn finish_file(&mut self) {
        self.scan_buffer(true);
        self.buf.clear();
        let Some(file) = self.file.take() else {
            return;
        };
        if file.mode == Mode::Scan
            && file.content_hits == 0
            && let Some(kind) = file.credential
        {
            self.hits.push(credential_hit(&file.path, kind));
        }
    }
}

fn leftover_hit(path: &str, kind: files::Leftover, anchor: Option<String>) -> SecretHit {
    SecretHit {
        path: path.to_string(),
        kind: HitKind::Leftover,
        rule: kind.id().to_string(),
        title: kind.title().to_string(),
        category: "leftover".to_string(),
        severity: kind.severity(),
        line: None,
        end_line: None,
        evidence: String::new(),
        fingerprint: redact::fingerprint(path.as_bytes()),
        anchor,
    }
}

fn credential_hit(path: &str, kind: CredentialFile) -> SecretHit {
    SecretHit {
        path: path.to_string(),
        kind: HitKind::CredentialFile,
        rule: kind.id().to_string(),
        title: kind.title().to_string(),
        category: "credential-file".to_string(),
        severity: kind.severity(),
        line: None,
        end_line: None,
        evidence: String::new(),
        fingerprint: redact::fingerprint(path.as_bytes()),
        anchor: None,
    }
}

fn count_newlines(data: &[u8]) -> u32 {
    let n = data.iter().filter(|&&b| b == b'\n').count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn trim_end_whitespace(data: &[u8]) -> &[u8] {
    let end = data
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    &data[..end]
}

/// Formats that keep string constants as plain bytes inside a binary container: users expect
/// a token compiled into a .pyc to be found.
fn holds_plain_text(path: &str) -> bool {
    path.ends_with(".pyc") || path.ends_with(".pyo")
}

impl Analyzer for SecretsAnalyzer {
    fn interest(&mut self, entry: &Entry) -> Interest {
        if self.file.is_some() {
            // The previous streamed entry never saw `end` (it cannot happen with the walker,
            // but a half-finished file must not leak into the next one).
            self.finish_file();
        }
        if let Some(git_dir) = files::git_dir(&entry.path) {
            let git_dir = git_dir.to_string();
            self.note_git_dir(&git_dir, entry);
            // Inside .git only the config is text worth reading (remote URLs with
            // credentials); objects are compressed.
            if entry.path.len() != git_dir.len() + 7 || !entry.path.ends_with("/config") {
                return Interest::None;
            }
        }
        if entry.kind != EntryKind::File {
            return Interest::None;
        }
        if self.rules.path_allowed_by(&entry.path).is_some()
            || self
                .skip_paths
                .as_ref()
                .is_some_and(|globs| globs.matches(&entry.path))
        {
            return Interest::None;
        }
        if let Some(kind) = files::Leftover::from_path(&entry.path)
            && entry.size > 0
        {
            self.hits.push(leftover_hit(&entry.path, kind, None));
        }
        if entry.size == 0 {
            return Interest::None;
        }
        let credential = CredentialFile::from_path(&entry.path);
        if let Some(kind) = credential
            && !kind.needs_content()
        {
            self.hits.push(credential_hit(&entry.path, kind));
            return Interest::None;
        }
        self.file = Some(FileState {
            path: entry.path.to_string(),
            ctx: self.rules.path_context(&entry.path),
            credential,
            binary_text: holds_plain_text(&entry.path),
            mode: Mode::Start,
            size: entry.size,
            lines_before: 0,
            shape_seen: false,
            content_hits: 0,
        });
        Interest::Stream
    }

    fn chunk(&mut self, _entry: &Entry, _offset: u64, data: &[u8]) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        match file.mode {
            Mode::Ignore => return,
            Mode::Scan => {}
            Mode::Start => {
                let head = &data[..data.len().min(SNIFF)];
                if !file.binary_text && head.contains(&0) {
                    file.mode = Mode::Ignore;
                    return;
                }
                if file.size > self.max_file_size {
                    file.mode = Mode::Ignore;
                    self.notes.push(Note {
                        path: Some(file.path.clone()),
                        message: format!(
                            "secret scan skipped this {} byte text file (limit {} bytes)",
                            file.size, self.max_file_size
                        ),
                    });
                    return;
                }
                file.mode = Mode::Scan;
            }
        }
        self.buf.extend_from_slice(data);
        if self.buf.len() >= WINDOW + OVERLAP {
            self.scan_buffer(false);
        }
    }

    fn end(&mut self, _entry: &Entry) {
        self.finish_file();
    }
}

impl SecretsAnalyzer {
    /// The layer ended: what was found in it, redacted, and the notes about what could not
    /// be searched.
    pub fn finish(mut self) -> (Vec<SecretHit>, Vec<Note>) {
        self.finish_file();
        (self.hits, self.notes)
    }
}

/// Scans one file's content as the layer walk would, handing it over in `chunk` sized
/// pieces: the hits (content, credential file, leftover) and notes for that file alone.
pub fn scan_file(
    rules: &Arc<RuleSet>,
    path: &str,
    content: &[u8],
    chunk: usize,
) -> (Vec<SecretHit>, Vec<Note>) {
    let entry = Entry {
        path: path.into(),
        kind: EntryKind::File,
        mode: 0o644,
        uid: 0,
        gid: 0,
        size: content.len() as u64,
        special: None,
    };
    let mut analyzer = SecretsAnalyzer::new(rules.clone());
    if analyzer.interest(&entry) == Interest::Stream {
        let mut offset = 0u64;
        for piece in content.chunks(chunk.max(1)) {
            analyzer.chunk(&entry, offset, piece);
            offset += piece.len() as u64;
        }
        analyzer.end(&entry);
    }
    analyzer.finish()
}

#[cfg(test)]
mod tests;
