//! The demo shop's fixed data: products, seeded user accounts, generated reviews and stock.

/// One product in the catalog.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Product {
    pub id: u32,
    pub name: &'static str,
    pub price_cents: u32,
    pub blurb: &'static str,
    /// Hue of the generated product picture.
    pub hue: u32,
}

impl Product {
    pub(crate) fn price(&self) -> String {
        format!("${}.{:02}", self.price_cents / 100, self.price_cents % 100)
    }

    pub(crate) fn image_path(&self) -> String {
        format!("/static/img/product-{}.svg", self.id)
    }
}

const fn p(id: u32, name: &'static str, price_cents: u32, blurb: &'static str) -> Product {
    Product {
        id,
        name,
        price_cents,
        blurb,
        hue: (id * 47) % 360,
    }
}

/// Twelve products; "lamp", "chair" and "desk" each match three or more.
pub(crate) const PRODUCTS: &[Product] = &[
    p(
        1,
        "Brass Desk Lamp",
        4900,
        "A warm brass lamp with an adjustable arm for late reading at the desk.",
    ),
    p(
        2,
        "Arc Floor Lamp",
        12900,
        "A tall arc lamp that lights a whole corner from behind the sofa.",
    ),
    p(
        3,
        "Paper Reading Lamp",
        3500,
        "Soft light through rice paper; small enough for a bedside table.",
    ),
    p(
        4,
        "Oak Office Chair",
        21900,
        "Solid oak office chair with a woven seat and a gentle tilt.",
    ),
    p(
        5,
        "Rocking Chair",
        18500,
        "A classic rocking chair for the porch or the nursery.",
    ),
    p(
        6,
        "Velvet Armchair",
        34900,
        "Deep velvet armchair, the kind you sink into with a book.",
    ),
    p(
        7,
        "Standing Desk",
        45900,
        "Electric standing desk with two memory presets and cable tray.",
    ),
    p(
        8,
        "Walnut Writing Desk",
        38900,
        "A slim walnut writing desk with one drawer for letters.",
    ),
    p(
        9,
        "Corner Desk",
        27900,
        "An L-shaped corner desk that fits two monitors and a lamp.",
    ),
    p(
        10,
        "Folding Chair",
        2900,
        "Light folding chair for guests; stacks flat in a cupboard.",
    ),
    p(
        11,
        "Pine Bookshelf",
        15900,
        "Five shelves of pine, deep enough for art books.",
    ),
    p(
        12,
        "Wool Rug",
        19900,
        "Hand-tufted wool rug, warm underfoot beneath a desk or chair.",
    ),
];

pub(crate) fn product(id: u32) -> Option<&'static Product> {
    PRODUCTS.iter().find(|p| p.id == id)
}

/// Case-insensitive match on name and description, in catalog order.
pub(crate) fn search(q: &str) -> Vec<&'static Product> {
    let q = q.trim().to_lowercase();
    if q.is_empty() {
        return Vec::new();
    }
    PRODUCTS
        .iter()
        .filter(|p| p.name.to_lowercase().contains(&q) || p.blurb.to_lowercase().contains(&q))
        .collect()
}

/// Seeded accounts (user, password). Documented in the module docs of `demo`.
pub(crate) const USERS: &[(&str, &str)] = &[
    ("alice", "wonderland"),
    ("bob", "builder"),
    ("carol", "singer"),
];

pub(crate) fn check_password(user: &str, password: &str) -> bool {
    USERS.iter().any(|(u, p)| *u == user && *p == password)
}

/// A deterministic 64-bit mix (splitmix64), used for stable "random" demo data and latency.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

const AUTHORS: &[&str] = &[
    "Maya", "Jonas", "Priya", "Tom", "Lena", "Kofi", "Ines", "Sam",
];
const REVIEW_TEXT: &[&str] = &[
    "Exactly as pictured, sturdy and well finished.",
    "Arrived quickly; assembly took ten minutes.",
    "Lovely, though a little smaller than I expected.",
    "Second one I have bought. Still great.",
    "Good value for the price.",
    "The finish scratched within a week, sadly.",
];

/// A product's reviews: (author, stars, text); 2-5 per product, stable across runs.
pub(crate) fn reviews(id: u32) -> Vec<(&'static str, u32, &'static str)> {
    let n = 2 + (mix(u64::from(id)) % 4) as usize;
    (0..n)
        .map(|i| {
            let h = mix(u64::from(id) * 31 + i as u64);
            (
                AUTHORS[(h % AUTHORS.len() as u64) as usize],
                3 + (h >> 8) as u32 % 3,
                REVIEW_TEXT[((h >> 16) % REVIEW_TEXT.len() as u64) as usize],
            )
        })
        .collect()
}

/// Units in stock for a product (stable).
pub(crate) fn stock(id: u32) -> u32 {
    (mix(u64::from(id) + 1000) % 40) as u32
}

/// Three other products "people also bought".
pub(crate) fn related(id: u32) -> Vec<&'static Product> {
    let start = (mix(u64::from(id) + 7) % PRODUCTS.len() as u64) as usize;
    PRODUCTS
        .iter()
        .cycle()
        .skip(start)
        .filter(|p| p.id != id)
        .take(3)
        .collect()
}

/// Products shown by `/api/featured`.
pub(crate) fn featured() -> Vec<&'static Product> {
    [7, 2, 6].iter().filter_map(|&id| product(id)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_finds_the_flow_queries_case_insensitively() {
        for q in ["lamp", "chair", "desk", "LAMP"] {
            assert!(search(q).len() >= 3, "{q}: {:?}", search(q));
        }
        assert!(search("zebra").is_empty());
        assert!(search("   ").is_empty());
    }

    #[test]
    fn generated_data_is_stable_and_in_range() {
        for p in PRODUCTS {
            let r = reviews(p.id);
            assert!((2..=5).contains(&r.len()));
            assert!(r.iter().all(|(_, s, _)| (3..=5).contains(s)));
            assert_eq!(r, reviews(p.id));
            let rel = related(p.id);
            assert_eq!(rel.len(), 3);
            assert!(rel.iter().all(|r| r.id != p.id));
        }
        assert!(check_password("alice", "wonderland"));
        assert!(!check_password("alice", "builder"));
    }
}
