//! Dockerfile steps read back from the image history.
//!
//! `history[].created_by` is all an image keeps of the Dockerfile that built it. The classic
//! builder writes `/bin/sh -c #(nop)  INSTRUCTION args` for instructions that run nothing and
//! `/bin/sh -c COMMAND` for `RUN`; BuildKit writes `INSTRUCTION args # buildkit`, with
//! `RUN |N ARG=value ... /bin/sh -c COMMAND` when build arguments are in scope. The shell text
//! of a `RUN` is split into simple commands here, well enough to see which package-manager
//! commands it runs and in which order; it is a heuristic over text, never executed.

use oci_spec::image::ImageConfiguration;

/// One history entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step<'a> {
    pub index: usize,
    pub created_by: &'a str,
    pub empty_layer: bool,
}

/// The history entries of a config, in order.
pub fn steps(config: &ImageConfiguration) -> Vec<Step<'_>> {
    config
        .history()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(index, h)| Step {
            index,
            created_by: h.created_by().as_deref().unwrap_or(""),
            empty_layer: h.empty_layer().unwrap_or(false),
        })
        .collect()
}

/// For each layer, the history entry that created it: entries that are not `empty_layer`
/// pair with the layers in order. Empty when the counts disagree (squashed or hand-made
/// configs), since a wrong pairing would blame the wrong step.
pub fn layer_steps(config: &ImageConfiguration, layers: usize) -> Vec<usize> {
    let creating: Vec<usize> = steps(config)
        .iter()
        .filter(|s| !s.empty_layer)
        .map(|s| s.index)
        .collect();
    if creating.len() == layers {
        creating
    } else {
        Vec::new()
    }
}

/// The config field naming a history entry, for `Location::config`.
pub fn field(index: usize) -> String {
    format!("history[{index}].created_by")
}

/// What a history entry says the Dockerfile did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction<'a> {
    /// A `RUN` (or a command from a builder that does not say): the shell text.
    Run(&'a str),
    /// Any other instruction: its keyword in upper case and the rest of the line.
    Other { keyword: String, args: &'a str },
}

const BUILDKIT_SUFFIX: &str = "# buildkit";

/// Classifies one `created_by`.
pub fn instruction(created_by: &str) -> Instruction<'_> {
    let text = created_by.trim();
    let text = text
        .strip_suffix(BUILDKIT_SUFFIX)
        .map(str::trim_end)
        .unwrap_or(text);
    if let Some(at) = text.find("#(nop)") {
        let rest = text[at + "#(nop)".len()..].trim_start();
        let (keyword, args) = split_word(rest);
        return Instruction::Other {
            keyword: keyword.to_ascii_uppercase(),
            args,
        };
    }
    if let Some(shell) = strip_shell(text) {
        return Instruction::Run(shell);
    }
    let (keyword, args) = split_word(text);
    if keyword.eq_ignore_ascii_case("RUN") {
        return Instruction::Run(strip_build_args(args));
    }
    if is_dockerfile_keyword(keyword) {
        return Instruction::Other {
            keyword: keyword.to_ascii_uppercase(),
            args,
        };
    }
    Instruction::Run(text)
}

fn split_word(text: &str) -> (&str, &str) {
    match text.split_once(char::is_whitespace) {
        Some((word, rest)) => (word, rest.trim_start()),
        None => (text, ""),
    }
}

fn strip_shell(text: &str) -> Option<&str> {
    ["/bin/sh -c ", "/bin/bash -c ", "sh -c ", "bash -c "]
        .iter()
        .find_map(|p| text.strip_prefix(p))
        .map(str::trim_start)
}

/// `[--mount=...] |2 A=1 B=2 /bin/sh -c cmd` → `cmd`.
fn strip_build_args(args: &str) -> &str {
    let mut rest = args.trim_start();
    while rest.starts_with("--") {
        rest = split_word(rest).1;
    }
    if let Some(count) = rest.strip_prefix('|') {
        let (n, after) = split_word(count);
        rest = after;
        // The count is the image's word: it skips at most the `KEY=value` words that are
        // there, never the command after them.
        for _ in 0..n.parse::<usize>().unwrap_or(0) {
            let (word, after) = split_word(rest);
            if word.is_empty() || !word.contains('=') {
                break;
            }
            rest = after;
        }
    }
    strip_shell(rest).unwrap_or(rest)
}

/// Whether the step mounts a BuildKit cache at `dir` or above it: what it writes there never
/// reaches a layer.
fn cache_mounted(created_by: &str, dir: &str) -> bool {
    created_by.split_whitespace().any(|w| {
        w.starts_with("--mount=")
            && w.contains("type=cache")
            && w.split(',').any(|kv| {
                kv.split_once('=').is_some_and(|(k, v)| {
                    matches!(k, "target" | "dst" | "destination")
                        && dir.starts_with(v.trim_end_matches('/'))
                })
            })
    })
}

