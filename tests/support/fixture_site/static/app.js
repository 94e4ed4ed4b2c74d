// Swaps lazy images in, the way news sites commonly do.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("img[data-src]").forEach(function (img) {
    img.src = img.getAttribute("data-src");
  });
  document.documentElement.setAttribute("data-app", "ready");
});
