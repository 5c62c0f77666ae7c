//! HTML parsed with a browser's bounds: html5ever's tree builder (scraper's tree) behind a
//! nesting cap (Chromium's parser stops nesting at 512), a node cap and a time budget, fed in
//! small pieces. html5ever's scope checks walk the stack of open elements, so 9 MB of `<div>`
//! cost it hours; capped, a page costs at most its budget and a bounded tree.

use super::offload::Budget;
use html5ever::tendril::StrTendril;
use html5ever::tokenizer::{
    BufferQueue, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};
use html5ever::tree_builder::{
    ElementFlags, NodeOrText, QuirksMode, Tracer, TreeBuilder, TreeBuilderOpts, TreeSink,
};
use html5ever::TokenizerResult;
use html5ever::{local_name, Attribute, LocalName, QualName};
use scraper::{Html, HtmlTreeSink};
use std::borrow::Cow;
use std::cell::{Cell, Ref, RefCell};

type Handle = <HtmlTreeSink as TreeSink>::Handle;

/// Most elements open at once (Chromium's `kMaximumHTMLParserDOMTreeDepth`): deeper start
/// tags are dropped (their text and void elements stay, one level up).
pub const MAX_DEPTH: usize = 512;
/// Most nodes and attributes in one tree (about 40 MB): a page with more is cut there.
pub const MAX_NODES: usize = 250_000;
/// Input fed between two looks at the budget.
const PIECE: usize = 4 << 10;
/// Repeated `<html>`/`<body>` tags only merge attributes (each merge is a sorted insert);
/// past this many, they are dropped.
const MAX_ROOT_TAGS: u32 = 8;

/// Elements admitted past the cap: they never hold children (void) or hold only text
/// (raw text, whose tokenizer state the tree builder must set), so they add one level at most.
static FLAT: [LocalName; 24] = [
    local_name!("area"),
    local_name!("base"),
    local_name!("br"),
    local_name!("col"),
    local_name!("embed"),
    local_name!("hr"),
    local_name!("img"),
    local_name!("input"),
    local_name!("link"),
    local_name!("meta"),
    local_name!("param"),
    local_name!("source"),
    local_name!("track"),
    local_name!("wbr"),
    local_name!("script"),
    local_name!("style"),
    local_name!("title"),
    local_name!("textarea"),
    local_name!("xmp"),
    local_name!("iframe"),
    local_name!("noembed"),
    local_name!("noframes"),
    local_name!("noscript"),
    local_name!("plaintext"),
];

/// How a document's bounds applied (counted as `html.too_deep` and `html.cut`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Bounds {
    /// Start tags nested deeper than [`MAX_DEPTH`] were dropped.
    pub too_deep: bool,
    /// Parsing stopped before the end (budget spent or [`MAX_NODES`] reached): the tree
    /// holds what came before.
    pub cut: bool,
}

/// A parsed document.
pub struct Parsed {
    pub doc: Html,
    pub bounds: Bounds,
}

/// Parses a response body (invalid UTF-8 replaced, as a browser decodes) within `budget`.
pub fn parse_body(body: &[u8], budget: &Budget) -> Parsed {
    parse(&String::from_utf8_lossy(body), budget)
}

/// Parses `html` as a document within `budget`.
pub fn parse(html: &str, budget: &Budget) -> Parsed {
    parse_within(html, budget, Limits::BROWSER)
}

/// The nesting and node caps.
#[derive(Debug, Clone, Copy)]
struct Limits {
    depth: usize,
    nodes: usize,
}

impl Limits {
    const BROWSER: Limits = Limits {
        depth: MAX_DEPTH,
        nodes: MAX_NODES,
    };
}

