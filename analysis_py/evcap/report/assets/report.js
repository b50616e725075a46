(function () {
  "use strict";
  var status = {done: false, charts: 0, rendered: 0, errors: [], warnings: [],
                per_chart: []};
  function note(list, what) {
    try { list.push(String(what).slice(0, 500)); } catch (e) { list.push("?"); }
  }
  var origError = console.error, origWarn = console.warn;
  console.error = function () {
    note(status.errors, Array.prototype.join.call(arguments, " "));
    return origError.apply(console, arguments);
  };
  console.warn = function () {
    note(status.warnings, Array.prototype.join.call(arguments, " "));
    return origWarn.apply(console, arguments);
  };
  window.addEventListener("error", function (e) {
    note(status.errors, "error: " + (e.message || e.type));
  });
  window.addEventListener("unhandledrejection", function (e) {
    note(status.errors, "unhandled rejection: " + e.reason);
  });
  document.addEventListener("securitypolicyviolation", function (e) {
    note(status.errors, "blocked by CSP: " + e.blockedURI + " (" +
         e.violatedDirective + ")");
  });
  function inspect(div) {
    var canvas = div.querySelector("canvas");
    var info = {id: div.id, ok: false, width: 0, height: 0, ink: 0, colours: 0};
    if (!canvas || !canvas.width || !canvas.height) { return info; }
    info.width = canvas.width; info.height = canvas.height;
    var data = canvas.getContext("2d").getImageData(
      0, 0, canvas.width, canvas.height).data;
    var seen = {}, colours = 0, ink = 0;
    for (var i = 0; i < data.length; i += 4) {
      var a = data[i + 3];
      if (a === 0) { continue; }
      if (!(data[i] === 255 && data[i + 1] === 255 && data[i + 2] === 255)) {
        ink += 1;
      }
      if (colours < 5000) {
        var key = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
        if (!seen[key]) { seen[key] = 1; colours += 1; }
      }
    }
    info.ink = ink; info.colours = colours; info.ok = ink > 0;
    return info;
  }
  function finish() {
    status.done = true;
    document.getElementById("evcap-status").textContent =
      JSON.stringify(status);
    document.body.setAttribute("data-evcap-done", "1");
  }
  function run() {
    var divs = document.querySelectorAll(".evcap-chart");
    status.charts = divs.length;
    if (typeof vegaEmbed !== "function") {
      note(status.errors, "vegaEmbed is not loaded");
      finish();
      return;
    }
    var options = {renderer: "canvas", actions: {export: true, source: false,
                   compiled: false, editor: false}};
    var jobs = Array.prototype.map.call(divs, function (div) {
      var spec = JSON.parse(
        document.getElementById(div.getAttribute("data-spec")).textContent);
      return vegaEmbed(div, spec, options).then(function (result) {
        return result.view.runAsync().then(function () {
          status.rendered += 1;
          status.per_chart.push(inspect(div));
        });
      }).catch(function (err) {
        note(status.errors, div.id + ": " + err);
        div.insertAdjacentHTML("beforeend",
          '<p class="chart-error">This chart could not be drawn.</p>');
        status.per_chart.push({id: div.id, ok: false, error: String(err)});
      });
    });
    Promise.all(jobs).then(finish, function (err) {
      note(status.errors, "report: " + err);
      finish();
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", run);
  } else {
    run();
  }
})();
