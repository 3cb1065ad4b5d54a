//! The group secret file: `rumor keygen FILE` writes one, `--secret-file
//! FILE` reads one (see `wire::auth` for the formats and the key derivation).

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;

use crate::wire::auth::{
    secret_file_contents, PASSPHRASE_FILE_PREFIX, SECRET_FILE_PREFIX, SECRET_LEN,
};
use crate::wire::GroupKey;

/// Name of the group secret kept in a data directory (by `--new` and
/// `--join`); a peer started with that directory uses it.
pub const DATA_SECRET: &str = "secret";

/// Writes a new random secret to `path`: readable by its owner only, and
/// never over an existing file (that could cut a member off its group).
pub fn keygen(path: &Path) -> Result<GroupKey, String> {
    let secret: [u8; SECRET_LEN] = rand::random();
    write(path, &secret)?;
    Ok(GroupKey::from_secret(&secret))
}

/// Writes `secret` to `path` in keygen's format, as [`keygen`] does.
pub fn write(path: &Path, secret: &[u8; SECRET_LEN]) -> Result<(), String> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| match e.kind() {
        io::ErrorKind::AlreadyExists => format!(
            "{}: already exists; rumor keygen never overwrites a secret (remove it first if you mean to)",
            path.display()
        ),
        _ => format!("{}: {e}", path.display()),
    })?;
    file.write_all(secret_file_contents(secret).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The group key in `path`, and a warning if the file is a passphrase
/// without a group name. Refused, as ssh refuses a private key, when other
/// users may read or write the file: the secret is then no longer the
/// group's alone (checked on the file as opened, so a rename in between
/// cannot swap it).
pub fn load(path: &Path) -> Result<(GroupKey, Option<String>), String> {
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let mut file = std::fs::File::open(path).map_err(|e| at(&e))?;
    let mut bytes = Vec::new();
    io::Read::read_to_end(&mut file, &mut bytes).map_err(|e| at(&e))?;
    let key = GroupKey::from_file_contents(&bytes).map_err(|e| at(&e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata().map_err(|e| at(&e))?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(at(&format_args!(
                "other users may read or change this secret (mode {:o}); \
                 refusing to use it (chmod 600 it)",
                mode & 0o777
            )));
        }
    }
    let named = [SECRET_FILE_PREFIX, PASSPHRASE_FILE_PREFIX]
        .iter()
        .any(|prefix| bytes.starts_with(prefix.as_bytes()));
    let warning = (!named).then(|| {
        format!(
            "{}: a passphrase without a group name is salted like every other such \
             group's, so one precomputed dictionary attacks them all: put \
             `{PASSPHRASE_FILE_PREFIX} NAME` on a line before it (NAME the same for \
             every member; the key changes) or use rumor keygen",
            path.display()
        )
    });
    Ok((key, warning))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keygen_writes_a_private_file_once_and_load_reads_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let made = keygen(&path).unwrap();
        let (loaded, warning) = load(&path).unwrap();
        assert_eq!(made.fingerprint(), loaded.fingerprint());
        assert_eq!(warning, None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let before = std::fs::read(&path).unwrap();
        let err = keygen(&path).unwrap_err();
        assert!(err.contains("already exists"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        // Two keygens make two different secrets.
        let other = keygen(&dir.path().join("other")).unwrap();
        assert_ne!(other.fingerprint(), made.fingerprint());
    }
    #[cfg(unix)]
    fn chmod(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_secret_others_may_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let keyfile = dir.path().join("secret");
        keygen(&keyfile).unwrap();
        let passfile = dir.path().join("pass");
        std::fs::write(
            &passfile,
            "rumor-passphrase-v1 acme docs\nwhat we both know\n",
        )
        .unwrap();
        for path in [&keyfile, &passfile] {
            for mode in [0o644, 0o640, 0o604, 0o660] {
                chmod(path, mode);
                let err = load(path).unwrap_err();
                assert!(err.contains("chmod 600"), "{mode:o}: {err}");
                assert!(err.contains(&format!("{mode:o}")), "{err}");
            }
            chmod(path, 0o600);
            assert!(load(path).is_ok());
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_passphrase_is_salted_by_its_group_name() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, contents: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, contents).unwrap();
            chmod(&path, 0o600);
            load(&path)
        };
        let (a, warning) = file("a", "rumor-passphrase-v1 acme docs\nwhat we both know\n").unwrap();
        assert_eq!(warning, None);
        let (same, _) = file("b", "rumor-passphrase-v1 acme docs\r\nwhat we both know").unwrap();
        let (other_group, _) =
            file("c", "rumor-passphrase-v1 other group\nwhat we both know\n").unwrap();
        let (bare, warning) = file("d", "what we both know\n").unwrap();
        assert_eq!(a, same);
        assert_ne!(a, other_group, "one dictionary must not serve two groups");
        assert_ne!(a, bare);
        assert!(warning.unwrap().contains("rumor-passphrase-v1"));
        let err = file("e", "rumor-passphrase-v1 \nwhat we both know\n").unwrap_err();
        assert!(err.contains("group name"), "{err}");
        let err = file("f", "rumor-passphrase-v1 acme\n").unwrap_err();
        assert!(err.contains("passphrase"), "{err}");
    }
}
