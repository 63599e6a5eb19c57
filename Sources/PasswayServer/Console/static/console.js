// Passway operator's console: the overview's live figures (server-sent events from
// /console/live, one snapshot a second) and its charts of the last hour (Chart.js).
(function () {
  "use strict";
  var overview = document.getElementById("overview");
  if (!overview || typeof EventSource === "undefined") return;
  var byId = function (id) { return document.getElementById(id); };
  var fixed = function (value, digits) { return value === null || value === undefined ? "\u2013" : value.toFixed(digits); };
  var percent = function (value) { return value === null || value === undefined ? "\u2013" : (value * 100).toFixed(1) + "%"; };
  var minuteLabel = function (start) {
    var d = new Date(start * 1000);
    return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
  };
  var charts = null;
  function makeCharts() {
    if (typeof Chart === "undefined") return null;
    var rateCanvas = byId("chart-rate"), latencyCanvas = byId("chart-latency");
    var common = { animation: false, responsive: true, maintainAspectRatio: false, interaction: { mode: "index", intersect: false },
                   scales: { y: { beginAtZero: true } }, plugins: { legend: { position: "bottom" } } };
    return {
      rate: new Chart(rateCanvas, { type: "line", options: common, data: { labels: [], datasets: [
        { label: rateCanvas.dataset.label, data: [], borderColor: "#0b5cad", backgroundColor: "#0b5cad", pointRadius: 0, spanGaps: true },
        { label: rateCanvas.dataset.approval, data: [], borderColor: "#1a7f37", backgroundColor: "#1a7f37", pointRadius: 2, spanGaps: true } ] } }),
      latency: new Chart(latencyCanvas, { type: "line", options: common, data: { labels: [], datasets: [
        { label: latencyCanvas.dataset.p50, data: [], borderColor: "#9a6700", backgroundColor: "#9a6700", pointRadius: 2, spanGaps: true },
        { label: latencyCanvas.dataset.p99, data: [], borderColor: "#cf222e", backgroundColor: "#cf222e", pointRadius: 2, spanGaps: true } ] } })
    };
  }
  function update(s) {
    byId("total").textContent = s.total;
    byId("approved").textContent = s.approved;
    byId("per-second").textContent = fixed(s.perSecond, 1);
    byId("approval-rate").textContent = percent(s.approvalRate);
    byId("p50").textContent = fixed(s.p50Milliseconds, 1);
    byId("p99").textContent = fixed(s.p99Milliseconds, 1);
    var body = byId("codes");
    while (body.firstChild) body.removeChild(body.firstChild);
    Object.keys(s.codes).sort().forEach(function (code) {
      var row = document.createElement("tr"), a = document.createElement("td"), b = document.createElement("td");
      a.textContent = code; b.textContent = s.codes[code];
      row.appendChild(a); row.appendChild(b); body.appendChild(row);
    });
    if (!charts) charts = makeCharts();
    if (!charts) return;
    var labels = s.minutes.map(function (m) { return minuteLabel(m.start); });
    charts.rate.data.labels = labels;
    charts.rate.data.datasets[0].data = s.minutes.map(function (m) { return m.perSecond; });
    charts.rate.data.datasets[1].data = s.minutes.map(function (m) { return m.approvalRate === null || m.approvalRate === undefined ? null : m.approvalRate * 100; });
    charts.latency.data.labels = labels;
    charts.latency.data.datasets[0].data = s.minutes.map(function (m) { return m.p50Milliseconds === undefined ? null : m.p50Milliseconds; });
    charts.latency.data.datasets[1].data = s.minutes.map(function (m) { return m.p99Milliseconds === undefined ? null : m.p99Milliseconds; });
    charts.rate.update("none");
    charts.latency.update("none");
    overview.dataset.updated = String(Date.now());
  }
  var source = new EventSource(overview.dataset.live);
  source.onmessage = function (event) { update(JSON.parse(event.data)); };
})();
