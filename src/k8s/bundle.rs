//! The files a run reads (flows, the CSV data they name, a plan file, a CA file), packed
//! into one ConfigMap and mounted in the coordinator's pod with their relative layout kept.

use base64::Engine as _;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// Where the ConfigMap is mounted in the coordinator's pod.
pub const MOUNT: &str = "/throng/files";
/// What a ConfigMap may hold (the API server refuses larger ones).
pub const CONFIG_MAP_LIMIT: usize = 1024 * 1024;

/// Why the run's files cannot be bundled.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{path}: {reason}")]
    Read { path: String, reason: String },
    #[error(
        "the flows and data files total {total} bytes, more than a ConfigMap holds \
         ({CONFIG_MAP_LIMIT}): largest is {largest}; trim the data files or split the run"
    )]
    TooLarge { total: usize, largest: String },
}

#[derive(Debug, Clone)]
struct BundledFile {
    /// The ConfigMap key: unique, made of the characters keys allow.
    key: String,
    /// The path the user gave (for messages).
    given: PathBuf,
    canonical: PathBuf,
    /// Path below [`MOUNT`] (relative layout of the originals kept, so a flow's relative
    /// CSV paths still resolve).
    relative: String,
    bytes: Vec<u8>,
}

/// The files of one run.
#[derive(Debug, Clone, Default)]
pub struct Bundle {
    files: Vec<BundledFile>,
}

impl Bundle {
    /// Reads `paths` (duplicates are bundled once) and lays them out below their deepest
    /// common directory.
    pub fn new(paths: &[PathBuf]) -> Result<Self, BundleError> {
        let mut files: Vec<BundledFile> = Vec::new();
        for given in paths {
            let read_err = |e: std::io::Error| BundleError::Read {
                path: given.display().to_string(),
                reason: e.to_string(),
            };
            let canonical = given.canonicalize().map_err(read_err)?;
            if files.iter().any(|f| f.canonical == canonical) {
                continue;
            }
            let bytes = std::fs::read(&canonical).map_err(read_err)?;
            files.push(BundledFile {
                key: String::new(),
                given: given.clone(),
                canonical,
                relative: String::new(),
                bytes,
            });
        }
        let root = common_dir(files.iter().map(|f| f.canonical.as_path()));
        for (i, f) in files.iter_mut().enumerate() {
            let rel = f.canonical.strip_prefix(&root).unwrap_or(&f.canonical);
            f.relative = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            f.key = format!("{i}-{}", key_chars(&f.relative));
        }
        let total: usize = files.iter().map(|f| f.bytes.len()).sum();
        if total > CONFIG_MAP_LIMIT {
            let largest = files
                .iter()
                .max_by_key(|f| f.bytes.len())
                .map(|f| format!("{} ({} bytes)", f.given.display(), f.bytes.len()))
                .unwrap_or_default();
            return Err(BundleError::TooLarge { total, largest });
        }
        Ok(Bundle { files })
    }

    /// Where `local` (one of the bundled paths) is in the pod; None when it was not bundled.
    pub fn pod_path(&self, local: &Path) -> Option<String> {
        let canonical = local.canonicalize().ok()?;
        self.files
            .iter()
            .find(|f| f.canonical == canonical)
            .map(|f| format!("{MOUNT}/{}", f.relative))
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The ConfigMap's `data` (UTF-8 files) and `binaryData` (the rest, base64).
    pub fn config_map_data(&self) -> (Map<String, Value>, Map<String, Value>) {
        let (mut data, mut binary) = (Map::new(), Map::new());
        for f in &self.files {
            match std::str::from_utf8(&f.bytes) {
                Ok(text) => data.insert(f.key.clone(), Value::from(text)),
                Err(_) => binary.insert(
                    f.key.clone(),
                    Value::from(base64::engine::general_purpose::STANDARD.encode(&f.bytes)),
                ),
            };
        }
        (data, binary)
    }

    /// The volume's `items`: each key at its relative path.
    pub fn items(&self) -> Vec<Value> {
        self.files
            .iter()
            .map(|f| json!({"key": f.key, "path": f.relative}))
            .collect()
    }
}

/// The CSV files a flow names (resolved beside the flow, as the replay resolves them), each
/// under the flow's directory or one of `data_dirs`.
pub fn data_files(
    flow_path: &Path,
    data_dirs: &[PathBuf],
) -> Result<Vec<PathBuf>, crate::flow::FlowError> {
    let loaded = crate::flow::load_with(flow_path, data_dirs)?;
    Ok(loaded
        .flow
        .variables
        .iter()
        .filter_map(|v| v.csv.as_ref())
        .map(|csv| loaded.resolve(&csv.file))
        .collect())
}

/// The deepest directory holding every path.
fn common_dir<'a>(paths: impl Iterator<Item = &'a Path>) -> PathBuf {
    let mut common: Option<PathBuf> = None;
    for path in paths {
        let dir = path.parent().unwrap_or(Path::new("/"));
        common = Some(match common {
            None => dir.to_path_buf(),
            Some(c) => c
                .components()
                .zip(dir.components())
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| a)
                .collect(),
        });
    }
    common.unwrap_or_else(|| PathBuf::from("/"))
}

/// ConfigMap keys allow letters, digits, `-`, `_` and `.`.
fn key_chars(text: &str) -> String {
    let key: String = text
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' => c,
            _ => '_',
        })
        .collect();
    key.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_keep_their_layout_below_the_common_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("flows/data")).unwrap();
        let flow = dir.path().join("flows/a b.json");
        let csv = dir.path().join("flows/data/users.csv");
        let bin = dir.path().join("ca.bin");
        std::fs::write(&flow, "{}\n").unwrap();
        std::fs::write(&csv, "user\nann\n").unwrap();
        std::fs::write(&bin, [0xff, 0xfe, 0]).unwrap();
        let bundle = Bundle::new(&[flow.clone(), csv.clone(), flow.clone(), bin]).unwrap();
        assert_eq!(bundle.len(), 3);
        assert_eq!(
            bundle.pod_path(&csv).unwrap(),
            "/throng/files/flows/data/users.csv"
        );
        assert_eq!(
            bundle.pod_path(&flow).unwrap(),
            "/throng/files/flows/a b.json"
        );
        let (data, binary) = bundle.config_map_data();
        assert_eq!(data.len(), 2);
        assert_eq!(binary.values().next().unwrap(), "//4A");
        let keys: Vec<_> = data.keys().chain(binary.keys()).collect();
        assert!(keys.contains(&&"0-flows_a_b.json".to_string()), "{keys:?}");
        let items = bundle.items();
        assert_eq!(items[1]["path"], "flows/data/users.csv");
    }

    #[test]
    fn more_than_a_config_map_holds_is_refused_naming_the_largest_file() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.csv");
        std::fs::write(&big, vec![b'x'; CONFIG_MAP_LIMIT + 1]).unwrap();
        let err = Bundle::new(&[big]).unwrap_err().to_string();
        assert!(
            err.contains("big.csv") && err.contains("ConfigMap"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = Bundle::new(&[PathBuf::from("/nonexistent/flow.json")])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("/nonexistent/flow.json: "), "{err}");
    }
}
