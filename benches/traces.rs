//! A small loader for the sequential editing traces in `../shared/traces`
//! (see its README). Kept here for the node bench until a shared loader lands.

#![allow(dead_code)]

use std::io::Read;
use std::path::PathBuf;

use serde::Deserialize;

/// One edit: delete `.1` chars at `.0`, then insert `.2` there.
#[derive(Debug, Clone, Deserialize)]
pub struct TracePatch(pub usize, pub usize, pub String);

#[derive(Deserialize)]
struct Txn {
    patches: Vec<TracePatch>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Trace {
    end_content: String,
    txns: Vec<Txn>,
}

fn traces_dir() -> PathBuf {
    std::env::var_os("RUMOR_TRACES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/traces"))
}

/// The patches of a sequential trace, in order, and the text they end with.
pub fn load_sequential(name: &str) -> std::io::Result<(Vec<TracePatch>, String)> {
    let path = traces_dir()
        .join("sequential")
        .join(format!("{name}.json.gz"));
    let mut json = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&path)?).read_to_string(&mut json)?;
    let trace: Trace = serde_json::from_str(&json).map_err(std::io::Error::other)?;
    let patches = trace.txns.into_iter().flat_map(|t| t.patches).collect();
    Ok((patches, trace.end_content))
}
