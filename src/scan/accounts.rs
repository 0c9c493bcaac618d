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
}