fn is_dockerfile_keyword(word: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "ADD",
        "ARG",
        "CMD",
        "COPY",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "HEALTHCHECK",
        "LABEL",
        "MAINTAINER",
        "ONBUILD",
        "SHELL",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    ];
    word.bytes().all(|b| b.is_ascii_uppercase()) && KEYWORDS.contains(&word)
}

/// Splits shell text into simple commands, each a list of words with quotes removed.
/// Separators are `;`, `&`, `|`, newlines, parentheses and backquotes outside quotes.
pub fn commands(shell: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut command: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = shell.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => {
                if let Some(next) = chars.next() {
                    word.push(next);
                }
            }
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '\\') => match chars.next() {
                // A line continuation joins the lines.
                Some('\n') | None => {}
                Some(next) => {
                    word.push(next);
                    in_word = true;
                }
            },
            (None, c) if c.is_whitespace() && c != '\n' => {
                if in_word {
                    command.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, ';' | '&' | '|' | '\n' | '(' | ')' | '`') => {
                if in_word {
                    command.push(std::mem::take(&mut word));
                    in_word = false;
                }
                if !command.is_empty() {
                    out.push(std::mem::take(&mut command));
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        command.push(word);
    }
    if !command.is_empty() {
        out.push(command);
    }
    out
}

/// A package-manager invocation: the tool (`apt-get`, `apt`, `apk`), its subcommand, and all
/// of its words after the tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation<'a> {
    pub tool: &'a str,
    pub subcommand: Option<&'a str>,
    pub words: &'a [String],
}

impl Invocation<'_> {
    pub fn has_flag(&self, flag: &str) -> bool {
        self.words.iter().any(|w| w == flag)
    }
}

/// Words that may come before the program of a simple command without being it.
fn is_prefix_word(word: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "sudo", "env", "exec", "time", "nice", "nohup", "command", "then", "else", "elif", "do",
        "if", "while", "until", "!", "{", "}", "xargs",
    ];
    PREFIXES.contains(&word) || is_assignment(word) || (word.starts_with('-') && word.len() > 1)
}

fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !name.as_bytes()[0].is_ascii_digit()
    })
}

fn basename(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

/// Options of apt and apk that take the next word as their value.
const VALUE_OPTIONS: &[&str] = &[
    "-o",
    "-c",
    "-t",
    "--option",
    "--config-file",
    "--target-release",
    "-X",
    "--repository",
    "-p",
    "--root",
    "--arch",
    "--cache-dir",
    "--keys-dir",
    "--repositories-file",
];

/// The package-manager invocation of one simple command, if it is one.
pub fn invocation(command: &[String]) -> Option<Invocation<'_>> {
    let start = command.iter().position(|w| !is_prefix_word(w))?;
    let tool = basename(&command[start]);
    let tool = ["apt-get", "apt", "apk"].into_iter().find(|t| *t == tool)?;
    let words = &command[start + 1..];
    let mut subcommand = None;
    let mut skip_value = false;
    for w in words {
        if skip_value {
            skip_value = false;
            continue;
        }
        if w.starts_with('-') {
            skip_value = VALUE_OPTIONS.contains(&w.as_str());
            continue;
        }
        subcommand = Some(w.as_str());
        break;
    }
    Some(Invocation {
        tool,
        subcommand,
        words,
    })
}

fn is_apt(inv: &Invocation<'_>) -> bool {
    inv.tool == "apt-get" || inv.tool == "apt"
}

/// Whether `command` is `rm` with an argument under `dir`.
fn removes(command: &[String], dir: &str) -> bool {
    let Some(start) = command.iter().position(|w| !is_prefix_word(w)) else {
        return false;
    };
    basename(&command[start]) == "rm"
        && command[start + 1..]
            .iter()
            .any(|w| w.trim_end_matches('/').starts_with(dir))
}

fn run_commands(created_by: &str) -> Vec<Vec<String>> {
    match instruction(created_by) {
        Instruction::Run(shell) => commands(shell),
        Instruction::Other { .. } => Vec::new(),
    }
}

/// apt subcommands that consume (or, for `update`, refresh) the package lists.
const APT_LIST_USERS: &[&str] = &[
    "install",
    "upgrade",
    "dist-upgrade",
    "full-upgrade",
    "build-dep",
    "reinstall",
];

/// A step that runs `apt-get update` without an install or upgrade after it: the refreshed
/// lists are cached in this layer and a later step installs from stale ones (CIS 4.7).
pub fn apt_update_alone(created_by: &str) -> bool {
    let mut pending = false;
    for command in run_commands(created_by) {
        if let Some(inv) = invocation(&command).filter(is_apt) {
            match inv.subcommand {
                Some("update") => pending = true,
                Some(s) if APT_LIST_USERS.contains(&s) => pending = false,
                _ => {}
            }
        }
    }
    pending
}

