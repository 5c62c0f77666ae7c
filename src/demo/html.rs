//! HTML rendering for the shop's pages: one layout, small templates, escaping.

use super::catalog::Product;
use crate::report::esc;

/// What the layout needs to know about the visitor.
pub(crate) struct Visitor<'a> {
    pub user: Option<&'a str>,
    pub cart_count: u32,
}

/// Per-page layout inputs.
pub(crate) struct PageMeta<'a> {
    /// `data-page` on `<body>`; app.js picks the page's AJAX calls from it.
    pub page: &'a str,
    pub title: &'a str,
    /// Current search text, echoed in the header's search box.
    pub q: &'a str,
    pub product_id: Option<u32>,
}

/// The full document. Every page links the same stylesheet, script, font, favicon and logo,
/// so a fresh browser fetches them once and then serves them from its cache.
pub(crate) fn layout(v: &Visitor, m: &PageMeta, body: &str) -> String {
    let account = match v.user {
        Some(u) => format!(
            "<a href=\"/account\" data-testid=\"account-link\">Signed in as {}</a>",
            esc(u)
        ),
        None => "<a href=\"/login\" data-testid=\"login-link\">Sign in</a>".to_string(),
    };
    let product_attr = m
        .product_id
        .map(|id| format!(" data-product-id=\"{id}\""))
        .unwrap_or_default();
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<title>{title} · Throng Shop</title>\n\
<link rel=\"icon\" href=\"/favicon.ico\">\n\
<link rel=\"preload\" href=\"/static/font.woff2\" as=\"font\" type=\"font/woff2\" crossorigin>\n\
<link rel=\"stylesheet\" href=\"/static/app.css\">\n\
<script src=\"/static/app.js\" defer></script>\n</head>\n\
<body data-page=\"{page}\"{product_attr}>\n<header>\n\
<a href=\"/\" data-testid=\"home-link\"><img src=\"/static/logo.svg\" alt=\"Throng Shop\" width=\"140\" height=\"32\"></a>\n\
<form action=\"/search\" method=\"get\" role=\"search\">\
<input type=\"search\" name=\"q\" value=\"{q}\" placeholder=\"Search lamps, chairs, desks\" aria-label=\"Search\" data-testid=\"search\">\
<button type=\"submit\" data-testid=\"go\">Search</button></form>\n\
<a href=\"/cart\" data-testid=\"cart-link\">Cart (<span data-testid=\"cart-count\">{count}</span>)</a>\n\
{account}\n</header>\n\
<div id=\"notifications\" data-testid=\"notifications\" aria-live=\"polite\"></div>\n\
<main>\n{body}\n</main>\n\
<footer>Throng Shop is a demo site for the throng load tester. Nothing here is for sale.</footer>\n\
</body>\n</html>\n",
        title = esc(m.title),
        page = m.page,
        q = esc(m.q),
        count = v.cart_count,
    )
}

/// A product tile linking to its page; used on home and search results.
pub(crate) fn card(p: &Product) -> String {
    format!(
        "<li class=\"card\"><a href=\"/product/{id}\" data-testid=\"product-link\" data-product-id=\"{id}\">\
<img src=\"{img}\" alt=\"{name}\" width=\"240\" height=\"180\"><h3>{name}</h3></a>\
<p class=\"price\">{price}</p></li>",
        id = p.id,
        img = p.image_path(),
        name = esc(p.name),
        price = p.price(),
    )
}

pub(crate) fn home(products: &[Product]) -> String {
    let cards: String = products.iter().map(card).collect();
    format!(
        "<section class=\"hero\"><h1>Furniture for reading, working and resting</h1>\
<p class=\"muted\">Twelve pieces, made to last.</p></section>\n\
<h2>Featured today</h2>\n<ul data-testid=\"featured\"><li class=\"muted\">Loading…</li></ul>\n\
<h2>All products</h2>\n<ul class=\"grid\" data-testid=\"catalog\">{cards}</ul>"
    )
}

pub(crate) fn search(q: &str, results: &[&Product]) -> String {
    if results.is_empty() {
        return format!(
            "<h1 data-testid=\"results-title\">No results for “{}”</h1>\
<p class=\"muted\">Try lamp, chair or desk.</p>",
            esc(q)
        );
    }
    let cards: String = results.iter().map(|p| card(p)).collect();
    format!(
        "<h1 data-testid=\"results-title\">{} results for “{}”</h1>\n\
<ul class=\"grid\" data-testid=\"results\">{cards}</ul>",
        results.len(),
        esc(q)
    )
}

