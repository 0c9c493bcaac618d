//! /etc/passwd, /etc/group and /etc/shadow as the image ships them.

/// One line of /etc/passwd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: String,
    pub password: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub shell: String,
    /// 1-based line number.
    pub line: u32,
}

/// One line of /etc/group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
    pub line: u32,
}

/// One line of /etc/shadow (or /etc/gshadow: name and password field only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowEntry {
    pub name: String,
    pub password: String,
    pub line: u32,
}

fn lines(data: &[u8]) -> impl Iterator<Item = (u32, Vec<&str>)> {
    let text = std::str::from_utf8(data).unwrap_or("");
    text.lines().enumerate().filter_map(|(i, line)| {
        let line = line.trim_end_matches('\r');
        // NIS compat entries (`+`, `-`) and comments name no local account.
        if line.is_empty()
            || line.starts_with('#')
            || line.starts_with('+')
            || line.starts_with('-')
        {
            return None;
        }
        Some((i as u32 + 1, line.split(':').collect()))
    })
}

/// Parses /etc/passwd; malformed lines are skipped.
pub fn parse_passwd(data: &[u8]) -> Vec<PasswdEntry> {
    lines(data)
        .filter_map(|(line, f)| {
            if f.len() < 7 || f[0].is_empty() {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                password: f[1].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_string(),
                shell: f[6].to_string(),
                line,
            })
        })
        .collect()
}

/// Parses /etc/group; malformed lines are skipped.
pub fn parse_group(data: &[u8]) -> Vec<GroupEntry> {
    lines(data)
        .filter_map(|(line, f)| {
            if f.len() < 3 || f[0].is_empty() {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
                line,
            })
        })
        .collect()
}

/// Parses /etc/shadow or /etc/gshadow.
pub fn parse_shadow(data: &[u8]) -> Vec<ShadowEntry> {
    lines(data)
        .filter_map(|(line, f)| {
            if f.len() < 2 || f[0].is_empty() {
                return None;
            }
            Some(ShadowEntry {
                name: f[0].to_string(),
                password: f[1].to_string(),
                line,
            })
        })
        .collect()
}

/// Who a container started from the image runs as: what runc makes of `config.User` with the
/// image's /etc/passwd and /etc/group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeUser {
    /// The account name, when /etc/passwd knows the uid.
    pub name: Option<String>,
    pub uid: u32,
    pub gid: u32,
    /// Primary and supplementary groups, sorted, without duplicates.
    pub groups: Vec<u32>,
}

impl RuntimeUser {
    pub fn is_root(&self) -> bool {
        self.uid == 0
    }

    pub fn in_group(&self, gid: u32) -> bool {
        self.groups.binary_search(&gid).is_ok()
    }
}

/// Resolves `USER[:GROUP]` the way runc does: a name must exist in /etc/passwd (a group name in
/// /etc/group); a numeric uid without a passwd entry runs with gid 0; supplementary groups are
/// the /etc/group entries that list the account's name. `None` when runc would refuse to start
/// the container (a name it cannot find).
pub fn resolve_runtime_user(
    spec: &str,
    passwd: &[PasswdEntry],
    groups: &[GroupEntry],
) -> Option<RuntimeUser> {
    let spec = spec.trim();
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user = if user.is_empty() { "0" } else { user };
    let account = match user.parse::<u32>() {
        Ok(uid) => passwd.iter().find(|e| e.uid == uid),
        Err(_) => Some(passwd.iter().find(|e| e.name == user)?),
    };
    let uid = match account {
        Some(a) => a.uid,
        None => user.parse().ok()?,
    };
    let primary = account.map_or(0, |a| a.gid);
    let gid = match group.filter(|g| !g.is_empty()) {
        None => primary,
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => groups.iter().find(|e| e.name == g)?.gid,
        },
    };
    let name = account.map(|a| a.name.clone());
    let mut all: Vec<u32> = vec![gid];
    if let Some(name) = &name {
        all.extend(
            groups
                .iter()
                .filter(|g| g.members.iter().any(|m| m == name))
                .map(|g| g.gid),
        );
    }
    all.sort_unstable();
    all.dedup();
    Some(RuntimeUser {
        name,
        uid,
        gid,
        groups: all,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_lines_parse_and_junk_is_skipped() {
        let data = b"root:x:0:0:root:/root:/bin/sh\n# comment\n+nis\nbroken:x\napp:x:1000:1000::/home/app:/sbin/nologin\r\nbad:x:abc:1::/:/bin/sh\n";
        let users = parse_passwd(data);
        assert_eq!(users.len(), 2);
        assert_eq!(users[0].name, "root");
        assert_eq!(users[0].uid, 0);
        assert_eq!(users[1].name, "app");
        assert_eq!(users[1].shell, "/sbin/nologin");
        assert_eq!(users[1].line, 5);
    }

    #[test]
    fn group_members_split_on_commas() {
        let groups = parse_group(b"wheel:x:10:root,alice\nempty:x:11:\n");
        assert_eq!(groups[0].members, vec!["root", "alice"]);
        assert!(groups[1].members.is_empty());
    }

    #[test]
    fn shadow_keeps_the_password_field() {
        let shadow = parse_shadow(b"root:!::0:::::\nnopw::19000:0:99999:7:::\n");
        assert_eq!(shadow[0].password, "!");
        assert_eq!(shadow[1].password, "");
    }

    #[test]
    fn runtime_user_resolves_like_runc() {
        let passwd =
            parse_passwd(b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n");
        let groups = parse_group(b"root:x:0:\napp:x:1000:\nwheel:x:10:app\ndocker:x:999:\n");
        let resolve = |spec: &str| resolve_runtime_user(spec, &passwd, &groups);

        let root = resolve("").unwrap();
        assert!(root.is_root());
        assert_eq!(root.groups, vec![0]);

        let app = resolve("app").unwrap();
        assert_eq!((app.uid, app.gid), (1000, 1000));
        assert_eq!(app.groups, vec![10, 1000]);
        assert!(app.in_group(10) && !app.in_group(999));

        // A uid /etc/passwd does not know runs with gid 0 and no supplementary groups.
        let stranger = resolve("4242").unwrap();
        assert_eq!((stranger.uid, stranger.gid, stranger.name), (4242, 0, None));

        assert_eq!(resolve("1000:docker").unwrap().gid, 999);
        assert_eq!(resolve("app:7").unwrap().groups, vec![7, 10]);
        assert_eq!(resolve("nobody"), None);
        assert_eq!(resolve("app:nogroup"), None);
    }
}
