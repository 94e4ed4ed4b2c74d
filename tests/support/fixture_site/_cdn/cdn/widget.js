// A third-party widget: it would phone home from a reader's browser.
(function () {
  var i = new Image();
  i.src = "/cdn/pixel-gone.gif?from=" + encodeURIComponent(location.href);
  document.documentElement.setAttribute("data-widget", "ran");
})();
