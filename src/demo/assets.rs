//! Static assets (stylesheet, JS bundle, images, font, favicon) served with cache headers.
//!
//! Every asset carries `Cache-Control: public, max-age=3600`, a content-hash `ETag` and a fixed
//! `Last-Modified`; `If-None-Match` / `If-Modified-Since` get a 304. So a browser fetches each
//! asset once per fresh context, while a naive HTTP client fetches it on every page.

use super::catalog::{Product, PRODUCTS};
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Last-Modified of every built-in asset (they are compiled in, so this never changes).
pub(crate) const LAST_MODIFIED: &str = "Sat, 01 Nov 2025 00:00:00 GMT";
pub(crate) const CACHE_CONTROL: &str = "public, max-age=3600";
/// Size the generated JS bundle reaches (a realistic small-shop bundle).
const BUNDLE_BYTES: usize = 100 * 1024;

/// One asset: bytes, type and validator.
pub(crate) struct Asset {
    body: Bytes,
    content_type: &'static str,
    etag: String,
}

impl Asset {
    fn new(body: Vec<u8>, content_type: &'static str) -> Self {
        let etag = format!("\"{:016x}\"", fnv1a(&body));
        Asset {
            body: Bytes::from(body),
            content_type,
            etag,
        }
    }

    /// 200 with the body, or 304 when the request's validators match.
    pub(crate) fn respond(&self, req: &HeaderMap) -> Response<Body> {
        let fresh = match req.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
            // If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2).
            Some(inm) => inm
                .split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == "*" || t == self.etag),
            None => req
                .get(header::IF_MODIFIED_SINCE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|d| d.trim() == LAST_MODIFIED),
        };
        let mut b = Response::builder()
            .header(header::CACHE_CONTROL, CACHE_CONTROL)
            .header(header::ETAG, &self.etag)
            .header(header::LAST_MODIFIED, LAST_MODIFIED);
        if fresh {
            b = b.status(StatusCode::NOT_MODIFIED);
            return b.body(Body::empty()).expect("static headers are valid");
        }
        b.header(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        )
        .body(Body::from(self.body.clone()))
        .expect("static headers are valid")
    }
}

/// All built-in assets, generated once at start.
pub(crate) struct Assets {
    pub css: Asset,
    pub js: Asset,
    pub font: Asset,
    pub logo: Asset,
    pub favicon: Asset,
    pub images: BTreeMap<u32, Asset>,
}

