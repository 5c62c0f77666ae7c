//! Checks on a flow's CSV data files: they sit under the flow's directory (or one the user
//! allowed), exist, have the named column and a data row. A flow cannot make throng read, send
//! or bundle any other file of the machine.

use super::context::Reporter;
use super::error::{quote, FlowError};
use super::locate::JsonPath;
use super::model::Flow;
use std::path::{Path, PathBuf};

/// Where a flow's data files may be: its own directory and the directories allowed on the
/// command line (`--allow-data DIR`), symbolic links resolved.
pub(crate) struct DataPlaces {
    dirs: Vec<PathBuf>,
}

impl DataPlaces {
    pub(crate) fn new(flow_path: &Path, allowed: &[PathBuf]) -> Self {
        let own = match flow_path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let dirs = std::iter::once(&own)
            .chain(allowed)
            .filter_map(|d| std::fs::canonicalize(d).ok())
            .collect();
        DataPlaces { dirs }
    }

    fn allow(&self, canonical: &Path) -> bool {
        self.dirs.iter().any(|d| canonical.starts_with(d))
    }
}

/// CSV data files sit where they may, exist, have the named column and at least one row.
/// Needs the file system, so only [`super::load`] runs it.
pub(crate) fn check_data_files(
    flow: &Flow,
    r: &Reporter<'_>,
    resolve: &dyn Fn(&str) -> PathBuf,
    places: &DataPlaces,
) -> Result<(), FlowError> {
    for (i, v) in flow.variables.iter().enumerate() {
        let Some(csv_src) = &v.csv else { continue };
        let path = JsonPath::root().key("variables").index(i).key("csv");
        let file = resolve(&csv_src.file);
        let fail = |what: String| Err(r.bad(&path.key("file"), &what));
        let canonical = match std::fs::canonicalize(&file) {
            Ok(c) => c,
            Err(e) => {
                let err = FlowError::read(&file.display().to_string(), &e);
                return fail(format!("{}: {}", quote(&csv_src.file), err.message()));
            }
        };
        if !places.allow(&canonical) {
            return fail(format!(
                "{} is outside the flow's directory: move it beside the flow, or allow its \
                 directory with --allow-data DIR",
                quote(&csv_src.file)
            ));
        }
        let reader = match std::fs::File::open(&canonical) {
            Ok(f) => f,
            Err(e) => {
                let err = FlowError::read(&file.display().to_string(), &e);
                return fail(format!("{}: {}", quote(&csv_src.file), err.message()));
            }
        };
        let mut rdr = csv::Reader::from_reader(reader);
        let headers = match rdr.headers() {
            Ok(h) => h.clone(),
            Err(e) => return fail(format!("{} is not valid CSV: {e}", quote(&csv_src.file))),
        };
        if !headers.iter().any(|h| h == csv_src.column) {
            let cols: Vec<&str> = headers.iter().collect();
            return Err(r.bad(
                &path.key("column"),
                &format!(
                    "{} is not a column of {} (columns: {})",
                    quote(&csv_src.column),
                    quote(&csv_src.file),
                    cols.join(", ")
                ),
            ));
        }
        match rdr.records().next() {
            Some(Ok(_)) => {}
            Some(Err(e)) => return fail(format!("{} is not valid CSV: {e}", quote(&csv_src.file))),
            None => return fail(format!("{} has no data rows", quote(&csv_src.file))),
        }
    }
    Ok(())
}
