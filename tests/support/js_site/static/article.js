// The article body lives in a <template>; the page shows it only once this script clones
// it into <main id="story"> (as sites that render from templates or hydrate do).
(function () {
  "use strict";
  var story = document.getElementById("story");
  var body = document.getElementById("story-body");
  story.appendChild(body.content.cloneNode(true));
  story.setAttribute("data-rendered", "yes");
})();
