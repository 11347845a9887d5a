// Clipper's dashboard: polls admin/dashboard_data (see clipper_protocol/dashboard_api.py) and draws it.
// A file rather than an inline script so the page's Content-Security-Policy forbids inline scripts.
// Cluster text is only ever set with textContent, never parsed as HTML. Each chart's element carries
// data-points (samples), data-values (non-null values drawn) and data-last (last value of its first
// series), which the browser test reads.
(function () {
  "use strict";
  var root = document.getElementById("dashboard");
  var statusEl = document.getElementById("status");
  var form = document.getElementById("token-form");
  var url = root.getAttribute("data-url");
  var intervalMs = Number(root.getAttribute("data-interval-ms")) || 1000;
  var TOKEN_KEY = "clipper-admin-token";
  var COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
                "#7f7f7f", "#bcbd22"];
  var charts = {};
  var polls = 0;

  // A token given in the fragment (never sent to the server) is kept for this tab, then removed from the URL.
  var m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }

  function setStatus(state, text) {
    statusEl.setAttribute("data-state", state);
    statusEl.textContent = text;
  }

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function table(headers, rows, id) {
    var t = el("table");
    if (id) t.id = id;
    var head = t.createTHead().insertRow();
    headers.forEach(function (h) { head.appendChild(el("th", h)); });
    var body = t.createTBody();
    rows.forEach(function (r) {
      var tr = body.insertRow();
      r.forEach(function (c) { var td = tr.insertCell(); if (c instanceof Node) td.appendChild(c); else td.textContent = c; });
    });
    return t;
  }

  function fmt(v, digits) {
    return v === null || v === undefined ? "–" : Number(v).toFixed(digits === undefined ? 3 : digits);
  }

  function renderApps(apps) {
    var box = document.getElementById("applications");
    box.replaceChildren(apps.length ? table(
      ["application", "input type", "latency SLO (ms)", "policy", "default output", "linked models"],
      apps.map(function (a) {
        return [a.name, a.input_type, a.latency_slo_micros / 1000, a.policy, a.default_output,
                a.linked_models.map(function (l) { return l.name + " (v" + (l.current_version || "none") + ")"; })
                  .join(", ") || "none"];
      }), "apps-table") : el("p", "No applications yet.", "empty"));
  }

  function renderModels(models) {
    var box = document.getElementById("models");
    box.replaceChildren(models.length ? table(
      ["model", "version", "current", "image", "batch size", "replicas", "queue"],
      models.map(function (v) {
        var reps = v.replicas.map(function (r) { return "#" + r.replica_id + " " + r.state; }).join(", ");
        var cell = el("span", reps || "no replica", reps ? "state-ok" : "state-none");
        return [v.name, v.version, v.current ? "yes" : (v.valid ? "no" : "deleted"), v.image,
                v.batch_size < 0 ? "adaptive" : v.batch_size, cell, fmt(v.queue_length, 0)];
      }), "models-table") : el("p", "No models yet.", "empty"));
  }

  // One chart: its series are [label, values] pairs; recreated when the labels change.
  function chart(boxId, key, title, unit, t, series) {
    var labels = series.map(function (s) { return s[0]; }).join("\u0000");
    var c = charts[key];
    if (!c || c.labels !== labels) {
      if (c) { c.plot.destroy(); c.box.remove(); }
      var box = el("div", null, "chart");
      box.setAttribute("data-chart", key);
      box.appendChild(el("h3", title));
      document.getElementById(boxId).appendChild(box);
      var opts = {
        width: 400, height: 200, legend: {show: true},
        scales: {x: {time: true}},
        axes: [{}, {label: unit, size: 60}],
        series: [{}].concat(series.map(function (s, i) {
          return {label: s[0], stroke: COLORS[i % COLORS.length], width: 2, spanGaps: false};
        })),
      };
      c = charts[key] = {labels: labels, box: box, plot: new uPlot(opts, [[]].concat(series.map(function () { return []; })), box)};
    }
    c.plot.setData([t].concat(series.map(function (s) { return s[1]; })));
    var values = 0, last = null;
    series.forEach(function (s, i) {
      s[1].forEach(function (v) { if (v !== null) { values++; if (i === 0) last = v; } });
    });
    c.box.setAttribute("data-points", String(t.length));
    c.box.setAttribute("data-values", String(values));
    c.box.setAttribute("data-last", last === null ? "" : String(last));
  }

  function scaled(values, factor) {
    return values.map(function (v) { return v === null ? null : v * factor; });
  }

  function sumSeries(list, n) {
    var out = new Array(n).fill(null);
    list.forEach(function (vals) {
      vals.forEach(function (v, i) { if (v !== null) out[i] = (out[i] || 0) + v; });
    });
    return out;
  }

  function renderCharts(s) {
    var t = s.t, apps = s.apps, models = s.models;
    var name = function (m) { return m.model + ":" + m.version; };
    chart("traffic-charts", "throughput", "Throughput", "queries/s", t,
          apps.map(function (a) { return [a.app, a.throughput]; }));
    var lat = [];
    apps.forEach(function (a) {
      lat.push([a.app + " p99", a.latency_p99_ms], [a.app + " p95", a.latency_p95_ms], [a.app + " p50", a.latency_p50_ms]);
    });
    chart("traffic-charts", "latency", "Latency percentiles", "ms", t, lat);
    chart("traffic-charts", "default-rate", "Default output rate", "%", t,
          apps.map(function (a) { return [a.app, scaled(a.default_rate, 100)]; }));
    var reasons = {};
    apps.forEach(function (a) {
      Object.keys(a.default_reasons).forEach(function (r) { (reasons[r] = reasons[r] || []).push(a.default_reasons[r]); });
    });
    chart("traffic-charts", "default-reasons", "Default outputs by reason", "per s", t,
          Object.keys(reasons).sort().map(function (r) { return [r, sumSeries(reasons[r], t.length)]; }));
    chart("traffic-charts", "batch-size", "Mean batch size", "inputs", t,
          models.map(function (m) { return [name(m), m.batch_size]; }));
    chart("traffic-charts", "cache-hit-rate", "Cache hit rate", "%", t,
          [["all", scaled(s.cache_hit_rate, 100)]].concat(models.map(function (m) {
            return [name(m), scaled(m.cache_hit_rate, 100)];
          })));
    chart("quality-charts", "accuracy", "Accuracy (recent feedback)", "%", t,
          models.map(function (m) { return [name(m), scaled(m.accuracy, 100)]; }));
    chart("quality-charts", "mae", "Mean absolute error (recent feedback)", "error", t,
          models.map(function (m) { return [name(m), m.mae]; }));
    chart("quality-charts", "drift", "Drift (PSI)", "PSI", t,
          apps.map(function (a) { return [a.app + " inputs", a.input_drift_psi]; }).concat(
            models.map(function (m) { return [name(m) + " outputs", m.output_drift_psi]; })));
  }

  function renderMonitoring(mon) {
    var note = document.getElementById("quality-note");
    var drift = document.getElementById("drift");
    var apps = mon ? Object.keys(mon).sort() : [];
    var feedback = 0;
    apps.forEach(function (a) { mon[a].models.forEach(function (mm) { feedback += mm.quality.feedback; }); });
    note.setAttribute("data-feedback", String(feedback));
    note.textContent = mon === null ? "Monitoring is off or the query frontend is not reachable."
      : feedback === 0 ? "No feedback yet: send labels to POST /<app>/update to measure quality." : "";
    var rows = [];
    apps.forEach(function (a) {
      var d = mon[a];
      d.features.forEach(function (f) { rows.push([a, "input " + f.feature, fmt(f.psi), fmt(f.ks)]); });
      d.models.forEach(function (mm) {
        rows.push([a, "output of " + mm.model + ":" + mm.version, fmt(mm.outputs.psi), fmt(mm.outputs.ks)]);
      });
    });
    drift.replaceChildren(rows.length ? table(["application", "figure", "PSI", "KS"], rows, "drift-table")
      : el("p", mon === null ? "" : "No drift figures yet (the reference windows are filling).", "empty"));
  }

  function render(d) {
    renderApps(d.applications);
    renderModels(d.models);
    renderCharts(d.series);
    renderMonitoring(d.monitoring);
    var qf = d.query_frontend;
    if (qf.reachable) setStatus("ok", "live: " + new Date(d.generated_at * 1000).toLocaleTimeString());
    else setStatus("degraded", qf.error || "query frontend not reachable");
    polls++;
    root.setAttribute("data-samples", String(polls));
  }

  function poll() {
    var token = sessionStorage.getItem(TOKEN_KEY);
    var headers = token ? {"X-Clipper-Token": token} : {};
    fetch(url, {headers: headers, cache: "no-store"}).then(function (r) {
      if (r.status === 401) {
        form.hidden = false;
        setStatus("token", token ? "the admin token was refused" : "admin token needed");
        return null;  // polling resumes when a token is given
      }
      if (!r.ok) return r.text().then(function (text) { throw new Error(r.status + " " + text); });
      form.hidden = true;
      return r.json().then(function (d) { render(d); return true; });
    }).catch(function (e) {
      setStatus("error", String(e.message || e));
      return true;
    }).then(function (again) { if (again) setTimeout(poll, intervalMs); });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById("token").value.trim());
    form.hidden = true;
    poll();
  });
  poll();
})();
