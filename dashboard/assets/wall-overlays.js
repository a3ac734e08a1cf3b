/* Wall dashboard (会商大屏): drawing of the storm, camera and device overlays (dashboard/overlays.py).
 *
 * Functions for dash-leaflet GeoJSON props, on window.floodWall beside wall.js's: stormStyle, stormPoint,
 * stormFeature, cameraPoint, cameraFeature, devicePoint, deviceFeature. dash-leaflet appends its context
 * (the props, among them `hideout`: {layer, lang: "zh"|"en", tz}) as the last argument.
 *
 *   storm    role=past (solid) / forecast (dashed) tracks, fix dots coloured by grade (forecast ones
 *            hollow), the position (typhoon glyph), wind radii circles: translucent, dashed outline,
 *            force 7 yellow / 10 orange / 12 red, labelled on their northern edge (7级风圈 …).
 *   cameras  camera glyph .wall-cam[data-code][data-state=online|offline|unknown], greyed when offline,
 *            ringed red with an event; popup with the latest snapshot link (new tab, rel=noopener).
 *   devices  LED board (▭) / loudspeaker glyph .wall-dev[data-device][data-kind][data-state], coloured by
 *            the last command's state (acked green, sent/pending blue, failed red, none grey) and marked
 *            with a sign as well (✓ … ✕), so colour is never the only cue.
 *
 * Every asset merges its functions into window.floodWall (assets load in name order).
 */
