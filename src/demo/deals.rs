//! The deals page: what users feel, on purpose. A banner arrives above the content after the
//! page has loaded (a layout shift, so CLS) and the "Show all deals" button's handler blocks
//! the main thread before it paints (a long task, so INP and TBT), so `throng demo` in
//! browser mode shows those vitals with real values.

use super::pages::html_response;
use axum::http::StatusCode;
use axum::response::Response;

/// How long the button's handler blocks the main thread, ms.
pub(crate) const BLOCK_MS: u32 = 300;

const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Deals · Throng Shop</title>
<style>body{margin:0;font:16px/1.4 system-ui,sans-serif}header,main{padding:0 24px}
#banner{height:0;overflow:hidden;background:#ffe9a8}#banner.in{height:160px;padding:12px 24px}
.deal{height:72px;border-bottom:1px solid #ddd}button{font-size:18px;padding:8px 16px}</style>
</head>
<body>
<div id="banner" data-testid="deals-banner">Free shipping this week on every lamp.</div>
<header><h1>Deals</h1></header>
<main>
<div class="deal">Desk lamp · 20% off</div><div class="deal">Oak chair · 15% off</div>
<div class="deal">Standing desk · 10% off</div><div class="deal">Reading lamp · 30% off</div>
<div class="deal">Bookshelf · 12% off</div><div class="deal">Armchair · 18% off</div>
<button data-testid="show-deals">Show all deals</button>
<ul data-testid="all-deals"></ul>
</main>
<script>
addEventListener('load', () => setTimeout(() => {
  document.getElementById('banner').classList.add('in');
  document.body.dataset.ready = '1';
}, 200));
document.querySelector('[data-testid=show-deals]').addEventListener('click', () => {
  // Sorting the deals "the slow way": the main thread is busy, the click waits to paint.
  const end = performance.now() + BLOCK_MS;
  while (performance.now() < end) {}
  const list = document.querySelector('[data-testid=all-deals]');
  ['Rug · 10% off', 'Shelf · 25% off', 'Sofa · 5% off'].forEach((t) => {
    const li = document.createElement('li'); li.textContent = t; list.append(li);
  });
  document.body.dataset.shown = '1';
});
</script>
</body></html>
"#;

/// `GET /deals`.
pub(crate) async fn page() -> Response {
    html_response(
        StatusCode::OK,
        None,
        PAGE.replace("BLOCK_MS", &BLOCK_MS.to_string()),
    )
}
