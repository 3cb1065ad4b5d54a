//! Loader for the real editing traces in `../shared/traces/` (see its README
//! for both formats). Shared by the trace tests, the benches and the
//! `compare` example (they include this file with `#[path]`).
//!
//! The traces are test fixtures, so a missing or malformed file is a test
//! failure with a message saying what was expected where, never a silent skip.
#![allow(dead_code)] // each including target uses a different part

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One edit: delete `del` chars at `pos`, then insert `ins` there.
/// Positions and counts are in Unicode scalar values (chars).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "(usize, usize, String)")]
pub struct Patch {
    pub pos: usize,
    pub del: usize,
    pub ins: String,
}

impl Patch {
    /// Applies it to `doc` as local edits: the delete, then the insert.
    pub fn apply_to(&self, doc: &mut rumor::Doc) -> Result<(), rumor::doc::Error> {
        if self.del > 0 {
            doc.delete(self.pos, self.del)?;
        }
        if !self.ins.is_empty() {
            doc.insert(self.pos, &self.ins)?;
        }
        Ok(())
    }
}

impl From<(usize, usize, String)> for Patch {
    fn from((pos, del, ins): (usize, usize, String)) -> Self {
        Patch { pos, del, ins }
    }
}

/// Format 1: one author, patches applied strictly in order.
#[derive(Debug, Clone)]
pub struct SequentialTrace {
    pub name: String,
    pub end_content: String,
    /// Each transaction's patches, in order.
    pub txns: Vec<Vec<Patch>>,
}

impl SequentialTrace {
    /// Every patch of every transaction, in application order.
    pub fn patches(&self) -> impl Iterator<Item = &Patch> + '_ {
        self.txns.iter().flatten()
    }

    pub fn patch_count(&self) -> usize {
        self.txns.iter().map(Vec::len).sum()
    }
}

/// One action of one agent, made on the version named by `parents`.
#[derive(Debug, Clone, Deserialize)]
pub struct ConcurrentTxn {
    /// Indexes of earlier txns; empty for the empty document.
    pub parents: Vec<usize>,
    pub agent: usize,
    pub patches: Vec<Patch>,
}

/// Format 2: several agents, each txn made at the merge of its parents.
#[derive(Debug, Clone)]
pub struct ConcurrentTrace {
    pub name: String,
    pub end_content: String,
    pub num_agents: usize,
    pub txns: Vec<ConcurrentTxn>,
}

/// `../shared/traces/` next to the repository. Panics (failing the test)
/// with a message naming the expected place when it is missing.
pub fn traces_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/traces");
    if !dir.join("sequential").is_dir() || !dir.join("concurrent").is_dir() {
        panic!(
            "editing traces not found: expected the folders sequential/ and concurrent/ in {} \
             (the repository's parent directory must hold shared/traces/, see shared/traces/README.md)",
            dir.display()
        );
    }
    dir
}

/// Every sequential trace file: `sequential/*.json.gz` and
/// `sequential/ascii_only/*.json.gz`, sorted by path.
pub fn sequential_paths() -> Vec<PathBuf> {
    let dir = traces_dir().join("sequential");
    let mut paths = gz_files(&dir);
    paths.extend(gz_files(&dir.join("ascii_only")));
    assert!(!paths.is_empty(), "no *.json.gz files in {}", dir.display());
    paths
}

/// Every concurrent trace file, sorted by path.
pub fn concurrent_paths() -> Vec<PathBuf> {
    let dir = traces_dir().join("concurrent");
    let paths = gz_files(&dir);
    assert!(!paths.is_empty(), "no *.json.gz files in {}", dir.display());
    paths
}

/// Loads `sequential/NAME.json.gz` (e.g. `"automerge-paper"`).
pub fn sequential(name: &str) -> SequentialTrace {
    let path = traces_dir()
        .join("sequential")
        .join(format!("{name}.json.gz"));
    load_sequential(&path)
}

/// Loads `concurrent/NAME.json.gz` (e.g. `"friendsforever"`).
pub fn concurrent(name: &str) -> ConcurrentTrace {
    let path = traces_dir()
        .join("concurrent")
        .join(format!("{name}.json.gz"));
    load_concurrent(&path)
}

pub fn load_sequential(path: &Path) -> SequentialTrace {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Txn {
        patches: Vec<Patch>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct File {
        start_content: String,
        end_content: String,
        txns: Vec<Txn>,
    }
    let file: File = read_json(path);
    assert_eq!(
        file.start_content,
        "",
        "{}: only traces starting from the empty document are supported",
        path.display()
    );
    SequentialTrace {
        name: trace_name(path),
        end_content: file.end_content,
        txns: file.txns.into_iter().map(|t| t.patches).collect(),
    }
}

pub fn load_concurrent(path: &Path) -> ConcurrentTrace {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct File {
        kind: String,
        end_content: String,
        num_agents: usize,
        txns: Vec<ConcurrentTxn>,
    }
    let file: File = read_json(path);
    assert_eq!(file.kind, "concurrent", "{}: wrong kind", path.display());
    for (i, txn) in file.txns.iter().enumerate() {
        assert!(
            txn.agent < file.num_agents,
            "{}: txn {i} has agent {} but numAgents is {}",
            path.display(),
            txn.agent,
            file.num_agents
        );
        assert!(
            txn.parents.iter().all(|&p| p < i),
            "{}: txn {i} has a parent that does not come before it",
            path.display()
        );
    }
    ConcurrentTrace {
        name: trace_name(path),
        end_content: file.end_content,
        num_agents: file.num_agents,
        txns: file.txns,
    }
}

/// `sequential/ascii_only/seph-blog1.json.gz` -> `ascii_only/seph-blog1`.
pub fn trace_name(path: &Path) -> String {
    let file = path
        .file_name()
        .and_then(|f| f.to_str())
        .unwrap_or_default()
        .trim_end_matches(".json.gz")
        .to_string();
    match path.parent().and_then(|p| p.file_name()) {
        Some(dir) if dir == "ascii_only" => format!("ascii_only/{file}"),
        _ => file,
    }
}

fn gz_files(dir: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list traces in {}: {e}", dir.display()));
    let mut paths: Vec<PathBuf> = entries
        .map(|e| e.expect("read_dir entry").path())
        .filter(|p| p.is_file() && p.to_string_lossy().ends_with(".json.gz"))
        .collect();
    paths.sort();
    paths
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    let file =
        File::open(path).unwrap_or_else(|e| panic!("cannot open trace {}: {e}", path.display()));
    let mut json = String::new();
    flate2::read::GzDecoder::new(BufReader::new(file))
        .read_to_string(&mut json)
        .unwrap_or_else(|e| panic!("cannot gunzip trace {}: {e}", path.display()));
    serde_json::from_str(&json).unwrap_or_else(|e| {
        panic!(
            "trace {} is not in the expected format: {e}",
            path.display()
        )
    })
}
