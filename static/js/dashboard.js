// The dashboard's charts, drawn with Chart.js (static/vendor/chartjs/) from the data the page
// carries in json_script tags. The chart boxes are hidden until drawn: without this script the
// tiles still show their figures and a table of the numbers. The texts (day names, metric and
// scorer names) come translated from the server.
(function () {
  "use strict";
  if (!window.Chart) {
    return;
  }
  var root = getComputedStyle(document.documentElement);
  var ACCENT = root.getPropertyValue("--accent").trim() || "#2458d3";
  var MUTED = root.getPropertyValue("--muted").trim() || "#5b6475";
  var LINE = root.getPropertyValue("--line").trim() || "#dde1e8";
  // Our second scorer (the content model) in a lighter accent; the baselines in colours
  // far from the accent, so "ours against the rest" reads at a glance.
  var OUR_SECOND = "#8fb0f0";
  var BASELINE_COLOURS = ["#9aa3b2", "#c2410c", "#15803d", "#7e22ce", "#a16207", "#0e7490", "#be185d"];

  window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  window.Chart.defaults.color = MUTED;
  if (window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches) {
    window.Chart.defaults.animation = false;
  }

  function data(id) {
    var element = document.getElementById(id);
    return element ? JSON.parse(element.textContent) : null;
  }

  function canvasOf(name) {
    var box = document.querySelector('[data-chart="' + name + '"]');
    if (!box) {
      return null;
    }
    box.hidden = false; // before drawing: Chart.js sizes the chart to its box
    return box.querySelector("canvas");
  }

  function grid() {
    return { color: LINE };
  }

  function drawEvents() {
    var series = data("dashboard-events-data");
    var canvas = series && canvasOf("events");
    if (!canvas) {
      return;
    }
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: series.labels,
        datasets: [{ label: series.label, data: series.counts, backgroundColor: ACCENT }],
      },
      options: {
        maintainAspectRatio: false,
        plugins: { legend: { display: false } },
        scales: {
          x: { grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 12 } },
          y: { beginAtZero: true, ticks: { precision: 0 }, grid: grid() },
        },
      },
    });
  }

  function drawModel() {
    var metrics = data("dashboard-model-data");
    var canvas = metrics && canvasOf("model");
    if (!canvas) {
      return;
    }
    var ours = 0;
    var baselines = 0;
    var datasets = metrics.datasets.map(function (scorer) {
      var colour = scorer.ours
        ? (ours++ === 0 ? ACCENT : OUR_SECOND)
        : BASELINE_COLOURS[baselines++ % BASELINE_COLOURS.length];
      return { label: scorer.label, data: scorer.data, backgroundColor: colour };
    });
    new window.Chart(canvas, {
      type: "bar",
      data: { labels: metrics.labels, datasets: datasets },
      options: {
        maintainAspectRatio: false,
        plugins: {
          legend: { position: "bottom", labels: { boxWidth: 12 } },
          tooltip: {
            callbacks: {
              label: function (item) {
                return item.dataset.label + ": " + (item.raw === null ? "—" : item.raw.toFixed(4));
              },
            },
          },
        },
        scales: {
          x: { grid: { display: false } },
          y: { beginAtZero: true, grid: grid() },
        },
      },
    });
  }

  drawEvents();
  drawModel();
})();
