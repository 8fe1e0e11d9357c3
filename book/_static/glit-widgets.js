/* The book's interactive figures on its static web page.
 *
 * A chapter's interactive cell shows, on the web page, a
 * <div class="glit-page-figure" data-kind="..."> holding its data as JSON
 * (glitlib.studies.page). This script turns each into controls and an SVG
 * picture: no Python, no network, no library. Kinds:
 *
 *   explorer  chapter 7: G per block -> params and MACs, summed from the
 *             exported cost of every block a slider or click can reach
 *             (glitlib.studies.explorer.page_data), and the network drawn;
 *   replay    chapter 9: a recorded evolution, generation by generation
 *             (glitlib.studies.replay.page_data);
 *   window    chapter 3: the tokens a local head's kernel covers;
 *   bars      chapter 4: precomputed bar charts, one per combination of
 *             the controls' values.
 *
 * It also gives MathJax 3 the MathJax 2 call that the widget manager makes
 * (MathJax.Hub.Queue), so the saved ipywidgets render without an error.
 */
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";

  function el(name, attrs, parent, text) {
    var node = document.createElement(name);
    for (var key in attrs || {}) node.setAttribute(key, attrs[key]);
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  function svg(name, attrs, parent, text) {
    var node = document.createElementNS(SVG, name);
    for (var key in attrs || {}) node.setAttribute(key, attrs[key]);
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function commas(n) {
    return Math.round(n).toLocaleString("en-US");
  }

  function fixed(x, digits) {
    return Number(x).toFixed(digits);
  }

  // Round tick values for an axis from lo to hi.
  function ticks(lo, hi, count) {
    var span = hi - lo, raw = span / Math.max(1, count);
    var mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = [1, 2, 2.5, 5, 10].map(function (m) { return m * mag; })
      .find(function (s) { return s >= raw; });
    var out = [];
    for (var t = Math.ceil(lo / step) * step; t <= hi + 1e-9; t += step) {
      out.push(Number(t.toFixed(10)));
    }
    return out;
  }

  function slider(parent, min, max, value, label) {
    var input = el("input", {type: "range", min: min, max: max, step: 1,
                             value: value, "aria-label": label}, parent);
    return input;
  }

  // -- explorer --------------------------------------------------------------
  function blockKind(g, n) {
    return g === n ? "global" : g === 0 ? "local" : "mixed";
  }

  // The fill rule of glitlib.studies.explorer.with_distribution: a block
  // whose G changes keeps the preset's values and fills what it lacks with
  // the space's middle candidates; an unchanged block stays as it is.
  function withG(space, b, g) {
    if (g === b[0]) return b.slice();
    var n = space.num_heads, mid = space.middle;
    return [
      g,
      g > 0 ? (b[1] !== null ? b[1] : mid.d_k) : null,
      b[2],
      g < n ? (b[3] !== null ? b[3] : mid.e) : null,
      g < n ? (b[4] !== null ? b[4] : mid.k) : null,
    ];
  }

  function key(b) {
    return b.map(function (v) { return v === null ? "-" : String(v); }).join(",");
  }

  // Params and MACs: the stem's plus each block's, from the exported table.
  function total(space, blocks) {
    var params = space.stem[0], macs = space.stem[1], per = [];
    blocks.forEach(function (b) {
      var c = space.costs[key(b)];
      if (!c) throw new Error("no cost for block " + key(b));
      params += c[0];
      macs += c[1];
      per.push(c);
    });
    return {params: params, macs: macs, blocks: per};
  }

  function explorer(root, data) {
    var state = {};
    var top = el("div", {"class": "glit-row"}, root);
    el("span", {}, top, "preset ");
    var menu = el("select", {"class": "glit-preset", "aria-label": "preset"}, top);
    data.presets.forEach(function (p, i) {
      el("option", {value: String(i)}, menu, p.name);
    });
    el("p", {"class": "glit-hint"}, root,
       "Click a block to add a global head (N wraps round to 0), or set its " +
       "number of global heads, G, with the slider below it.");
    var picture = el("div", {"class": "glit-picture"}, root);
    var sliders = el("div", {"class": "glit-sliders"}, root);
    var numbers = el("div", {"class": "glit-numbers"}, root);

    function blocks() {
      return state.base.blocks.map(function (b, i) {
        return withG(state.space, b, state.dist[i]);
      });
    }

    function draw(highlight) {
      var space = state.space, n = space.num_heads, depth = space.depth;
      var arch = blocks(), cost = total(space, arch);
      var ref = total(space, space.reference.blocks);
      var kinds = {global: 0, mixed: 0, local: 0};
      arch.forEach(function (b) { kinds[blockKind(b[0], n)] += 1; });
      root.dataset.params = String(cost.params);
      root.dataset.macs = String(cost.macs);
      root.dataset.distribution = state.dist.join(",");
      clear(numbers);
      var table = el("table", {"class": "glit-table"}, numbers);
      var head = el("tr", {}, table);
      el("th", {}, head, "");
      el("th", {}, head, "this network");
      el("th", {}, head, "vs " + space.reference.name);
      [["params", cost.params, ref.params], ["MACs", cost.macs, ref.macs]]
        .forEach(function (row) {
          var tr = el("tr", {}, table);
          el("td", {}, tr, row[0]);
          el("td", {"class": "glit-num glit-" + row[0].toLowerCase()}, tr,
             commas(row[1]));
          el("td", {"class": "glit-num"}, tr, fixed(row[1] / row[2], 3) + "x");
        });
      el("div", {}, numbers, "blocks: " + kinds.global + " global, " +
         kinds.mixed + " mixed, " + kinds.local + " local; distribution [" +
         state.dist.join(", ") + "]");

      // The network above, MACs per block below; one column per block.
      clear(picture);
      var W = 720, col = W / depth, netH = 34 + 26 * n, barH = 120;
      var barTop = netH + 22, H = barTop + barH + 40;
      var s = svg("svg", {viewBox: "0 0 " + W + " " + H, "class": "glit-svg",
                          role: "img"}, picture);
      svg("title", {}, s, cost.params.toLocaleString("en-US") + " params, " +
          cost.macs.toLocaleString("en-US") + " MACs");
      var maxMacs = 0;
      cost.blocks.concat(ref.blocks).forEach(function (c) {
        maxMacs = Math.max(maxMacs, c[1]);
      });
      arch.forEach(function (b, i) {
        var g = b[0], kind = blockKind(g, n), x = i * col;
        var group = svg("g", {"class": "glit-block", "data-block": i,
                              "data-g": g}, s);
        svg("title", {}, group, "block " + i + ": G = " + g +
            (b[1] !== null ? ", d_k = " + b[1] : "") + ", d_z = " + b[2] +
            (b[3] !== null ? ", E = " + b[3] + ", K = " + b[4] : "") +
            "; click to add a global head");
        svg("rect", {x: x + col * 0.06, y: 22, width: col * 0.88,
                     height: 26 * n + 8, rx: 4, fill: data.colors.kind[kind],
                     stroke: i === highlight ? "#000" : "none",
                     "stroke-width": 2.5, "class": "glit-frame"}, group);
        for (var h = 0; h < n; h++) {
          var global = h < g;
          svg("rect", {x: x + col * 0.16, y: 26 + 26 * (n - 1 - h),
                       width: col * 0.68, height: 22,
                       fill: data.colors.head[global ? "global" : "local"],
                       "class": global ? "glit-head-global" : "glit-head-local"},
              group);
        }
        svg("text", {x: x + col / 2, y: 16, "text-anchor": "middle",
                     "class": "glit-label"}, group, g + "/" + (n - g));
        // MACs bar of the block, the reference's as a dashed outline
        var base = barTop + barH, scale = barH / maxMacs;
        var c = cost.blocks[i], r = ref.blocks[i];
        svg("rect", {x: x + col * 0.2, y: base - c[1] * scale,
                     width: col * 0.6, height: c[1] * scale,
                     fill: data.colors.kind[kind], stroke: "#696969",
                     "class": "glit-bar"}, s);
        svg("rect", {x: x + col * 0.2, y: base - r[1] * scale,
                     width: col * 0.6, height: r[1] * scale, fill: "none",
                     stroke: "#000", "stroke-dasharray": "4 3"}, s);
        svg("text", {x: x + col / 2, y: base + 16, "text-anchor": "middle",
                     "class": "glit-label"}, s, String(i));
      });
      svg("line", {x1: 0, x2: W, y1: barTop + barH, y2: barTop + barH,
                   stroke: "#444"}, s);
      svg("text", {x: 4, y: netH + 14, "class": "glit-small"}, s,
          "MACs per block (top: " + fixed(maxMacs / 1e6, 2) + "M); dashed: " +
          space.reference.name);
      svg("text", {x: W / 2, y: H - 4, "text-anchor": "middle",
                   "class": "glit-small"}, s,
          "block (label: global/local heads; blue global, orange local)");
      Array.prototype.forEach.call(s.querySelectorAll(".glit-block"),
        function (group) {
          group.addEventListener("click", function () {
            var i = Number(group.dataset.block);
            state.dist[i] = (state.dist[i] + 1) % (n + 1);
            state.inputs[i].value = String(state.dist[i]);
            state.readouts[i].textContent = "G " + state.dist[i];
            draw(i);
          });
        });
    }

    function load(index) {
      var preset = data.presets[index];
      state.base = preset;
      state.space = data.spaces[preset.space];
      state.dist = preset.blocks.map(function (b) { return b[0]; });
      clear(sliders);
      sliders.style.gridTemplateColumns =
        "repeat(" + state.space.depth + ", minmax(0, 1fr))";
      state.inputs = [];
      state.readouts = [];
      state.dist.forEach(function (g, i) {
        var cell = el("div", {"class": "glit-slider-cell"}, sliders);
        var input = slider(cell, 0, state.space.num_heads, g,
                           "block " + i + ": global heads");
        input.dataset.block = String(i);
        var readout = el("span", {"class": "glit-small"}, cell, "G " + g);
        input.addEventListener("input", function () {
          state.dist[i] = Number(input.value);
          readout.textContent = "G " + state.dist[i];
          draw(i);
        });
        state.inputs.push(input);
        state.readouts.push(readout);
      });
      root.dataset.preset = preset.name;
      draw(null);
    }

    menu.addEventListener("change", function () { load(Number(menu.value)); });
    var first = Math.max(0, data.presets.findIndex(function (p) {
      return p.name === data.initial;
    }));
    menu.value = String(first);
    load(first);
  }

  // -- replay ----------------------------------------------------------------
  function replay(root, data) {
    var last = data.frames.length - 1;
    var controls = el("div", {"class": "glit-row"}, root);
    var play = el("button", {type: "button", "class": "glit-play"}, controls,
                  "\u25B6 play");
    var input = slider(controls, 0, last, data.start, "generation");
    input.className = "glit-generation";
    var label = el("span", {"class": "glit-gen-label"}, controls, "");
    var caption = el("div", {"class": "glit-caption"}, root);
    var picture = el("div", {"class": "glit-picture"}, root);
    var timer = null;

    var W = 760, H = 330, L = 58, R = 470, T = 26, B = 280;  // the plane
    var L2 = 540, R2 = 745;                                  // best so far
    function px(x) { return L + (x - data.x[0]) / (data.x[1] - data.x[0]) * (R - L); }
    function py(y) { return B - (y - data.y[0]) / (data.y[1] - data.y[0]) * (B - T); }

    function axes(s) {
      svg("rect", {x: L, y: T, width: R - L, height: B - T, fill: "none",
                   stroke: "#444"}, s);
      ticks(data.x[0], data.x[1], 6).forEach(function (t) {
        svg("line", {x1: px(t), x2: px(t), y1: B, y2: B + 4, stroke: "#444"}, s);
        svg("text", {x: px(t), y: B + 16, "text-anchor": "middle",
                     "class": "glit-small"}, s, String(t));
      });
      ticks(data.y[0], data.y[1], 6).forEach(function (t) {
        svg("line", {x1: L - 4, x2: L, y1: py(t), y2: py(t), stroke: "#444"}, s);
        svg("text", {x: L - 7, y: py(t) + 4, "text-anchor": "end",
                     "class": "glit-small"}, s, String(t));
      });
      svg("text", {x: (L + R) / 2, y: B + 34, "text-anchor": "middle",
                   "class": "glit-label"}, s, "MACs (millions)");
      svg("text", {x: 14, y: (T + B) / 2, "text-anchor": "middle",
                   transform: "rotate(-90 14 " + (T + B) / 2 + ")",
                   "class": "glit-label"}, s, "supernet accuracy, held out (%)");
      if (data.limit_x !== null && data.limit_x <= data.x[1]) {
        svg("line", {x1: px(data.limit_x), x2: px(data.limit_x), y1: T, y2: B,
                     stroke: "grey", "stroke-dasharray": "5 4"}, s);
        svg("text", {x: px(data.limit_x) - 4, y: B - 6, "text-anchor": "end",
                     "class": "glit-small"}, s, "MACs limit");
      }
    }

    function star(s, x, y, r, attrs) {
      var pts = [];
      for (var i = 0; i < 10; i++) {
        var a = Math.PI / 2 + i * Math.PI / 5, rr = i % 2 ? r * 0.45 : r;
        pts.push((x + rr * Math.cos(a)).toFixed(2) + "," +
                 (y - rr * Math.sin(a)).toFixed(2));
      }
      attrs.points = pts.join(" ");
      return svg("polygon", attrs, s);
    }

    function show(g) {
      var f = data.frames[g];
      input.value = String(g);
      label.textContent = "generation " + g + " of " + last;
      caption.textContent = f.caption;
      root.dataset.generation = String(g);
      clear(picture);
      var s = svg("svg", {viewBox: "0 0 " + W + " " + H, "class": "glit-svg",
                          role: "img"}, picture);
      svg("text", {x: (L + R) / 2, y: 16, "text-anchor": "middle",
                   "class": "glit-label glit-title"}, s, f.title);
      axes(s);
      var earlier = svg("g", {"class": "glit-earlier"}, s);
      for (var i = 0; i < f.earlier; i++) {
        var p = data.points[i];
        svg("circle", {cx: px(p[0]), cy: py(p[1]), r: 2.6, fill: "#c8c8c8"},
            earlier);
      }
      var parents = svg("g", {"class": "glit-parents"}, s);
      f.parents.forEach(function (j) {
        var p = data.points[j];
        svg("circle", {cx: px(p[0]), cy: py(p[1]), r: 6.5, fill: "none",
                       stroke: "#000", "stroke-width": 1.4}, parents);
      });
      var children = svg("g", {"class": "glit-children"}, s);
      f.children.forEach(function (j) {
        var p = data.points[j];
        svg("circle", {cx: px(p[0]), cy: py(p[1]), r: 4, fill: f.color,
                       stroke: "#000", "stroke-width": 0.4}, children);
      });
      var b = data.points[f.best];
      star(s, px(b[0]), py(b[1]), 10, {fill: "crimson", "class": "glit-best",
                                       "data-index": f.best});
      // legend
      var lg = svg("g", {}, s), ly = B - 62;
      [["#c8c8c8", "earlier generations"], ["ring", "parents of this generation"],
       [f.color, "generation " + g], ["crimson", "best so far"]]
        .forEach(function (item, k) {
          var y = ly + k * 15;
          if (item[0] === "ring") {
            svg("circle", {cx: L + 12, cy: y, r: 5, fill: "none", stroke: "#000"}, lg);
          } else if (item[1] === "best so far") {
            star(lg, L + 12, y, 6, {fill: "crimson"});
          } else {
            svg("circle", {cx: L + 12, cy: y, r: 3.5, fill: item[0]}, lg);
          }
          svg("text", {x: L + 24, y: y + 4, "class": "glit-small"}, lg, item[1]);
        });
      // best so far, per generation
      var scores = data.frames.map(function (fr) { return fr.best_score; });
      var lo = Math.min.apply(null, scores), hi = Math.max.apply(null, scores);
      var pad = Math.max(0.5, (hi - lo) * 0.1);
      lo -= pad; hi += pad;
      function qx(k) { return L2 + k / Math.max(1, last) * (R2 - L2); }
      function qy(v) { return B - (v - lo) / (hi - lo) * (B - T); }
      svg("rect", {x: L2, y: T, width: R2 - L2, height: B - T, fill: "none",
                   stroke: "#444"}, s);
      svg("polyline", {points: scores.map(function (v, k) {
        return qx(k).toFixed(2) + "," + qy(v).toFixed(2);
      }).join(" "), fill: "none", stroke: "grey"}, s);
      var every = Math.ceil((last + 1) / 10);
      scores.forEach(function (v, k) {
        svg("circle", {cx: qx(k), cy: qy(v), r: 2.5, fill: "grey"}, s);
        if (k % every === 0 || k === last) {
          svg("text", {x: qx(k), y: B + 16, "text-anchor": "middle",
                       "class": "glit-small"}, s, String(k));
        }
      });
      ticks(lo, hi, 5).forEach(function (t) {
        svg("text", {x: L2 - 6, y: qy(t) + 4, "text-anchor": "end",
                     "class": "glit-small"}, s, String(t));
      });
      star(s, qx(g), qy(scores[g]), 9, {fill: "crimson",
                                         "class": "glit-curve-now"});
      svg("text", {x: (L2 + R2) / 2, y: B + 34, "text-anchor": "middle",
                   "class": "glit-label"}, s, "generation");
      svg("text", {x: (L2 + R2) / 2, y: 16, "text-anchor": "middle",
                   "class": "glit-label"}, s, "best so far (%)");
    }

    function stop() {
      if (timer !== null) clearInterval(timer);
      timer = null;
      play.textContent = "\u25B6 play";
    }

    input.addEventListener("input", function () { stop(); show(Number(input.value)); });
    play.addEventListener("click", function () {
      if (timer !== null) return stop();
      if (Number(input.value) >= last) show(0);
      play.textContent = "\u275A\u275A pause";
      timer = setInterval(function () {
        var g = Number(input.value) + 1;
        if (g > last) return stop();
        show(g);
      }, 900);
    });
    show(data.start);
  }

  // -- window: the tokens a 1D kernel covers on the patch grid ---------------
  function windowFigure(root, data) {
    var m = data.m, controls = el("div", {"class": "glit-row"}, root);
    el("span", {}, controls, "token ");
    var token = slider(controls, 0, data.tokens - 1, data.token, "token");
    token.className = "glit-token";
    var tokenOut = el("span", {"class": "glit-readout"}, controls, "");
    el("span", {}, controls, " K ");
    var kInput = slider(controls, 0, data.ks.length - 1,
                        data.ks.indexOf(data.k), "kernel size K");
    kInput.className = "glit-k";
    var kOut = el("span", {"class": "glit-readout"}, controls, "");
    var picture = el("div", {"class": "glit-picture glit-narrow"}, root);

    function draw() {
      var t = Number(token.value), k = data.ks[Number(kInput.value)];
      var span = data.windows[String(k)][t], lo = span[0], hi = span[1];
      tokenOut.textContent = String(t);
      kOut.textContent = String(k);
      root.dataset.token = String(t);
      root.dataset.k = String(k);
      clear(picture);
      var cell = 22, off = 2.6 * cell, size = off + m * cell + 4;
      var s = svg("svg", {viewBox: "0 0 " + size + " " + (size + 22),
                          "class": "glit-svg", role: "img"}, picture);
      svg("text", {x: size / 2, y: 14, "text-anchor": "middle",
                   "class": "glit-label glit-title"}, s,
          "token " + t + ", K = " + k + ": " + (hi - lo + 1) + " tokens");
      for (var i = 0; i < data.tokens; i++) {
        var x, y;
        if (i === 0) { x = 0.4 * cell; y = 22 + 0.4 * cell; }
        else { x = off + ((i - 1) % m) * cell; y = 22 + off + Math.floor((i - 1) / m) * cell; }
        var fill = i === t ? "#d62728" : (i >= lo && i <= hi) ? "#ff7f0e" : "#f5f5f5";
        svg("rect", {x: x, y: y, width: cell, height: cell, fill: fill,
                     stroke: "grey", "stroke-width": 0.5,
                     "class": i >= lo && i <= hi ? "glit-covered" : "glit-cell"}, s);
      }
      svg("text", {x: 0.9 * cell, y: 22 + 0.3 * cell, "text-anchor": "middle",
                   "class": "glit-small"}, s, "cls");
    }
    token.addEventListener("input", draw);
    kInput.addEventListener("input", draw);
    draw();
  }

  // -- bars: one precomputed bar chart per combination of the controls -------
  function bars(root, data) {
    var controls = el("div", {"class": "glit-controls"}, root);
    var inputs = data.controls.map(function (c) {
      var row = el("div", {"class": "glit-row"}, controls);
      el("span", {"class": "glit-control-name"}, row, c.name);
      var input = slider(row, 0, c.values.length - 1, c.values.indexOf(c.value),
                         c.name);
      input.dataset.name = c.name;
      var out = el("span", {"class": "glit-readout"}, row, "");
      return {input: input, out: out, values: c.values};
    });
    var picture = el("div", {"class": "glit-picture"}, root);

    function draw() {
      var chosen = inputs.map(function (c) {
        var v = c.values[Number(c.input.value)];
        c.out.textContent = String(v);
        return String(v);
      });
      var frame = data.frames[chosen.join("|")];
      root.dataset.frame = chosen.join("|");
      clear(picture);
      var rowH = 24, L = 150, R = 620, T = 30;
      var H = T + frame.bars.length * rowH + 44;
      var s = svg("svg", {viewBox: "0 0 680 " + H, "class": "glit-svg",
                          role: "img"}, picture);
      svg("text", {x: (L + R) / 2, y: 18, "text-anchor": "middle",
                   "class": "glit-label glit-title"}, s, frame.title);
      var top = Math.max.apply(null, frame.bars.map(function (b) { return b[1]; }));
      top = Math.max(top, data.axis_min || 0);
      frame.bars.forEach(function (b, i) {
        var y = T + i * rowH;
        svg("text", {x: L - 8, y: y + rowH / 2 + 4, "text-anchor": "end",
                     "class": "glit-small"}, s, b[0]);
        svg("rect", {x: L, y: y + 3, width: Math.max(0, b[1] / top * (R - L)),
                     height: rowH - 6, fill: "#1f77b4", "class": "glit-hbar"}, s);
      });
      var base = T + frame.bars.length * rowH;
      svg("line", {x1: L, x2: R, y1: base, y2: base, stroke: "#444"}, s);
      ticks(0, top, 5).forEach(function (t) {
        var x = L + t / top * (R - L);
        svg("line", {x1: x, x2: x, y1: base, y2: base + 4, stroke: "#444"}, s);
        svg("text", {x: x, y: base + 16, "text-anchor": "middle",
                     "class": "glit-small"}, s, String(t));
      });
      svg("text", {x: (L + R) / 2, y: base + 36, "text-anchor": "middle",
                   "class": "glit-label"}, s, data.xlabel);
    }
    inputs.forEach(function (c) { c.input.addEventListener("input", draw); });
    draw();
  }

  var KINDS = {explorer: explorer, replay: replay, window: windowFigure,
               bars: bars};

  function start() {
    var found = document.querySelectorAll(".glit-page-figure");
    Array.prototype.forEach.call(found, function (root) {
      if (root.dataset.ready) return;
      var script = root.querySelector('script[type="application/json"]');
      var draw = KINDS[root.dataset.kind];
      if (!script || !draw) return;
      var fallback = root.querySelector(".glit-page-fallback");
      if (fallback) fallback.remove();
      draw(root, JSON.parse(script.textContent));
      root.dataset.ready = "1";
    });
  }

  // The widget manager typesets HTML widgets with MathJax 2's Hub.Queue; the
  // book loads MathJax 3, which has no Hub. Map the call onto MathJax 3.
  function mathjaxBridge() {
    var mj = window.MathJax;
    if (!mj || mj.Hub || !mj.version || mj.version.charAt(0) !== "3") return;
    mj.Hub = {
      Queue: function (job) {
        var node = Array.isArray(job) ? job[2] : undefined;
        var typeset = window.MathJax.typesetPromise;
        if (node && typeset) typeset([node]).catch(function () {});
      },
    };
  }

  window.glitWidgets = {start: start, total: total, withG: withG, key: key};
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () {
      mathjaxBridge();
      start();
    });
  } else {
    mathjaxBridge();
    start();
  }
})();
