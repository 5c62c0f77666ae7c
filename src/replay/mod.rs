//! Replay runners, one per mode: plain HTTP and headless Chromium.

pub mod browser;
pub mod http;
