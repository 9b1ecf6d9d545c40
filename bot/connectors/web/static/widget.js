/*
 * The chat widget for other pages:
 *
 *   <script src="https://CHAT-HOST/webchat/widget.js" defer data-label="Chat with us"></script>
 *
 * adds a button in the bottom corner that opens the chat (/chat of the script's own
 * origin) in an iframe, and closes it again (the button or Escape). Styles are set
 * through the DOM, so a page with a strict Content-Security-Policy can include it.
 * The chat's quick exit replaces the whole page, not only the frame. The service sends
 * frame-ancestors 'self': as shipped, the chat can be framed by pages of its own origin.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || !script.src) { return; }
  var origin = new URL(script.src, window.location.href).origin;
  var label = script.getAttribute("data-label") || "Chat";

  function setStyles(el, styles) {
    Object.keys(styles).forEach(function (name) { el.style[name] = styles[name]; });
  }

  function makeButton() {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "helpchat-launcher";
    button.textContent = label;
    button.setAttribute("aria-expanded", "false");
    button.setAttribute("aria-controls", "helpchat-panel");
    setStyles(button, {
      position: "fixed", right: "1rem", bottom: "1rem", zIndex: "2147483000",
      minHeight: "2.75rem", padding: "0.5rem 1.25rem", border: "2px solid #1d5b73",
      borderRadius: "1.5rem", background: "#1d5b73", color: "#ffffff",
      font: "600 1rem system-ui, sans-serif", cursor: "pointer",
      boxShadow: "0 2px 8px rgba(0, 0, 0, 0.2)"
    });
    return button;
  }

  function makePanel() {
    var panel = document.createElement("div");
    panel.id = "helpchat-panel";
    panel.hidden = true;
    setStyles(panel, {
      position: "fixed", right: "1rem", bottom: "4.5rem", zIndex: "2147483000",
      width: "min(26rem, calc(100vw - 2rem))", height: "min(38rem, calc(100vh - 6rem))",
      border: "1px solid #d5d9dc", borderRadius: "0.75rem", overflow: "hidden",
      background: "#f5f4ef", boxShadow: "0 4px 24px rgba(0, 0, 0, 0.25)"
    });
    return panel;
  }

  function makeFrame() {
    var frame = document.createElement("iframe");
    frame.src = origin + "/chat";
    frame.title = label;
    frame.className = "helpchat-frame";
    setStyles(frame, { width: "100%", height: "100%", border: "0", display: "block" });
    return frame;
  }

  function mount() {
    var button = makeButton();
    var panel = makePanel();

    function setOpen(open) {
      if (open && !panel.firstChild) { panel.appendChild(makeFrame()); } // loaded on first open only
      panel.hidden = !open;
      button.setAttribute("aria-expanded", open ? "true" : "false");
    }

    button.addEventListener("click", function () { setOpen(panel.hidden); });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && !panel.hidden) {
        setOpen(false);
        button.focus();
      }
    });
    document.body.appendChild(panel);
    document.body.appendChild(button);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", mount);
  } else {
    mount();
  }
}());
