// The digits confusion matrix with a button per cell: choosing a cell shows
// up to a dozen of its images (all runs pooled) with the probability the
// model gave its prediction. Data and one sprite come from debugging.py;
// the static figure stays for print and for readers without JavaScript.
(function () {
  "use strict";
  // a Blues ramp like the static figure's; text picks the better contrast
  var RAMP = [[247, 251, 255], [198, 219, 239], [107, 174, 214], [33, 113, 181], [8, 48, 107]];

  function shade(t) {
    var pos = t * (RAMP.length - 1), i = Math.min(Math.floor(pos), RAMP.length - 2);
    var f = pos - i, a = RAMP[i], b = RAMP[i + 1];
    return [0, 1, 2].map(function (k) { return Math.round(a[k] + (b[k] - a[k]) * f); });
  }
  function luminance(rgb) {
    var c = rgb.map(function (v) {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  }

  function build(box, data, base) {
    var classes = data.classes, n = classes.length, counts = data.counts;
    var max = 0;
    counts.forEach(function (row) { row.forEach(function (c) { max = Math.max(max, c); }); });
    var live = document.createElement("div");
    live.className = "cc-live";
    var intro = document.createElement("p");
    intro.className = "cc-help";
    intro.textContent = "Choose a cell to see its images (" + data.n_seeds +
      " runs pooled). Rows: actual digit; columns: predicted digit.";
    var grid = document.createElement("div");
    grid.className = "cc-grid";
    grid.setAttribute("role", "group");
    grid.setAttribute("aria-label", "Confusion matrix of the digits CNN, summed over " +
      data.n_seeds + " runs");
    grid.style.gridTemplateColumns = "auto repeat(" + n + ", minmax(0, 1fr))";
    var corner = document.createElement("span");
    corner.className = "cc-head cc-corner";
    corner.textContent = "actual \\ predicted";
    grid.appendChild(corner);
    classes.forEach(function (c) {
      var head = document.createElement("span");
      head.className = "cc-head";
      head.textContent = c;
      grid.appendChild(head);
    });
    var buttons = [];
    for (var i = 0; i < n; i++) {
      var rowHead = document.createElement("span");
      rowHead.className = "cc-head";
      rowHead.textContent = classes[i];
      grid.appendChild(rowHead);
      for (var j = 0; j < n; j++) {
        var count = counts[i][j];
        var button = document.createElement("button");
        button.type = "button";
        button.className = "cc-cell" + (i === j ? " cc-diag" : "");
        button.textContent = String(count);
        button.dataset.row = String(i);
        button.dataset.col = String(j);
        button.setAttribute("aria-pressed", "false");
        button.setAttribute("aria-label", count + " images: actual " + classes[i] +
          ", predicted " + classes[j]);
        if (count > 0) {
          // square-root scale, so the few mistakes are visible next to the diagonal
          var rgb = shade(Math.sqrt(count / max));
          button.style.background = "rgb(" + rgb.join(",") + ")";
          button.style.color = luminance(rgb) > 0.18 ? "#1f1f1f" : "#ffffff";
        }
        button.tabIndex = -1;
        buttons.push(button);
        grid.appendChild(button);
      }
    }
    var readout = document.createElement("p");
    readout.className = "cc-readout";
    readout.setAttribute("aria-live", "polite");
    var thumbs = document.createElement("div");
    thumbs.className = "cc-thumbs";
    var sprite = new URL(data.sprite, base).href;
    var size = 48;

    function select(button) {
      var i = Number(button.dataset.row), j = Number(button.dataset.col);
      buttons.forEach(function (b) {
        b.setAttribute("aria-pressed", b === button ? "true" : "false");
        b.tabIndex = b === button ? 0 : -1;
      });
      var probs = data.probs[i * n + j], count = counts[i][j];
      var text = count + " images: true " + classes[i] + ", predicted " + classes[j];
      if (count > probs.length) {
        text += (i === j ? "; the " + probs.length + " least confident right answers shown"
                         : "; the " + probs.length + " most confident shown");
      }
      readout.textContent = text + ".";
      while (thumbs.firstChild) thumbs.removeChild(thumbs.firstChild);
      probs.forEach(function (p, k) {
        var fig = document.createElement("figure");
        fig.className = "cc-thumb";
        var img = document.createElement("div");
        img.className = "cc-img";
        img.setAttribute("role", "img");
        img.setAttribute("aria-label", "digit image, actual " + classes[i] + ", predicted " +
          classes[j] + " with probability " + p.toFixed(2));
        img.style.backgroundImage = "url(" + JSON.stringify(sprite) + ")";
        img.style.backgroundSize = (data.shown * size) + "px " + (n * n * size) + "px";
        img.style.backgroundPosition = (-k * size) + "px " + (-(i * n + j) * size) + "px";
        var cap = document.createElement("figcaption");
        cap.textContent = p.toFixed(2);
        fig.append(img, cap);
        thumbs.appendChild(fig);
      });
    }
    grid.addEventListener("click", function (event) {
      var button = event.target.closest("button.cc-cell");
      if (button) select(button);
    });
    // arrow keys move between cells (one tab stop for the whole matrix)
    grid.addEventListener("keydown", function (event) {
      var button = event.target.closest("button.cc-cell");
      if (!button) return;
      var i = Number(button.dataset.row), j = Number(button.dataset.col);
      var moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
      var move = moves[event.key];
      if (!move) return;
      event.preventDefault();
      var r = Math.min(n - 1, Math.max(0, i + move[0]));
      var c = Math.min(n - 1, Math.max(0, j + move[1]));
      var next = buttons[r * n + c];
      select(next);
      next.focus();
    });
    live.append(intro, grid, readout, thumbs);
    box.insertBefore(live, box.firstChild);
    box.classList.add("is-live");
    // start on the largest mistake, so the first view already teaches something
    var best = 0, bestCount = -1;
    buttons.forEach(function (b, k) {
      var i = Math.floor(k / n), j = k % n;
      if (i !== j && counts[i][j] > bestCount) { best = k; bestCount = counts[i][j]; }
    });
    select(buttons[best]);
  }

  window.dlnotesWidget.mount("confusion-cells", function (box, data) {
    build(box, data, new URL(box.dataset.src, document.baseURI).href);
  });
})();