impl Assets {
    pub(crate) fn build() -> Self {
        Assets {
            css: Asset::new(
                include_bytes!("app.css").to_vec(),
                "text/css; charset=utf-8",
            ),
            js: Asset::new(bundle().into_bytes(), "text/javascript; charset=utf-8"),
            font: Asset::new(font(), "font/woff2"),
            logo: Asset::new(logo().into_bytes(), "image/svg+xml"),
            favicon: Asset::new(favicon(), "image/x-icon"),
            images: PRODUCTS
                .iter()
                .map(|p| {
                    (
                        p.id,
                        Asset::new(product_svg(p).into_bytes(), "image/svg+xml"),
                    )
                })
                .collect(),
        }
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The JS bundle: a tiny module loader, the formatting module the app uses, deterministic
/// filler modules standing in for vendored libraries, then the real app code (app.js).
fn bundle() -> String {
    let mut s = String::with_capacity(BUNDLE_BYTES + 8 * 1024);
    s.push_str(
        "/*! throng-shop bundle 1.4.2 | built-in demo assets */\n\
var __modules = [];\n\
function __require(i) {\n  var m = __modules[i];\n  if (!m.exports) { m.exports = {}; m.fn(m, m.exports); }\n  return m.exports;\n}\n\
__modules[0] = { fn: function (module, exports) {\n  'use strict';\n\
  exports.price = function (c) { return '$' + Math.floor(c / 100) + '.' + String(c % 100).padStart(2, '0'); };\n\
  exports.stars = function (n) { return '\\u2605'.repeat(n) + '\\u2606'.repeat(5 - n); };\n}};\n",
    );
    let app = include_str!("app.js");
    let words = [
        "alpha", "breeze", "cobalt", "delta", "ember", "fable", "garnet", "harbor", "indigo",
        "juniper", "kestrel", "lumen", "meadow", "nimbus", "orchid", "pebble",
    ];
    let mut i: u64 = 1;
    while s.len() + app.len() < BUNDLE_BYTES {
        let h = super::catalog::mix(i);
        let table: Vec<String> = (0..16)
            .map(|k| (super::catalog::mix(h + k) % 100_000).to_string())
            .collect();
        let labels: Vec<String> = (0..6)
            .map(|k| format!("'{}'", words[((h >> (k * 4)) % 16) as usize]))
            .collect();
        let _ = write!(
            s,
            "__modules[{i}] = {{ fn: function (module, exports) {{\n  'use strict';\n\
  var TABLE = [{table}];\n  var LABELS = [{labels}];\n\
  function transform{i}(input, opts) {{\n    var acc = (opts && opts.seed) || {seed};\n\
    for (var k = 0; k < TABLE.length; k++) {{ acc = (acc * 31 + TABLE[k] + String(input).length) % 1000003; }}\n\
    return LABELS[acc % LABELS.length] + '-' + acc.toString(36);\n  }}\n\
  function validate{i}(value) {{\n    if (typeof value !== 'string') {{ throw new TypeError('component{i}: expected a string'); }}\n\
    return value.trim().length > 0;\n  }}\n\
  exports.name = 'component{i}';\n  exports.transform = transform{i};\n  exports.validate = validate{i};\n}}}};\n",
            table = table.join(", "),
            labels = labels.join(", "),
            seed = h % 97 + 3,
        );
        i += 1;
    }
    s.push_str(app);
    s
}

/// Bytes with a WOFF2 signature; browsers fetch it like a real font (and fall back on decode).
fn font() -> Vec<u8> {
    let mut v = b"wOF2\x00\x01\x00\x00".to_vec();
    v.extend((0..18_000u64).map(|i| (super::catalog::mix(i) & 0xff) as u8));
    v
}

fn logo() -> String {
    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"140\" height=\"32\" viewBox=\"0 0 140 32\">\
<rect width=\"32\" height=\"32\" rx=\"8\" fill=\"#b4532a\"/>\
<path d=\"M8 10h16M16 10v14\" stroke=\"#fff\" stroke-width=\"3\" stroke-linecap=\"round\"/>\
<text x=\"40\" y=\"22\" font-family=\"sans-serif\" font-size=\"16\" font-weight=\"700\" fill=\"#1d1d1f\">Throng Shop</text></svg>"
        .to_string()
}

fn product_svg(p: &Product) -> String {
    let h = p.hue;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"240\" height=\"180\" viewBox=\"0 0 240 180\">\
<rect width=\"240\" height=\"180\" fill=\"hsl({h},55%,85%)\"/>\
<circle cx=\"120\" cy=\"78\" r=\"46\" fill=\"hsl({h},50%,45%)\"/>\
<rect x=\"70\" y=\"120\" width=\"100\" height=\"8\" rx=\"4\" fill=\"hsl({h},40%,30%)\"/>\
<text x=\"120\" y=\"160\" font-family=\"sans-serif\" font-size=\"15\" text-anchor=\"middle\" fill=\"#222\">{}</text></svg>",
        p.name
    )
}

/// A valid 16x16 32-bit ICO (one BMP image): the shop's orange square.
fn favicon() -> Vec<u8> {
    const SIDE: u32 = 16;
    let pixels = SIDE * SIDE * 4;
    let mask = SIDE * 4; // 1 bit per pixel, rows padded to 32 bits
    let image_len = 40 + pixels + mask;
    let mut v = Vec::with_capacity(22 + image_len as usize);
    v.extend([0, 0, 1, 0, 1, 0]); // reserved, type 1 = icon, one image
    v.extend([SIDE as u8, SIDE as u8, 0, 0, 1, 0, 32, 0]); // w, h, colors, reserved, planes, bpp
    v.extend(image_len.to_le_bytes());
    v.extend(22u32.to_le_bytes()); // offset of the image data
    v.extend(40u32.to_le_bytes()); // BITMAPINFOHEADER
    v.extend(SIDE.to_le_bytes());
    v.extend((SIDE * 2).to_le_bytes()); // height counts XOR + AND masks
    v.extend(1u16.to_le_bytes());
    v.extend(32u16.to_le_bytes());
    v.extend([0u8; 24]); // no compression, sizes and palette unused
    for _ in 0..SIDE * SIDE {
        v.extend([0x2a, 0x53, 0xb4, 0xff]); // BGRA
    }
    v.extend(std::iter::repeat_n(0u8, mask as usize));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_is_about_100kb_and_ends_with_the_app() {
        let a = Assets::build();
        assert!(
            (BUNDLE_BYTES..BUNDLE_BYTES + 8 * 1024).contains(&a.js.body.len()),
            "{}",
            a.js.body.len()
        );
        let js = bundle();
        assert!(js.contains("setInterval(pollNotifications, POLL_MS)"));
        assert_eq!(js, bundle(), "deterministic");
        assert_eq!(a.images.len(), PRODUCTS.len());
        assert_eq!(favicon().len(), 22 + 40 + 16 * 16 * 4 + 64);
    }

    #[test]
    fn validators_give_304() {
        let a = Assets::build();
        let mut h = HeaderMap::new();
        assert_eq!(a.css.respond(&h).status(), StatusCode::OK);
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(&a.css.etag).unwrap(),
        );
        assert_eq!(a.css.respond(&h).status(), StatusCode::NOT_MODIFIED);
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        assert_eq!(a.css.respond(&h).status(), StatusCode::OK);
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_MODIFIED_SINCE,
            HeaderValue::from_static(LAST_MODIFIED),
        );
        assert_eq!(a.css.respond(&h).status(), StatusCode::NOT_MODIFIED);
    }
}
