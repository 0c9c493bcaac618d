//! Files that are credentials by their name and shape, whether or not a content rule
//! matches what they hold, and leftovers of the build that should not ship.

use portcullis_model::Severity;
use portcullis_model::path;
use regex::bytes::{Regex, RegexBuilder};
use std::sync::OnceLock;

/// A kind of credential file, recognised by name and confirmed by a look at its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialFile {
    DotEnv,
    SshPrivateKey,
    AwsCredentials,
    DockerConfig,
    NpmConfig,
    PypiConfig,
    Netrc,
    GitCredentials,
    Kubeconfig,
    TerraformState,
    Keystore,
    PrivateKeyFile,
    Htpasswd,
    Pgpass,
    MysqlClientConfig,
    S3Config,
    CloudCliCredentials,
}

impl CredentialFile {
    /// The id findings carry in place of a content rule id.
    pub fn id(self) -> &'static str {
        match self {
            CredentialFile::DotEnv => "dotenv-file",
            CredentialFile::SshPrivateKey => "ssh-private-key-file",
            CredentialFile::AwsCredentials => "aws-credentials-file",
            CredentialFile::DockerConfig => "docker-config-file",
            CredentialFile::NpmConfig => "npmrc-file",
            CredentialFile::PypiConfig => "pypirc-file",
            CredentialFile::Netrc => "netrc-file",
            CredentialFile::GitCredentials => "git-credentials-file",
            CredentialFile::Kubeconfig => "kubeconfig-file",
            CredentialFile::TerraformState => "terraform-state-file",
            CredentialFile::Keystore => "keystore-file",
            CredentialFile::PrivateKeyFile => "private-key-file",
            CredentialFile::Htpasswd => "htpasswd-file",
            CredentialFile::Pgpass => "pgpass-file",
            CredentialFile::MysqlClientConfig => "mysql-client-config",
            CredentialFile::S3Config => "s3cmd-config",
            CredentialFile::CloudCliCredentials => "cloud-cli-credentials",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            CredentialFile::DotEnv => "dotenv file with values",
            CredentialFile::SshPrivateKey => "SSH private key file",
            CredentialFile::AwsCredentials => "AWS CLI credentials file",
            CredentialFile::DockerConfig => "Docker config with registry credentials",
            CredentialFile::NpmConfig => "npm/Yarn config with a registry token",
            CredentialFile::PypiConfig => ".pypirc with a password",
            CredentialFile::Netrc => ".netrc with a password",
            CredentialFile::GitCredentials => "git credential store",
            CredentialFile::Kubeconfig => "kubeconfig with a token or client key",
            CredentialFile::TerraformState => "Terraform state (holds resource secrets in clear)",
            CredentialFile::Keystore => "Java/PKCS#12 keystore",
            CredentialFile::PrivateKeyFile => "PEM file holding a private key",
            CredentialFile::Htpasswd => "htpasswd file with password hashes",
            CredentialFile::Pgpass => "PostgreSQL password file",
            CredentialFile::MysqlClientConfig => "MySQL client config with a password",
            CredentialFile::S3Config => "s3cmd/boto config with a secret key",
            CredentialFile::CloudCliCredentials => "cloud or registry CLI credential store",
        }
    }

    pub fn severity(self) -> Severity {
        match self {
            CredentialFile::DotEnv
            | CredentialFile::Htpasswd
            | CredentialFile::Keystore
            | CredentialFile::TerraformState => Severity::Medium,
            _ => Severity::High,
        }
    }

    /// Whether the content must confirm the kind. Keystores are binary and recognised by
    /// name alone.
    pub fn needs_content(self) -> bool {
        self != CredentialFile::Keystore
    }

    /// Whether the first bytes of the file have the shape of this kind holding a credential.
    pub fn shape_matches(self, head: &[u8]) -> bool {
        let shapes = shapes();
        let re = match self {
            CredentialFile::DotEnv => &shapes.dotenv,
            CredentialFile::SshPrivateKey | CredentialFile::PrivateKeyFile => &shapes.private_key,
            CredentialFile::AwsCredentials => &shapes.aws,
            CredentialFile::DockerConfig => {
                return shapes.docker_auths.is_match(head) && shapes.docker_auth.is_match(head);
            }
            CredentialFile::NpmConfig => &shapes.npm,
            CredentialFile::PypiConfig | CredentialFile::MysqlClientConfig => &shapes.ini_password,
            CredentialFile::Netrc => &shapes.netrc,
            CredentialFile::GitCredentials => &shapes.git_credentials,
            CredentialFile::Kubeconfig => &shapes.kubeconfig,
            CredentialFile::Htpasswd => &shapes.htpasswd,
            CredentialFile::Pgpass => &shapes.pgpass,
            CredentialFile::S3Config => &shapes.s3cfg,
            CredentialFile::TerraformState
            | CredentialFile::Keystore
            | CredentialFile::CloudCliCredentials => {
                return head.iter().any(|b| !b.is_ascii_whitespace());
            }
        };
        re.is_match(head)
    }

    /// Recognises a credential file by its path (normalised, no leading `/`).
    pub fn from_path(file_path: &str) -> Option<CredentialFile> {
        let name = path::file_name(file_path);
        let lower = name.to_ascii_lowercase();
        let parent = path::parent(file_path);
        let parent_name = path::file_name(parent);
        let in_dir = |dir: &str| parent_name == dir;

        if lower == ".env" || lower.starts_with(".env.") || lower.ends_with(".env") {
            return Some(CredentialFile::DotEnv);
        }
        if matches!(
            name,
            "id_rsa"
                | "id_dsa"
                | "id_ecdsa"
                | "id_ed25519"
                | "id_ecdsa_sk"
                | "id_ed25519_sk"
                | "identity"
        ) || (in_dir(".ssh") && lower.ends_with("_rsa"))
        {
            return Some(CredentialFile::SshPrivateKey);
        }
        if in_dir(".aws") && name == "credentials" {
            return Some(CredentialFile::AwsCredentials);
        }
        if (in_dir(".docker") && name == "config.json") || name == ".dockercfg" {
            return Some(CredentialFile::DockerConfig);
        }
        if matches!(name, ".npmrc" | "npmrc" | ".yarnrc" | ".yarnrc.yml") {
            return Some(CredentialFile::NpmConfig);
        }
        if name == ".pypirc" {
            return Some(CredentialFile::PypiConfig);
        }
        if matches!(name, ".netrc" | "_netrc") {
            return Some(CredentialFile::Netrc);
        }
        if name == ".git-credentials" || (in_dir("git") && name == "credentials") {
            return Some(CredentialFile::GitCredentials);
        }
        if (in_dir(".kube") && name == "config")
            || lower == "kubeconfig"
            || lower.ends_with(".kubeconfig")
            || (parent == "etc/kubernetes"
                && matches!(
                    name,
                    "admin.conf" | "kubelet.conf" | "controller-manager.conf" | "scheduler.conf"
                ))
        {
            return Some(CredentialFile::Kubeconfig);
        }
        if lower.ends_with(".tfstate") || lower.ends_with(".tfstate.backup") {
            return Some(CredentialFile::TerraformState);
        }
        if [".jks", ".keystore", ".p12", ".pfx", ".jceks", ".bks"]
            .iter()
            .any(|ext| lower.ends_with(ext))
        {
            return Some(CredentialFile::Keystore);
        }
        if lower.ends_with(".pem") || lower.ends_with(".key") {
            return Some(CredentialFile::PrivateKeyFile);
        }
        if lower == ".htpasswd" || lower == "htpasswd" {
            return Some(CredentialFile::Htpasswd);
        }
        if name == ".pgpass" {
            return Some(CredentialFile::Pgpass);
        }
        if name == ".my.cnf" || file_path == "etc/mysql/debian.cnf" {
            return Some(CredentialFile::MysqlClientConfig);
        }
        if matches!(name, ".s3cfg" | ".boto") {
            return Some(CredentialFile::S3Config);
        }
        let cli_store = matches!(
            file_path.rsplit_once("/.").map(|(_, rest)| rest),
            Some(
                "config/gcloud/application_default_credentials.json"
                    | "config/gcloud/credentials.db"
                    | "config/gcloud/access_tokens.db"
                    | "azure/accessTokens.json"
                    | "azure/msal_token_cache.json"
                    | "vault-token"
                    | "cargo/credentials"
                    | "cargo/credentials.toml"
                    | "gem/credentials"
                    | "composer/auth.json"
                    | "config/composer/auth.json"
                    | "config/gh/hosts.yml"
                    | "terraform.d/credentials.tfrc.json"
                    | "pulumi/credentials.json"
                    | "config/hub"
            )
        ) || file_path == ".vault-token"
            || name == ".terraformrc"
            || name == "credentials.json";
        cli_store.then_some(CredentialFile::CloudCliCredentials)
    }
}

