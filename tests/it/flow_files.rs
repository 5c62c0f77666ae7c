//! flow_files tests.
