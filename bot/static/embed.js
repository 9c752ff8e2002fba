// Cầu Nối on another website: `<script src="https://<our host>/chat/embed.js" async></script>`
// adds a chat button that opens the chat in a panel. Built with DOM calls only (never HTML
// from strings), styled inside a shadow root, and only one global: window.CauNoi.
"use strict";

(function () {
  const script = document.currentScript;
  if (!script || window.CauNoi) return; // once per page, however often the snippet is pasted
  const origin = new URL(script.src).origin;
  const labels = __CAUNOI_LABELS__;
  const pageLanguage = (document.documentElement.lang || "").toLowerCase();
  const words = labels[pageLanguage.startsWith("en") ? "en" : "vi"];
  const remembered = "caunoi-chat-open";
  const css = `
    :host { all: initial; }
    .launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000;
      width: 60px; height: 60px; border: 0; border-radius: 50%; padding: 0; cursor: pointer;
      background: #0b5cad; color: #fff; box-shadow: 0 4px 16px rgba(0, 0, 0, .25);
      display: flex; align-items: center; justify-content: center; }
    .launcher:hover { background: #094c8f; }
    .launcher[aria-expanded="true"] .when-closed, .launcher[aria-expanded="false"] .when-open {
      display: none; }
    .launcher:focus-visible, .close:focus-visible { outline: 3px solid #ffbf47; outline-offset: 2px; }
    .panel { position: fixed; right: 20px; bottom: 92px; z-index: 2147483000;
      width: 380px; max-width: calc(100vw - 40px); height: min(640px, calc(100vh - 112px));
      display: flex; flex-direction: column; overflow: hidden; background: #fff;
      border-radius: 12px; box-shadow: 0 8px 32px rgba(0, 0, 0, .25); }
    .panel[hidden] { display: none; }
    .bar { display: flex; align-items: center; justify-content: space-between; gap: 8px;
      padding: 6px 6px 6px 14px; background: #0b5cad; color: #fff;
      font: 600 15px/1.3 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; }
    .close { width: 40px; height: 40px; border: 0; border-radius: 6px; padding: 0; cursor: pointer;
      background: transparent; color: #fff; display: flex; align-items: center; justify-content: center; }
    .close:hover { background: rgba(255, 255, 255, .15); }
    iframe { flex: 1; width: 100%; border: 0; background: #f3f6fa; }
    @media (max-width: 480px) {
      .panel { inset: 0; width: 100%; max-width: none; height: 100%; border-radius: 0; }
      .launcher[aria-expanded="true"] { display: none; }
    }`;

  function icon(path) {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "28");
    svg.setAttribute("height", "28");
    svg.setAttribute("aria-hidden", "true");
    const shape = document.createElementNS("http://www.w3.org/2000/svg", "path");
    shape.setAttribute("d", path);
    shape.setAttribute("fill", "none");
    shape.setAttribute("stroke", "currentColor");
    shape.setAttribute("stroke-width", "2");
    shape.setAttribute("stroke-linecap", "round");
    shape.setAttribute("stroke-linejoin", "round");
    svg.appendChild(shape);
    return svg;
  }

  function styled(root) {
    try {
      const sheet = new CSSStyleSheet(); // not an inline style, so the site's CSP allows it
      sheet.replaceSync(css);
      root.adoptedStyleSheets = [sheet];
    } catch (e) {
      const style = document.createElement("style");
      style.textContent = css;
      root.appendChild(style);
    }
  }

  function remember(open) {
    try { localStorage.setItem(remembered, open ? "1" : "0"); } catch (e) { /* private mode */ }
  }

  function wasOpen() {
    try { return localStorage.getItem(remembered) === "1"; } catch (e) { return false; }
  }

  const host = document.createElement("div");
  host.setAttribute("data-caunoi", "");
  const root = host.attachShadow({ mode: "open" });
  styled(root);

  const launcher = document.createElement("button");
  launcher.type = "button";
  launcher.className = "launcher";
  launcher.setAttribute("aria-label", words.open);
  launcher.title = words.open;
  launcher.setAttribute("aria-expanded", "false");
  launcher.setAttribute("aria-controls", "caunoi-panel");
  const chatIcon = icon("M21 12a8 8 0 0 1-11.6 7.1L4 20.5l1.4-4.9A8 8 0 1 1 21 12z");
  const closeIcon = icon("M6 6l12 12M18 6L6 18");
  chatIcon.setAttribute("class", "when-closed");
  closeIcon.setAttribute("class", "when-open");
  launcher.append(chatIcon, closeIcon);

  const panel = document.createElement("div");
  panel.className = "panel";
  panel.id = "caunoi-panel";
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", words.title);
  panel.hidden = true;
  const bar = document.createElement("div");
  bar.className = "bar";
  const heading = document.createElement("span");
  heading.textContent = words.title;
  const close = document.createElement("button");
  close.type = "button";
  close.className = "close";
  close.setAttribute("aria-label", words.close);
  close.title = words.close;
  close.appendChild(icon("M6 6l12 12M18 6L6 18"));
  bar.append(heading, close);
  panel.appendChild(bar);
  let frame = null; // made on first opening, then kept so the conversation stays as it was

  function open() {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.src = origin + "/chat?embed=1";
      frame.title = words.title;
      frame.allow = "clipboard-write";
      panel.appendChild(frame);
    }
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    launcher.setAttribute("aria-label", words.close);
    launcher.title = words.close;
    remember(true);
  }

  function shut() {
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-label", words.open);
    launcher.title = words.open;
    remember(false);
  }

  launcher.addEventListener("click", () => {
    if (panel.hidden) {
      open();
      frame.focus();
    } else {
      shut();
    }
  });
  close.addEventListener("click", () => { shut(); launcher.focus(); });
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { shut(); launcher.focus(); }
  });
  window.addEventListener("message", (event) => { // Escape pressed inside the chat's frame
    if (event.origin === origin && frame && event.source === frame.contentWindow
        && event.data === "caunoi:close" && !panel.hidden) {
      shut();
      launcher.focus();
    }
  });

  root.append(panel, launcher);
  function mount() {
    document.body.appendChild(host);
    if (wasOpen()) open();
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);

  window.CauNoi = Object.freeze({ open, close: shut });
})();
