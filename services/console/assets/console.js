// Coupler console: draws the charts (uPlot) and keeps pages current from the event stream.
// Served by Coupler under a Content-Security-Policy that allows no inline script; no network use
// but Coupler's own /console URLs.
(function () {
  "use strict";

  var charts = [];

  function chartOptions(element, spec) {
    var styles = getComputedStyle(document.body);
    var colours = ["#0b5cad", "#c2410c", "#15803d", "#7e22ce"];
    var series = [{ label: "Time" }];
    spec.series.forEach(function (s, i) {
      series.push({
        label: s.label,
        scale: s.axis === 1 ? "right" : "left",
        stroke: colours[i % colours.length],
        width: 2,
        spanGaps: false,
        paths: s.step && uPlot.paths && uPlot.paths.stepped ? uPlot.paths.stepped({ align: 1 }) : undefined
      });
    });
    var axes = [
      { stroke: styles.color },
      { scale: "left", label: spec.left, stroke: styles.color }
    ];
    if (spec.right) {
      axes.push({ scale: "right", label: spec.right, side: 1, stroke: styles.color, grid: { show: false } });
    }
    return {
      width: Math.max(element.clientWidth, 260),
      height: element.clientWidth < 480 ? 220 : 300,
      series: series,
      axes: axes,
      scales: { x: { time: true } }
    };
  }

  function chartData(spec) {
    var data = [spec.x];
    spec.series.forEach(function (s) { data.push(s.values); });
    return data;
  }

  function draw(element) {
    if (typeof uPlot === "undefined") { return; }
    var spec;
    try { spec = JSON.parse(element.getAttribute("data-chart")); } catch (e) { return; }
    if (!spec || !spec.series || spec.series.length === 0) { return; }
    var entry = { element: element, spec: spec, plot: new uPlot(chartOptions(element, spec), chartData(spec), element) };
    element.setAttribute("data-drawn", String(spec.x.length));
    charts.push(entry);
  }

  function redraw(entry, spec) {
    entry.spec = spec;
    entry.element.setAttribute("data-chart", JSON.stringify(spec));
    if (entry.plot) { entry.plot.setData(chartData(spec)); }
    entry.element.setAttribute("data-drawn", String(spec.x.length));
    var figure = entry.element.closest("figure");
    var empty = figure && figure.querySelector("[data-empty-note]");
    if (empty && spec.x.length > 0) { empty.hidden = true; }
  }

  function refreshCharts(chargerId) {
    charts.forEach(function (entry) {
      var source = entry.element.getAttribute("data-source");
      if (!source || entry.element.getAttribute("data-charger") !== chargerId) { return; }
      fetch(source, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (spec) { if (spec) { redraw(entry, spec); } })
        .catch(function () { /* the next event tries again */ });
    });
  }

  function setText(selector, text) {
    document.querySelectorAll(selector).forEach(function (el) {
      if (el.textContent !== text) { el.textContent = text; }
    });
  }

  function announce(text) {
    var status = document.getElementById("live-status");
    if (status) { status.textContent = text; }
  }

  function kw(v) { return v === null || v === undefined ? "—" : v.toFixed(2) + " kW"; }
  function kwh(v) { return v === null || v === undefined ? "—" : v.toFixed(2) + " kWh"; }
  function when(v) { return v ? v.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC").replace("+00:00", " UTC") : "—"; }

  function onCharger(payload) {
    var c = payload.charger;
    if (!c || !c.id) { return; }
    var sel = function (field) { return "[data-field=\"" + field + "\"][data-charger=\"" + CSS.escape(c.id) + "\"]"; };
    var reachable = c.isReachable ? "Online" : "Offline";
    var before = document.querySelector(sel("reachable"));
    setText(sel("reachable"), reachable);
    if (c.chargeState) {
      setText(sel("state"), c.chargeState.powerDeliveryState);
      setText(sel("power"), kw(c.chargeState.chargeRate));
      setText(sel("energy"), kwh(c.chargeState.sessionEnergy));
    }
    setText(sel("last-seen"), when(c.lastSeen));
    if (before && before.textContent !== reachable) { announce("Charger " + (c.name || c.ocppId) + " is " + reachable.toLowerCase()); }
    refreshCharts(c.id);
  }

  function onAction(payload) {
    var a = payload.vendorAction;
    if (!a || !a.id) { return; }
    var id = CSS.escape(a.id);
    setText("[data-field=\"action-state\"][data-action=\"" + id + "\"]", a.state);
    setText("[data-field=\"action-completed\"][data-action=\"" + id + "\"]", when(a.completedAt));
    if (a.state !== "PENDING") { announce("Action " + a.kind + " " + a.state.toLowerCase()); }
  }

  function onVehicle(payload) {
    var v = payload.vehicle;
    if (!v || !v.id || !v.chargeState) { return; }
    var level = v.chargeState.batteryLevel;
    setText("[data-field=\"soc\"][data-vehicle=\"" + CSS.escape(v.id) + "\"]", level === null || level === undefined ? "—" : Math.round(level) + " %");
  }

  function listen() {
    if (!document.querySelector("[data-charger], [data-action], [data-vehicle]") || typeof EventSource === "undefined") { return; }
    // From the last event before the page's data was read, so no change in between is missed;
    // on reconnecting, the browser resumes after the last event it got (Last-Event-ID).
    var main = document.getElementById("main");
    var after = main && main.getAttribute("data-events-after");
    var source = new EventSource("/console/events" + (after ? "?after=" + encodeURIComponent(after) : ""));
    var handle = function (fn) {
      return function (message) {
        try { fn(JSON.parse(message.data)); } catch (e) { /* a malformed event changes nothing */ }
      };
    };
    ["user:charger:updated", "user:charger:discovered"].forEach(function (type) { source.addEventListener(type, handle(onCharger)); });
    source.addEventListener("user:vendor-action:updated", handle(onAction));
    source.addEventListener("user:vehicle:updated", handle(onVehicle));
    document.body.setAttribute("data-live", "connecting");
    source.addEventListener("open", function () { document.body.setAttribute("data-live", "open"); });
  }

  var resizing = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(function () {
      charts.forEach(function (entry) {
        if (entry.plot) { entry.plot.setSize({ width: Math.max(entry.element.clientWidth, 260), height: entry.element.clientWidth < 480 ? 220 : 300 }); }
      });
    }, 150);
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-chart]").forEach(draw);
    listen();
  });
})();
