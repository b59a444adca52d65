// Draws each <canvas class="chart" data-chart="{...}"> with Chart.js (vendored in /static/vendor).
// The spec is JSON in a data attribute, escaped by the template: no inline script.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  if (typeof window.Chart === "undefined") return;
  document.querySelectorAll("canvas.chart[data-chart]").forEach(function (canvas) {
    var spec;
    try { spec = JSON.parse(canvas.getAttribute("data-chart")); } catch (e) { return; }
    var datasets = spec.series.map(function (s) {
      return {
        label: s.label, data: s.data, backgroundColor: s.color + (spec.type === "bar" ? "cc" : "33"),
        borderColor: s.color, borderWidth: spec.type === "bar" ? 0 : 2, pointRadius: 2, spanGaps: true, fill: false,
      };
    });
    new window.Chart(canvas, {
      type: spec.type,
      data: { labels: spec.labels, datasets: datasets },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
        scales: { y: { beginAtZero: true, max: spec.percent ? 100 : undefined, ticks: { precision: 0 } } },
      },
    });
  });
});
