// Refuge: search the pages of this copy, offline (mirror/export/offline_search.py).
// search-index.js, loaded first, sets REFUGE_SEARCH = {pages: [{p: path, t: title,
// u: URL, x: text}]}. A page matches when each word of the query is somewhere in its title
// or text, as a substring: Khmer puts no space between words, so a Khmer word is found
// inside a sentence. Letter case and invisible joiners (zero-width space) are ignored.
// Nothing is fetched; results are built with textContent, never parsed as HTML.
(function () {
  "use strict";
  var MAX_SHOWN = 50, MAX_WORDS = 10, MAX_QUERY = 200, BEFORE = 60, AFTER = 140;
  var INVISIBLE = /[\u00ad\u200b-\u200d\u2060\ufeff]/g;
  var data = window.REFUGE_SEARCH;
  var form = document.getElementById("search");
  var box = document.getElementById("q");
  var results = document.getElementById("results");
  var all = document.getElementById("all-pages");
  if (!data || !form || !box || !results) { return; }

  function fold(s) { return s.replace(INVISIBLE, "").toLowerCase(); }
  // The index is in NFC (offline_search.py); so is what the reader types, before folding.
  function nfc(s) { return s.normalize ? s.normalize("NFC") : s; }

  // S folded one code unit at a time, with where each folded unit came from in S (the last
  // entry is S.length), so that a match in the folded text can be marked in S itself.
  function foldedMap(s) {
    var f = [], at = [];
    for (var i = 0; i < s.length; i++) {
      var c = s.charAt(i);
      INVISIBLE.lastIndex = 0;
      if (INVISIBLE.test(c)) { continue; }
      var low = c.toLowerCase();
      for (var k = 0; k < low.length; k++) { f.push(low.charAt(k)); at.push(i); }
    }
    at.push(s.length);
    return {text: f.join(""), at: at};
  }

  var pages = data.pages.map(function (e) {
    return {e: e, t: fold(e.t || ""), x: fold(e.x || "")};
  });

  function wordsOf(q) {
    var seen = {}, out = [];
    fold(nfc(q.slice(0, MAX_QUERY))).split(/\s+/).forEach(function (w) {
      if (w && !seen[w] && out.length < MAX_WORDS) { seen[w] = true; out.push(w); }
    });
    return out;
  }

  // Ranges [start, end) of S where any of WORDS occurs (folded), merged, in order.
  function ranges(s, words) {
    var m = foldedMap(s), found = [];
    words.forEach(function (w) {
      var from = 0, i;
      while ((i = m.text.indexOf(w, from)) !== -1) {
        found.push([m.at[i], m.at[i + w.length - 1] + 1]);
        from = i + w.length;
      }
    });
    found.sort(function (a, b) { return a[0] - b[0] || a[1] - b[1]; });
    var merged = [];
    found.forEach(function (r) {
      var last = merged[merged.length - 1];
      if (last && r[0] <= last[1]) { last[1] = Math.max(last[1], r[1]); } else { merged.push(r.slice()); }
    });
    return merged;
  }

  // S into PARENT as text, with the RANGES marked.
  function marked(parent, s, rs) {
    var pos = 0;
    rs.forEach(function (r) {
      if (r[0] > pos) { parent.appendChild(document.createTextNode(s.slice(pos, r[0]))); }
      var mark = document.createElement("mark");
      mark.textContent = s.slice(r[0], r[1]);
      parent.appendChild(mark);
      pos = r[1];
    });
    if (pos < s.length) { parent.appendChild(document.createTextNode(s.slice(pos))); }
  }

  // Whether a window of S may not begin at I: the second half of a surrogate pair, or a
  // Khmer vowel, sign or subscript, which belongs to the letter before it.
  function inside(s, i) {
    var c = s.charCodeAt(i);
    return (c >= 0xdc00 && c <= 0xdfff) || (c >= 0x17b4 && c <= 0x17d3) || c === 0x17dd ||
      c === 0x200c || c === 0x200d || s.charCodeAt(i - 1) === 0x17d2;
  }

  // A window of TEXT around its first match, with the matches in it marked.
  function snippet(text, words) {
    var first = ranges(text, words)[0];
    var start = 0, end = Math.min(text.length, BEFORE + AFTER);
    if (first) {
      start = Math.max(0, first[0] - BEFORE);
      end = Math.min(text.length, Math.max(first[1], start + BEFORE + AFTER));
      var space = text.indexOf(" ", start);  // start at a word where the text has spaces
      if (start > 0 && space !== -1 && space < first[0] && space - start < 20) { start = space + 1; }
    }
    while (start > 0 && inside(text, start)) { start -= 1; }
    while (end < text.length && inside(text, end)) { end += 1; }
    var p = document.createElement("p");
    p.className = "snippet";
    if (start > 0) { p.appendChild(document.createTextNode("… ")); }
    var part = text.slice(start, end);
    marked(p, part, ranges(part, words));
    if (end < text.length) { p.appendChild(document.createTextNode(" …")); }
    return p;
  }

  function show(id, on, n) {
    var el = document.getElementById(id);
    if (!el) { return; }
    el.hidden = !on;
    if (n !== undefined) {
      Array.prototype.forEach.call(el.querySelectorAll(".n"), function (s) { s.textContent = String(n); });
    }
  }

  function search(q) {
    var words = wordsOf(q);
    while (results.firstChild) { results.removeChild(results.firstChild); }
    if (!words.length) {
      show("count", false); show("more", false); show("none", false);
      if (all) { all.hidden = false; }
      return;
    }
    if (all) { all.hidden = true; }
    var hits = [];
    pages.forEach(function (pg, order) {
      var inTitle = 0, firstAt = Infinity;
      for (var i = 0; i < words.length; i++) {
        var t = pg.t.indexOf(words[i]), x = pg.x.indexOf(words[i]);
        if (t === -1 && x === -1) { return; }
        if (t !== -1) { inTitle += 1; }
        if (x !== -1 && x < firstAt) { firstAt = x; }
      }
      hits.push({pg: pg, inTitle: inTitle, firstAt: firstAt, order: order});
    });
    hits.sort(function (a, b) {
      return b.inTitle - a.inTitle || a.firstAt - b.firstAt || a.order - b.order;
    });
    hits.slice(0, MAX_SHOWN).forEach(function (h) {
      var e = h.pg.e, li = document.createElement("li"), a = document.createElement("a");
      a.href = e.p;
      var title = e.t || e.u;
      marked(a, title, ranges(title, words));
      var url = document.createElement("span");
      url.className = "url";
      url.textContent = e.u;
      li.appendChild(a);
      li.appendChild(document.createElement("br"));
      li.appendChild(url);
      if (e.x) { li.appendChild(snippet(e.x, words)); }
      results.appendChild(li);
    });
    show("count", hits.length > 0, hits.length);
    show("more", hits.length > MAX_SHOWN, MAX_SHOWN);
    show("none", hits.length === 0);
  }

  function queryOfLocation() {
    var parts = (window.location.search || "").replace(/^\?/, "").split("&");
    for (var i = 0; i < parts.length; i++) {
      var kv = parts[i].split("=");
      if (kv[0] === "q" && kv.length > 1) {
        try { return decodeURIComponent(kv.slice(1).join("=").replace(/\+/g, " ")); } catch (err) { return ""; }
      }
    }
    return "";
  }

  var timer = null;
  box.addEventListener("input", function () {
    if (timer !== null) { window.clearTimeout(timer); }
    timer = window.setTimeout(function () { timer = null; search(box.value); }, 120);
  });
  form.hidden = false;
  var initial = queryOfLocation();
  if (initial) { box.value = initial; }
  search(box.value);
})();
