/* The overfitting curves with an epoch slider (docs/overfitting.md).
 *
 * Reads the JSON that snippets/overfitting.py writes (per run: mean and std
 * over the seeds of the training and validation accuracy and loss at every
 * epoch, and the early-stopping pick), draws one panel per run in SVG, and
 * says in a live readout what stopping at the slider's epoch would give
 * against the pick. The static figure in the container stays for print and
 * for readers without JavaScript. Colours come from CSS (both palettes).
 */
(function () {
  "use strict";

  var el = window.dlnotesWidget.svg;

  function html(name, attrs, parent, text) {
    var node = document.createElement(name);
    Object.keys(attrs || {}).forEach(function (k) {
      node.setAttribute(k, attrs[k]);
    });
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  function pct(v) { return (100 * v).toFixed(1) + " %"; }
  function points(v) {
    var p = (100 * v).toFixed(1);
    return (v >= 0 ? "+" : "") + p + " points";
  }

  var METRICS = {
    accuracy: {label: "Accuracy", train: "train_accuracy",
               valid: "valid_accuracy", fmt: pct},
    loss: {label: "Loss", train: "train_loss", valid: "valid_loss",
           fmt: function (v) { return v.toFixed(3); }}
  };

  function Widget(container, data) {
    this.data = data;
    this.metric = "accuracy";
    this.epoch = data.runs[0].best_epoch;
    var id = window.dlnotesWidget.uid("ofw");
    var root = html("div", {"class": "ofw"});
    container.insertBefore(root, container.firstChild);
    var controls = html("div", {"class": "ofw-controls"}, root);
    html("label", {"for": id + "-epoch"}, controls, "Epoch");
    this.slider = html("input", {
      type: "range", id: id + "-epoch", min: "0",
      max: String(data.epochs - 1), step: "1", value: String(this.epoch),
      "aria-describedby": id + "-readout"
    }, controls);
    this.value = html("output", {"for": id + "-epoch", "class": "ofw-value"},
                      controls);
    var group = html("div", {role: "group", "aria-label": "Curves shown",
                             "class": "ofw-metric"}, controls);
    this.buttons = {};
    Object.keys(METRICS).forEach(function (key) {
      var b = html("button", {type: "button", "data-metric": key,
                              "aria-pressed": String(key === this.metric)},
                   group, METRICS[key].label);
      b.addEventListener("click", function () {
        this.metric = key;
        this.update(true);
      }.bind(this));
      this.buttons[key] = b;
    }, this);
    this.svg = el("svg", {"class": "ofw-plot", role: "img"}, root);
    this.readout = html("div", {id: id + "-readout", "class": "ofw-readout",
                                "aria-live": "polite"}, root);
    this.slider.addEventListener("input", function () {
      this.epoch = Number(this.slider.value);
      this.update(false);
    }.bind(this));
    container.classList.add("ofw-ready");
    this.width = 0;
    var self = this;
    if (window.ResizeObserver) {
      new ResizeObserver(function () {
        if (root.clientWidth && root.clientWidth !== self.width) {
          self.update(true);
        }
      }).observe(root);
    }
    this.root = root;
    this.update(true);
  }

  Widget.prototype.update = function (redraw) {
    Object.keys(this.buttons).forEach(function (key) {
      this.buttons[key].setAttribute("aria-pressed",
                                     String(key === this.metric));
    }, this);
    this.value.textContent = String(this.epoch);
    if (redraw || !this.cursors) this.draw();
    this.moveCursor();
    this.writeReadout();
  };

  Widget.prototype.draw = function () {
    var data = this.data, m = METRICS[this.metric], svg = this.svg;
    var width = Math.max(300, Math.round(this.root.clientWidth || 640));
    this.width = this.root.clientWidth;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var left = 52, right = 12, panel = 120, gap = 40;
    var rows = width < 480 ? 2 : 1;  // the legend wraps on a phone
    var top = 26 + 18 * rows;
    var height = top + data.runs.length * (panel + gap) - gap + 26;
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.setAttribute("width", String(width));
    svg.setAttribute("height", String(height));
    svg.setAttribute("aria-label", m.label + " of the training and " +
      "validation sets against epoch, mean and spread over " +
      data.n_seeds + " seeds, one panel per run, with the epoch chosen " +
      "by the slider and the early-stopping pick marked");
    var n = data.epochs;
    var x = function (e) { return left + (width - left - right) * e / (n - 1); };
    this.x = x;
    this.cursors = [];
    this.dots = [];
    data.runs.forEach(function (run, i) {
      var y0 = top + i * (panel + gap);
      var series = [run[m.train], run[m.valid]];
      var lo = Infinity, hi = -Infinity;
      series.forEach(function (s) {
        s.mean.forEach(function (v, k) {
          lo = Math.min(lo, v - s.std[k]);
          hi = Math.max(hi, v + s.std[k]);
        });
      });
      if (this.metric === "accuracy") {
        lo = Math.max(0, Math.floor(lo * 10) / 10);
        hi = 1;
      } else {
        lo = 0;
        hi = Math.min(Math.ceil(Math.min(hi, 1.5) * 10) / 10, 1.5);
      }
      var y = function (v) {
        v = Math.min(hi, Math.max(lo, v));
        return y0 + panel * (hi - v) / (hi - lo);
      };
      var g = el("g", {"class": "ofw-panel"}, svg);
      var title = el("text", {x: left, y: y0 - 8, "class": "ofw-title"}, g);
      title.textContent = run.title;
      el("line", {x1: left, x2: left, y1: y0, y2: y0 + panel,
                  "class": "ofw-axis"}, g);
      el("line", {x1: left, x2: width - right, y1: y0 + panel,
                  y2: y0 + panel, "class": "ofw-axis"}, g);
      [lo, (lo + hi) / 2, hi].forEach(function (v) {
        var t = el("text", {x: left - 6, y: y(v) + 4, "class": "ofw-tick",
                            "text-anchor": "end"}, g);
        t.textContent = this.metric === "accuracy"
          ? Math.round(100 * v) + "%" : v.toFixed(1);
        el("line", {x1: left, x2: width - right, y1: y(v), y2: y(v),
                    "class": "ofw-grid"}, g);
      }, this);
      var ticks = [0, Math.round((n - 1) / 2), n - 1];
      ticks.forEach(function (e) {
        var t = el("text", {x: x(e), y: y0 + panel + 15, "class": "ofw-tick",
                            "text-anchor": "middle"}, g);
        t.textContent = String(e);
      });
      ["train", "valid"].forEach(function (kind, k) {
        var s = series[k], up = "", down = "", line = "";
        s.mean.forEach(function (v, e) {
          up += (e ? "L" : "M") + x(e).toFixed(1) + "," +
                y(v + s.std[e]).toFixed(1);
          line += (e ? "L" : "M") + x(e).toFixed(1) + "," + y(v).toFixed(1);
        });
        for (var e = n - 1; e >= 0; e--) {
          down += "L" + x(e).toFixed(1) + "," +
                  y(s.mean[e] - s.std[e]).toFixed(1);
        }
        el("path", {d: up + down + "Z", "class": "ofw-band ofw-" + kind}, g);
        el("path", {d: line, "class": "ofw-line ofw-" + kind}, g);
      });
      var best = run.best_epoch;
      el("line", {x1: x(best), x2: x(best), y1: y0, y2: y0 + panel,
                  "class": "ofw-pick"}, g);
      var star = el("text", {x: x(best), y: y(series[1].mean[best]) + 6,
                             "class": "ofw-star", "text-anchor": "middle"}, g);
      star.textContent = "\u2605";
      var cursor = el("line", {y1: y0, y2: y0 + panel, "class": "ofw-cursor"},
                      g);
      var dots = ["train", "valid"].map(function (kind) {
        return el("circle", {r: 4.5, "class": "ofw-dot ofw-" + kind}, g);
      });
      this.cursors.push(cursor);
      this.dots.push({dots: dots, y: y, series: series});
    }, this);
    var legend = el("g", {"class": "ofw-legend"}, svg);
    var lx = left, ly = 12;
    [["train", "training set"], ["valid", "validation set"],
     ["pick", "\u2605 early-stopping pick"]].forEach(function (item, k) {
      if (rows > 1 && k === 2) {
        lx = left;
        ly += 18;
      }
      if (item[0] !== "pick") {
        el("line", {x1: lx, x2: lx + 18, y1: ly - 4, y2: ly - 4,
                    "class": "ofw-line ofw-" + item[0]}, legend);
        lx += 24;
      }
      var t = el("text", {x: lx, y: ly, "class": "ofw-tick" +
                          (item[0] === "pick" ? " ofw-picklabel" : "")},
                 legend);
      t.textContent = item[1];
      lx += 7 * item[1].length + 22;
    });
  };

  Widget.prototype.moveCursor = function () {
    var e = this.epoch, x = this.x;
    this.cursors.forEach(function (c, i) {
      c.setAttribute("x1", x(e));
      c.setAttribute("x2", x(e));
      var d = this.dots[i];
      d.dots.forEach(function (dot, k) {
        dot.setAttribute("cx", x(e));
        dot.setAttribute("cy", d.y(d.series[k].mean[e]));
      });
    }, this);
  };

  Widget.prototype.writeReadout = function () {
    var e = this.epoch, data = this.data, r = this.readout;
    while (r.firstChild) r.removeChild(r.firstChild);
    html("p", {}, r, "At epoch " + e + " (mean \u00b1 std over " +
         data.n_seeds + " seeds):");
    var list = html("ul", {}, r);
    data.runs.forEach(function (run) {
      var va = run.valid_accuracy, b = run.best_epoch;
      var diff = va.mean[e] - va.mean[b];
      var against = " against the pick (epoch " + b + ", " +
                    pct(va.mean[b]) + ")";
      var verdict = e === b ? "this is the early-stopping pick"
        : Math.abs(diff) < 0.0005
          ? "stopping here gives the same validation accuracy" + against
          : "stopping here " + (diff < 0 ? "costs " : "gains ") +
            points(Math.abs(diff)).replace(/^[+]/, "") +
            " of validation accuracy" + against;
      html("li", {"data-run": run.name}, list,
           run.title + ": training accuracy " +
           pct(run.train_accuracy.mean[e]) + ", validation accuracy " +
           pct(va.mean[e]) + " \u00b1 " + pct(va.std[e]) +
           "; loss " + run.train_loss.mean[e].toFixed(3) + " (training), " +
           run.valid_loss.mean[e].toFixed(3) + " (validation); " + verdict +
           ".");
    });
  };

  window.dlnotesWidget.mount("overfitting-epochs", function (container, data) {
    new Widget(container, data);
  });
})();
