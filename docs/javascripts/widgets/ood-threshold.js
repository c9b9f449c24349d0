/* The out-of-domain threshold slider on the vision page.
 * Data: widget_ood.json written by snippets/out_of_domain.py (thresholds on
 * the model's maximum softmax probability; per threshold the share of
 * validation digits kept, their accuracy, the share of outsiders accepted,
 * by kind, and the nearest-digit baseline at the same share of digits kept)
 * and a sprite of 8x8 inputs. Plain JavaScript, no library, nothing fetched
 * from another host. */
(function () {
  "use strict";

  var el = window.dlnotesWidget.svg;

  function pct(v) { return v === null ? "none kept" : (100 * v).toFixed(1) + " %"; }

  function build(box, data) {
    var base = box.getAttribute("data-src").replace(/[^/]*$/, "");
    var n = data.thresholds.length;
    var start = data.thresholds.indexOf(data.default);
    if (start < 0) start = n - 1;
    var ui = document.createElement("div");
    ui.className = "ood-widget";
    var id = window.dlnotesWidget.uid("ood-threshold");
    ui.innerHTML =
      '<div class="ood-control">' +
      '<label for="' + id + '">Accept an input when the model\'s confidence is at least ' +
      '<output class="ood-value"></output></label>' +
      '<input type="range" id="' + id + '" min="0" max="' + (n - 1) + '" step="1" value="' + start + '">' +
      "</div>" +
      '<p class="ood-readout" aria-live="polite"></p>';
    var svg = el("svg", { viewBox: "0 0 640 150", role: "img", "class": "ood-bars",
      "aria-label": "Bars: share of digits kept and of outsiders accepted at the chosen threshold" });
    ui.appendChild(svg);
    var thumbs = document.createElement("div");
    thumbs.className = "ood-thumbs";
    ui.appendChild(thumbs);
    box.insertBefore(ui, box.firstChild);
    box.classList.add("dlnotes-widget--live");
    var slider = ui.querySelector("input");
    var value = ui.querySelector("output");
    var readout = ui.querySelector(".ood-readout");

    var rows = [
      { label: "digits kept", key: "digits_kept", cls: "ood-in" },
      { label: "outsiders accepted (confidence)", key: "outsiders_accepted", cls: "ood-out" },
      { label: "outsiders accepted (nearest digit)", key: "baseline_outsiders_accepted", cls: "ood-base" }
    ];
    var bars = rows.map(function (row, i) {
      var y = 10 + i * 46;
      el("text", { x: 0, y: y + 14, "class": "ood-label" }, svg).textContent = row.label;
      el("rect", { x: 0, y: y + 20, width: 640, height: 16, "class": "ood-track" }, svg);
      var bar = el("rect", { x: 0, y: y + 20, width: 0, height: 16, "class": "ood-bar " + row.cls }, svg);
      var text = el("text", { x: 640, y: y + 14, "text-anchor": "end", "class": "ood-label" }, svg);
      return { bar: bar, text: text, key: row.key };
    });

    var sprite = data.sprite;
    function tile(item, index, accepted) {
      var fig = document.createElement("div");
      fig.className = "ood-thumb " + (accepted ? "ood-accepted" : "ood-rejected");
      var scale = 6, t = sprite.tile;
      var col = index % sprite.columns, row = Math.floor(index / sprite.columns);
      var img = document.createElement("div");
      img.className = "ood-img";
      img.setAttribute("role", "img");
      img.setAttribute("aria-label", item.kind + ", model says " + item.says +
        ", confidence " + item.msp.toFixed(3) + (accepted ? ", accepted" : ", rejected"));
      img.style.width = img.style.height = t * scale + "px";
      img.style.backgroundImage = "url(" + base + sprite.src + ")";
      img.style.backgroundSize = (sprite.columns * t * scale) + "px auto";
      img.style.backgroundPosition = (-col * t * scale) + "px " + (-row * t * scale) + "px";
      fig.appendChild(img);
      var cap = document.createElement("div");
      cap.className = "ood-caption";
      cap.textContent = item.kind + " '" + item.says + "' " + item.msp.toFixed(3);
      fig.appendChild(cap);
      return fig;
    }

    function draw() {
      var i = Number(slider.value);
      var t = data.thresholds[i];
      value.textContent = t.toFixed(2);
      bars.forEach(function (b) {
        var v = data[b.key][i];
        b.bar.setAttribute("width", (640 * v).toFixed(1));
        b.text.textContent = pct(v);
      });
      var kinds = data.kinds.map(function (k, j) {
        return k + " " + pct(data.accepted_by_kind[j][i]);
      }).join(", ");
      readout.textContent = "Threshold " + t.toFixed(2) + ": " + pct(data.digits_kept[i]) +
        " of the validation digits are kept, and the model names " +
        pct(data.accuracy_kept[i]) + " of those correctly; " +
        pct(data.outsiders_accepted[i]) + " of the out-of-domain inputs are wrongly accepted (" +
        kinds + "). The nearest-digit baseline, keeping the same share of digits, accepts " +
        pct(data.baseline_outsiders_accepted[i]) + " of them. Mean over " + data.n_seeds + " seeds.";
      // the six inputs just below and the six just above the threshold
      var items = sprite.items, cut = 0;
      while (cut < items.length && items[cut].msp < t) cut++;
      thumbs.textContent = "";
      var lo = Math.max(0, cut - 6), hi = Math.min(items.length, cut + 6);
      for (var k = lo; k < hi; k++) thumbs.appendChild(tile(items[k], k, items[k].msp >= t));
    }
    slider.addEventListener("input", draw);
    draw();
  }

  window.dlnotesWidget.mount("ood-threshold", build);
})();
