/* Wall dashboard (会商大屏): map styling functions for dash-leaflet and the clientside clock.
 *
 * dash-leaflet resolves {"variable": "floodWall.name"} props to these functions and appends its
 * context (props, among them `hideout`) as the last argument. Every level is drawn with a shape and a
 * numeral as well as a colour: blue ● Ⅳ, yellow ▲ Ⅲ, orange ◆ Ⅱ, red ■ Ⅰ; the station kind is a glyph
 * inside the marker. Marker DOM for browser tests: .wall-st[data-code][data-level][data-kind].
 */
(function () {
  "use strict";
  var RANK = {blue: 1, yellow: 2, orange: 3, red: 4};
  var BY_RANK = [null, "blue", "yellow", "orange", "red"];
  var NUMERAL = {blue: "Ⅳ", yellow: "Ⅲ", orange: "Ⅱ", red: "Ⅰ"};
  var ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"};

  function esc(value) {
    return String(value === null || value === undefined ? "" : value).replace(/[&<>"']/g, function (c) {
      return ESCAPES[c];
    });
  }

  function rem() {
    return parseFloat(window.getComputedStyle(document.documentElement).fontSize) || 16;
  }

  function hideoutOf(context) {
    return (context && context.hideout) || {};
  }

  function localTime(iso, tz) {
    if (!iso) { return ""; }
    try {
      return new Intl.DateTimeFormat("sv-SE", {timeZone: tz || undefined, month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit"}).format(new Date(iso));
    } catch (e) {
      return iso;
    }
  }

  function stationTooltip(p, h) {
    var lines = ["<b>" + esc(p.name) + "</b> <span class='tt-code'>" + esc(p.code) + "</span>"];
    var kind = (h.kinds || {})[p.kind] || p.kind;
    var town = h.lang === "en" ? (p.town_en || p.town) : p.town;
    lines.push(esc(kind) + (town ? " · " + esc(town) : ""));
    if (p.value !== null && p.value !== undefined) {
      var metric = (h.metrics || {})[p.metric] || p.metric;
      lines.push(esc(metric) + " <b>" + esc(Number(p.value).toFixed(2)) + "</b> " +
        esc((h.units || {})[p.metric] || "") +
        " <span class='tt-time'>" + esc(localTime(p.ts, h.tz)) + "</span>");
    } else {
      lines.push(esc(h.no_data || ""));
    }
    if (RANK[p.level]) {
      lines.push("<span class='tt-level level-" + esc(p.level) + "'>" + esc((h.levels || {})[p.level] || p.level) +
        "</span> " + esc(p.ack ? h.acknowledged : h.unacknowledged));
    }
    if (p.online === false) { lines.push(esc(h.offline || "offline")); }
    return lines.join("<br>");
  }

  function stationMarker(feature, latlng, context) {
    var p = feature.properties || {};
    var h = hideoutOf(context);
    var level = RANK[p.level] ? p.level : "none";
    var glyph = (h.glyphs || {})[p.kind] || "?";
    var size = rem() * (level === "none" ? 1.5 : 2.1);
    var classes = ["wall-st", "level-" + level, "kind-" + esc(p.kind)];
    if (p.online === false) { classes.push("offline"); }
    if (level !== "none" && p.ack === false) { classes.push("unack"); }
    var html = "<div class='st-shape' data-code='" + esc(p.code) + "' data-level='" + level + "' data-kind='" +
      esc(p.kind) + "'><span class='st-kind'>" + esc(glyph) + "</span></div>" +
      (level !== "none" ? "<span class='st-grade'>" + NUMERAL[level] + "</span>" : "");
    var marker = L.marker(latlng, {
      icon: L.divIcon({html: html, className: classes.join(" "), iconSize: [size, size]}),
      keyboard: false, riseOnHover: true, zIndexOffset: (RANK[level] || 0) * 1000,
    });
    marker.bindTooltip(stationTooltip(p, h), {direction: "top", className: "wall-tooltip"});
    return marker;
  }

  function stationCluster(feature, latlng, index, context) {
    var rank = 0;
    var unack = false;
    var leaves = index.getLeaves(feature.properties.cluster_id, Infinity);
    for (var i = 0; i < leaves.length; i++) {
      var lp = leaves[i].properties || {};
      var r = RANK[lp.level] || 0;
      if (r > rank) { rank = r; }
      if (r && lp.ack === false) { unack = true; }
    }
    var level = BY_RANK[rank] || "none";
    var count = feature.properties.point_count;
    var size = rem() * (count < 10 ? 2.3 : count < 100 ? 2.7 : 3.1);
    var html = "<div class='cl-body' data-level='" + level + "'><span class='cl-count'>" + count + "</span></div>" +
      (rank ? "<span class='st-grade'>" + NUMERAL[level] + "</span>" : "");
    return L.marker(latlng, {
      icon: L.divIcon({html: html, className: "wall-cluster level-" + level + (unack ? " unack" : ""),
        iconSize: [size, size]}),
      zIndexOffset: rank * 1000 + 500,
    });
  }

  // Vector layers of the offline basemap and the overlays.
  var LINE = {
    county: {color: "#9fb3d1", weight: 2.5, fillColor: "#1f3152", fillOpacity: 1, opacity: 1},
    coastline: {color: "#6fa8dc", weight: 1.5, fill: false, opacity: 0.9},
    towns: {color: "#5d7290", weight: 1, dashArray: "4 4", fillOpacity: 0, opacity: 0.9},
    rivers: {color: "#4fc3f7", weight: 2.5, opacity: 0.95},
    seawalls: {color: "#e0e0e0", weight: 4, opacity: 0.95, dashArray: "8 4"},
    reservoirs: {color: "#4fc3f7", weight: 1.5, fillColor: "#2b6cb0", fillOpacity: 0.55},
  };
  var POINT = {
    villages: {radius: 3, color: "#c8d3e6", weight: 1, fillColor: "#c8d3e6", fillOpacity: 0.8},
    shelters: {radius: 6, color: "#111", weight: 1.5, fillColor: "#2ecc71", fillOpacity: 1},
    cameras: {radius: 5, color: "#111", weight: 1.5, fillColor: "#b39ddb", fillOpacity: 1},
    waterlogging: {radius: 6, color: "#111", weight: 1.5, fillColor: "#00bcd4", fillOpacity: 1},
  };

  function layerStyle(feature, context) {
    var h = hideoutOf(context);
    var layer = h.layer || "towns";
    if (layer === "county" && feature.properties && feature.properties.kind === "coastline") {
      return LINE.coastline;
    }
    return LINE[layer] || LINE.towns;
  }

  function layerPoint(feature, latlng, context) {
    var h = hideoutOf(context);
    var style = POINT[h.layer] || POINT.villages;
    var scaled = Object.assign({}, style, {radius: style.radius * rem() / 16});
    return L.circleMarker(latlng, scaled);
  }

  function featureName(feature, h) {
    var p = feature.properties || {};
    return h.lang === "en" && p.name_en ? p.name_en : p.name;
  }

  function layerFeature(feature, layer, context) {
    var h = hideoutOf(context);
    var text = featureName(feature, h);
    if (text) { layer.bindTooltip(esc(text), {className: "wall-tooltip", sticky: true}); }
  }

  function townFeature(feature, layer, context) {
    var h = hideoutOf(context);
    var text = featureName(feature, h);
    if (text) {
      layer.bindTooltip(esc(text), {permanent: true, direction: "center", className: "town-label",
        interactive: false});
    }
  }

  // Merged, not replaced: other assets (wall-overlays.js, loaded first by name) add their functions too.
  window.floodWall = Object.assign(window.floodWall || {}, {
    util: {esc: esc, rem: rem, hideoutOf: hideoutOf, localTime: localTime},   // shared with the other assets
    stationMarker: stationMarker,
    stationCluster: stationCluster,
    layerStyle: layerStyle,
    layerPoint: layerPoint,
    layerFeature: layerFeature,
    townFeature: townFeature,
  });

  // The clock runs in the browser, outside Dash: no callback, no store update every second (with a
  // 5,000-station county every store update costs the page; see `floodctl bench wall`).
  function clockText(tz) {
    try {
      return new Intl.DateTimeFormat("sv-SE", {timeZone: tz || undefined, year: "numeric", month: "2-digit",
        day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false}).format(new Date());
    } catch (e) {
      return new Date().toISOString().slice(0, 19).replace("T", " ");
    }
  }

  function tickClock() {
    var clock = document.getElementById("wall-clock");
    if (clock) { clock.textContent = clockText(clock.getAttribute("data-tz")); }
  }

  // The pulse: every PULSE_MS one tiny request for the fingerprint of warnings, orders, 叫应, response
  // levels and reports (outside Dash's callbacks too); only a change reaches Dash, as `wall-pulse`, which
  // makes the wall refresh at once. Looking back (the time slider), nothing changes.
  var PULSE_MS = 1000;
  var lastPulse = null;

  function prefix() {
    try {
      return JSON.parse(document.getElementById("_dash-config").textContent).requests_pathname_prefix || "/";
    } catch (e) {
      return "/";
    }
  }

  function pulse() {
    var bar = document.getElementById("wall-timebar");
    if (!bar || bar.classList.contains("history-on") || !window.dash_clientside ||
        !window.dash_clientside.set_props) { return; }
    fetch(prefix() + "pulse", {cache: "no-store", credentials: "same-origin"}).then(function (response) {
      return response.ok ? response.text() : null;
    }).then(function (text) {
      if (text && text !== lastPulse) {
        if (lastPulse !== null) { window.dash_clientside.set_props("wall-pulse", {data: text}); }
        lastPulse = text;
      }
    }).catch(function () { /* the regular refresh shows the outage */ });
  }

  window.setInterval(tickClock, 1000);
  window.setInterval(pulse, PULSE_MS);
  // Leaflet's layers control keeps the names it was created with: rename its entries in place.
  function layerNames(lang, status, state) {
    var names = (state && state.names) || {};
    var wanted = names[lang] || {};
    var byText = {};
    Object.keys(names).forEach(function (code) {
      Object.keys(names[code]).forEach(function (key) { byText[names[code][key]] = key; });
    });
    var spans = document.querySelectorAll("#wall-map .leaflet-control-layers label span > span, " +
      "#wall-map .leaflet-control-layers label > div > span");
    var seen = {};
    spans.forEach(function (span) {
      var key = byText[span.textContent.trim()];
      if (key && wanted[key] && !seen[key]) {
        seen[key] = true;
        if (span.textContent.trim() !== wanted[key]) { span.textContent = " " + wanted[key]; }
      }
    });
    return {lang: lang, names: names};
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    floodWall: {
      layerNames: layerNames,
      scale: function () {
        var scale = Math.min(3, Math.max(1, window.innerWidth / 1920));
        return scale === 1 ? window.dash_clientside.no_update : scale;   // the store starts at 1
      },
      // The language: the toggle flips it; ?lang=en on load picks it; unchanged, nothing downstream runs.
      language: function (clicks, search, current) {
        var ctx = window.dash_clientside.callback_context;
        var byToggle = ctx && ctx.triggered && ctx.triggered.some(function (t) {
          return t.prop_id === "wall-lang.n_clicks";
        });
        var lang = current === "en" ? "en" : "zh";
        var wanted = lang;
        if (byToggle && clicks) {
          wanted = lang === "en" ? "zh" : "en";
        } else {
          var asked = new URLSearchParams(search || "").get("lang");
          if (asked) { wanted = asked === "en" ? "en" : "zh"; }
        }
        return wanted === current ? window.dash_clientside.no_update : wanted;
      },
      fitCounty: function (bounds) {
        return bounds ? {bounds: bounds, transition: "fitBounds"} : window.dash_clientside.no_update;
      },
      backToLive: function () {
        return [null, 0];
      },
    },
  });
})();
