//! Records flows by driving a recording browser; to be built.