(function () {
  "use strict";
  var FORCE_COLOUR = {7: "#ffd23f", 10: "#ff8c1a", 12: "#ff3b4e"};
  var FORCE_FILL = {7: 0.10, 10: 0.13, 12: 0.16};
  var TRACK_COLOUR = "#ff5ce1";
  var STATE_CLASS = {acked: "ok", delivered: "ok", sent: "sent", sending: "sent", pending: "sent",
    failed: "failed", undelivered: "failed", cancelled: "none"};
  var STATE_SIGN = {ok: "✓", sent: "…", failed: "✕", none: ""};
  var TEXT = {
    zh: {
      past: "实况路径", forecast: "预报路径", position: "当前位置", fix_past: "实况", fix_forecast: "预报",
      wind: "最大风速", pressure: "中心气压", radius: "半径", force: "{n}级风圈",
      online: "在线", offline: "离线", unknown: "无最新上报", reported: "上报于", station: "测站",
      snapshot: "最新截图", no_snapshot: "无截图链接", event: "事件：",
      led: "LED屏", speaker: "高音喇叭", no_command: "无指令", order: "指令",
      states: {pending: "待发送", sending: "发送中", sent: "已发送", acked: "已确认", delivered: "已送达",
        failed: "发送失败", undelivered: "未送达", cancelled: "已撤销"},
      events: {overtopping: "漫堤（越浪）", water_over_marker: "水位超过警示标尺"},
    },
    en: {
      past: "Observed track", forecast: "Forecast track", position: "Position", fix_past: "observed",
      fix_forecast: "forecast", wind: "Max wind", pressure: "Central pressure", radius: "radius",
      force: "Force {n} radius", online: "online", offline: "offline", unknown: "no recent report",
      reported: "reported", station: "Station", snapshot: "Latest snapshot", no_snapshot: "no snapshot link",
      event: "Event: ", led: "LED board", speaker: "Loudspeaker", no_command: "no command", order: "Order",
      states: {pending: "pending", sending: "sending", sent: "sent", acked: "acknowledged", delivered: "delivered",
        failed: "failed", undelivered: "undelivered", cancelled: "cancelled"},
      events: {overtopping: "overtopping", water_over_marker: "water over the marker"},
    },
  };
  var TYPHOON_SVG = "<svg xmlns='http://www.w3.org/2000/svg' viewBox='-15 -15 30 30' aria-hidden='true'>" +
    "<path d='M0,-13 C9,-13 12,-6 11,-2 C8,-8 3,-8 0,-6 C7,-5 9,3 5,8 C3,13 -4,14 -9,12 C-1,12 2,7 1,3 " +
    "C-8,6 -13,-1 -11,-6 C-10,-10 -6,-13 0,-13 Z' fill='#ff2d9b' stroke='#ffffff' stroke-width='1.6'/>" +
    "<circle r='3' fill='#ffffff'/></svg>";
  var CAMERA_SVG = "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 24 24' aria-hidden='true'>" +
    "<path d='M2.5 7h11.5a2 2 0 0 1 2 2v1.6l5.5-3.3v9.4l-5.5-3.3v1.6a2 2 0 0 1-2 2h-11.5a2 2 0 0 1-2-2v-6a2 2 0 0 1 2-2z'/>" +
    "</svg>";
  var LED_SVG = "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 24 16' aria-hidden='true'>" +
    "<rect x='1' y='1' width='22' height='14' rx='2'/><path class='px' d='M5 6h14M5 10h10'/></svg>";
  var SPEAKER_SVG = "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 24 24' aria-hidden='true'>" +
    "<path d='M3 9h4l7-5v16l-7-5h-4z'/><path class='px' d='M17 8.5q2.5 3.5 0 7M19.5 6q4.5 6 0 12'/></svg>";

  // wall.js's helpers (floodWall.util). That file loads after this one, but these run only when Leaflet draws.
  function esc(value) { return window.floodWall.util.esc(value); }
  function rem() { return window.floodWall.util.rem(); }
  function hideoutOf(context) { return window.floodWall.util.hideoutOf(context); }
  function localTime(iso, tz) { return window.floodWall.util.localTime(iso, tz); }

  function textOf(context) {
    return TEXT[hideoutOf(context).lang] || TEXT.zh;
  }

  function number(value, digits) {
    return value === null || value === undefined || !isFinite(value) ? "—" : Number(value).toFixed(digits || 0);
  }

  function safeUrl(value) {
    return typeof value === "string" && /^https?:\/\/[^\s"'<>\\`]+$/i.test(value) ? value : null;
  }

  // --- storm ------------------------------------------------------------------------------------
  function fixStyle(p) {
    var k = rem() / 16;
    if (p.phase === "forecast") {
      return {radius: 4.5 * k, color: p.colour || "#fff", weight: 2.5 * k, fillColor: "#0b1424", fillOpacity: 1,
        opacity: 1};
    }
    return {radius: 5 * k, color: "#0b1424", weight: 1.5 * k, fillColor: p.colour || "#fff", fillOpacity: 1,
      opacity: 1};
  }

  function stormStyle(feature) {
    var p = (feature && feature.properties) || {};
    var k = rem() / 16;
    if (p.role === "radius") {
      var colour = FORCE_COLOUR[p.force] || "#ffffff";
      return {color: colour, weight: 2.5 * k, opacity: 0.95, dashArray: (10 * k) + " " + (7 * k), fill: true,
        fillColor: colour, fillOpacity: FORCE_FILL[p.force] || 0.1, interactive: true};
    }
    if (p.role === "fix") { return fixStyle(p); }
    if (p.role === "forecast") {
      return {color: TRACK_COLOUR, weight: 3.5 * k, opacity: 1, dashArray: (2 * k) + " " + (9 * k), lineCap: "round"};
    }
    return {color: TRACK_COLOUR, weight: 4 * k, opacity: 1};
  }

  function stormPoint(feature, latlng) {
    var p = feature.properties || {};
    if (p.role === "position") {
      var size = rem() * 2.6;
      return L.marker(latlng, {
        icon: L.divIcon({html: "<div class='storm-glyph'>" + TYPHOON_SVG + "</div>", className: "wall-storm-pos",
          iconSize: [size, size]}),
        keyboard: false, riseOnHover: true, zIndexOffset: 6000,
      });
    }
    return L.circleMarker(latlng, fixStyle(p));
  }

  function forceLabel(t, force) {
    return t.force.replace("{n}", String(force));
  }

  function fixTooltip(p, t, h) {
    var what = p.role === "position" ? t.position : (p.phase === "forecast" ? t.fix_forecast : t.fix_past);
    var grade = h.lang === "en" ? (p.grade_en || p.grade) : p.grade;
    var lines = ["<b>" + esc(p.storm) + "</b> " + esc(what),
      esc(localTime(p.time, h.tz)) + " · <b>" + esc(grade) + "</b>",
      esc(t.wind) + " <b>" + number(p.wind_ms) + "</b> m/s" +
        (p.pressure_hpa !== null && p.pressure_hpa !== undefined ?
          " · " + esc(t.pressure) + " <b>" + number(p.pressure_hpa) + "</b> hPa" : "")];
    var radii = [7, 10, 12].filter(function (f) { return p["r" + f + "_km"]; }).map(function (f) {
      return esc(forceLabel(t, f)) + " " + number(p["r" + f + "_km"]) + " km";
    });
    if (radii.length) { lines.push(radii.join(" · ")); }
    return lines.join("<br>");
  }

  function northernmost(feature) {
    var ring = ((feature.geometry || {}).coordinates || [])[0] || [];
    var best = null;
    for (var i = 0; i < ring.length; i++) {
      if (!best || ring[i][1] > best[1]) { best = ring[i]; }
    }
    return best ? L.latLng(best[1], best[0]) : null;
  }

  // A label that comes and goes with its layer (the GeoJSON group adds and removes its layers).
  function attachLabel(layer, latlng, html, className) {
    var label = L.marker(latlng, {
      icon: L.divIcon({html: html, className: className, iconSize: [0, 0]}), interactive: false, keyboard: false,
    });
    layer.on("add", function () {
      if (layer._map) { label.addTo(layer._map); }
    });
    layer.on("remove", function () { label.remove(); });
  }

  function stormFeature(feature, layer, context) {
    var p = feature.properties || {};
    var h = hideoutOf(context);
    var t = textOf(context);
    if (p.role === "radius") {
      var name = forceLabel(t, p.force);
      layer.bindTooltip("<b>" + esc(p.storm) + "</b> " + esc(name) + "<br>" + esc(t.radius) + " " +
        number(p.radius_km) + " km", {className: "wall-tooltip", sticky: true});
      var edge = northernmost(feature);
      if (edge) {
        attachLabel(layer, edge, "<span class='radius-text' data-force='" + esc(p.force) + "'>" + esc(name) +
          "</span>", "wall-radius-label force-" + esc(p.force));
      }
    } else if (p.role === "past" || p.role === "forecast") {
      layer.bindTooltip("<b>" + esc(p.storm) + "</b> " + esc(p.role === "past" ? t.past : t.forecast),
        {className: "wall-tooltip", sticky: true});
    } else {
      layer.bindTooltip(fixTooltip(p, t, h), {className: "wall-tooltip", direction: "top"});
    }
  }

  // --- cameras ----------------------------------------------------------------------------------
  function cameraState(p) {
    return p.online === false ? "offline" : (p.online === true ? "online" : "unknown");
  }

  function cameraPoint(feature, latlng) {
    var p = feature.properties || {};
    var state = cameraState(p);
    var size = rem() * 1.8;
    var classes = ["wall-cam", "cam-" + state];
    if (p.event) { classes.push("cam-event"); }
    var html = "<div class='cam-body' data-code='" + esc(p.code) + "' data-state='" + state + "'>" + CAMERA_SVG +
      "</div>";
    return L.marker(latlng, {
      icon: L.divIcon({html: html, className: classes.join(" "), iconSize: [size, size]}),
      keyboard: false, riseOnHover: true, zIndexOffset: p.event ? 3000 : (state === "online" ? 1000 : 0),
    });
  }

  function eventName(event, t) {
    return t.events[event] || event;
  }

  function cameraFeature(feature, layer, context) {
    var p = feature.properties || {};
    var h = hideoutOf(context);
    var t = textOf(context);
    var state = cameraState(p);
    var status = state === "online" ? t.online : (state === "offline" ? t.offline : t.unknown);
    layer.bindTooltip("<b>" + esc(p.name || p.code) + "</b> · " + esc(status) +
      (p.event ? "<br><span class='cam-event-text'>" + esc(eventName(p.event, t)) + "</span>" : ""),
      {className: "wall-tooltip", direction: "top"});
    var box = document.createElement("div");
    box.className = "wall-cam-popup";
    box.innerHTML = "<div class='pop-title'>" + esc(p.name || p.code) + "</div>" +
      "<div>" + esc(t.station) + " " + esc(p.station_name || "") + " <span class='tt-code'>" + esc(p.station) +
      "</span></div>" +
      "<div class='pop-state state-" + state + "'>" + esc(status) +
      (p.ts ? " · " + esc(t.reported) + " " + esc(localTime(p.ts, h.tz)) : "") + "</div>" +
      (p.event ? "<div class='pop-event'>" + esc(t.event) + esc(eventName(p.event, t)) + "</div>" : "");
    var url = safeUrl(p.snapshot_url);
    if (url) {
      var link = document.createElement("a");
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      link.className = "cam-snapshot";
      link.textContent = t.snapshot;
      box.appendChild(link);
    } else {
      var none = document.createElement("div");
      none.className = "pop-muted";
      none.textContent = t.no_snapshot;
      box.appendChild(none);
    }
    layer.bindPopup(box, {className: "wall-popup", maxWidth: rem() * 24, minWidth: rem() * 12});
  }

  // --- LED boards and loudspeakers --------------------------------------------------------------
  function deviceClass(p) {
    return p.state ? (STATE_CLASS[p.state] || "none") : "none";
  }

  // Below NEAR_ZOOM a village's devices overlap (they sit DEVICE_RING_M apart): the map container carries
  // data-dev-zoom="far" and the CSS shrinks them, the most severe state on top (zIndexOffset).
  var NEAR_ZOOM = 14;

  function watchZoom(map) {
    if (!map || map._floodWallZoom) { return; }
    map._floodWallZoom = true;
    var mark = function () {
      map.getContainer().setAttribute("data-dev-zoom", map.getZoom() >= NEAR_ZOOM ? "near" : "far");
    };
    map.on("zoomend", mark);
    mark();
  }

  function devicePoint(feature, latlng) {
    var p = feature.properties || {};
    var look = deviceClass(p);
    var led = p.kind === "led";
    var size = rem() * 1.35;
    var html = "<div class='dev-body' data-device='" + esc(p.device) + "' data-kind='" + (led ? "led" : "speaker") +
      "' data-state='" + esc(p.state || "none") + "'>" + (led ? LED_SVG : SPEAKER_SVG) +
      (STATE_SIGN[look] ? "<span class='dev-sign'>" + STATE_SIGN[look] + "</span>" : "") + "</div>";
    var marker = L.marker(latlng, {
      icon: L.divIcon({html: html, className: "wall-dev dev-" + look + (led ? " dev-led" : " dev-speaker"),
        iconSize: [size, size]}),
      keyboard: false, riseOnHover: true,
      zIndexOffset: {failed: 2000, sent: 1000, ok: 500, none: 0}[look] + (led ? 100 : 0),
    });
    marker.on("add", function () { watchZoom(marker._map); });
    return marker;
  }

  function deviceFeature(feature, layer, context) {
    var p = feature.properties || {};
    var h = hideoutOf(context);
    var t = textOf(context);
    var lines = ["<b>" + esc(p.kind === "led" ? t.led : t.speaker) + "</b> <span class='tt-code'>" + esc(p.device) +
      "</span>", esc(p.village || "")];
    if (p.state) {
      var title = h.lang === "en" ? (p.title_en || p.title) : p.title;
      lines.push(esc(t.order) + " <b>" + esc(p.order_no || ("#" + p.order_id)) + "</b>" +
        (title ? " " + esc(title) : ""));
      lines.push("<span class='dev-state dev-" + deviceClass(p) + "'>" + esc(t.states[p.state] || p.state) +
        "</span> " + esc(localTime(p.when, h.tz)));
      if (p.text) {
        var text = String(p.text);
        lines.push("<span class='dev-text'>" + esc(text.length > 60 ? text.slice(0, 60) + "…" : text) + "</span>");
      }
    } else {
      lines.push(esc(t.no_command));
    }
    layer.bindTooltip(lines.join("<br>"), {className: "wall-tooltip", direction: "top"});
  }

  var functions = {
    stormStyle: stormStyle, stormPoint: stormPoint, stormFeature: stormFeature,
    cameraPoint: cameraPoint, cameraFeature: cameraFeature,
    devicePoint: devicePoint, deviceFeature: deviceFeature,
  };

  window.floodWall = Object.assign(window.floodWall || {}, functions);
})();
