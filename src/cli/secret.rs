//! The group secret file: `rumor keygen FILE` writes one, `--secret-file
//! FILE` reads one (see `wire::auth` for the formats and the key derivation).

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;

use crate::wire::auth::{secret_file_contents, SECRET_LEN};
use crate::wire::GroupKey;

/// Writes a new random secret to `path`: readable by its owner only, and
/// never over an existing file (that could cut a member off its group).
pub fn keygen(path: &Path) -> Result<GroupKey, String> {
    let secret: [u8; SECRET_LEN] = rand::random();
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
    file.write_all(secret_file_contents(&secret).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(GroupKey::from_secret(&secret))
}

/// The group key in `path`, and a warning if others may read the file.
pub fn load(path: &Path) -> Result<(GroupKey, Option<String>), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let key =
        GroupKey::from_file_contents(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut warning = None;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                warning = Some(format!(
                    "{}: other users may read this secret (chmod 600 it)",
                    path.display()
                ));
            }
        }
    }
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
}