/// A step that touches the apt lists (update, install, upgrade) and does not remove
/// /var/lib/apt/lists (or `apt-get dist-clean`) after it.
pub fn apt_lists_left(created_by: &str) -> bool {
    if cache_mounted(created_by, "/var/lib/apt/lists") {
        return false;
    }
    let mut dirty = false;
    for command in run_commands(created_by) {
        if let Some(inv) = invocation(&command).filter(is_apt) {
            match inv.subcommand {
                Some("update") => dirty = true,
                Some(s) if APT_LIST_USERS.contains(&s) => dirty = true,
                Some("dist-clean" | "distclean") => dirty = false,
                _ => {}
            }
        } else if removes(&command, "/var/lib/apt/lists") {
            dirty = false;
        }
    }
    dirty
}

/// A step that runs `apk add` (or `update`, `upgrade`) without `--no-cache` and does not
/// remove /var/cache/apk after it.
pub fn apk_cache_left(created_by: &str) -> bool {
    if cache_mounted(created_by, "/var/cache/apk") {
        return false;
    }
    let mut dirty = false;
    for command in run_commands(created_by) {
        if let Some(inv) = invocation(&command).filter(|i| i.tool == "apk") {
            match inv.subcommand {
                Some("add" | "update" | "upgrade") if !inv.has_flag("--no-cache") => dirty = true,
                Some("cache") if inv.words.iter().any(|w| w == "clean" || w == "purge") => {
                    dirty = false
                }
                _ => {}
            }
        } else if removes(&command, "/var/cache/apk") {
            dirty = false;
        }
    }
    dirty
}

/// A step that runs `apt-get dist-upgrade` (or `full-upgrade`).
pub fn dist_upgrade(created_by: &str) -> bool {
    run_commands(created_by).iter().any(|c| {
        invocation(c)
            .filter(is_apt)
            .is_some_and(|i| matches!(i.subcommand, Some("dist-upgrade" | "full-upgrade")))
    })
}

/// Where an `ADD` takes its content from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddSource {
    /// A URL (http, https, ftp, git) fetched at build time; `checksum` when `--checksum`
    /// pins its content.
    Remote { checksum: bool },
    /// A local tar archive, which ADD unpacks.
    Archive,
    /// A local file or directory (the classic builder records only `file:`/`dir:` hashes).
    Local,
}

impl AddSource {
    pub fn as_str(self) -> &'static str {
        match self {
            AddSource::Remote { checksum: false } => "remote",
            AddSource::Remote { checksum: true } => "remote-checksummed",
            AddSource::Archive => "archive",
            AddSource::Local => "local",
        }
    }
}

const ARCHIVE_SUFFIXES: &[&str] = &[
    ".tar",
    ".tar.gz",
    ".tgz",
    ".tar.bz2",
    ".tbz2",
    ".tbz",
    ".tar.xz",
    ".txz",
    ".tar.zst",
    ".tzst",
    ".tar.lz",
    ".tar.lzma",
];

fn is_url(source: &str) -> bool {
    source.contains("://") || source.starts_with("git@")
}

