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
