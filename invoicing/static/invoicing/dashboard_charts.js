/* The admin home's charts: ECharts (vendored, see docs/libraries.md) drawn from the data the page carries in
   #fapiao-chart-data (titles, series names and labels translated by the server). Each chart's <table> holds the
   same numbers and stays in the page: the toggle only switches which of the two is shown. */
(function () {
  "use strict";
  var dataNode = document.getElementById("fapiao-chart-data");
  if (!dataNode || typeof echarts === "undefined") { return; }
  var charts = JSON.parse(dataNode.textContent);
  var section = document.querySelector(".fapiao-charts");
  var locale = (section && section.dataset.locale) || "ZH";
  var num = function (v) { return v === null || v === undefined ? 0 : parseFloat(v); };

  function option(chart) {
    var base = {
      tooltip: {trigger: chart.kind === "pie" ? "item" : "axis"},
      legend: {type: "scroll", top: 0},
      grid: {left: 8, right: 16, top: 40, bottom: 8, containLabel: true},
      animation: false,
      aria: {enabled: true}
    };
    if (chart.kind === "pie") {
      base.series = [{
        type: "pie", radius: ["35%", "65%"], top: 30, name: chart.series[0] ? chart.series[0].name : "",
        data: chart.categories.map(function (c, i) { return {name: c, value: num(chart.series[0].values[i])}; })
      }];
      return base;
    }
    var horizontal = chart.kind === "hbar";
    var category = {type: "category", data: chart.categories, name: chart.category_label,
                    inverse: horizontal};
    var value = {type: "value"};
    base.xAxis = horizontal ? value : category;
    base.yAxis = horizontal ? category : value;
    base.series = chart.series.map(function (s) {
      return {
        type: chart.kind === "line" ? "line" : "bar", name: s.name, stack: s.stack || undefined,
        data: s.values.map(num), smooth: false
      };
    });
    return base;
  }

  charts.forEach(function (chart) {
    var figure = document.getElementById("chart-" + chart.id);
    if (!figure) { return; }
    var canvas = figure.querySelector(".fapiao-chart-canvas");
    var instance = echarts.init(canvas, null, {renderer: "canvas", locale: locale});
    instance.setOption(option(chart));
    window.addEventListener("resize", function () { instance.resize(); });
    var button = figure.querySelector(".fapiao-chart-toggle");
    button.addEventListener("click", function () {
      var showing = figure.classList.toggle("fapiao-chart-show-table");
      button.setAttribute("aria-pressed", showing ? "true" : "false");
      button.textContent = showing ? button.dataset.showChart : button.dataset.showTable;
      if (!showing) { instance.resize(); }
    });
  });
})();