/// The sources of an `ADD` step, or `None` when the step is not an ADD.
pub fn add_sources(created_by: &str) -> Option<Vec<AddSource>> {
    let Instruction::Other { keyword, args } = instruction(created_by) else {
        return None;
    };
    if keyword != "ADD" {
        return None;
    }
    let words: Vec<String> = if args.trim_start().starts_with('[') {
        serde_json::from_str(args).unwrap_or_default()
    } else {
        commands(args).into_iter().flatten().collect()
    };
    let checksum = words.iter().any(|w| w.starts_with("--checksum"));
    let mut operands: Vec<&str> = words
        .iter()
        .map(String::as_str)
        .filter(|w| !w.starts_with("--"))
        .collect();
    // Classic: `file:<hash> in <dest>`; BuildKit: `src... dest`.
    if let Some(at) = operands.iter().position(|w| *w == "in") {
        operands.truncate(at);
    } else {
        operands.pop();
    }
    let sources = operands
        .iter()
        .map(|s| {
            let lower = s.to_ascii_lowercase();
            if is_url(&lower) {
                AddSource::Remote { checksum }
            } else if ARCHIVE_SUFFIXES.iter().any(|x| lower.ends_with(x)) {
                AddSource::Archive
            } else {
                AddSource::Local
            }
        })
        .collect::<Vec<_>>();
    Some(if sources.is_empty() {
        vec![AddSource::Local]
    } else {
        sources
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(c: &[&str]) -> Vec<String> {
        c.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn instructions_of_both_builders() {
        assert_eq!(
            instruction("/bin/sh -c #(nop)  CMD [\"/bin/sh\"]"),
            Instruction::Other {
                keyword: "CMD".into(),
                args: "[\"/bin/sh\"]"
            }
        );
        assert_eq!(
            instruction("/bin/sh -c apk add curl"),
            Instruction::Run("apk add curl")
        );
        assert_eq!(
            instruction("RUN |2 A=1 B=2 /bin/sh -c apt-get update # buildkit"),
            Instruction::Run("apt-get update")
        );
        assert_eq!(
            instruction("COPY app /app # buildkit"),
            Instruction::Other {
                keyword: "COPY".into(),
                args: "app /app"
            }
        );
        assert_eq!(
            instruction("bazel build ..."),
            Instruction::Run("bazel build ...")
        );
    }

    #[test]
    fn shell_text_splits_into_simple_commands() {
        assert_eq!(
            commands(
                "set -eux; apt-get -o 'A=b c' update && rm -rf \"/var/lib/apt/lists\"/* | tee x"
            ),
            vec![
                words(&["set", "-eux"]),
                words(&["apt-get", "-o", "A=b c", "update"]),
                words(&["rm", "-rf", "/var/lib/apt/lists/*"]),
                words(&["tee", "x"]),
            ]
        );
        assert_eq!(
            commands("a \\\n  b\n(cd x) `y`"),
            vec![words(&["a", "b"]), words(&["cd", "x"]), words(&["y"])]
        );
    }

    #[test]
    fn invocations_skip_prefixes_and_options() {
        let cmd = words(&[
            "DEBIAN_FRONTEND=noninteractive",
            "sudo",
            "-E",
            "/usr/bin/apt-get",
            "-o",
            "Dpkg::Options=x",
            "-y",
            "install",
            "git",
        ]);
        let inv = invocation(&cmd).unwrap();
        assert_eq!((inv.tool, inv.subcommand), ("apt-get", Some("install")));
        assert!(invocation(&words(&["echo", "apt-get", "update"])).is_none());
        assert!(invocation(&words(&["somecommand", "dist-upgrade"])).is_none());
    }

    #[test]
    fn heuristics_read_the_order_of_commands() {
        assert!(apt_update_alone("/bin/sh -c apt-get update"));
        assert!(!apt_update_alone(
            "/bin/sh -c apt-get update && apt-get install -y git"
        ));
        assert!(apt_lists_left(
            "/bin/sh -c apt-get update && apt-get install -y git"
        ));
        assert!(!apt_lists_left(
            "/bin/sh -c apt-get update && apt-get install -y git && rm -rf /var/lib/apt/lists/*"
        ));
        assert!(apt_lists_left(
            "/bin/sh -c rm -rf /var/lib/apt/lists/* && apt-get update"
        ));
        assert!(apk_cache_left("/bin/sh -c apk add curl"));
        assert!(!apk_cache_left("/bin/sh -c apk add --no-cache curl"));
        assert!(!apk_cache_left(
            "/bin/sh -c apk add curl && rm -rf /var/cache/apk/*"
        ));
        assert!(!apk_cache_left("/bin/sh -c #(nop) ENV apk=add"));
        assert!(dist_upgrade(
            "RUN /bin/sh -c apt full-upgrade -y # buildkit"
        ));
        let mounted = "RUN --mount=type=cache,target=/var/lib/apt,sharing=locked \
            /bin/sh -c apt-get update && apt-get install -y git # buildkit";
        assert!(!apt_lists_left(mounted));
        assert!(!apt_update_alone(mounted));
        assert!(apk_cache_left(
            "RUN --mount=type=cache,target=/root/.cache /bin/sh -c apk add git # buildkit"
        ));
    }

    #[test]
    fn add_sources_are_classified() {
        assert_eq!(
            add_sources("/bin/sh -c #(nop) ADD file:2e3a in / "),
            Some(vec![AddSource::Local])
        );
        assert_eq!(
            add_sources("ADD https://example.com/app.tar.gz /opt/ # buildkit"),
            Some(vec![AddSource::Remote { checksum: false }])
        );
        assert_eq!(
            add_sources("ADD --checksum=sha256:abc https://example.com/a.bin /a # buildkit"),
            Some(vec![AddSource::Remote { checksum: true }])
        );
        assert_eq!(
            add_sources("ADD --chown=1:1 rootfs.tar.xz vendor.tgz / # buildkit"),
            Some(vec![AddSource::Archive, AddSource::Archive])
        );
        assert_eq!(
            add_sources("ADD [\"git@github.com:o/r.git\", \"/src\"] # buildkit"),
            Some(vec![AddSource::Remote { checksum: false }])
        );
        assert_eq!(add_sources("COPY a /a # buildkit"), None);
        assert_eq!(add_sources("/bin/sh -c RETHINKDB_CLUSTER_IP_ADDR=1"), None);
    }
}
