/*
 * The web chat page: talks to POST /webhooks/rest/webhook (Rasa's REST format).
 *
 * - The transcript, the random sender id and the chosen language live ONLY in
 *   sessionStorage: they are gone when the tab is closed or on quick exit.
 * - Every text from the server is put in the page with textContent, never as HTML.
 * - Quick exit (the button, or Shift pressed three times): ends the conversation on
 *   the server, clears sessionStorage and localStorage, and replaces the page with
 *   /neutral so that the back button does not return to the chat.
 * - UI texts come from GET /webchat/texts/<lang>; no inline script or style, no
 *   request to any other origin.
 */
(function () {
  "use strict";

  var LANGUAGES = ["nl", "fr", "en", "de"];
  var KEYS = { sender: "chat.sender", transcript: "chat.transcript", language: "chat.language" };
  var SHIFT_PRESSES = 3;
  var SHIFT_WINDOW_MS = 2000;
  var END_WAIT_MS = 1000;
  var POLL_MS = 4000;  // how often a counsellor's messages are fetched
  // Used only if the texts cannot be loaded at all (the service is unreachable).
  var FALLBACK_TEXTS = {
    title: "Chat", send: "Send", quick_exit: "Quick exit", message_label: "Your message",
    language: "Language", you: "You:", assistant: "Assistant:",
    error: "Sorry, the chat cannot be reached right now. If you are in danger, call the emergency number."
  };

  function $(id) { return document.getElementById(id); }

  // ---- storage (sessionStorage only; it may be unavailable in some private modes)

  function readStore(key) {
    try { return window.sessionStorage.getItem(key); } catch (e) { return null; }
  }

  function writeStore(key, value) {
    try { window.sessionStorage.setItem(key, value); } catch (e) { /* nothing is kept */ }
  }

  function clearStores() {
    try { window.sessionStorage.clear(); } catch (e) { /* already unavailable */ }
    try { window.localStorage.clear(); } catch (e) { /* already unavailable */ }
  }

  function randomId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function senderId() {
    var sender = readStore(KEYS.sender);
    if (!sender) {
      sender = randomId();
      writeStore(KEYS.sender, sender);
    }
    return sender;
  }

  function loadTranscript() {
    try {
      var entries = JSON.parse(readStore(KEYS.transcript) || "[]");
      return Array.isArray(entries) ? entries : [];
    } catch (e) {
      return [];
    }
  }

  function saveTranscript(entries) {
    writeStore(KEYS.transcript, JSON.stringify(entries));
  }

  // ---- language and texts

  function preferredLanguage() {
    var stored = readStore(KEYS.language);
    if (LANGUAGES.indexOf(stored) >= 0) { return stored; }
    var wanted = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || ""];
    for (var i = 0; i < wanted.length; i += 1) {
      var primary = String(wanted[i]).toLowerCase().split("-")[0];
      if (LANGUAGES.indexOf(primary) >= 0) { return primary; }
    }
    return "en";
  }

  function applyTexts(state) {
    var texts = state.texts;
    document.documentElement.lang = state.language;
    document.title = texts.title || FALLBACK_TEXTS.title;
    Array.prototype.forEach.call(document.querySelectorAll("[data-text]"), function (el) {
      var text = texts[el.getAttribute("data-text")];
      if (typeof text === "string") { el.textContent = text; }
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-text-placeholder]"), function (el) {
      var text = texts[el.getAttribute("data-text-placeholder")];
      if (typeof text === "string") { el.placeholder = text; }
    });
  }

  function loadTexts(state, language) {
    return fetch("/webchat/texts/" + encodeURIComponent(language), { headers: { Accept: "application/json" } })
      .then(function (res) {
        if (!res.ok) { throw new Error("texts " + res.status); }
        return res.json();
      })
      .catch(function () { return FALLBACK_TEXTS; })
      .then(function (texts) {
        if (state.language !== language) { return; } // the person picked another one meanwhile
        state.texts = texts;
        applyTexts(state);
      });
  }

  // ---- rendering (textContent only: a reply is never read as HTML)

  function speakerLabel(role) {
    var span = document.createElement("span");
    span.className = "visually-hidden";
    span.setAttribute("data-text", role === "user" ? "you" : (role === "counsellor" ? "counsellor" : "assistant"));
    return span;
  }

  function disableChoices() {
    Array.prototype.forEach.call(document.querySelectorAll("#log button"), function (button) {
      button.disabled = true;
    });
  }

  function renderEntry(state, entry, active) {
    var item = document.createElement("div");
    item.className = "msg " + (entry.role === "user" ? "user" : "bot") +
      (entry.role === "counsellor" ? " counsellor" : "") + (entry.error ? " error" : "");
    var label = speakerLabel(entry.role);
    label.textContent = state.texts[label.getAttribute("data-text")] || "";
    item.appendChild(label);
    if (entry.text) {
      var text = document.createElement("p");
      text.className = "text";
      text.textContent = entry.text;
      item.appendChild(text);
    }
    if (entry.buttons && entry.buttons.length) {
      var group = document.createElement("div");
      group.className = "choices";
      entry.buttons.forEach(function (choice) {
        var button = document.createElement("button");
        button.type = "button";
        button.className = "choice";
        button.textContent = String(choice.title);
        button.disabled = !active;
        button.addEventListener("click", function () {
          send(state, String(choice.payload), String(choice.title));
          $("message").focus();
        });
        group.appendChild(button);
      });
      item.appendChild(group);
    }
    $("log").appendChild(item);
    $("log").scrollTop = $("log").scrollHeight;
  }

  function addEntry(state, entry) {
    state.transcript.push(entry);
    saveTranscript(state.transcript);
    renderEntry(state, entry, true);
  }

  function renderTranscript(state) {
    var lastUser = -1;
    state.transcript.forEach(function (entry, index) { if (entry.role === "user") { lastUser = index; } });
    state.transcript.forEach(function (entry, index) { renderEntry(state, entry, index > lastUser); });
  }

  function setTyping(state, delta) {
    state.pending += delta;
    $("typing").hidden = state.pending <= 0;
  }

  // ---- the conversation

  function post(state, message) {
    return fetch("/webhooks/rest/webhook", {
      method: "POST",
      // X-Conversation lets a load balancer keep the conversation on one replica.
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-Conversation": senderId() },
      body: JSON.stringify({ sender: senderId(), message: message, metadata: { language: state.language } })
    }).then(function (res) {
      if (!res.ok) { throw new Error("webhook " + res.status); }
      return res.json();
    }).then(function (replies) {
      if (!Array.isArray(replies)) { throw new Error("webhook reply"); }
      replies.forEach(function (reply) {
        var buttons = Array.isArray(reply.buttons) ? reply.buttons.map(function (b) {
          return { title: String(b.title), payload: String(b.payload) };
        }) : [];
        addEntry(state, { role: "bot", text: typeof reply.text === "string" ? reply.text : "", buttons: buttons });
      });
    }).catch(function () {
      addEntry(state, { role: "bot", text: state.texts.error || FALLBACK_TEXTS.error, error: true });
    });
  }

  // A counsellor's messages (after a handoff) are fetched by polling.
  function pollCounsellor(state) {
    if (state.exiting) { return; }
    fetch("/webhooks/rest/messages", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ sender: senderId() })
    }).then(function (res) { return res.ok ? res.json() : []; })
      .then(function (messages) {
        if (!Array.isArray(messages) || state.exiting) { return; }
        messages.forEach(function (message) {
          var role = message.from === "assistant" ? "bot" : "counsellor";
          addEntry(state, { role: role, text: typeof message.text === "string" ? message.text : "", buttons: [] });
        });
      })
      .catch(function () { /* the next poll tries again */ });
  }

  function send(state, message, shown) {
    if (state.exiting) { return; }
    disableChoices();
    addEntry(state, { role: "user", text: shown });
    setTyping(state, 1);
    // One message at a time, in order.
    state.queue = state.queue.then(function () { return post(state, message); })
      .then(function () { setTyping(state, -1); });
  }

  // ---- quick exit

  function leave() {
    var target = window.location.origin + "/neutral";
    try {
      if (window.top !== window.self) { window.top.location.replace(target); return; }
    } catch (e) { /* not allowed from this frame: leave the frame at least */ }
    window.location.replace(target);
  }

  function quickExit(state) {
    if (state.exiting) { return; }
    state.exiting = true;
    var sender = readStore(KEYS.sender);
    document.body.textContent = ""; // nothing of the chat stays on screen, even for a moment
    clearStores();
    var ended = sender ? fetch("/webhooks/rest/end", {
      method: "POST",
      keepalive: true,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sender: sender })
    }).catch(function () { return null; }) : Promise.resolve(null);
    var waited = new Promise(function (resolve) { window.setTimeout(resolve, END_WAIT_MS); });
    Promise.race([ended, waited]).then(leave, leave);
  }

  function watchShift(state) {
    var presses = [];
    window.addEventListener("keydown", function (event) {
      if (event.key !== "Shift") { presses = []; return; }
      if (event.repeat) { return; }
      var now = Date.now();
      presses = presses.filter(function (t) { return now - t < SHIFT_WINDOW_MS; });
      presses.push(now);
      if (presses.length >= SHIFT_PRESSES) { quickExit(state); }
    }, true);
  }

  // ---- start

  function start() {
    var state = {
      language: preferredLanguage(),
      texts: FALLBACK_TEXTS,
      transcript: loadTranscript(),
      queue: Promise.resolve(),
      pending: 0,
      exiting: false
    };
    if (window.top !== window.self) { document.documentElement.classList.add("embedded"); }
    senderId();
    $("language").value = state.language;
    renderTranscript(state);
    loadTexts(state, state.language);
    watchShift(state);

    $("quick-exit").addEventListener("click", function () { quickExit(state); });
    window.setInterval(function () { pollCounsellor(state); }, POLL_MS);

    $("composer").addEventListener("submit", function (event) {
      event.preventDefault();
      var input = $("message");
      var text = input.value.trim();
      if (!text) { input.focus(); return; }
      input.value = "";
      send(state, text, text);
    });

    $("language").addEventListener("change", function (event) {
      var select = event.target;
      var language = select.value;
      if (LANGUAGES.indexOf(language) < 0 || language === state.language) { return; }
      state.language = language;
      writeStore(KEYS.language, language);
      loadTexts(state, language);
      send(state, '/set_language{"language": "' + language + '"}', select.options[select.selectedIndex].text);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
