// throng: resolves DevTools Recorder selectors in the page and acts on the element.
// Evaluated as `(<this file>)(request)`; returns a plain JSON value.
// request: {op, chains: [[part, ...], ...], frame: [i, ...] | null, value, x, y}
// Selector parts: css (default), aria/Name[role="r"], xpath/expr, text/words, pierce/css.
// Each chain is a path: later parts are looked up inside the shadow root (or iframe
// document) of the element the earlier part found. Chains are tried in order.
(function (req) {
  'use strict';

  function frameRoot(path) {
    let win = window;
    let dx = 0, dy = 0;
    for (const i of path || []) {
      const el = win.frames[i] && win.frames[i].frameElement;
      if (!el) return null;
      const r = el.getBoundingClientRect();
      dx += r.left; dy += r.top;
      win = win.frames[i];
    }
    try { return { doc: win.document, dx, dy }; } catch (e) { return null; }
  }

  function allElements(root) {
    const out = [];
    const walk = (r) => {
      for (const e of r.querySelectorAll('*')) {
        out.push(e);
        if (e.shadowRoot) walk(e.shadowRoot);
      }
    };
    walk(root);
    return out;
  }

  function implicitRole(e) {
    const tag = e.tagName.toLowerCase();
    const type = (e.getAttribute('type') || '').toLowerCase();
    switch (tag) {
      case 'a': return e.hasAttribute('href') ? 'link' : '';
      case 'button': return 'button';
      case 'select': return 'combobox';
      case 'textarea': return 'textbox';
      case 'img': return 'img';
      case 'h1': case 'h2': case 'h3': case 'h4': case 'h5': case 'h6': return 'heading';
      case 'input':
        if (['button', 'submit', 'reset', 'image'].includes(type)) return 'button';
        if (type === 'checkbox') return 'checkbox';
        if (type === 'radio') return 'radio';
        if (type === 'search') return 'searchbox';
        return 'textbox';
      default: return '';
    }
  }

  function accessibleName(e) {
    const label = e.getAttribute('aria-label');
    if (label) return label.trim();
    const by = e.getAttribute('aria-labelledby');
    if (by) {
      const t = by.split(/\s+/).map((id) => {
        const n = e.ownerDocument.getElementById(id);
        return n ? n.textContent : '';
      }).join(' ').trim();
      if (t) return t;
    }
    if (e.labels && e.labels.length) return Array.from(e.labels).map((l) => l.textContent).join(' ').trim();
    const tag = e.tagName.toLowerCase();
    if (tag === 'input' && ['button', 'submit', 'reset'].includes((e.type || '').toLowerCase())) return (e.value || '').trim();
    for (const attr of ['alt', 'title', 'placeholder']) {
      const v = e.getAttribute(attr);
      if (v) return v.trim();
    }
    if (['input', 'select', 'textarea'].includes(tag)) return '';
    return (e.textContent || '').replace(/\s+/g, ' ').trim();
  }

  function byAria(root, spec) {
    let name = spec, role = null;
    const m = /^(.*?)\[role=["']?([^"'\]]+)["']?\]$/.exec(spec);
    if (m) { name = m[1]; role = m[2]; }
    name = name.trim();
    return allElements(root).filter((e) => {
      if (role && (e.getAttribute('role') || implicitRole(e)) !== role) return false;
      return accessibleName(e) === name;
    });
  }

  function byText(root, text) {
    // The deepest elements whose text contains `text` (not their ancestors).
    const hits = allElements(root).filter((e) => (e.textContent || '').includes(text)
      && !['SCRIPT', 'STYLE', 'HTML', 'HEAD', 'BODY'].includes(e.tagName));
    return hits.filter((e) => !hits.some((o) => o !== e && e.contains(o)));
  }

  function byXpath(root, expr) {
    const doc = root.ownerDocument || root;
    const out = [];
    try {
      const res = doc.evaluate(expr, root, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null);
      for (let i = 0; i < res.snapshotLength; i++) {
        const n = res.snapshotItem(i);
        if (n.nodeType === 1) out.push(n);
      }
    } catch (e) { /* invalid xpath: no match */ }
    return out;
  }

  function byCss(root, css, pierce) {
    try {
      if (!pierce) return Array.from(root.querySelectorAll(css));
      const out = [];
      const walk = (r) => {
        for (const e of r.querySelectorAll(css)) out.push(e);
        for (const e of r.querySelectorAll('*')) if (e.shadowRoot) walk(e.shadowRoot);
      };
      walk(root);
      return out;
    } catch (e) { return []; /* invalid selector: no match */ }
  }

  function queryPart(root, part) {
    if (part.startsWith('aria/')) return byAria(root, part.slice(5));
    if (part.startsWith('xpath/')) return byXpath(root, part.slice(6));
    if (part.startsWith('text/')) return byText(root, part.slice(5));
    if (part.startsWith('pierce/')) return byCss(root, part.slice(7), true);
    return byCss(root, part, false);
  }

  // Elements matched by one chain, plus the viewport offset of the document they are in.
  function queryChain(base, chain) {
    let root = base.doc, dx = base.dx, dy = base.dy;
    for (let i = 0; i < chain.length; i++) {
      const found = queryPart(root, chain[i]);
      if (i === chain.length - 1) return { els: found, dx, dy };
      const el = found[0];
      if (!el) return { els: [], dx, dy };
      if (el.shadowRoot) {
        root = el.shadowRoot;
      } else if (el.tagName === 'IFRAME' || el.tagName === 'FRAME') {
        try {
          const r = el.getBoundingClientRect();
          dx += r.left; dy += r.top;
          root = el.contentDocument;
        } catch (e) { return { els: [], dx, dy }; }
        if (!root) return { els: [], dx, dy };
      } else {
        root = el;
      }
    }
    return { els: [], dx, dy };
  }

  function visible(e) {
    const r = e.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) return false;
    const s = e.ownerDocument.defaultView.getComputedStyle(e);
    return s.visibility !== 'hidden' && s.display !== 'none';
  }

  // The first chain with a visible match (a page may draw a hidden copy of what a person
  // clicked first in the document); else the first chain with any match.
  function resolve() {
    const base = frameRoot(req.frame);
    if (!base) return { els: [], dx: 0, dy: 0 };
    let first = null;
    for (const chain of req.chains || []) {
      const hit = queryChain(base, chain);
      if (!hit.els.length) continue;
      if (req.op === 'count') return hit;
      const shown = hit.els.filter(visible);
      if (shown.length) return { els: shown.concat(hit.els.filter((e) => !shown.includes(e))), dx: hit.dx, dy: hit.dy };
      if (!first) first = hit;
    }
    return first || { els: [], dx: 0, dy: 0 };
  }

  if (req.op === 'hit') {
    // What a click at (x, y) lands on, for failure messages.
    const e = document.elementFromPoint(req.x, req.y);
    if (!e) return 'nothing';
    const id = e.getAttribute('data-testid') || e.id;
    return '<' + e.tagName.toLowerCase() + (id ? ' ' + id : '') + '>';
  }

  const hit = resolve();
  const el = hit.els[0];
  switch (req.op) {
    case 'count':
      return { count: hit.els.length, visible: hit.els.filter(visible).length };
    case 'locate': {
      // The point to act on: the recorded offset in the element's box when that point is on
      // the element; else the centre of the box, of its line boxes, or of its first child
      // with a box (an inline <a> wrapping an image has a box smaller than the image).
      if (!el) return { found: false };
      if (!visible(el)) return { found: true, visible: false };
      // A disabled control ignores the click (a button the page enables once its login
      // answered): wait for it, as a person would.
      if (el.matches(':disabled')) return { found: true, visible: true, enabled: false };
      // A box already all in view is acted on where it is, as a person would (scrolling a
      // container can move what the recorded offset points at).
      const view = el.ownerDocument.defaultView;
      const r0 = el.getBoundingClientRect();
      const inView = r0.left >= 0 && r0.top >= 0 && r0.right <= view.innerWidth && r0.bottom <= view.innerHeight;
      if (req.offset && inView) {
        const [x, y] = [r0.left + req.offset[0], r0.top + req.offset[1]];
        const h = el.ownerDocument.elementFromPoint(x, y);
        if (h && (h === el || el.contains(h))) return { found: true, visible: true, x: x + hit.dx, y: y + hit.dy };
      }
      el.scrollIntoView({ block: 'center', inline: 'center', behavior: 'instant' });
      const r = el.getBoundingClientRect();
      const pts = [];
      if (req.offset) pts.push([r.left + req.offset[0], r.top + req.offset[1]]);
      pts.push([r.left + r.width / 2, r.top + r.height / 2]);
      for (const q of el.getClientRects()) {
        if (q.width && q.height) pts.push([q.left + q.width / 2, q.top + q.height / 2]);
      }
      for (const c of el.querySelectorAll('*')) {
        const q = c.getBoundingClientRect();
        if (q.width && q.height) { pts.push([q.left + q.width / 2, q.top + q.height / 2]); break; }
      }
      const doc = el.ownerDocument;
      for (const [x, y] of pts) {
        const h = doc.elementFromPoint(x, y);
        if (h && (h === el || el.contains(h))) return { found: true, visible: true, x: x + hit.dx, y: y + hit.dy };
      }
      // Covered by something else: act where a person would have, as recorded.
      return { found: true, visible: true, x: pts[0][0] + hit.dx, y: pts[0][1] + hit.dy };
    }
    case 'focus': {
      // Before typing: focus and select the current value so typing replaces it.
      if (!el) return { found: false };
      // A code editor (it types through its own hidden input) or a contenteditable: the
      // caller selects all with real keys, so the editor's own handlers run.
      const editor = el.closest('.CodeMirror, .cm-editor, .monaco-editor, .ace_editor');
      if (editor || (el.isContentEditable && !['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName))) {
        if (el.isContentEditable) el.focus();
        let active = el.ownerDocument.activeElement;
        while (active && active.shadowRoot && active.shadowRoot.activeElement) active = active.shadowRoot.activeElement;
        return { found: true, done: false, editor: true, focused: !!active && el.contains(active) };
      }
      el.focus();
      const tag = el.tagName;
      if (tag === 'SELECT') {
        el.value = req.value;
        el.dispatchEvent(new Event('input', { bubbles: true }));
        el.dispatchEvent(new Event('change', { bubbles: true }));
        return { found: true, done: true };
      }
      if (tag === 'INPUT' || tag === 'TEXTAREA') {
        if (['checkbox', 'radio', 'file', 'color', 'date', 'range'].includes(el.type)) {
          el.value = req.value;
          el.dispatchEvent(new Event('input', { bubbles: true }));
          el.dispatchEvent(new Event('change', { bubbles: true }));
          return { found: true, done: true };
        }
        el.select();
      }
      return { found: true, done: false };
    }
    case 'changed':
      if (el) el.dispatchEvent(new Event('change', { bubbles: true }));
      return { found: !!el };
    case 'scroll':
      if (!el) return { found: false };
      el.scrollTop = req.y || 0;
      el.scrollLeft = req.x || 0;
      return { found: true };
    default:
      return { error: 'unknown op ' + req.op };
  }
})
