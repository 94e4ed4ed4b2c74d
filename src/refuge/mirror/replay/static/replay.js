/* Refuge replay helper: a small "wombat-lite" for pages replayed with JavaScript on.
 *
 * The replay server puts it first in the <head> of every page it replays:
 *   <script src="/_refuge/replay.js?v=..." data-ts="<capture timestamp>" data-url="<original page URL>">
 * and the page's own scripts then run as they did on the site. Whatever URL they make is
 * rewritten here, before the browser uses it, to the replay form
 *   /web/<ts><mod>/<absolute original URL>
 * so the request is answered from the archive, at the page's own capture time. A relative
 * URL is resolved against the page's ORIGINAL URL (or its <base href>), never against the
 * replay URL; a root path ("/api/articles") so goes to the site's origin, not the mirror's.
 *
 * Covered:
 *   fetch() (a string, a URL or a Request) and XMLHttpRequest.open(): mod oe_ (not mp_, a
 *   document's: an HTML fragment a script inserts must not come with this script first);
 *   src, srcset, href, action and poster set as properties of img, source, script, link,
 *   a, area, iframe, video, audio, track, embed, form and input, or with setAttribute();
 *   elements inserted as markup (innerHTML, insertAdjacentHTML, document.write), rewritten
 *   by a MutationObserver once they are in the page;
 *   history.pushState/replaceState and window.open.
 *   Credentials are never sent: the archive has no cookies to give, and asking with them
 *   would make the browser refuse the answer.
 * Not covered (the sandbox still keeps every request inside the mirror):
 *   WebSocket and EventSource (nothing to replay), postMessage origins and document.domain
 *   (the page runs on an opaque origin), cookies and storage, location.href = ... and
 *   location.assign() (Location cannot be changed from a script), url() in styles set by a
 *   script, dynamic import() and workers. Reading a rewritten property back gives the
 *   replay URL, not the original one.
 */