fn parse_within(html: &str, budget: &Budget, limits: Limits) -> Parsed {
    let builder = TreeBuilder::new(
        Sink::new(HtmlTreeSink::new(Html::new_document())),
        TreeBuilderOpts::default(),
    );
    let tokenizer = Tokenizer::new(Capped::new(builder, limits), TokenizerOpts::default());
    let queue = BufferQueue::default();
    let mut rest = html;
    let mut cut = false;
    while !rest.is_empty() {
        if budget.spent() || tokenizer.sink.full() {
            cut = true;
            break;
        }
        let mut end = rest.len().min(PIECE);
        while !rest.is_char_boundary(end) {
            end += 1;
        }
        queue.push_back(StrTendril::from_slice(&rest[..end]));
        rest = &rest[end..];
        while let TokenizerResult::Script(_) = tokenizer.feed(&queue) {}
    }
    cut |= tokenizer.sink.full();
    tokenizer.end();
    let Capped { builder, deep, .. } = tokenizer.sink;
    Parsed {
        doc: builder.sink.html.0.into_inner(),
        bounds: Bounds {
            too_deep: deep.get(),
            cut,
        },
    }
}

/// The text of a document's first `<title>`, whitespace-collapsed, as `document.title` is.
pub fn title(doc: &Html) -> Option<String> {
    let sel = scraper::Selector::parse("title").ok()?;
    let t = doc.select(&sel).next()?.text().collect::<String>();
    Some(t.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Stands between the tokenizer and the tree builder: drops start tags past the nesting cap
/// (and their end tags), and everything once the tree is full.
struct Capped {
    builder: TreeBuilder<Handle, Sink>,
    /// Names of dropped elements still open, run-length encoded, so their end tags are
    /// dropped too (not taken for an open ancestor's).
    dropped: RefCell<Vec<(LocalName, u32)>>,
    /// Handles the tree builder holds (open elements and active formatting elements),
    /// measured since it last took a token.
    held: Cell<Option<usize>>,
    deep: Cell<bool>,
    root_tags: Cell<u32>,
    limits: Limits,
}

impl Capped {
    fn new(builder: TreeBuilder<Handle, Sink>, limits: Limits) -> Self {
        Capped {
            builder,
            limits,
            dropped: RefCell::new(Vec::new()),
            held: Cell::new(None),
            deep: Cell::new(false),
            root_tags: Cell::new(0),
        }
    }

    fn full(&self) -> bool {
        self.builder.sink.nodes.get() >= self.limits.nodes
    }

    /// Open plus active formatting elements: both bounded by the cap, so every scope walk and
    /// every reconstruction stays under about twice [`MAX_DEPTH`].
    fn held(&self) -> usize {
        if let Some(n) = self.held.get() {
            return n;
        }
        let count = Count(Cell::new(0));
        self.builder.trace_handles(&count);
        self.held.set(Some(count.0.get()));
        count.0.get()
    }

    /// Whether a start tag is dropped.
    fn drops_start(&self, name: &LocalName) -> bool {
        if matches!(*name, local_name!("html") | local_name!("body")) {
            let n = self.root_tags.get() + 1;
            self.root_tags.set(n);
            return n > MAX_ROOT_TAGS;
        }
        if FLAT.contains(name) || self.held() < self.limits.depth {
            return false;
        }
        self.deep.set(true);
        let mut dropped = self.dropped.borrow_mut();
        let full = dropped.len() >= self.limits.depth;
        match dropped.last_mut() {
            Some((last, n)) if last == name => *n += 1,
            // Beyond this, end tags of dropped elements may close open ones: the structure
            // of such a page is approximate, its size still bounded.
            _ if full => {}
            _ => dropped.push((name.clone(), 1)),
        }
        true
    }

    /// Whether an end tag belongs to a dropped element.
    fn drops_end(&self, name: &LocalName) -> bool {
        let mut dropped = self.dropped.borrow_mut();
        let Some((last, n)) = dropped.last_mut() else {
            return false;
        };
        if last != name {
            return false;
        }
        *n -= 1;
        if *n == 0 {
            dropped.pop();
        }
        true
    }
}

impl TokenSink for Capped {
    type Handle = Handle;

    fn process_token(&self, token: Token, line: u64) -> TokenSinkResult<Self::Handle> {
        let dropped = match &token {
            Token::ParseError(_) => true,
            Token::TagToken(tag) if tag.kind == TagKind::StartTag => self.drops_start(&tag.name),
            Token::TagToken(tag) => self.drops_end(&tag.name),
            _ => false,
        };
        if dropped || self.full() {
            return TokenSinkResult::Continue;
        }
        self.held.set(None);
        self.builder.process_token(token, line)
    }

    fn end(&self) {
        self.builder.end();
    }

    fn adjusted_current_node_present_but_not_in_html_namespace(&self) -> bool {
        self.builder
            .adjusted_current_node_present_but_not_in_html_namespace()
    }
}

/// Counts the handles a tree builder holds.
struct Count(Cell<usize>);

impl Tracer for Count {
    type Handle = Handle;

    fn trace_handle(&self, _: &Handle) {
        self.0.set(self.0.get() + 1);
    }
}

/// scraper's tree, counting what it holds and keeping no parse errors (a page can make one
/// per byte).
struct Sink {
    html: HtmlTreeSink,
    nodes: Cell<usize>,
}

impl Sink {
    fn new(html: HtmlTreeSink) -> Self {
        Sink {
            html,
            nodes: Cell::new(0),
        }
    }

    fn add(&self, n: usize) {
        self.nodes.set(self.nodes.get().saturating_add(n));
    }
}

impl TreeSink for Sink {
    type Handle = Handle;
    type Output = Self;
    type ElemName<'a> = Ref<'a, QualName>;

    fn finish(self) -> Self {
        self
    }

    fn parse_error(&self, _: Cow<'static, str>) {}

    fn get_document(&self) -> Handle {
        self.html.get_document()
    }

    fn elem_name<'a>(&'a self, target: &'a Handle) -> Ref<'a, QualName> {
        self.html.elem_name(target)
    }

    fn create_element(&self, name: QualName, attrs: Vec<Attribute>, flags: ElementFlags) -> Handle {
        self.add(1 + attrs.len());
        self.html.create_element(name, attrs, flags)
    }

    fn create_comment(&self, text: StrTendril) -> Handle {
        self.add(1);
        self.html.create_comment(text)
    }

    fn create_pi(&self, target: StrTendril, data: StrTendril) -> Handle {
        self.add(1);
        self.html.create_pi(target, data)
    }

    fn append(&self, parent: &Handle, child: NodeOrText<Handle>) {
        self.html.append(parent, child);
    }

    fn append_based_on_parent_node(
        &self,
        element: &Handle,
        prev_element: &Handle,
        child: NodeOrText<Handle>,
    ) {
        self.html
            .append_based_on_parent_node(element, prev_element, child);
    }

    fn append_doctype_to_document(&self, name: StrTendril, public: StrTendril, system: StrTendril) {
        self.add(1);
        self.html.append_doctype_to_document(name, public, system);
    }

    fn get_template_contents(&self, target: &Handle) -> Handle {
        self.html.get_template_contents(target)
    }

    fn same_node(&self, x: &Handle, y: &Handle) -> bool {
        self.html.same_node(x, y)
    }

    fn set_quirks_mode(&self, mode: QuirksMode) {
        self.html.set_quirks_mode(mode);
    }

    fn append_before_sibling(&self, sibling: &Handle, new_node: NodeOrText<Handle>) {
        self.html.append_before_sibling(sibling, new_node);
    }

    fn add_attrs_if_missing(&self, target: &Handle, attrs: Vec<Attribute>) {
        self.add(attrs.len());
        self.html.add_attrs_if_missing(target, attrs);
    }

    fn remove_from_parent(&self, target: &Handle) {
        self.html.remove_from_parent(target);
    }

    fn reparent_children(&self, node: &Handle, new_parent: &Handle) {
        self.html.reparent_children(node, new_parent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};
    use tokio_util::sync::CancellationToken;

    fn budget(secs: u64) -> Budget {
        Budget::new(Duration::from_secs(secs), CancellationToken::new())
    }

    fn depth_of_deepest(doc: &Html) -> usize {
        doc.tree
            .nodes()
            .map(|n| n.ancestors().count())
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn an_ordinary_page_parses_whole() {
        let html = "<!doctype html><html><head><title> A \n page </title>\
                    <link rel=stylesheet href=/a.css></head><body><div><p>x<img src=/i.png>\
                    <script>if (a < b) document.write('<img src=/no.png>')</script></div>";
        let parsed = parse(html, &budget(60));
        assert!(!parsed.bounds.too_deep && !parsed.bounds.cut);
        assert_eq!(title(&parsed.doc).as_deref(), Some("A page"));
        let imgs = scraper::Selector::parse("img").unwrap();
        assert_eq!(parsed.doc.select(&imgs).count(), 1);
    }

    #[test]
    fn nesting_stops_at_the_cap_and_what_is_inside_stays() {
        let mut html = String::from("<body>");
        html.push_str(&"<div>".repeat(2_000));
        html.push_str("<span id=deep>text<img src=/deep.png></span>");
        html.push_str(&"</div>".repeat(2_000));
        html.push_str("<p id=after>after</p>");
        let parsed = parse(&html, &budget(60));
        assert!(parsed.bounds.too_deep && !parsed.bounds.cut);
        let depth = depth_of_deepest(&parsed.doc);
        assert!((MAX_DEPTH - 8..=MAX_DEPTH + 8).contains(&depth), "{depth}");
        let sel = |s| scraper::Selector::parse(s).unwrap();
        assert_eq!(parsed.doc.select(&sel("img[src='/deep.png']")).count(), 1);
        // The dropped elements' end tags were dropped too: what follows is at the top.
        let after = parsed.doc.select(&sel("p#after")).next().unwrap();
        assert_eq!(
            after.parent().unwrap().value().as_element().unwrap().name(),
            "body"
        );
    }

    #[test]
    fn deep_nesting_costs_about_what_a_flat_page_does() {
        // Uncapped, html5ever takes quadratic time here (each start tag walks every open
        // element): 20,000 levels cost about 400 times 1,000.
        let html = format!("<body>{}", "<div>".repeat(20_000));
        let started = Instant::now();
        let parsed = parse(&html, &budget(60));
        assert!(parsed.bounds.too_deep);
        // Reference: a flat page of the same size.
        let flat = format!("<body>{}", "<br>".repeat(20_000));
        let flat_started = Instant::now();
        let flat_parsed = parse(&flat, &budget(60));
        let flat_took = flat_started.elapsed();
        assert!(!flat_parsed.bounds.too_deep);
        assert!(
            started.elapsed() < flat_took * 10,
            "nested {:?}, flat {flat_took:?}",
            started.elapsed()
        );
    }

    #[test]
    fn the_tree_and_the_time_are_capped() {
        let limits = Limits {
            nodes: 1_000,
            ..Limits::BROWSER
        };
        let many = "<b></b>".repeat(10_000);
        let parsed = parse_within(&many, &budget(60), limits);
        assert!(parsed.bounds.cut && !parsed.bounds.too_deep);
        // At most one piece of input past the cap.
        let nodes = parsed.doc.tree.nodes().count();
        assert!((1_000..1_000 + PIECE / 7 + 10).contains(&nodes), "{nodes}");
        let spent = Budget::new(Duration::ZERO, CancellationToken::new());
        let parsed = parse("<p>never read</p>", &spent);
        assert!(parsed.bounds.cut);
        assert_eq!(title(&parsed.doc), None);
    }

    #[test]
    fn repeated_root_tags_stop_merging_attributes() {
        let html: String = (0..1000).map(|i| format!("<body a{i}=1>")).collect();
        let parsed = parse(&html, &budget(60));
        let body = parsed
            .doc
            .select(&scraper::Selector::parse("body").unwrap())
            .next()
            .unwrap();
        assert_eq!(body.value().attrs().count(), MAX_ROOT_TAGS as usize);
    }
}
