// The drivetrain policies with a budget slider: at the chosen share of
// customers, the extra purchases each policy causes (mean ± std over the
// seeds), read from the curves drivetrain_uplift.py computed. The widget
// only looks values up and draws them; the static figure stays for print.
(function () {
  "use strict";
  var COLOURS = { policy_1: "#009E73", policy_2: "#E69F00", random: "#56B4E9" };
  var H = 300, L = 64, R = 16, T = 16, B = 48;

  var el = window.dlnotesWidget.svg;
  function fmt(x) { return Math.round(x).toLocaleString("en-US"); }
  function pct(b) { return Math.round(b * 100) + "%"; }

  function build(box, data) {
    var budgets = data.budgets, n = budgets.length;
    var top = 0;
    data.policies.forEach(function (p) {
      p.mean.forEach(function (m, i) { top = Math.max(top, m + p.std[i]); });
    });
    top = Math.ceil(top / 500) * 500;
    var x = function (b) { return L + (W - L - R) * b; };  // W: below
    var y = function (v) { return T + (H - T - B) * (1 - v / top); };

    var live = document.createElement("div");
    live.className = "dw-live";
    var id = window.dlnotesWidget.uid("dw-budget");
    var control = document.createElement("div");
    control.className = "dw-control";
    var label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = "Budget: share of customers recommended to";
    var slider = document.createElement("input");
    slider.type = "range"; slider.id = id;
    slider.min = "0"; slider.max = String(n - 1); slider.step = "1";
    var start = budgets.indexOf(data.budget);
    slider.value = String(start < 0 ? 9 : start);
    var value = document.createElement("output");
    value.htmlFor = id;
    control.append(label, slider, value);

    var svg = el("svg", { role: "img",
      "aria-label": "Extra purchases caused against the budget, one line per policy with a band of one standard deviation over the seeds; a vertical line marks the chosen budget." });
    svg.classList.add("dw-chart");
    var W = 640, dots = {}, marker;
    // drawn in the container's own pixels, so text stays 13 px on a phone
    function drawChart() {
    W = Math.max(300, Math.round(box.clientWidth || 640));
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    // axes and ticks in the text colour of the palette (currentColor)
    el("line", { x1: L, x2: W - R, y1: y(0), y2: y(0), stroke: "currentColor" }, svg);
    el("line", { x1: L, x2: L, y1: T, y2: y(0), stroke: "currentColor" }, svg);
    for (var t = 0; t <= 1.0001; t += 0.2) {
      el("line", { x1: x(t), x2: x(t), y1: y(0), y2: y(0) + 5, stroke: "currentColor" }, svg);
      el("text", { x: x(t), y: y(0) + 19, "text-anchor": "middle" }, svg).textContent = pct(t);
    }
    var step = top > 2000 ? 1000 : 500;
    for (var v = 0; v <= top; v += step) {
      el("line", { x1: L - 5, x2: L, y1: y(v), y2: y(v), stroke: "currentColor" }, svg);
      el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "currentColor",
        "stroke-opacity": 0.15 }, svg);
      el("text", { x: L - 8, y: y(v) + 4, "text-anchor": "end" }, svg).textContent = fmt(v);
    }
    el("text", { x: (L + W - R) / 2, y: H - 8, "text-anchor": "middle" }, svg)
      .textContent = "budget: share of the " + fmt(data.n_customers) + " customers";
    el("text", { x: 14, y: (T + y(0)) / 2, "text-anchor": "middle",
      transform: "rotate(-90 14 " + (T + y(0)) / 2 + ")" }, svg).textContent = "extra purchases";

    dots = {};
    data.policies.forEach(function (p) {
      var colour = COLOURS[p.key] || "currentColor";
      var upper = [], lower = [], line = [];
      for (var i = 0; i < n; i++) {
        upper.push(x(budgets[i]) + "," + y(p.mean[i] + p.std[i]));
        lower.unshift(x(budgets[i]) + "," + y(Math.max(0, p.mean[i] - p.std[i])));
        line.push(x(budgets[i]) + "," + y(p.mean[i]));
      }
      el("polygon", { points: upper.concat(lower).join(" "), fill: colour,
        "fill-opacity": 0.25, stroke: "none" }, svg);
      el("polyline", { points: line.join(" "), fill: "none", stroke: colour,
        "stroke-width": 2.5 }, svg);
      dots[p.key] = el("circle", { r: 5, fill: colour, stroke: "currentColor" }, svg);
    });
    marker = el("line", { y1: T, y2: y(0), stroke: "currentColor",
      "stroke-dasharray": "4 3" }, svg);
    marker.classList.add("dw-marker");
    }

    var legend = document.createElement("ul");
    legend.className = "dw-legend";
    data.policies.forEach(function (p) {
      var item = document.createElement("li");
      var swatch = document.createElement("span");
      swatch.className = "dw-swatch";
      swatch.style.background = COLOURS[p.key] || "currentColor";
      item.append(swatch, document.createTextNode(p.label));
      legend.appendChild(item);
    });

    var readout = document.createElement("p");
    readout.className = "dw-readout";
    readout.setAttribute("aria-live", "polite");

    function update() {
      var i = Number(slider.value), b = budgets[i];
      value.textContent = pct(b);
      marker.setAttribute("x1", x(b)); marker.setAttribute("x2", x(b));
      var parts = [], byKey = {};
      data.policies.forEach(function (p) {
        byKey[p.key] = p;
        dots[p.key].setAttribute("cx", x(b));
        dots[p.key].setAttribute("cy", y(p.mean[i]));
        parts.push(p.label + ": " + fmt(p.mean[i]) + " ± " + fmt(p.std[i]));
      });
      var text = "At " + pct(b) + " of the customers (" +
        fmt(b * data.n_customers) + " recommendations), extra purchases caused, mean ± std over " +
        data.n_seeds + " runs: " + parts.join("; ") + ".";
      var p1 = byKey.policy_1, p2 = byKey.policy_2;
      if (p1 && p2) {
        var wins = 0;
        p2.runs.forEach(function (run, s) { if (run[i] > p1.runs[s][i]) wins++; });
        text += " Policy 2 caused more than policy 1 in " + wins + " of " + data.n_seeds + " runs.";
      }
      readout.textContent = text;
      readout.dataset.budget = String(b);
    }
    slider.addEventListener("input", update);
    live.append(control, svg, legend, readout);
    box.insertBefore(live, box.firstChild);
    box.classList.add("is-live");
    drawChart();
    update();
    var lastWidth = box.clientWidth;
    window.addEventListener("resize", function () {
      if (box.clientWidth === lastWidth) return;
      lastWidth = box.clientWidth;
      drawChart();
      update();
    });
  }

  window.dlnotesWidget.mount("drivetrain-budget", build);
})();
