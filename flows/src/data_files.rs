//! Checks on a flow's CSV data files: they exist, have the named column and a data row.

use super::context::Reporter;
use super::error::{quote, FlowError};
use super::locate::JsonPath;
use super::model::Flow;
use std::path::PathBuf;

/// CSV data files exist, have the named column and at least one row. Needs the file system,
/// so only [`super::load`] runs it.
pub(crate) fn check_data_files(
    flow: &Flow,
    r: &Reporter<'_>,
    resolve: &dyn Fn(&str) -> PathBuf,
) -> Result<(), FlowError> {
    for (i, v) in flow.variables.iter().enumerate() {
        let Some(csv_src) = &v.csv else { continue };
        let path = JsonPath::root().key("variables").index(i).key("csv");
        let file = resolve(&csv_src.file);
        let fail = |what: String| Err(r.bad(&path.key("file"), &what));
        let reader = match std::fs::File::open(&file) {
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
