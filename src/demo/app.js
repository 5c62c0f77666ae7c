/* Throng Shop front end: cart badge, page data over AJAX, and the notifications poller. */
(function () {
  'use strict';
  var POLL_MS = 2000;
  var fmt = __require(0);

  function getJSON(url) {
    return fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) {
        if (!r.ok) { throw new Error(url + ' -> ' + r.status); }
        return r.json();
      });
  }

  function el(tag, text, attrs) {
    var e = document.createElement(tag);
    if (text != null) { e.textContent = text; }
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    return e;
  }

  function fill(testid, nodes) {
    var box = document.querySelector('[data-testid="' + testid + '"]');
    if (!box) { return; }
    box.textContent = '';
    nodes.forEach(function (n) { box.appendChild(n); });
  }

  function productLink(p) {
    var li = el('li');
    li.appendChild(el('a', p.name + ' ' + fmt.price(p.priceCents), { href: '/product/' + p.id, 'data-testid': 'featured-link' }));
    return li;
  }

  var loaders = {
    home: function () {
      return [getJSON('/api/featured').then(function (d) { fill('featured', d.items.map(productLink)); })];
    },
    product: function (id) {
      return [
        getJSON('/api/reviews?product=' + id).then(function (d) {
          fill('reviews', d.reviews.map(function (r) {
            return el('li', fmt.stars(r.stars) + ' ' + r.text + ' (' + r.author + ')');
          }));
        }),
        getJSON('/api/stock?product=' + id).then(function (d) {
          fill('stock', [el('span', d.inStock > 0 ? d.inStock + ' in stock' : 'Out of stock')]);
        }),
        getJSON('/api/related?product=' + id).then(function (d) { fill('related', d.items.map(productLink)); })
      ];
    },
    account: function () {
      return [getJSON('/api/orders').then(function (d) {
        fill('orders', d.orders.map(function (o) {
          return el('li', 'Order ' + o.id + ': ' + o.items + ' items, ' + fmt.price(o.totalCents));
        }));
      })];
    }
  };

  function pollNotifications() {
    getJSON('/api/notifications').then(function (d) {
      fill('notifications', d.items.map(function (n) { return el('p', n.text); }));
    }).catch(function () { /* the next tick retries */ });
  }

  function onLoad() {
    var body = document.body;
    var page = body.getAttribute('data-page');
    var load = loaders[page] || function () { return []; };
    var calls = load(body.getAttribute('data-product-id'));
    calls.push(getJSON('/api/cart/count').then(function (d) {
      fill('cart-count', [document.createTextNode(String(d.count))]);
    }));
    Promise.all(calls.map(function (c) { return c.catch(function () {}); })).then(function () {
      body.setAttribute('data-ready', '1');
      window.shopReady = true;
    });
    setInterval(pollNotifications, POLL_MS);
  }

  if (document.readyState === 'complete') { onLoad(); } else { window.addEventListener('load', onLoad); }
})();
