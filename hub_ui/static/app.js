/* Otklik office page: the live stream (server-sent events) and the CSAT trend chart.
 * Loaded as a file (the Content-Security-Policy allows no inline script). Rows and fragments
 * arrive as HTML rendered on the hub by the same autoescaping templates as the page itself. */
(function () {
  "use strict";

  function liveState(on) {
    var live = document.getElementById("live");
    if (!live) return;
    live.textContent = on ? live.dataset.on : live.dataset.off;
    live.classList.toggle("on", on);
    live.classList.toggle("off", !on);
  }

  function addRows(html) {
    var body = document.getElementById("presses");
    if (!body) return;
    var tpl = document.createElement("template");
    tpl.innerHTML = html;
    tpl.content.querySelectorAll("tr").forEach(function (tr) { tr.classList.add("new"); });
    body.prepend(tpl.content);
    var max = parseInt(body.closest("table").dataset.max || "20", 10);
    while (body.rows.length > max) body.deleteRow(-1);
    var empty = document.getElementById("no-presses");
    if (empty) empty.hidden = true;
  }

  function startStream(root) {
    if (!window.EventSource) return;
    var source = new EventSource(root.dataset.stream);
    source.onopen = function () { liveState(true); };
    source.onerror = function () { liveState(false); };
    source.addEventListener("presses", function (e) { addRows(e.data); });
    source.addEventListener("numbers", function (e) {
      var target = document.getElementById("numbers");
      if (target) target.innerHTML = e.data;
    });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  function trendChart() {
    var el = document.getElementById("trend-chart");
    var src = document.getElementById("trend-data");
    if (!el || !src || !window.uPlot) return;
    var d = JSON.parse(src.textContent);
    var unit = el.dataset.unit || "%";
    var width = function () { return Math.max(280, el.clientWidth); };
    var tzDate = function (ts) { return window.uPlot.tzDate(new Date(ts * 1000), d.tz); };
    var dayMonth = window.uPlot.fmtDate("{DD}.{MM}");
    var opts = {
      width: width(),
      height: 240,
      tzDate: tzDate,
      scales: { pct: { auto: false, range: [0, 100] }, n: { auto: true } },
      series: [
        { label: el.dataset.day || "", value: function (u, ts) { return ts == null ? "—" : dayMonth(tzDate(ts)); } },
        { label: el.dataset.label || "CSAT", scale: "pct", stroke: "#1558b0", width: 2,
          points: { show: true, size: 5 }, value: function (u, v) { return v == null ? "—" : v.toFixed(1) + unit; } },
        { label: "n", scale: "n", stroke: "#9aa3ad", width: 1, dash: [4, 4] }
      ],
      axes: [
        { values: function (u, splits) { return splits.map(function (ts) { return dayMonth(tzDate(ts)); }); } },
        { scale: "pct", values: function (u, vals) { return vals.map(function (v) { return v + unit; }); } },
        { scale: "n", side: 1, grid: { show: false } }
      ]
    };
    var chart = new window.uPlot(opts, [d.x, d.value, d.n], el);
    window.addEventListener("resize", function () { chart.setSize({ width: width(), height: 240 }); });
  }

  var root = document.querySelector("[data-stream]");
  if (root) startStream(root);
  trendChart();
})();

/* --- settings and export pages (hub_ui/pages/settings.py): a confirmation before a delete form
 * is sent (data-confirm holds the question), and the page scrolls to the message of the section
 * just submitted (data-scroll), since a long settings page may show it far below the top. */
(function () {
  "use strict";
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form && form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      e.preventDefault();
    }
  });
  var message = document.querySelector("[data-scroll]");
  if (message && !window.location.hash) message.scrollIntoView({ block: "center" });
})();

/* --- Windows and operators, alerts, devices, emotions (pages/league.py … emotions.py) -------------
 * The emotions chart: visits per day (or hour) as bars stacked by emotion (positive on top, negative
 * at the base), and the emotional NPS as a dashed line on its own axis. The data is summary.emotions
 * as the page rendered it (#emotion-data); the stacking only adds up the counts to draw them. */
(function () {
  "use strict";
  var COLORS = {
    happy: "#1b7a35", surprise: "#6fbf73", neutral: "#9aa3ad", sad: "#5b7fbf",
    angry: "#b3261e", fear: "#8e44ad", disgust: "#9a6700"
  };

  function emotionChart() {
    var el = document.getElementById("emotion-chart");
    var src = document.getElementById("emotion-data");
    if (!el || !src || !window.uPlot) return;
    var d = JSON.parse(src.textContent);
    var U = window.uPlot;
    var tzDate = function (ts) { return U.tzDate(new Date(ts * 1000), d.tz); };
    var fmt = U.fmtDate(d.step === "hour" ? "{DD}.{MM} {HH}:00" : "{DD}.{MM}");
    var half = d.step === "hour" ? 1800 : 43200;
    var width = function () { return Math.max(280, el.clientWidth); };
    // series k draws the sum of labels k..end, each over the previous: label k shows as its own band
    var stacked = d.counts.map(function (_, k) {
      return d.x.map(function (_, i) {
        var sum = 0;
        for (var j = k; j < d.counts.length; j++) sum += d.counts[j][i];
        return sum;
      });
    });
    var bars = U.paths.bars({ size: [0.8, 48] });
    var series = [{ label: el.dataset.slot || "", value: function (u, ts) { return ts == null ? "—" : fmt(tzDate(ts)); } }];
    d.labels.forEach(function (label, k) {
      series.push({
        label: d.names[k] || label, scale: "n", paths: bars, points: { show: false },
        fill: COLORS[label] || "#333", stroke: COLORS[label] || "#333", width: 0,
        value: function (u, v, si, i) { return i == null ? "—" : String(d.counts[k][i]); }
      });
    });
    series.push({ label: el.dataset.enps || "eNPS", scale: "enps", stroke: "#1d2127", width: 1.5, dash: [6, 4],
      points: { show: true, size: 4 },
      value: function (u, v) { return v == null ? "—" : (v > 0 ? "+" : "") + v.toFixed(0); } });
    var chart = new U({
      width: width(), height: 260, tzDate: tzDate,
      scales: {
        x: { time: true, range: function (u, min, max) { return [min - half, max + half]; } },
        n: { auto: true, range: function (u, min, max) { return [0, Math.max(1, max)]; } },
        enps: { auto: false, range: [-100, 100] }
      },
      series: series,
      axes: [
        { values: function (u, splits) { return splits.map(function (ts) { return fmt(tzDate(ts)); }); } },
        { scale: "n" },
        { scale: "enps", side: 1, grid: { show: false } }
      ]
    }, [d.x].concat(stacked, [d.enps]), el);
    window.addEventListener("resize", function () { chart.setSize({ width: width(), height: 260 }); });
  }

  emotionChart();
})();
