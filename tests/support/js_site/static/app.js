// The home page's article list, built the way many news sites build theirs: batches of
// articles from a JSON API (with a cache-busting query), cards cloned from a <template>,
// images swapped in from data-src only when they scroll into view, and a "Load more"
// button that appends the next batch.
(function () {
  "use strict";
  var list = document.getElementById("articles");
  var button = document.getElementById("load-more");
  var card = document.getElementById("card");
  var observer = new IntersectionObserver(function (entries) {
    entries.forEach(function (entry) {
      if (!entry.isIntersecting) return;
      var img = entry.target;
      img.src = img.getAttribute("data-src");
      img.classList.add("loaded");
      observer.unobserve(img);
    });
  });

  function add(article) {
    var node = card.content.cloneNode(true);
    var link = node.querySelector("a.title");
    link.href = article.url;
    link.textContent = article.title;
    node.querySelector(".summary").textContent = article.summary;
    var img = node.querySelector("img");
    img.setAttribute("data-src", article.image);
    img.alt = article.title;
    list.appendChild(node);
    observer.observe(list.lastElementChild.querySelector("img"));
  }

  function load(page) {
    button.disabled = true;
    return fetch("/api/articles?page=" + page + "&_=" + Date.now())
      .then(function (response) { return response.json(); })
      .then(function (data) {
        data.articles.forEach(add);
        if (data.next) {
          button.setAttribute("data-next", String(data.next));
          button.disabled = false;
        } else {
          button.hidden = true;
        }
        document.documentElement.setAttribute("data-loaded-page", String(page));
      });
  }

  button.addEventListener("click", function () {
    load(button.getAttribute("data-next"));
  });
  load(1);
})();