(function () {
  "use strict";
  if (window.__refugeReplay) return;
  var me = document.currentScript;
  if (!me) return;
  var TS = me.getAttribute("data-ts") || "";
  var PAGE = me.getAttribute("data-url") || "";
  var HERE = location.protocol + "//" + location.host;
  // A replay URL's path: /web/<ts><mod>/<http(s) URL>; and any path of the server's own
  // (a capture list, a screenshot, this script), which is never the site's.
  var REPLAY = /^\/web\/(\d{1,14})(?:[a-z]{2}_)?\/(https?:.*)$/i;
  var OWN = /^\/(?:web\/(?:\d|\*)|_refuge\/)/;
  var INERT = /^(?:data|blob|javascript|about|mailto|tel|urn):/i;
  window.__refugeReplay = { ts: TS, url: PAGE };

  // The original URL a replay URL of this server stands for, or null.
  function original(href) {
    try {
      var u = new URL(href, location.href);
      if (u.protocol + "//" + u.host !== HERE) return null;
      var m = REPLAY.exec(u.pathname + u.search + u.hash);
      return m ? m[2] : null;
    } catch (e) {
      return null;
    }
  }

  // What relative URLs mean on the original page: its <base href>, else its own URL.
  function base() {
    var b = document.querySelector("base[href]");
    return (b && original(b.href)) || PAGE;
  }

  // URL (as a script gave it) in the replay form with modifier MOD; what is not an http(s)
  // URL, and what already is a replay URL, is given back as it was.
  function rewrite(url, mod) {
    if (url === null || url === undefined) return url;
    var text = String(url).trim();
    if (!text || text.charAt(0) === "#" || INERT.test(text) || OWN.test(text)) return url;
    var abs;
    try {
      abs = new URL(text, base());
    } catch (e) {
      return url;
    }
    if (abs.protocol !== "http:" && abs.protocol !== "https:") return url;
    if (abs.protocol + "//" + abs.host === HERE) {
      // A replay URL the browser made absolute (new Request(), a property read back): the
      // modifier that fits its new use, at its own time.
      var m = REPLAY.exec(abs.pathname + abs.search + abs.hash);
      if (m) return HERE + "/web/" + m[1] + mod + "/" + m[2];
      if (OWN.test(abs.pathname)) return abs.href;
      // An absolute URL on the mirror itself (made from location): the site's path.
      abs = new URL(abs.pathname + abs.search + abs.hash, PAGE);
    }
    return HERE + "/web/" + TS + mod + "/" + abs.href;
  }

  function rewriteSrcset(value, mod) {
    if (value === null || value === undefined) return value;
    return String(value).split(",").map(function (part) {
      var m = /^(\s*)(\S+)(.*)$/.exec(part);
      return m ? m[1] + rewrite(m[2], mod) + m[3] : part;
    }).join(",");
  }

  // The modifier for what an attribute of an element loads (as the server's policy does).
  function modFor(el, attr) {
    var tag = el.localName;
    if (tag === "img" || tag === "picture" || attr === "poster" || (tag === "input" && attr === "src")) return "im_";
    if (tag === "source") return el.parentNode && el.parentNode.localName === "picture" ? "im_" : "oe_";
    if (tag === "script") return "js_";
    if (tag === "link") return /\bstylesheet\b/i.test(el.rel || "") ? "cs_" : "oe_";
    if (tag === "iframe" || tag === "frame") return "if_";
    if (tag === "a" || tag === "area" || tag === "form") return "";
    return "oe_";
  }

  var URL_ATTRS = { src: 1, href: 1, srcset: 1, action: 1, poster: 1 };
  var URL_TAGS = {
    img: 1, source: 1, script: 1, link: 1, a: 1, area: 1, iframe: 1, frame: 1, video: 1, audio: 1,
    track: 1, embed: 1, form: 1, input: 1
  };

  function rewriteAttr(el, name, value) {
    return name === "srcset" ? rewriteSrcset(value, modFor(el, name)) : rewrite(value, modFor(el, name));
  }

  // -- requests --------------------------------------------------------------------------
  var nativeFetch = window.fetch;
  if (nativeFetch) {
    window.fetch = function (input, init) {
      init = Object.assign({}, init || {}, { credentials: "omit" });
      if (input instanceof Request) {
        return nativeFetch.call(this, new Request(rewrite(input.url, "oe_"), input), init);
      }
      return nativeFetch.call(this, rewrite(input, "oe_"), init);
    };
  }
  var xhr = window.XMLHttpRequest && XMLHttpRequest.prototype;
  if (xhr) {
    var open = xhr.open;
    xhr.open = function (method, url) {
      var args = Array.prototype.slice.call(arguments);
      args[1] = rewrite(url, "oe_");
      return open.apply(this, args);
    };
    var credentials = Object.getOwnPropertyDescriptor(xhr, "withCredentials");
    if (credentials && credentials.set) {
      Object.defineProperty(xhr, "withCredentials", {
        configurable: true, enumerable: credentials.enumerable, get: credentials.get,
        set: function () { credentials.set.call(this, false); }
      });
    }
  }

  // -- properties and attributes ---------------------------------------------------------
  function wrapProperty(proto, prop) {
    var d = proto && Object.getOwnPropertyDescriptor(proto, prop);
    if (!d || !d.set) return;
    Object.defineProperty(proto, prop, {
      configurable: true, enumerable: d.enumerable, get: d.get,
      set: function (value) { d.set.call(this, rewriteAttr(this, prop, value)); }
    });
  }
  [
    ["HTMLImageElement", ["src", "srcset"]], ["HTMLSourceElement", ["src", "srcset"]],
    ["HTMLScriptElement", ["src"]], ["HTMLLinkElement", ["href"]], ["HTMLAnchorElement", ["href"]],
    ["HTMLAreaElement", ["href"]], ["HTMLIFrameElement", ["src"]], ["HTMLMediaElement", ["src"]],
    ["HTMLVideoElement", ["poster"]], ["HTMLTrackElement", ["src"]], ["HTMLEmbedElement", ["src"]],
    ["HTMLFormElement", ["action"]], ["HTMLInputElement", ["src"]]
  ].forEach(function (entry) {
    var type = window[entry[0]];
    entry[1].forEach(function (prop) { wrapProperty(type && type.prototype, prop); });
  });

  var setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    var lower = String(name).toLowerCase();
    if (URL_ATTRS[lower] && URL_TAGS[this.localName] && this.namespaceURI === "http://www.w3.org/1999/xhtml") {
      value = rewriteAttr(this, lower, value);
    }
    return setAttribute.call(this, name, value);
  };

  // Elements that arrive as markup: each URL attribute rewritten once it is in the page
  // (the server's banner, whose links are the server's own, excepted).
  function fix(el) {
    if (!URL_TAGS[el.localName] || el.namespaceURI !== "http://www.w3.org/1999/xhtml") return;
    if (el.closest("#refuge-banner")) return;
    for (var name in URL_ATTRS) {
      var value = el.getAttribute(name);
      if (value === null) continue;
      var fixed = rewriteAttr(el, name, value);
      if (fixed !== value) setAttribute.call(el, name, fixed);
    }
  }
  function fixTree(node) {
    if (node.nodeType !== 1) return;
    fix(node);
    var inner = node.querySelectorAll("[src],[href],[srcset],[action],[poster]");
    for (var i = 0; i < inner.length; i++) fix(inner[i]);
  }
  new MutationObserver(function (records) {
    records.forEach(function (r) {
      if (r.type === "attributes") fix(r.target);
      else r.addedNodes.forEach(fixTree);
    });
  }).observe(document, {
    subtree: true, childList: true, attributes: true, attributeFilter: ["src", "href", "srcset", "action", "poster"]
  });

  // -- navigation ------------------------------------------------------------------------
  ["pushState", "replaceState"].forEach(function (name) {
    var native = history[name];
    if (!native) return;
    history[name] = function (state, title, url) {
      var args = Array.prototype.slice.call(arguments);
      if (args.length > 2 && url !== null && url !== undefined) args[2] = rewrite(url, "");
      return native.apply(history, args);
    };
  });
  var nativeOpen = window.open;
  if (nativeOpen) {
    window.open = function (url) {
      var args = Array.prototype.slice.call(arguments);
      if (args.length) args[0] = rewrite(url, "");
      return nativeOpen.apply(window, args);
    };
  }
})();