pub(crate) fn product(p: &Product, csrf: &str) -> String {
    format!(
        "<article class=\"product\" data-testid=\"product\">\
<img src=\"{img}\" alt=\"{name}\" width=\"480\" height=\"360\">\
<div><h1 data-testid=\"product-name\">{name}</h1>\
<p class=\"price\" data-testid=\"price\">{price}</p><p>{blurb}</p>\
<p class=\"muted\" data-testid=\"stock\">Checking stock…</p>\
<form method=\"post\" action=\"/cart/add\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<input type=\"hidden\" name=\"product\" value=\"{id}\">\
<label>Quantity <input type=\"number\" name=\"qty\" value=\"1\" min=\"1\" max=\"9\" data-testid=\"qty\"></label> \
<button type=\"submit\" data-testid=\"add-to-cart\">Add to cart</button></form></div></article>\n\
<section><h2>Reviews</h2><ul data-testid=\"reviews\"><li class=\"muted\">Loading reviews…</li></ul></section>\n\
<section><h2>People also bought</h2><ul data-testid=\"related\"></ul></section>",
        id = p.id,
        img = p.image_path(),
        name = esc(p.name),
        price = p.price(),
        blurb = esc(p.blurb),
        csrf = esc(csrf),
    )
}

/// Cart lines are (product, quantity).
pub(crate) fn cart(lines: &[(&Product, u32)]) -> String {
    if lines.is_empty() {
        return "<h1>Your cart</h1><p data-testid=\"cart-empty\">Your cart is empty.</p>".into();
    }
    let mut total = 0u64;
    let rows: String = lines
        .iter()
        .map(|(p, qty)| {
            total += u64::from(p.price_cents) * u64::from(*qty);
            format!(
                "<li class=\"card\" data-testid=\"cart-line\"><img src=\"{}\" alt=\"\" width=\"120\" height=\"90\">\
<a href=\"/product/{}\">{}</a> × {qty} <span class=\"price\">{}</span></li>",
                p.image_path(),
                p.id,
                esc(p.name),
                p.price()
            )
        })
        .collect();
    format!(
        "<h1>Your cart</h1>\n<ul class=\"grid\">{rows}</ul>\n\
<p data-testid=\"cart-total\">Total: ${}.{:02}</p>",
        total / 100,
        total % 100
    )
}

pub(crate) fn login(csrf: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| {
            format!(
                "<p class=\"error\" data-testid=\"login-error\">{}</p>",
                esc(e)
            )
        })
        .unwrap_or_default();
    format!(
        "<h1>Sign in</h1>\n{error}\
<form class=\"login\" method=\"post\" action=\"/login\" data-testid=\"login-form\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<label>Username <input type=\"text\" name=\"username\" autocomplete=\"username\" data-testid=\"username\"></label>\
<label>Password <input type=\"password\" name=\"password\" autocomplete=\"current-password\" data-testid=\"password\"></label>\
<button type=\"submit\" data-testid=\"login-submit\">Sign in</button></form>",
        csrf = esc(csrf)
    )
}

pub(crate) fn account(user: &str, csrf: &str) -> String {
    format!(
        "<h1>Your account</h1>\n<p data-testid=\"account-user\">Signed in as {user}</p>\n\
<h2>Orders</h2><ul data-testid=\"orders\"><li class=\"muted\">Loading orders…</li></ul>\n\
<form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<button type=\"submit\" data-testid=\"logout\">Sign out</button></form>",
        user = esc(user),
        csrf = esc(csrf)
    )
}

/// Minimal error page; deliberately links no assets so errors stay one request.
pub(crate) fn error_page(status: u16, message: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{status}</title></head>\
<body><h1>{status}</h1><p>{}</p><p><a href=\"/\">Back to the shop</a></p></body></html>\n",
        esc(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esc_escapes_markup_and_quotes() {
        assert_eq!(
            esc("<a href='x'>\"&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&quot;&amp;&quot;&lt;/a&gt;"
        );
    }
}
