// What every interactive figure needs, loaded once before the widgets of a
// page (the build adds it wherever a `data-widget` container appears):
// SVG elements, ids for labels, and mounting a widget on its containers once
// its data arrives. A widget that fails to load leaves its static figure.
window.dlnotesWidget = (function () {
  "use strict";
  var SVG_NS = "http://www.w3.org/2000/svg";
  var counter = 0;

  // An SVG element with its attributes, appended to `parent` when given.
  function svg(name, attrs, parent) {
    var node = document.createElementNS(SVG_NS, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(node);
    return node;
  }

  // An id no other element of the page has: one page may show a widget twice.
  function uid(prefix) {
    counter += 1;
    return prefix + "-" + counter;
  }

  // Calls build(container, data) for each `data-widget="NAME"` container,
  // with the JSON its `data-src` names (relative to the page).
  function mount(name, build) {
    function start() {
      document.querySelectorAll('[data-widget="' + name + '"]').forEach(function (box) {
        if (box.dataset.ready) return;
        box.dataset.ready = "1";
        fetch(box.getAttribute("data-src"))
          .then(function (r) {
            if (!r.ok) throw new Error(r.status);
            return r.json();
          })
          .then(function (data) { build(box, data); })
          .catch(function () { /* the static figure stays */ });
      });
    }
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
    else start();
  }

  return { svg: svg, uid: uid, mount: mount };
})();