/// A leftover of the build that should not ship.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leftover {
    GitDirectory,
    BuildFile,
    ShellHistory,
}

impl Leftover {
    pub fn id(self) -> &'static str {
        match self {
            Leftover::GitDirectory => "git-directory",
            Leftover::BuildFile => "build-file",
            Leftover::ShellHistory => "shell-history",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Leftover::GitDirectory => ".git directory",
            Leftover::BuildFile => "Dockerfile or compose file",
            Leftover::ShellHistory => "shell or REPL history",
        }
    }

    pub fn severity(self) -> Severity {
        match self {
            Leftover::GitDirectory | Leftover::ShellHistory => Severity::Medium,
            Leftover::BuildFile => Severity::Low,
        }
    }

    /// Recognises a build file or a history by name. `.git` directories are recognised by
    /// [`git_dir`], from any entry below them.
    pub fn from_path(file_path: &str) -> Option<Leftover> {
        let name = path::file_name(file_path);
        let lower = name.to_ascii_lowercase();
        if lower == "dockerfile"
            || lower.starts_with("dockerfile.")
            || lower.ends_with(".dockerfile")
            || lower == "containerfile"
            || ((lower.starts_with("docker-compose") || lower.starts_with("compose."))
                && (lower.ends_with(".yml") || lower.ends_with(".yaml")))
        {
            return Some(Leftover::BuildFile);
        }
        let history = matches!(
            name,
            ".bash_history"
                | ".zsh_history"
                | ".ash_history"
                | ".sh_history"
                | ".ksh_history"
                | ".histfile"
                | ".python_history"
                | ".mysql_history"
                | ".psql_history"
                | ".sqlite_history"
                | ".node_repl_history"
                | ".rediscli_history"
                | ".irb_history"
                | ".dbshell"
                | ".mongosh_history"
        ) || file_path.ends_with(".local/share/fish/fish_history");
        history.then_some(Leftover::ShellHistory)
    }
}

