/* vafusion report player: the video in sync with the valence/arousal curves.
   Written for vafusion, no library, no network. Reads the JSON block #va-data.
   State for tests: #va-curves has data-playhead (seconds drawn) and data-plot
   ("left,right,t0,t1" in CSS pixels / seconds). */
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("va-data").textContent);
  var section = document.getElementById("va-player");
  section.hidden = false;
  var video = document.getElementById("va-video");
  var boxes = document.getElementById("va-boxes");
  var showBoxes = document.getElementById("va-show-boxes");
  var curves = document.getElementById("va-curves");
  var circle = document.getElementById("va-circle");
  var clock = document.getElementById("va-clock");
  var T = D.t, N = T.length;
  var t0 = 0, t1 = Math.max(D.duration, N ? T[N - 1] : 0, 1e-3);
  var hasExpr = D.faces.some(function (f) { return f.expr; });
  var M = { left: 46, right: 12, top: 10, panel: 120, gap: 16, strip: 34, axis: 26 };
  var now = 0;
  var dpr = window.devicePixelRatio || 1;
  var curveLayer = null, circleLayer = null;

  function frameAt(t) { // last frame with T[i] <= t (binary search)
    var lo = 0, hi = N - 1;
    if (!N) return -1;
    if (t < T[0]) return 0;
    while (lo < hi) { var mid = (lo + hi + 1) >> 1; if (T[mid] <= t + 1e-4) lo = mid; else hi = mid - 1; }
    return lo;
  }
  function rgba(hex, a) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + a + ")";
  }
  var VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  function viridis(x, a) {
    x = Math.min(1, Math.max(0, x)) * (VIRIDIS.length - 1);
    var i = Math.min(VIRIDIS.length - 2, Math.floor(x)), f = x - i, p = VIRIDIS[i], q = VIRIDIS[i + 1];
    return "rgba(" + Math.round(p[0] + f * (q[0] - p[0])) + "," + Math.round(p[1] + f * (q[1] - p[1])) +
      "," + Math.round(p[2] + f * (q[2] - p[2])) + "," + a + ")";
  }
  function alphaOf(face, i) { return face.c ? 0.15 + 0.85 * (face.c[i] == null ? 0 : face.c[i]) : 1; }

  // ------------------------------------------------------------ curves (static layer)
  function curveSize() {
    var w = Math.max(320, curves.parentElement.clientWidth);
    var h = M.top + 2 * M.panel + M.gap + (hasExpr ? M.gap + M.strip : 0) + M.axis;
    return [w, h];
  }
  function xOf(t, w) { return M.left + (t - t0) / (t1 - t0) * (w - M.left - M.right); }
  function tOf(x, w) { return t0 + (x - M.left) / (w - M.left - M.right) * (t1 - t0); }
  function panelY(k) { return M.top + k * (M.panel + M.gap); }

  function drawCurveLayer() {
    var s = curveSize(), w = s[0], h = s[1];
    curves.width = Math.round(w * dpr); curves.height = Math.round(h * dpr);
    curves.style.width = w + "px"; curves.style.height = h + "px";
    curves.dataset.plot = [M.left, w - M.right, t0, t1].join(",");
    var c = document.createElement("canvas");
    c.width = curves.width; c.height = curves.height;
    var g = c.getContext("2d");
    g.scale(dpr, dpr);
    g.fillStyle = "#fff"; g.fillRect(0, 0, w, h);
    g.font = "11px system-ui, sans-serif";
    ["valence", "arousal"].forEach(function (name, k) {
      var y0 = panelY(k), ph = M.panel;
      var yOf = function (v) { return y0 + (1 - (v + 1) / 2) * ph; };
      // no face anywhere: grey; stress episodes of any face: red shade
      shadeMissing(g, w, y0, ph);
      D.faces.forEach(function (f) {
        (f.episodes || []).forEach(function (e) {
          g.fillStyle = "rgba(217,48,37,0.13)";
          g.fillRect(xOf(e[0], w), y0, Math.max(1, xOf(e[1], w) - xOf(e[0], w)), ph);
        });
      });
      g.strokeStyle = "#ccc"; g.lineWidth = 1; g.strokeRect(M.left, y0, w - M.left - M.right, ph);
      g.fillStyle = "#555"; g.textAlign = "right"; g.textBaseline = "middle";
      [-1, 0, 1].forEach(function (v) {
        g.fillText(String(v), M.left - 5, yOf(v));
        g.strokeStyle = v === 0 ? "#999" : "#eee";
        g.beginPath(); g.moveTo(M.left, yOf(v)); g.lineTo(w - M.right, yOf(v)); g.stroke();
      });
      g.save(); g.translate(11, y0 + ph / 2); g.rotate(-Math.PI / 2); g.textAlign = "center";
      g.fillText(name, 0, 0); g.restore();
      var key = k === 0 ? "v" : "a";
      D.faces.forEach(function (f) {
        g.lineWidth = 1.8; g.lineCap = "round";
        for (var i = 1; i < N; i++) {
          var p = f[key][i - 1], q = f[key][i];
          if (p == null || q == null) continue;
          g.strokeStyle = rgba(f.color, alphaOf(f, i));
          g.beginPath(); g.moveTo(xOf(T[i - 1], w), yOf(p)); g.lineTo(xOf(T[i], w), yOf(q)); g.stroke();
        }
      });
    });
    var yAxis = panelY(2) - M.gap;
    if (hasExpr) { drawStrip(g, w, panelY(2)); yAxis = panelY(2) + M.strip; }
    g.fillStyle = "#555"; g.textAlign = "center"; g.textBaseline = "top";
    var step = niceStep(t1 - t0);
    for (var s2 = 0; s2 <= t1 + 1e-9; s2 += step) g.fillText(fmt(s2), xOf(s2, w), yAxis + 6);
    g.textAlign = "right"; g.fillText("time (s)", w - M.right, yAxis + 6 + 12);
    curveLayer = c;
  }
  function shadeMissing(g, w, y0, ph) {
    g.fillStyle = "#e6e6e6";
    var start = null;
    for (var i = 0; i <= N; i++) {
      var seen = i < N && D.faces.some(function (f) { return f.v[i] != null; });
      if (i < N && !seen && start === null) start = T[i];
      if ((i === N || seen) && start !== null) {
        var end = i < N ? T[i] : t1;
        g.fillRect(xOf(start, w), y0, Math.max(1, xOf(end, w) - xOf(start, w)), ph);
        start = null;
      }
    }
  }
  function drawStrip(g, w, y0) { // expression probabilities of the first face that has them
    var f = D.faces.filter(function (x) { return x.expr; })[0], names = f.expr.names;
    var x0 = M.left, x1 = w - M.right;
    for (var x = x0; x < x1; x++) {
      var row = f.expr.p[frameAt(tOf(x + 0.5, w))];
      if (!row) continue;
      var y = y0;
      for (var j = 0; j < names.length; j++) {
        var hgt = row[j] * M.strip;
        g.fillStyle = D.expr_colors[names[j]] || "#999";
        g.fillRect(x, y, 1, hgt); y += hgt;
      }
    }
    g.fillStyle = "#555"; g.textAlign = "right"; g.textBaseline = "middle";
    g.fillText("expr.", M.left - 5, y0 + M.strip / 2);
  }
  function niceStep(span) {
    var raw = span / 8, p = Math.pow(10, Math.floor(Math.log10(raw)));
    return [1, 2, 5, 10].map(function (m) { return m * p; }).filter(function (s) { return s >= raw; })[0];
  }
  function fmt(s) {
    if (t1 < 120) return (Math.round(s * 100) / 100).toString();
    var m = Math.floor(s / 60), r = Math.round(s - 60 * m);
    return m + ":" + (r < 10 ? "0" : "") + r;
  }

  // ------------------------------------------------------------ circumplex (static layer)
  var C = { size: 340, r: 150 };
  function cx(v) { return C.size / 2 + v * C.r; }
  function cy(a) { return C.size / 2 - a * C.r; }
  function drawCircleLayer() {
    circle.width = Math.round(340 * dpr); circle.height = Math.round(390 * dpr);
    var c = document.createElement("canvas");
    c.width = circle.width; c.height = circle.height;
    var g = c.getContext("2d");
    g.scale(dpr, dpr);
    g.fillStyle = "#fff"; g.fillRect(0, 0, 340, 390);
    g.strokeStyle = "#999"; g.lineWidth = 1;
    g.beginPath(); g.arc(cx(0), cy(0), C.r, 0, 2 * Math.PI); g.stroke();
    g.beginPath(); g.moveTo(cx(-1), cy(0)); g.lineTo(cx(1), cy(0));
    g.moveTo(cx(0), cy(-1)); g.lineTo(cx(0), cy(1)); g.stroke();
    g.font = "11px system-ui, sans-serif"; g.fillStyle = "#666"; g.textAlign = "center";
    [[0.55, 0.9, "excited / happy"], [-0.55, 0.9, "tense / angry"], [-0.55, -0.9, "sad / tired"],
      [0.55, -0.9, "calm / content"]].forEach(function (q) { g.fillText(q[2], cx(q[0]), cy(q[1])); });
    g.fillText("valence \u2192", cx(0.78), cy(0) - 5);
    g.save(); g.translate(cx(0) - 5, cy(0.72)); g.rotate(-Math.PI / 2); g.fillText("arousal \u2192", 0, 0); g.restore();
    D.faces.forEach(function (f) {
      for (var i = 0; i < N; i++) {
        if (f.v[i] == null) continue;
        g.fillStyle = viridis((T[i] - t0) / (t1 - t0), 0.75 * alphaOf(f, i));
        g.beginPath(); g.arc(cx(f.v[i]), cy(f.a[i]), 2.2, 0, 2 * Math.PI); g.fill();
      }
    });
    // colour bar for time, then the legend of faces
    for (var x = 20; x < 320; x++) { g.fillStyle = viridis((x - 20) / 300, 1); g.fillRect(x, 346, 1, 9); }
    g.fillStyle = "#555"; g.textBaseline = "top";
    g.textAlign = "left"; g.fillText("0 s", 20, 357);
    g.textAlign = "right"; g.fillText(fmt(t1) + " s", 320, 357);
    g.textAlign = "center"; g.fillText("time", 170, 357);
    var lx = 20;
    D.faces.forEach(function (f) {
      if (f.id < 0) return;
      g.fillStyle = f.color; g.beginPath(); g.arc(lx + 5, 380, 5, 0, 2 * Math.PI); g.fill();
      g.fillStyle = "#333"; g.textAlign = "left"; g.textBaseline = "middle";
      g.fillText("face " + f.id, lx + 14, 380); lx += 70;
    });
    circleLayer = c;
  }

  // ------------------------------------------------------------ per-time drawing
  function draw() {
    var s = curveSize(), w = s[0], h = s[1];
    var g = curves.getContext("2d");
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.drawImage(curveLayer, 0, 0);
    g.scale(dpr, dpr);
    var x = xOf(now, w);
    g.strokeStyle = "#000"; g.lineWidth = 1.5;
    g.beginPath(); g.moveTo(x, M.top); g.lineTo(x, h - M.axis); g.stroke();
    curves.dataset.playhead = now.toFixed(3);
    var i = frameAt(now);
    var k = circle.getContext("2d");
    k.setTransform(1, 0, 0, 1, 0, 0);
    k.drawImage(circleLayer, 0, 0);
    k.scale(dpr, dpr);
    var parts = [];
    D.faces.forEach(function (f) {
      if (i < 0 || f.v[i] == null) return;
      k.fillStyle = f.color; k.strokeStyle = "#000"; k.lineWidth = 1.5;
      k.beginPath(); k.arc(cx(f.v[i]), cy(f.a[i]), 7, 0, 2 * Math.PI); k.fill(); k.stroke();
      parts.push("face " + f.id + ": v " + f.v[i].toFixed(2) + ", a " + f.a[i].toFixed(2));
    });
    clock.textContent = "t = " + now.toFixed(2) + " s" + (parts.length ? " \u2014 " + parts.join("; ") : " \u2014 no face");
    drawBoxes(i);
  }
  function drawBoxes(i) {
    if (!video || !boxes) return;
    var vw = video.clientWidth, vh = video.clientHeight;
    boxes.width = Math.round(vw * dpr); boxes.height = Math.round(vh * dpr);
    boxes.style.width = vw + "px"; boxes.style.height = vh + "px";
    if (showBoxes && !showBoxes.checked) return;
    var nw = video.videoWidth || 1, nh = video.videoHeight || 1;
    var scale = Math.min(vw / nw, vh / nh), ox = (vw - nw * scale) / 2, oy = (vh - nh * scale) / 2;
    var g = boxes.getContext("2d");
    g.scale(dpr, dpr); g.lineWidth = 2; g.font = "12px system-ui, sans-serif";
    D.faces.forEach(function (f) {
      if (!f.box || i < 0 || f.box[0][i] == null) return;
      var x0 = ox + f.box[0][i] * nw * scale, y0 = oy + f.box[1][i] * nh * scale;
      var x1 = ox + f.box[2][i] * nw * scale, y1 = oy + f.box[3][i] * nh * scale;
      g.strokeStyle = f.color; g.strokeRect(x0, y0, x1 - x0, y1 - y0);
      g.fillStyle = f.color; g.fillText("face " + f.id, x0 + 2, y0 - 4);
    });
  }
  function setTime(t) { now = Math.min(t1, Math.max(t0, t)); draw(); }
  function seek(t) {
    t = Math.min(t1, Math.max(t0, t));
    if (video && video.readyState >= 1) video.currentTime = t;
    setTime(t);
  }

  // ------------------------------------------------------------ wiring
  drawCurveLayer(); drawCircleLayer(); draw();
  curves.addEventListener("click", function (ev) {
    var r = curves.getBoundingClientRect(), w = curveSize()[0];
    seek(tOf((ev.clientX - r.left) * w / r.width, w));
  });
  document.addEventListener("click", function (ev) { // moments come later in the page
    var a = ev.target.closest && ev.target.closest("a.moment");
    if (!a) return;
    ev.preventDefault(); seek(parseFloat(a.dataset.t));
    section.scrollIntoView({ block: "start" });
  });
  if (showBoxes) showBoxes.addEventListener("change", draw);
  window.addEventListener("resize", function () { drawCurveLayer(); draw(); });
  if (video) {
    var follow = function () { setTime(video.currentTime); };
    ["timeupdate", "seeked", "seeking", "loadedmetadata", "pause"].forEach(function (e) {
      video.addEventListener(e, follow);
    });
    var loop = function () { follow(); if (!video.paused && !video.ended) requestAnimationFrame(loop); };
    video.addEventListener("play", function () { requestAnimationFrame(loop); });
    video.addEventListener("error", function () {
      var p = document.createElement("div"); p.className = "warn";
      p.textContent = "This browser cannot play this video file; the curves still work.";
      section.insertBefore(p, section.firstChild);
    });
  }
  window.vafusionPlayer = { seek: seek, frameAt: frameAt, data: D };
})();
