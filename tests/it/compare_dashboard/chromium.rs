//! Headless Chromium for checking throng's pages: console errors collected, values read
//! from the DOM, clicks, screenshots; and a polling wait.

use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::cdp::browser_protocol::log::{
    EnableParams as LogEnable, EventEntryAdded, LogEntryLevel,
};
use chromiumoxide::cdp::browser_protocol::page::CaptureScreenshotFormat;
use chromiumoxide::cdp::js_protocol::runtime::{
    ConsoleApiCalledType, EventConsoleApiCalled, EventExceptionThrown,
};
use chromiumoxide::handler::viewport::Viewport;
use chromiumoxide::page::ScreenshotParams;
use chromiumoxide::Page;
use futures::StreamExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A headless Chromium on its own profile, with a page whose console errors are collected.
pub struct Checker {
    browser: Browser,
    handler: tokio::task::JoinHandle<()>,
    page: Page,
    errors: Arc<Mutex<Vec<String>>>,
    _profile: tempfile::TempDir,
}

impl Checker {
    pub async fn open(url: &str) -> Checker {
        let profile = tempfile::tempdir().unwrap();
        let config = BrowserConfig::builder()
            .chrome_executable("/usr/bin/chromium-headless-shell")
            .user_data_dir(profile.path())
            .no_sandbox()
            .arg("disable-gpu")
            .window_size(1400, 1000)
            .viewport(Viewport {
                width: 1400,
                height: 1000,
                ..Default::default()
            })
            .build()
            .unwrap();
        let (browser, mut handler) = Browser::launch(config).await.expect("chromium starts");
        // The handler must be polled for the browser's whole life; errors are not fatal.
        let handler = tokio::spawn(async move {
            while let Some(event) = handler.next().await {
                if let Err(e) = event {
                    eprintln!("cdp handler: {e}");
                }
            }
        });
        let page = browser.new_page("about:blank").await.unwrap();
        page.execute(LogEnable::default()).await.unwrap();
        let errors = Arc::new(Mutex::new(Vec::new()));
        let mut console = page
            .event_listener::<EventConsoleApiCalled>()
            .await
            .unwrap();
        let mut log = page.event_listener::<EventEntryAdded>().await.unwrap();
        let mut thrown = page.event_listener::<EventExceptionThrown>().await.unwrap();
        let e = errors.clone();
        tokio::spawn(async move {
            loop {
                let msg = tokio::select! {
                    Some(c) = console.next() => (c.r#type == ConsoleApiCalledType::Error)
                        .then(|| format!("console.error: {:?}", c.args.first().and_then(|a| a.value.clone()))),
                    Some(l) = log.next() => (l.entry.level == LogEntryLevel::Error)
                        .then(|| format!("log: {} ({:?})", l.entry.text, l.entry.url)),
                    Some(t) = thrown.next() => Some(format!("exception: {}", t.exception_details.text)),
                    else => break,
                };
                if let Some(m) = msg {
                    e.lock().unwrap().push(m);
                }
            }
        });
        page.goto(url).await.expect("page loads");
        Checker {
            browser,
            handler,
            page,
            errors,
            _profile: profile,
        }
    }

    pub async fn eval<T: serde::de::DeserializeOwned>(&self, js: &str) -> T {
        self.page
            .evaluate(js)
            .await
            .unwrap_or_else(|e| panic!("{js}: {e}"))
            .into_value()
            .unwrap_or_else(|e| panic!("{js}: {e}"))
    }

    pub async fn text(&self, id: &str) -> String {
        self.eval(&format!("document.getElementById('{id}').textContent"))
            .await
    }

    pub async fn points(&self, id: &str) -> u64 {
        let v: String = self
            .eval(&format!(
                "document.getElementById('{id}').querySelector('[data-points]') ? document.getElementById('{id}').querySelector('[data-points]').dataset.points : document.getElementById('{id}').dataset.points"
            ))
            .await;
        v.parse().unwrap()
    }

    pub async fn click(&self, id: &str) {
        self.page
            .find_element(format!("#{id}"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// Saves a PNG (the whole page, or the viewport scrolled to `at`) under the test temp
    /// dir and returns its path.
    pub async fn screenshot(&self, name: &str, at: Option<&str>) -> PathBuf {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screens");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        if let Some(id) = at {
            let _: bool = self
                .eval(&format!(
                    "(() => {{ document.getElementById('{id}').scrollIntoView(); return true; }})()"
                ))
                .await;
        }
        let params = ScreenshotParams::builder()
            .format(CaptureScreenshotFormat::Png)
            .full_page(at.is_none())
            .build();
        self.page.save_screenshot(params, &path).await.unwrap();
        eprintln!("screenshot: {}", path.display());
        path
    }

    pub fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }

    pub async fn close(mut self) {
        let _ = self.browser.close().await;
        let _ = self.browser.wait().await;
        self.handler.abort();
    }
}
