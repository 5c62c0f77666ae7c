//! demo_site tests.
