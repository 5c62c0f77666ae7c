/* throng recorder: capture script. Runs in an isolated world of every frame of the recorded tab,
 * listens to trusted (user) events only and reports each as JSON through a CDP binding.
 * The recorder turns the reports into flow steps; this script only observes, it never changes
 * the page. The config object below is filled in by the recorder. */
(function (CFG) {
  'use strict';
  if (!CFG || window.__throngRecorderInstalled) { return; }
  window.__throngRecorderInstalled = true;

  var queue = [];
  function send(ev) {
    ev.t = ev.t || Date.now();
    ev.frame = framePath();
    queue.push(JSON.stringify(ev));
    drain();
  }
  function drain() {
    var fn = globalThis[CFG.binding];
    if (typeof fn !== 'function') { setTimeout(drain, 50); return; }
    while (queue.length) { fn(queue.shift()); }
  }

  // Index path from the top frame down to this one (the Recorder's `frame` field).
  function framePath() {
    var path = [];
    try {
      var w = window;
      while (w !== w.top) {
        var p = w.parent, idx = -1;
        for (var i = 0; i < p.frames.length; i++) { if (p.frames[i] === w) { idx = i; break; } }
        path.unshift(idx);
        w = p;
      }
    } catch (e) { /* cross-origin ancestors: keep what we have */ }
    return path;
  }

  // ---- selectors, most robust first ----
  function cssString(v) { return "'" + String(v).replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'"; }
  function unique(sel, el) {
    try {
      var all = document.querySelectorAll(sel);
      return all.length === 1 && all[0] === el;
    } catch (e) { return false; }
  }
  function testIdOf(el) {
    for (var i = 0; i < CFG.attrs.length; i++) {
      var v = el.getAttribute && el.getAttribute(CFG.attrs[i]);
      if (v) { return '[' + CFG.attrs[i] + '=' + cssString(v) + ']'; }
    }
    return null;
  }
  function testIdSelector(el) {
    var own = testIdOf(el);
    if (!own) { return null; }
    if (unique(own, el)) { return own; }
    // Repeated test ids (one per list item): scope by the nearest ancestor with its own test id.
    for (var a = el.parentElement; a; a = a.parentElement) {
      var up = testIdOf(a);
      if (up && unique(up + ' ' + own, el)) { return up + ' ' + own; }
    }
    // Still ambiguous: the path from that ancestor down, by position among siblings.
    var parts = [own];
    for (var c = el.parentElement; c; c = c.parentElement) {
      var anchor = testIdOf(c);
      if (anchor) {
        var sel = anchor + ' > ' + parts.join(' > ');
        if (unique(sel, el)) { return sel; }
        break;
      }
      parts.unshift(c.localName + ':nth-of-type(' + nthOfType(c) + ')');
    }
    parts[parts.length - 1] = own + ':nth-of-type(' + nthOfType(el) + ')';
    var path = parts.join(' > ');
    return unique(path, el) ? path : null;
  }
  function nthOfType(el) {
    var n = 1;
    for (var s = el.previousElementSibling; s; s = s.previousElementSibling) { if (s.localName === el.localName) { n++; } }
    return n;
  }
  function implicitRole(el) {
    var tag = el.localName, type = (el.getAttribute('type') || '').toLowerCase();
    if (tag === 'button') { return 'button'; }
    if (tag === 'a' && el.hasAttribute('href')) { return 'link'; }
    if (tag === 'select') { return el.multiple ? 'listbox' : 'combobox'; }
    if (tag === 'textarea') { return 'textbox'; }
    if (tag === 'input') {
      if (['button', 'submit', 'reset', 'image'].indexOf(type) >= 0) { return 'button'; }
      if (type === 'checkbox' || type === 'radio') { return type; }
      if (type === 'search') { return 'searchbox'; }
      if (type === 'range') { return 'slider'; }
      if (type === 'number') { return 'spinbutton'; }
      if (type === 'hidden') { return null; }
      return 'textbox';
    }
    if (/^h[1-6]$/.test(tag)) { return 'heading'; }
    if (tag === 'img') { return 'img'; }
    if (tag === 'summary') { return 'button'; }
    return null;
  }
  function roleOf(el) { return el.getAttribute('role') || implicitRole(el); }
  function textOf(el) { return (el.innerText || el.textContent || '').replace(/\s+/g, ' ').trim(); }
  // The text as written, not as CSS shows it (`text-transform: uppercase` shows "Log out" as
  // "LOG OUT"; accessible names and text selectors use the written text).
  function writtenText(el) { return (el.textContent || '').replace(/\s+/g, ' ').trim(); }
  function accessibleName(el) {
    var v = el.getAttribute('aria-label');
    if (v) { return v.trim(); }
    var ids = el.getAttribute('aria-labelledby');
    if (ids) {
      var parts = ids.split(/\s+/).map(function (id) { var l = document.getElementById(id); return l ? writtenText(l) : ''; });
      v = parts.join(' ').trim();
      if (v) { return v; }
    }
    var tag = el.localName;
    if (tag === 'input' || tag === 'select' || tag === 'textarea') {
      if (el.id) {
        var lab = document.querySelector('label[for=' + cssString(el.id) + ']');
        if (lab) { return writtenText(lab); }
      }
      var wrap = el.closest('label');
      if (wrap) { return writtenText(wrap); }
      var type = (el.getAttribute('type') || '').toLowerCase();
      if (['button', 'submit', 'reset'].indexOf(type) >= 0 && el.value) { return el.value.trim(); }
      return (el.getAttribute('placeholder') || el.getAttribute('title') || '').trim();
    }
    if (tag === 'img') { return (el.getAttribute('alt') || '').trim(); }
    var role = roleOf(el);
    if (['button', 'link', 'heading', 'tab', 'menuitem', 'option', 'checkbox', 'radio'].indexOf(role) >= 0) {
      return writtenText(el) || (el.getAttribute('title') || '').trim();
    }
    return (el.getAttribute('title') || '').trim();
  }
  // Shown on the page: hidden copies (a table drawn twice, one per screen size) are not in the
  // accessibility tree, and replay acts on the visible match.
  function shown(el) {
    if (!el.getClientRects().length) { return false; }
    return el.checkVisibility ? el.checkVisibility({ visibilityProperty: true }) : getComputedStyle(el).visibility !== 'hidden';
  }
  function ariaSelector(el) {
    var role = roleOf(el), name = accessibleName(el);
    if (!name || name.length > 80 || /["\[\]]/.test(name)) { return null; }
    // Unique among shown elements that could carry the same role.
    var onlyShown = shown(el);
    var same = 0, cands = document.querySelectorAll('a,button,input,select,textarea,summary,img,h1,h2,h3,h4,h5,h6,[role],[aria-label]');
    for (var i = 0; i < cands.length && same < 2; i++) {
      if (onlyShown && cands[i] !== el && !shown(cands[i])) { continue; }
      if (roleOf(cands[i]) === role && accessibleName(cands[i]) === name) { same++; }
    }
    if (same !== 1) { return null; }
    return role ? 'aria/' + name + '[role="' + role + '"]' : 'aria/' + name;
  }
  function localCandidates(el) {
    var tag = el.localName, out = [];
    if (stableId(el)) { out.push('#' + el.id); }
    var name = el.getAttribute('name');
    if (name) { out.push(tag + '[name=' + cssString(name) + ']'); }
    // Attributes a page keeps stable: labels, roles, its own data-* (not generated ids).
    for (var i = 0; i < el.attributes.length; i++) {
      var at = el.attributes[i].name, v = el.attributes[i].value;
      var wanted = STABLE_ATTRS.indexOf(at) >= 0 || (/^data-[a-z][\w-]*$/.test(at) && CFG.attrs.indexOf(at) < 0);
      if (wanted && v && v.length <= 60 && !madeUp(v) && !/^data-v-/.test(at)) {
        out.push(tag + '[' + at + '=' + cssString(v) + ']');
      }
    }
    if (tag === 'input' && ['submit', 'button', 'radio', 'checkbox'].indexOf((el.getAttribute('type') || '').toLowerCase()) >= 0 && el.getAttribute('value')) {
      out.push(tag + '[value=' + cssString(el.getAttribute('value')) + ']');
    }
    var classes = (el.getAttribute('class') || '').split(/\s+/).filter(function (c) { return /^[A-Za-z][\w-]*$/.test(c); });
    classes.forEach(function (c) { out.push(tag + '.' + c); });
    if (classes.length > 1) { out.push(tag + '.' + classes.join('.')); }
    var href = tag === 'a' && el.getAttribute('href');
    // An absolute link to this site names it by its path: the origin changes under --target.
    var own = location.origin + '/';
    if (href && href.indexOf(own) === 0) {
      out.push('a[href$=' + cssString(href.slice(own.length - 1)) + ']');
    } else if (href && href.length < 100 && !/^[a-z][a-z0-9+.-]*:\/\//i.test(href)) {
      out.push('a[href=' + cssString(href) + ']');
    }
    var type = el.getAttribute('type');
    if (type) { out.push(tag + '[type=' + cssString(type) + ']'); }
    out.push(tag);
    return out;
  }
  var STABLE_ATTRS = ['aria-label', 'title', 'placeholder', 'alt', 'role', 'for', 'aria-controls'];
  function stableId(e) { return e.id && /^[A-Za-z][\w-]*$/.test(e.id) && !madeUp(e.id); }
  // A value a script made up (a counter, a random or hashed id: another user, another id):
  // three digits in a row, or eight hex characters in a row mixing digits and letters.
  function madeUp(s) {
    if (/\d{3,}/.test(s)) { return true; }
    return (s.match(/[0-9a-f]{8,}/gi) || []).some(function (run) { return /\d/.test(run) && /[a-f]/i.test(run); });
  }
  function cssSelector(el) {
    var cands = localCandidates(el);
    for (var i = 0; i < cands.length; i++) { if (unique(cands[i], el)) { return cands[i]; } }
    // Scoped by the nearest ancestor with a stable id before any position chain.
    for (var a = el.parentElement; a && a.localName !== 'html'; a = a.parentElement) {
      if (!stableId(a)) { continue; }
      var scoped = cands.concat([el.localName + ':nth-of-type(' + nthOfType(el) + ')']);
      for (var k = 0; k < scoped.length; k++) {
        if (scoped[k] !== el.localName && unique('#' + a.id + ' ' + scoped[k], el)) { return '#' + a.id + ' ' + scoped[k]; }
      }
      break;
    }
    // Climb: the element's own part plus the shortest unique path through its ancestors.
    var parts = [], cur = el;
    while (cur && cur.nodeType === 1 && cur.localName !== 'html') {
      var local = localCandidates(cur);
      var here = local[0] === '#' + cur.id ? local[0] : cur.localName + ':nth-of-type(' + nthOfType(cur) + ')';
      parts.unshift(here);
      var sel = parts.join(' > ');
      if (unique(sel, el)) { return sel; }
      if (here.charAt(0) === '#') { break; }
      cur = cur.parentElement;
    }
    var full = parts.join(' > ');
    return unique(full, el) ? full : null;
  }
  function xpathSelector(el) {
    var parts = [];
    for (var cur = el; cur && cur.nodeType === 1; cur = cur.parentElement) {
      if (stableId(cur) && document.querySelectorAll('#' + cur.id).length === 1) {
        parts.unshift('//*[@id="' + cur.id + '"]');
        return 'xpath/' + parts.join('/');
      }
      parts.unshift(cur.localName + '[' + nthOfType(cur) + ']');
    }
    return 'xpath//' + parts.join('/');
  }
  function textSelector(el) {
    var text = writtenText(el);
    if (!text || text.length > 64 || el.localName === 'input' || el.localName === 'textarea' || el.localName === 'select') { return null; }
    // A text selector finds the innermost elements containing the text. The Recorder's replay takes the first match in document order: it must be this one, and
    // later ones hidden (a copy of a table drawn for another screen size).
    var onlyShown = shown(el);
    var hits = 0, all = document.body ? document.body.querySelectorAll('*') : [];
    for (var i = 0; i < all.length && hits < 2; i++) {
      var e = all[i];
      if (writtenText(e).indexOf(text) < 0) { continue; }
      if (hits === 1 && onlyShown && !shown(e) && !el.contains(e)) { continue; }
      var inner = false;
      for (var c = e.firstElementChild; c && !inner; c = c.nextElementSibling) { inner = writtenText(c).indexOf(text) >= 0; }
      if (!inner) { hits += (e === el || el.contains(e)) ? 1 : 2; }
    }
    return hits === 1 ? 'text/' + text : null;
  }
  // Most robust first: test ids, accessible names, CSS by stable attributes, unique text; a
  // CSS path by position among siblings and an xpath only after those.
  function selectorsFor(el) {
    var found = [testIdSelector, ariaSelector, cssSelector, textSelector, xpathSelector].map(function (f) {
      try { return f(el); } catch (e) { return null; }
    });
    var ordered = found.filter(function (s) { return s && !isPositional(s); }).concat(found.filter(function (s) { return s && isPositional(s); }));
    var out = [];
    ordered.forEach(function (s) { if (out.indexOf(s) < 0) { out.push(s); } });
    return out.map(function (s) { return [s]; });
  }

  // The element a person meant: the nearest interactive (or test-id carrying) ancestor.
  var ACTIONABLE = 'a[href],button,input,select,textarea,label,summary,option,[role=button],[role=link],[role=menuitem],[role=tab],[role=checkbox],[role=option],[onclick],[contenteditable=""],[contenteditable=true]';
  function actionable(node) {
    var el = node && node.nodeType === 1 ? node : node && node.parentElement;
    if (!el) { return null; }
    // In a code editor a click places the caret: it is a click on the editor.
    var ed = editorOf(el);
    if (ed) { return ed; }
    var hit = el.closest(ACTIONABLE);
    if (hit) { return hit; }
    for (var a = el; a; a = a.parentElement) { if (testIdOf(a)) { return a; } }
    return el;
  }

  // A field that was ever a password field stays secret: a "show password" toggle that makes
  // it `type=text` does not make its value public.
  var wasPassword = new WeakSet();
  function notePassword(el) {
    if (el && el.nodeType === 1 && el.localName === 'input' && (el.getAttribute('type') || '').toLowerCase() === 'password') { wasPassword.add(el); }
  }
  new MutationObserver(function (records) {
    records.forEach(function (r) {
      if ((r.oldValue || '').toLowerCase() === 'password') { wasPassword.add(r.target); }
    });
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ['type'], attributeOldValue: true });
  function secretOf(el) {
    notePassword(el);
    if (wasPassword.has(el)) {
      return { kind: 'password', name: el.getAttribute('name') || el.id || 'password' };
    }
    for (var i = 0; i < CFG.secrets.length; i++) {
      var s = CFG.secrets[i];
      var hit = el.getAttribute('name') === s || el.id === s;
      for (var j = 0; !hit && j < CFG.attrs.length; j++) { hit = el.getAttribute(CFG.attrs[j]) === s; }
      if (hit) { return { kind: 'named', name: s }; }
    }
    return null;
  }

  // ---- typed values: reported once per (field, value), when the person moves on ----
  var pending = new Map();   // element -> time the typing started
  var lastSent = new WeakMap();
  var lastAction = 0;
  function isTextField(el) {
    var tag = el.localName;
    if (tag === 'textarea' || tag === 'select') { return true; }
    if (tag !== 'input') { return el.isContentEditable; }
    var t = (el.getAttribute('type') || 'text').toLowerCase();
    return ['checkbox', 'radio', 'button', 'submit', 'reset', 'image', 'file', 'hidden'].indexOf(t) < 0;
  }
  // Code editors draw their text in line elements and type through a hidden textarea (CodeMirror
  // 5, Monaco, Ace) or a contenteditable (CodeMirror 6): their value is the text of their lines.
  var EDITORS = '.CodeMirror, .cm-editor, .monaco-editor, .ace_editor';
  var EDITOR_LINES = '.CodeMirror-code .CodeMirror-line, .cm-content .cm-line, .ace_text-layer .ace_line, .view-lines .view-line';
  function editorOf(el) { return (el && el.closest && el.closest(EDITORS)) || null; }
  // The element a typed value belongs to: the editor, the contenteditable host, or the field.
  function fieldOf(el) {
    var ed = editorOf(el);
    if (ed) { return ed; }
    if (el.isContentEditable && ['input', 'textarea', 'select'].indexOf(el.localName) < 0) {
      while (el.parentElement && el.parentElement.isContentEditable) { el = el.parentElement; }
    }
    return el;
  }
  // What a code editor types through (its hidden textarea, or its contenteditable): a change
  // step names it, so a replay tool that fills fields (the Recorder's own) types there.
  function inputOf(el) {
    if (!(el.matches && el.matches(EDITORS))) { return el; }
    return el.querySelector('textarea, [contenteditable=true], [contenteditable=""]') || el;
  }
  function editorText(ed) {
    var lines = Array.prototype.slice.call(ed.querySelectorAll(EDITOR_LINES));
    if (ed.classList.contains('monaco-editor')) {
      lines.sort(function (a, b) { return a.getBoundingClientRect().top - b.getBoundingClientRect().top; });
    }
    return lines.map(function (l) { return l.textContent.replace(/\u200b/g, '').replace(/\u00a0/g, ' '); }).join('\n');
  }
  function valueOf(el) {
    if (el.matches && el.matches(EDITORS)) { return editorText(el); }
    if (el.isContentEditable && ['input', 'textarea', 'select'].indexOf(el.localName) < 0) {
      return (el.innerText || '').replace(/\u200b/g, '').replace(/\n$/, '');
    }
    return el.value;
  }
  function reportChange(el, started) {
    var value = valueOf(el);
    if (lastSent.get(el) === value) { return; }
    lastSent.set(el, value);
    var ev = { type: 'change', selectors: selectorsFor(inputOf(el)), value: value, t: started || Date.now() };
    var secret = secretOf(el);
    if (secret) { ev.secret = secret; }
    send(ev);
  }
  function flush(except) {
    pending.forEach(function (started, el) { if (el !== except) { pending.delete(el); reportChange(el, started); } });
  }
  function flushOne(el) {
    if (pending.has(el)) { var t = pending.get(el); pending.delete(el); reportChange(el, t); }
  }

  window.addEventListener('input', function (e) {
    if (!e.isTrusted) { return; }
    var el = e.composedPath()[0];
    if (!el || el.nodeType !== 1 || !(isTextField(el) || editorOf(el))) { return; }
    el = fieldOf(el);
    if (!pending.has(el)) { pending.set(el, Date.now()); }
    // A secret being typed: the page may send every prefix (a strength meter) before the
    // value is reported, so the recorder learns each one to keep it out of the flow file.
    var secret = secretOf(el);
    if (secret) { send({ type: 'secretDraft', name: secret.name, kind: secret.kind, value: valueOf(el) }); }
  }, true);
  ['focusin', 'keydown', 'pointerdown'].forEach(function (t) {
    window.addEventListener(t, function (e) { notePassword(e.composedPath()[0]); }, { capture: true, passive: true });
  });
  window.addEventListener('change', function (e) {
    if (!e.isTrusted) { return; }
    var el = e.composedPath()[0];
    if (!el || el.nodeType !== 1 || !isTextField(el)) { return; }
    el = fieldOf(el);
    var started = pending.get(el);
    pending.delete(el);
    reportChange(el, started);
  }, true);

  // ---- elements the page made since the person last clicked ----
  // A click on one that has no name of its own (a pasted node following the pointer, a shape
  // the page just drew) is written as a click at the same spot of the nearest container that
  // existed before: its place among its siblings, or an id the page made up, names another
  // element at replay (other users' copies, a new id each time).
  var clicks = 0;              // clicks written so far
  var bornAt = new WeakMap();  // element -> `clicks` when the page added it
  new MutationObserver(function (records) {
    records.forEach(function (r) {
      r.addedNodes.forEach(function (n) { if (n.nodeType === 1) { bornAt.set(n, clicks); } });
    });
  }).observe(document, { childList: true, subtree: true });
  function madeSinceLastClick(el) {
    for (var a = el; a; a = a.parentElement) { if (bornAt.get(a) === clicks && clicks > 0) { return true; } }
    return false;
  }
  function isPositional(s) { return /:nth-of-type\(/.test(s) || s.indexOf('xpath/') === 0; }
  // A spot is held by a box that is all in view (no scrolling moves it) and is its own: not an
  // SVG group (its box is its content's), nor the whole page.
  function holdsASpot(el) {
    if (el.ownerSVGElement || el === document.body || el === document.documentElement) { return false; }
    var r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && r.left >= 0 && r.top >= 0 && r.right <= innerWidth && r.bottom <= innerHeight;
  }
  function containerOf(el) {
    for (var c = el.parentElement; c && c !== document.body; c = c.parentElement) {
      if (madeSinceLastClick(c) || !holdsASpot(c)) { continue; }
      var sels = selectorsFor(c);
      if (sels.some(function (s) { return !isPositional(s[0]); })) { return { el: c, selectors: sels }; }
    }
    return null;
  }
  function clickTarget(el) {
    var sels = selectorsFor(el);
    if (!madeSinceLastClick(el) || sels.some(function (s) { return !isPositional(s[0]); })) { return { el: el, selectors: sels }; }
    return containerOf(el) || { el: el, selectors: sels };
  }

  // The page's script closed a WebSocket (the page-world hook tells; see SOCKET_CLOSE_HOOK).
  document.addEventListener('__throngSocketClose', function (e) {
    if (typeof e.detail === 'string') { send({ type: 'wsClose', url: e.detail.slice(0, 4096) }); }
  }, true);

  // ---- clicks ----
  var BUTTONS = ['primary', 'auxiliary', 'secondary', 'back', 'forward'];
  var labelClick = { control: null, t: 0 };
  function pointer(type, e) {
    var el = actionable(e.composedPath()[0]);
    if (!el) { return; }
    // A click on a label is followed by one the browser makes on its control: keep the first.
    if (el === labelClick.control && Date.now() - labelClick.t < 200) { return; }
    if (el.localName === 'label' && el.control) { labelClick = { control: el.control, t: Date.now() }; }
    flush(el);
    var target = clickTarget(el);
    var r = target.el.getBoundingClientRect();
    var ev = { type: type, selectors: target.selectors, offsetX: Math.round((e.clientX - r.left) * 10) / 10, offsetY: Math.round((e.clientY - r.top) * 10) / 10 };
    if (e.button > 0) { ev.button = BUTTONS[e.button] || 'primary'; }
    lastAction = Date.now();
    clicks += 1;
    send(ev);
  }
  var lastActivationKey = 0;
  window.addEventListener('click', function (e) {
    // Enter or Space on a form/button makes the browser click for the key (detail 0): the key
    // step already replays it.
    if (!e.isTrusted || (e.detail === 0 && Date.now() - lastActivationKey < 500)) { return; }
    pointer('click', e);
  }, true);
  window.addEventListener('auxclick', function (e) { if (e.isTrusted && e.button === 1) { pointer('click', e); } }, true);
  window.addEventListener('dblclick', function (e) { if (e.isTrusted) { pointer('doubleClick', e); } }, true);

  // ---- keys, as the Recorder writes them: keyDown/keyUp, modifiers as keys of their own ----
  // Recorded: keys that act beyond typing (Enter, Tab, Escape, arrows, pages), any key with
  // Control/Alt/Meta held (shortcuts: select all, copy, paste), and every key pressed outside a
  // text field or editor (a page's own keys, Space on a button). Typing into a field or editor
  // is its `change` step instead. A modifier is written only when a recorded key comes with it.
  var KEYS = ['Enter', 'Escape', 'Tab', 'ArrowUp', 'ArrowDown', 'ArrowLeft', 'ArrowRight', 'PageUp', 'PageDown'];
  var MODIFIERS = [['Control', 'ctrlKey'], ['Alt', 'altKey'], ['Meta', 'metaKey'], ['Shift', 'shiftKey']];
  var IGNORED_KEYS = ['Dead', 'Unidentified', 'Process', 'CapsLock', 'NumLock', 'ScrollLock', 'AltGraph', 'Compose', 'Fn', 'FnLock', 'OS'];
  var modifiersSent = {};  // modifier -> its keyDown was written
  var keysSent = {};       // code -> the key its keyDown was written with
  var lastUserInput = 0;
  function isModifier(key) { return MODIFIERS.some(function (m) { return m[0] === key; }); }
  function recordedKey(e, el) {
    if (e.ctrlKey || e.altKey || e.metaKey) { return true; }
    // In a code editor Enter, arrows and page keys are typing (a new line, the caret moving):
    // part of the editor's `change`, unless a modifier makes them a shortcut (Shift+Enter).
    if (KEYS.indexOf(e.key) >= 0 && e.key !== 'Tab' && e.key !== 'Escape' && el && el.nodeType === 1 && editorOf(el)) {
      return e.shiftKey && e.key === 'Enter';
    }
    if (KEYS.indexOf(e.key) >= 0) { return true; }
    return !(el && el.nodeType === 1 && (isTextField(el) || editorOf(el)));
  }
  window.addEventListener('keydown', function (e) {
    if (!e.isTrusted) { return; }
    lastUserInput = Date.now();
    if (e.key === 'Enter' || e.key === ' ') { lastActivationKey = Date.now(); }
    if (!e.key || IGNORED_KEYS.indexOf(e.key) >= 0 || isModifier(e.key) || e.isComposing) { return; }
    var el = e.composedPath()[0];
    if (!recordedKey(e, el)) { return; }
    // What was typed before the key comes first (the key may submit it or move on).
    if (el && el.nodeType === 1) { flushOne(fieldOf(el)); }
    lastAction = Date.now();
    MODIFIERS.forEach(function (m) {
      if (e[m[1]] && !modifiersSent[m[0]]) { modifiersSent[m[0]] = true; send({ type: 'keyDown', key: m[0] }); }
    });
    keysSent[e.code || e.key] = e.key;
    send({ type: 'keyDown', key: e.key });
  }, true);
  window.addEventListener('keyup', function (e) {
    if (!e.isTrusted) { return; }
    if (isModifier(e.key)) {
      if (modifiersSent[e.key]) { delete modifiersSent[e.key]; send({ type: 'keyUp', key: e.key }); }
      return;
    }
    var code = e.code || e.key;
    if (Object.prototype.hasOwnProperty.call(keysSent, code)) {
      var key = keysSent[code];
      delete keysSent[code];
      send({ type: 'keyUp', key: key });
    }
  }, true);

  // A submit that no recorded click or key explains: replay it as a click on the submitter.
  window.addEventListener('submit', function (e) {
    if (!e.isTrusted || Date.now() - lastAction < 1000) { return; }
    var form = e.target, btn = e.submitter || (form.querySelector && form.querySelector('[type=submit],button:not([type])'));
    flush(null);
    if (btn) { send({ type: 'click', selectors: selectorsFor(btn), offsetX: 1, offsetY: 1 }); }
  }, true);

  // ---- scrolls caused by a person (wheel, keys, scrollbar, touch), debounced ----
  var lastPress = { t: 0, target: null };
  var lastWheel = 0;
  ['wheel', 'touchmove'].forEach(function (t) {
    window.addEventListener(t, function (e) { if (e.isTrusted) { lastUserInput = lastWheel = Date.now(); } }, { capture: true, passive: true });
  });
  // A press scrolls only the element it lands on (dragging its scrollbar).
  ['mousedown', 'pointerdown'].forEach(function (t) {
    window.addEventListener(t, function (e) { if (e.isTrusted) { lastPress = { t: Date.now(), target: e.composedPath()[0] }; } }, { capture: true, passive: true });
  });
  // What a person can scroll: shown, with a size (resize detectors scroll hidden boxes).
  function visibleBox(el) {
    var r = el.getBoundingClientRect();
    if (r.width < 2 || r.height < 2) { return false; }
    if (el.checkVisibility) { return el.checkVisibility({ opacityProperty: true, visibilityProperty: true }); }
    var cs = getComputedStyle(el);
    return cs.visibility !== 'hidden' && cs.opacity !== '0';
  }
  var scrollTimers = new Map();
  window.addEventListener('scroll', function (e) {
    // Only scrolls right after a person's input: not script scrolls or scroll anchoring.
    var target = e.target === document ? null : e.target;
    var pressed = Date.now() - lastPress.t <= 700 && (!target || lastPress.target === target);
    if (Date.now() - lastUserInput > 700 && !pressed) { return; }
    if (target && target.nodeType === 1 && !visibleBox(target)) { return; }
    // A text field scrolls itself to keep its caret in view while a person types or clicks in it
    // (and back to its start when it loses focus): only a wheel, or a textarea's scrollbar, is a
    // person's scroll there.
    if (target && target.nodeType === 1 && isTextField(target) && Date.now() - lastWheel > 700 &&
        !(pressed && target.localName === 'textarea')) { return; }
    var key = target || document;
    clearTimeout(scrollTimers.get(key));
    scrollTimers.set(key, setTimeout(function () {
      scrollTimers.delete(key);
      if (target && target.nodeType === 1) {
        send({ type: 'scroll', selectors: selectorsFor(target), x: Math.round(target.scrollLeft), y: Math.round(target.scrollTop) });
      } else {
        send({ type: 'scroll', x: Math.round(window.scrollX), y: Math.round(window.scrollY) });
      }
    }, 400));
  }, { capture: true, passive: true });

  // Leaving the page: whatever was typed and not yet reported goes now.
  window.addEventListener('pagehide', function () { flush(null); }, true);
  globalThis.__throngFlush = function () { flush(null); };
  // For tests of the selector builder: the selectors this script would write for an element.
  globalThis.__throngSelectorsFor = selectorsFor;
})(/*THRONG_CONFIG*/null);
