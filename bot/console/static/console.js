/* The console's queue, live: polls queue.json every 5 seconds and re-renders the rows
   with textContent only (never innerHTML). A new emergency case puts "(!)" before the
   page title and beeps once with WebAudio (no audio file). On a case page the
   transcript is refreshed the same way from turns.json, so the person's messages
   appear without a reload. */
(function () {
  "use strict";

  var list = document.querySelector("ol.transcript[data-turns-url]");
  if (!list) { return; }

  function part(parent, tag, className, text) {
    var el = document.createElement(tag);
    if (className) { el.className = className; }
    if (text !== undefined) { el.textContent = text; }
    parent.appendChild(el);
    return el;
  }

  function renderTurns(turns) {
    while (list.firstChild) { list.removeChild(list.firstChild); }
    turns.forEach(function (turn) {
      var item = part(list, "li", "turn who-" + turn.who);
      var meta = part(item, "p", "turn-meta");
      [turn.who_label, turn.at, String(turn.language || "").toUpperCase(), turn.intent || ""]
        .forEach(function (text) { if (text) { part(meta, "span", "", text); meta.appendChild(document.createTextNode(" ")); } });
      part(item, "p", "text", turn.text);
    });
  }

  function pollTurns() {
    fetch(list.getAttribute("data-turns-url"), { credentials: "same-origin", cache: "no-store" })
      .then(function (resp) {
        if (resp.status === 401) { window.location.href = "/console/login"; return null; }
        return resp.ok ? resp.json() : null;
      })
      .then(function (data) { if (data && list.children.length !== data.turns.length) { renderTurns(data.turns); } })
      .catch(function () { /* try again at the next tick */ })
      .then(function () { window.setTimeout(pollTurns, 5000); });
  }

  window.setTimeout(pollTurns, 5000);
}());

(function () {
  "use strict";

  var POLL_MS = 5000;
  var MARK = "(!) ";
  var table = document.getElementById("queue");
  if (!table) { return; }
  var body = table.querySelector("tbody");
  var known = {};

  Array.prototype.forEach.call(body.querySelectorAll("tr[data-id]"), function (row) {
    known[row.getAttribute("data-id")] = row.getAttribute("data-urgency");
  });

  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function caseRow(item) {
    var row = document.createElement("tr");
    row.className = "urgency-" + item.urgency;
    row.setAttribute("data-id", String(item.id));
    row.setAttribute("data-urgency", item.urgency);
    row.setAttribute("data-status", item.status);
    var link = document.createElement("a");
    link.href = item.url;
    link.textContent = "#" + item.id;
    cell(row, "").appendChild(link);
    [item.urgency_label, item.status_label, String(item.language).toUpperCase(), item.channel,
     item.centre_label, item.created_at, String(item.waiting_minutes)].forEach(function (text) {
      cell(row, text);
    });
    return row;
  }

  function render(cases) {
    while (body.firstChild) { body.removeChild(body.firstChild); }
    if (!cases.length) {
      var empty = document.createElement("tr");
      cell(empty, table.getAttribute("data-empty") || "").colSpan = 8;
      body.appendChild(empty);
    }
    cases.forEach(function (item) { body.appendChild(caseRow(item)); });
  }

  function beep() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) { return; }
    try {
      var audio = new Context();
      var tone = audio.createOscillator();
      var gain = audio.createGain();
      tone.type = "sine";
      tone.frequency.value = 880;
      gain.gain.value = 0.2;
      tone.connect(gain);
      gain.connect(audio.destination);
      tone.onended = function () { audio.close(); };
      tone.start();
      tone.stop(audio.currentTime + 0.3);
    } catch (ignored) { /* no sound is better than a broken queue */ }
  }

  function alertNewEmergencies(cases) {
    var fresh = cases.filter(function (item) {
      return item.urgency === "emergency" && item.status !== "closed" &&
        known[String(item.id)] !== "emergency";
    });
    cases.forEach(function (item) { known[String(item.id)] = item.urgency; });
    if (!fresh.length) { return; }
    if (document.title.indexOf(MARK) !== 0) { document.title = MARK + document.title; }
    beep();
  }

  function clearMark() {
    if (document.title.indexOf(MARK) === 0) { document.title = document.title.slice(MARK.length); }
  }

  function poll() {
    fetch("/console/queue.json" + window.location.search,
          { credentials: "same-origin", cache: "no-store" })
      .then(function (resp) {
        if (resp.status === 401) { window.location.href = "/console/login"; return null; }
        return resp.ok ? resp.json() : null;
      })
      .then(function (data) {
        if (!data) { return; }
        render(data.cases);
        alertNewEmergencies(data.cases);
      })
      .catch(function () { /* try again at the next tick */ })
      .then(function () { window.setTimeout(poll, POLL_MS); });
  }

  document.addEventListener("click", clearMark);
  document.addEventListener("keydown", clearMark);
  window.setTimeout(poll, POLL_MS);
}());