/// The `.git` directory an entry lies in (`app/.git` for `app/.git/config`), if any.
pub fn git_dir(file_path: &str) -> Option<&str> {
    let mut offset = 0;
    for component in file_path.split('/') {
        let end = offset + component.len();
        if component == ".git" {
            return Some(&file_path[..end]);
        }
        offset = end + 1;
    }
    None
}

struct Shapes {
    dotenv: Regex,
    private_key: Regex,
    aws: Regex,
    docker_auths: Regex,
    docker_auth: Regex,
    npm: Regex,
    ini_password: Regex,
    netrc: Regex,
    git_credentials: Regex,
    kubeconfig: Regex,
    htpasswd: Regex,
    pgpass: Regex,
    s3cfg: Regex,
}

fn shapes() -> &'static Shapes {
    static SHAPES: OnceLock<Shapes> = OnceLock::new();
    SHAPES.get_or_init(|| {
        let re = |p: &str| {
            RegexBuilder::new(p)
                .unicode(false)
                .build()
                .expect("credential file shapes are valid regexes")
        };
        Shapes {
            // A value under a key that names a secret: `LOG_LEVEL=debug` alone is
            // configuration, not a credential.
            dotenv: re(
                r"(?m)^[ \t]*(?:export[ \t]+)?[A-Za-z0-9_.]*(?i:pass|pwd|secret|token|key|credential|auth|private|dsn|database_url|conn)[A-Za-z0-9_.]*[ \t]*=[ \t]*\S",
            ),
            private_key: re(r"PRIVATE KEY-----|PRIVATE KEY BLOCK-----"),
            aws: re(r"(?i)aws_(?:access_key_id|secret_access_key|session_token)[ \t]*=[ \t]*\S"),
            docker_auths: re(r#""(?:auths|credHelpers)"\s*:"#),
            docker_auth: re(r#""(?:auth|identitytoken|password)"\s*:\s*"[^"]"#),
            npm: re(
                r#"(?i)(?:_authToken|_auth|_password|npmAuthToken|npmAuthIdent)["']?[ \t]*[=:][ \t]*["']?[^\s"'$]"#,
            ),
            ini_password: re(r"(?im)^[ \t]*password[ \t]*[:=][ \t]*\S"),
            netrc: re(r"(?:^|\s)password\s+\S"),
            git_credentials: re(r"://[^\s:/@]+:[^\s@]+@"),
            kubeconfig: re(
                r#"(?m)^[ \t-]*(?:token|id-token|access-token|refresh-token|client-key-data|password)["']?[ \t]*:[ \t]*["']?[^\s"'$]"#,
            ),
            // A user and a hash in a format Apache reads: MD5 (`$apr1$`), bcrypt, SHA-1
            // (`{SHA}`), SHA-256/512 crypt, or 13-character DES crypt.
            htpasswd: re(
                r"(?m)^[^:\s#]+:(?:\$apr1\$[./0-9A-Za-z]{1,8}\$[./0-9A-Za-z]{22}|\$2[abxy]?\$[0-9]{2}\$[./A-Za-z0-9]{53}|\{SHA\}[A-Za-z0-9+/]{27}=|\$[56]\$(?:rounds=[0-9]+\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{43,86}|[./0-9A-Za-z]{13})[ \t\r]*$",
            ),
            pgpass: re(r"(?m)^[^:#\s]*:[^:\n]*:[^:\n]*:[^:\n]*:\S"),
            s3cfg: re(r"(?im)^[ \t]*(?:secret_key|aws_secret_access_key)[ \t]*=[ \t]*\S"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_files_are_recognised_by_name() {
        let cases = [
            ("app/.env", Some(CredentialFile::DotEnv)),
            ("app/.env.production", Some(CredentialFile::DotEnv)),
            ("app/config.env", Some(CredentialFile::DotEnv)),
            ("root/.ssh/id_rsa", Some(CredentialFile::SshPrivateKey)),
            ("root/.ssh/id_rsa.pub", None),
            (
                "home/app/.ssh/id_ed25519",
                Some(CredentialFile::SshPrivateKey),
            ),
            (
                "root/.aws/credentials",
                Some(CredentialFile::AwsCredentials),
            ),
            (
                "root/.docker/config.json",
                Some(CredentialFile::DockerConfig),
            ),
            ("app/config.json", None),
            ("root/.npmrc", Some(CredentialFile::NpmConfig)),
            ("app/.yarnrc.yml", Some(CredentialFile::NpmConfig)),
            ("root/.pypirc", Some(CredentialFile::PypiConfig)),
            ("root/.netrc", Some(CredentialFile::Netrc)),
            (
                "root/.git-credentials",
                Some(CredentialFile::GitCredentials),
            ),
            ("root/.kube/config", Some(CredentialFile::Kubeconfig)),
            (
                "etc/kubernetes/admin.conf",
                Some(CredentialFile::Kubeconfig),
            ),
            (
                "infra/terraform.tfstate",
                Some(CredentialFile::TerraformState),
            ),
            ("app/keystore.jks", Some(CredentialFile::Keystore)),
            ("app/client.p12", Some(CredentialFile::Keystore)),
            (
                "etc/ssl/private/server.key",
                Some(CredentialFile::PrivateKeyFile),
            ),
            ("etc/nginx/cert.pem", Some(CredentialFile::PrivateKeyFile)),
            ("root/.pgpass", Some(CredentialFile::Pgpass)),
            ("root/.my.cnf", Some(CredentialFile::MysqlClientConfig)),
            (
                "root/.config/gcloud/application_default_credentials.json",
                Some(CredentialFile::CloudCliCredentials),
            ),
            (
                "root/.vault-token",
                Some(CredentialFile::CloudCliCredentials),
            ),
            ("etc/passwd", None),
        ];
        for (p, want) in cases {
            assert_eq!(CredentialFile::from_path(p), want, "{p}");
        }
    }

    #[test]
    fn shapes_confirm_a_credential_is_there() {
        use CredentialFile::*;
        assert!(DockerConfig.shape_matches(br#"{"auths": {"r.io": {"auth": "dTpw"}}}"#));
        assert!(!DockerConfig.shape_matches(br#"{"credsStore": "desktop"}"#));
        assert!(!DockerConfig.shape_matches(br#"{"auths": {"r.io": {}}}"#));
        assert!(NpmConfig.shape_matches(b"//registry.npmjs.org/:_authToken=abc123"));
        assert!(!NpmConfig.shape_matches(b"//registry.npmjs.org/:_authToken=${NPM_TOKEN}"));
        assert!(SshPrivateKey.shape_matches(b"-----BEGIN OPENSSH PRIVATE KEY-----\n"));
        assert!(!SshPrivateKey.shape_matches(b"ssh-ed25519 AAAAC3Nz user@host"));
        assert!(Kubeconfig.shape_matches(b"users:\n- name: a\n  user:\n    token: abc.def\n"));
        assert!(!Kubeconfig.shape_matches(b"users:\n- name: a\n  user:\n    exec: {}\n"));
        assert!(Netrc.shape_matches(b"machine h login u password p"));
        assert!(DotEnv.shape_matches(b"# c\nDB_PASSWORD=bar\n"));
        assert!(DotEnv.shape_matches(b"export apiKey=x\n"));
        assert!(!DotEnv.shape_matches(b"# c\nLOG_LEVEL=debug\nAPP_URL=https://a.test/\n"));
        assert!(Htpasswd.shape_matches(b"admin:$apr1$q7QzDmgD$XwKIth9.tP8KxH587oqAe/\n"));
        assert!(Htpasswd.shape_matches(b"u:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n"));
        assert!(!Htpasswd.shape_matches(b"admin:$apr1$q7QzDmgD$XwKIth9.tP\n"));
        assert!(!Htpasswd.shape_matches(b"admin:$hpr1$q7QzDmgD$XwKIth9.tP8KxH587oqAe/\n"));
        assert!(!DotEnv.shape_matches(b"# only comments\nEMPTY=\n"));
        assert!(Pgpass.shape_matches(b"db:5432:app:app:s3cret\n"));
    }

    #[test]
    fn leftovers_are_recognised_by_name() {
        assert_eq!(
            Leftover::from_path("app/Dockerfile"),
            Some(Leftover::BuildFile)
        );
        assert_eq!(
            Leftover::from_path("app/Dockerfile.prod"),
            Some(Leftover::BuildFile)
        );
        assert_eq!(
            Leftover::from_path("app/docker-compose.yml"),
            Some(Leftover::BuildFile)
        );
        assert_eq!(
            Leftover::from_path("app/compose.yaml"),
            Some(Leftover::BuildFile)
        );
        assert_eq!(
            Leftover::from_path("root/.bash_history"),
            Some(Leftover::ShellHistory)
        );
        assert_eq!(Leftover::from_path("app/main.py"), None);
        assert_eq!(git_dir("app/.git/config"), Some("app/.git"));
        assert_eq!(git_dir(".git/HEAD"), Some(".git"));
        assert_eq!(git_dir("app/.gitignore"), None);
    }
}
