//! The sealing epoch of each run (see `wire::auth`): kept in the data
//! directory's `epoch` file so that it grows from run to run even if the
//! wall clock goes back, and floored by the clock so that a directory
//! restored from a backup does not repeat one either.

use std::fs;
use std::io;
use std::path::Path;

use super::{io_err, write_atomic, StoreError};

/// This run's epoch: above the last one recorded in `dir` and at least
/// `floor` (the driver passes the wall clock in milliseconds). Recorded
/// (atomically, synced) before it is returned. A damaged file is reported
/// in the warning and replaced.
pub fn next_epoch(dir: &Path, floor: u64) -> Result<(u64, Option<String>), StoreError> {
    let path = dir.join("epoch");
    let (last, warning) = match fs::read_to_string(&path) {
        Ok(text) => match text.trim().parse::<u64>() {
            Ok(n) => (Some(n), None),
            Err(_) => (
                None,
                Some(format!(
                    "{}: not an epoch number; starting from the clock instead",
                    path.display()
                )),
            ),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => (None, None),
        Err(e) => return Err(io_err(&path)(e)),
    };
    let epoch = last.map_or(floor, |l| l.saturating_add(1).max(floor));
    write_atomic(&path, format!("{epoch}\n").as_bytes()).map_err(io_err(&path))?;
    Ok((epoch, warning))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_from_run_to_run_even_when_the_clock_goes_back() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(next_epoch(dir.path(), 1000).unwrap(), (1000, None));
        assert_eq!(next_epoch(dir.path(), 1000).unwrap().0, 1001);
        assert_eq!(next_epoch(dir.path(), 5).unwrap().0, 1002);
        assert_eq!(next_epoch(dir.path(), 9000).unwrap().0, 9000);
    }

    #[test]
    fn a_damaged_file_is_reported_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("epoch"), "garbage").unwrap();
        let (epoch, warning) = next_epoch(dir.path(), 77).unwrap();
        assert_eq!(epoch, 77);
        assert!(warning.unwrap().contains("not an epoch number"));
        assert_eq!(next_epoch(dir.path(), 0).unwrap(), (78, None));
    }
}
