/* The text generator's samples at a chosen temperature.
 *
 * The snippet text_generate.py samples a few continuations of one prompt at
 * each temperature of a grid (fixed seeds) and measures, for every run, the
 * share of generated words that are words of the corpus and the share of
 * distinct words. This script reads that JSON and shows a slider over the
 * grid, the samples at the chosen temperature, and both measures against
 * temperature (mean over runs, the chosen temperature marked). The static
 * figure stays in the page for print and for readers without JavaScript.
 */
(function () {
  "use strict";
  var W = 640, H = 252, L = 52, R = 16, T = 14, B = 64;

  var el = window.dlnotesWidget.svg;

  function pct(v) { return Math.round(100 * v) + "%"; }

  function draw(root, data) {
    var temps = data.temperatures, n = temps.length;
    var lo = temps[0], hi = temps[n - 1];
    var x = function (t) { return L + (t - lo) / (hi - lo) * (W - L - R); };
    var y = function (v) { return T + (1 - v) * (H - T - B); };
    var id = window.dlnotesWidget.uid("tt");

    var box = document.createElement("div");
    box.className = "tt-widget";

    var controls = document.createElement("div");
    controls.className = "tt-controls";
    var label = document.createElement("label");
    label.setAttribute("for", id);
    label.textContent = "Temperature";
    var slider = document.createElement("input");
    slider.type = "range";
    slider.id = id;
    slider.min = "0";
    slider.max = String(n - 1);
    slider.step = "1";
    slider.value = String(data.start_index || 0);
    var value = document.createElement("output");
    value.setAttribute("for", id);
    value.className = "tt-value";
    controls.appendChild(label);
    controls.appendChild(slider);
    controls.appendChild(value);
    box.appendChild(controls);

    var readout = document.createElement("p");
    readout.className = "tt-readout";
    readout.setAttribute("aria-live", "polite");
    box.appendChild(readout);

    var svg = el("svg", {viewBox: "0 0 " + W + " " + H, role: "img",
                         "class": "tt-chart"});
    var title = el("title", {}, svg);
    title.textContent = "Share of corpus words and of distinct words " +
      "against temperature, mean over " + data.n_runs + " runs";
    [0, 0.25, 0.5, 0.75, 1].forEach(function (v) {
      el("line", {x1: L, x2: W - R, y1: y(v), y2: y(v), "class": "tt-grid"},
         svg);
      el("text", {x: L - 6, y: y(v) + 4, "text-anchor": "end",
                  "class": "tt-tick"}, svg).textContent = pct(v);
    });
    temps.forEach(function (t) {
      el("text", {x: x(t), y: H - B + 18, "text-anchor": "middle",
                  "class": "tt-tick"}, svg).textContent = String(t);
    });
    el("text", {x: (L + W - R) / 2, y: H - B + 36, "text-anchor": "middle",
                "class": "tt-tick"}, svg).textContent = "temperature";
    var series = [
      {key: "real_words", name: "words of the corpus", cls: "tt-real"},
      {key: "distinct_words", name: "distinct words", cls: "tt-distinct"}
    ];
    series.forEach(function (s, k) {
      var pts = temps.map(function (t, i) {
        return x(t) + "," + y(data[s.key + "_mean"][i]);
      });
      el("polyline", {points: pts.join(" "), "class": "tt-line " + s.cls},
         svg);
      temps.forEach(function (t, i) {
        el("circle", {cx: x(t), cy: y(data[s.key + "_mean"][i]), r: 3.5,
                      "class": "tt-dot " + s.cls}, svg);
      });
      var lx = L + 12 + k * 200;
      el("line", {x1: lx, x2: lx + 22, y1: H - 10, y2: H - 10,
                  "class": "tt-line " + s.cls}, svg);
      el("text", {x: lx + 28, y: H - 6, "class": "tt-tick"}, svg)
        .textContent = s.name;
    });
    var marker = el("line", {y1: T, y2: H - B, "class": "tt-marker"}, svg);
    box.appendChild(svg);

    var samples = document.createElement("div");
    samples.className = "tt-samples";
    box.appendChild(samples);

    function show() {
      var i = Number(slider.value), t = temps[i];
      value.textContent = String(t);
      slider.setAttribute("aria-valuetext", "temperature " + t);
      marker.setAttribute("x1", x(t));
      marker.setAttribute("x2", x(t));
      readout.textContent = "Temperature " + t + ": " +
        pct(data.real_words_mean[i]) + " of the generated words are " +
        "words of the corpus and " + pct(data.distinct_words_mean[i]) +
        " of them are distinct (mean over " + data.n_runs + " runs).";
      samples.textContent = "";
      data.samples[i].forEach(function (text, k) {
        var pre = document.createElement("pre");
        pre.className = "tt-sample";
        pre.setAttribute("aria-label", "sample " + (k + 1) +
                         " at temperature " + t);
        var prompt = document.createElement("strong");
        prompt.textContent = data.prompt;
        pre.appendChild(prompt);
        pre.appendChild(document.createTextNode(text));
        samples.appendChild(pre);
      });
    }
    slider.addEventListener("input", show);
    show();
    root.insertBefore(box, root.firstChild);
    root.classList.add("tt-live");
  }

  window.dlnotesWidget.mount("text-temperature", draw);
})();
