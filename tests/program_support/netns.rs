//! Network namespaces for the tests that cut real links or run a LAN
//! (root only): `ip` itself, a guard that deletes what a test made, and
//! the skip that becomes a failure with `RUMOR_REQUIRE_NETNS=1` (CI).

use std::io::Write;
use std::process::Command;

/// Runs `ip ARGS`; its standard error as the error.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Deletes the namespaces (and so the veths in them) and the links left in
/// the root namespace when dropped, also when the test fails halfway.
#[derive(Default)]
pub struct Namespaces {
    pub names: Vec<String>,
    /// Links made in the root namespace (only left there if setup failed
    /// before moving them).
    pub links: Vec<String>,
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = ip(&["netns", "del", n]);
        }
        for l in &self.links {
            let _ = ip(&["link", "del", l]);
        }
    }
}

/// Says the test `what` is skipped and why; a failure instead with
/// `RUMOR_REQUIRE_NETNS=1`.
pub fn skip(what: &str, why: &str) {
    if std::env::var("RUMOR_REQUIRE_NETNS").as_deref() == Ok("1") {
        panic!("the {what} cannot run ({why}) and RUMOR_REQUIRE_NETNS=1");
    }
    let msg = format!("SKIPPED: {what}: {why} (set RUMOR_REQUIRE_NETNS=1 to make this a failure)");
    // The test harness captures eprintln! and io::stderr(); /dev/stderr,
    // opened afresh, shows the skip in every run.
    match std::fs::OpenOptions::new().write(true).open("/dev/stderr") {
        Ok(mut f) => {
            let _ = writeln!(f, "{msg}");
        }
        Err(_) => eprintln!("{msg}"),
    }
}
