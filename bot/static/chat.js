// Cầu Nối web chat. Every text from the server goes in with textContent, never as HTML.
"use strict";

(function () {
  const body = document.body;
  const strings = JSON.parse(body.dataset.strings);
  const maxBytes = Number(body.dataset.maxBytes);
  const maxChars = Number(body.dataset.maxChars);
  let csrf = body.dataset.csrf;
  let cursor = 0;
  let polling = false;
  const log = document.getElementById("log");
  const notice = document.getElementById("notice");
  const textBox = document.getElementById("text");
  const bubbles = new Map(); // first id of a message -> its element
  const staffPage = body.dataset.staff === "1";
  // Reference codes (PA-2611-0042) and web links in what the bot says.
  const CODE = new RegExp("\\b(?:" + body.dataset.codes + ")-\\d{4}-\\d{4,}\\b", "g");
  const LINK = /\bhttps?:\/\/[^\s<>"'`]+/g;
  let pastBelow = 0; // a visitor's menus older than the last one they answered are spent

  // In the Union's site's panel (embed.js), Escape closes the panel as it does outside it: the
  // keys go to this frame, so the site's script is told (it carries nothing else).
  if (document.documentElement.dataset.framed === "1" && window.parent !== window) {
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && !e.isComposing) window.parent.postMessage("caunoi:close", "*");
    });
  }

  function newId() {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function showNotice(message, withReload) {
    notice.textContent = message;
    if (withReload) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = strings.reload;
      button.addEventListener("click", () => location.assign("/chat"));
      notice.appendChild(button);
    }
    notice.hidden = false;
  }

  function clearNotice() {
    notice.hidden = true;
    notice.textContent = "";
  }

  async function post(path, payload, headers) {
    const isFile = payload instanceof Blob;
    const response = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: Object.assign(
        { "X-CSRF-Token": csrf, "Content-Type": isFile ? payload.type || "application/octet-stream" : "application/json" },
        headers || {}
      ),
      body: isFile ? payload : JSON.stringify(payload),
    });
    let answer = {};
    try { answer = await response.json(); } catch (e) { answer = {}; }
    if (!response.ok) {
      showNotice(answer.error || strings.bad_request, response.status === 401);
      return null;
    }
    clearNotice();
    return answer;
  }

  function time(iso) {
    const when = new Date(iso);
    const el = document.createElement("time");
    el.dateTime = iso;
    el.textContent = when.toLocaleTimeString("vi-VN", { hour: "2-digit", minute: "2-digit", timeZone: "Asia/Ho_Chi_Minh" });
    return el;
  }

  function fill(el, event) {
    el.replaceChildren();
    const words = document.createElement("div");
    words.className = "text";
    writeRich(words, event.text || "", event.outgoing);
    el.appendChild(words);
    if (event.document) {
      const link = document.createElement("a");
      link.className = "download";
      link.download = event.document.name;
      link.href = URL.createObjectURL(new Blob([event.document.content], { type: "application/json" }));
      link.textContent = strings.download + " " + event.document.name;
      el.appendChild(link);
    }
    if (event.file && event.id) {
      el.appendChild(event.file.kind === "photo" ? thumbOf(event.id) : downloadOf(event.id));
    }
    if (event.choices && event.choices.length) {
      const box = document.createElement("div");
      box.className = "choices";
      for (const row of event.choices) {
        const line = document.createElement("div");
        line.className = "row";
        for (const [id, label] of row) {
          const button = document.createElement("button");
          button.type = "button";
          button.dataset.choice = id;
          button.textContent = label;
          button.addEventListener("click", () => press(button, id));
          line.appendChild(button);
        }
        box.appendChild(line);
      }
      el.appendChild(box);
      if (!staffPage && event.pressed) used(el, event.pressed);
      else if (!staffPage && Number(el.dataset.id) < pastBelow) spend(el);
    }
    el.appendChild(time(event.at));
  }

  function downloadOf(id) {
    const link = document.createElement("a");
    link.className = "download";
    link.href = "/chat/api/file/" + encodeURIComponent(id);
    link.textContent = strings.download;
    return link;
  }

  // A photo as our own small re-encoded copy, in a box of fixed size; tapping it downloads
  // the original. A file we could not make a thumbnail of stays a download link.
  function thumbOf(id) {
    const link = downloadOf(id);
    link.className = "thumb";
    link.textContent = "";
    const img = document.createElement("img");
    img.width = 160;
    img.height = 120;
    img.alt = strings.photo;
    img.title = strings.photo;
    img.decoding = "async";
    img.src = "/chat/api/thumb/" + encodeURIComponent(id);
    img.addEventListener("error", () => link.replaceWith(downloadOf(id)), { once: true });
    link.appendChild(img);
    return link;
  }

  // Text as text nodes, with http(s) links as links and reference codes as copy buttons;
  // anything else (javascript:, data:) stays plain text.
  function writeRich(el, words, fromBot) {
    const found = [];
    for (const m of words.matchAll(LINK)) {
      const url = m[0].replace(/[.,;:!?)\]}'"»”]+$/, "");
      found.push({ at: m.index, end: m.index + url.length, node: () => linkTo(url) });
    }
    if (fromBot) {
      for (const m of words.matchAll(CODE)) {
        if (!found.some((f) => m.index < f.end && f.at < m.index + m[0].length)) {
          found.push({ at: m.index, end: m.index + m[0].length, node: () => codeButton(m[0]) });
        }
      }
    }
    found.sort((a, b) => a.at - b.at);
    let from = 0;
    for (const piece of found) {
      el.append(words.slice(from, piece.at), piece.node());
      from = piece.end;
    }
    el.append(words.slice(from));
  }

  function linkTo(url) {
    const link = document.createElement("a");
    link.href = url;
    link.textContent = url;
    link.target = "_blank";
    link.rel = "noopener noreferrer nofollow";
    return link;
  }

  function codeButton(code) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "code";
    button.dataset.code = code;
    button.textContent = code;
    button.title = strings.code_copy;
    button.addEventListener("click", async () => {
      try { await navigator.clipboard.writeText(code); } catch (e) { return; }
      button.textContent = strings.code_copied;
      button.classList.add("copied");
      setTimeout(() => { button.textContent = code; button.classList.remove("copied"); }, 1500);
    });
    return button;
  }

  // A message whose button was pressed: that one marked, all of them no longer pressable,
  // and (for a visitor) the menus before it too.
  function used(el, choice) {
    spend(el);
    const pressed = Array.from(el.querySelectorAll(".choices button")).find((b) => b.dataset.choice === choice);
    if (pressed) { pressed.classList.add("pressed"); pressed.setAttribute("aria-pressed", "true"); }
    const first = Number(el.dataset.id);
    if (first > pastBelow) {
      pastBelow = first;
      for (const [id, other] of bubbles) if (id < first) spend(other);
    }
  }

  function spend(el) {
    for (const button of el.querySelectorAll(".choices button")) button.disabled = true;
  }

  function show(event) {
    const first = event.replaces || event.id;
    let el = bubbles.get(first);
    if (!el) {
      el = document.createElement("div");
      el.className = "msg " + (event.outgoing ? "bot" : "me");
      el.dataset.id = String(first);
      bubbles.set(first, el);
      log.appendChild(el);
    }
    fill(el, event);
    // Other scripts of the page (push.js) react to what is shown, without reaching in here.
    document.dispatchEvent(new CustomEvent("caunoi:message", { detail: { event: event, element: el } }));
  }

  // News of the chat: the stream (server-sent events), or the long poll where a browser or a
  // proxy cannot keep one open.
  function poll() {
    if (polling) return;
    polling = true;
    if (!window.EventSource) return longPoll();
    let opened = false;
    const source = new EventSource("/chat/api/stream?after=" + cursor);
    source.addEventListener("session", (e) => {
      opened = true;
      if (notice.textContent === strings.offline) clearNotice();
      const session = JSON.parse(e.data);
      document.getElementById("staff-badge").hidden = !session.staff;
    });
    source.onmessage = (e) => {
      const event = JSON.parse(e.data);
      show(event);
      cursor = Math.max(cursor, event.id);
      log.scrollTop = log.scrollHeight;
    };
    source.addEventListener("end", (e) => {
      source.close();
      showNotice(JSON.parse(e.data).error || strings.expired, true);
      polling = false;
    });
    source.onerror = () => {
      if (opened) {
        showNotice(strings.offline, false); // EventSource reconnects with Last-Event-ID
        return;
      }
      source.close(); // never opened (refused, or a proxy that buffers): the long poll
      longPoll();
    };
  }

  async function longPoll() {
    while (true) {
      let answer;
      try {
        const response = await fetch("/chat/api/updates?after=" + cursor, { credentials: "same-origin" });
        if (response.status === 401) {
          const refusal = await response.json();
          showNotice(refusal.error || strings.expired, true);
          break;
        }
        if (!response.ok) throw new Error(String(response.status));
        answer = await response.json();
      } catch (e) {
        showNotice(strings.offline, false);
        await new Promise((done) => setTimeout(done, 3000));
        continue;
      }
      if (notice.textContent === strings.offline) clearNotice();
      document.getElementById("staff-badge").hidden = !answer.staff;
      for (const event of answer.events) show(event);
      if (answer.events.length) log.scrollTop = log.scrollHeight;
      cursor = answer.cursor;
    }
    polling = false;
  }

  async function say(words, id) {
    const at = cursor;
    const answer = await post("/chat/api/send", { id: id || newId(), text: words });
    if (answer && answer.shown) showUnkept(answer.shown, at);
    return answer;
  }

  // Words the server does not keep (typed before consent): shown on this page only, in
  // their place before the answers that came after them; a reload does not bring them back.
  function showUnkept(words, at) {
    const el = document.createElement("div");
    el.className = "msg me";
    fill(el, { text: words, at: new Date().toISOString() });
    const later = Array.from(log.children).find((c) => Number(c.dataset.id) > at);
    log.insertBefore(el, later || null);
  }

  async function press(button, id) {
    const el = button.closest(".msg");
    if (staffPage) button.classList.add("pressed");  // staff cards stay pressable
    else used(el, id);
    const answer = await post("/chat/api/send", { id: newId(), choice: id, message: Number(el.dataset.id) });
    if (!answer && !staffPage) {
      for (const b of el.querySelectorAll(".choices button")) b.disabled = false;  // try again
    }
  }

  document.getElementById("composer").addEventListener("submit", async (e) => {
    e.preventDefault();
    const words = textBox.value;
    if (!words.trim()) { showNotice(strings.empty, false); return; }
    if (words.length > maxChars) { showNotice(strings.too_long, false); return; }
    textBox.value = "";
    if (!(await say(words))) textBox.value = words;  // keep what was typed when it failed
  });

  textBox.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      document.getElementById("composer").requestSubmit();
    }
  });

  document.getElementById("file").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    e.target.value = "";
    if (!file) return;
    if (file.size > maxBytes) {
      showNotice(strings.too_big, false);
      return;
    }
    await post("/chat/api/upload", file, { "X-Event-Id": newId(), "X-File-Name": encodeURIComponent(file.name) });
  });

  document.getElementById("locate").addEventListener("click", () => {
    if (!navigator.geolocation) { showNotice(strings.locate_unavailable, false); return; }
    navigator.geolocation.getCurrentPosition(
      (where) => post("/chat/api/send", { id: newId(), location: [where.coords.latitude, where.coords.longitude] }),
      (failed) => showNotice(failed.code === failed.PERMISSION_DENIED ? strings.locate_denied : strings.locate_unavailable, false),
      { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 }
    );
  });

  for (const button of document.querySelectorAll("button.lang")) {
    button.addEventListener("click", async () => {
      if (await post("/chat/api/language", { id: newId(), language: button.dataset.lang })) location.reload();
    });
  }

  const dialog = document.getElementById("device-dialog");
  document.getElementById("another-device").addEventListener("click", async () => {
    const answer = await post("/chat/api/resume-link", {});
    if (!answer) return;
    document.getElementById("device-link").value = answer.link;
    dialog.showModal();
  });
  document.getElementById("device-close").addEventListener("click", () => dialog.close());
  document.getElementById("device-copy").addEventListener("click", async (e) => {
    const field = document.getElementById("device-link");
    field.select();
    try { await navigator.clipboard.writeText(field.value); e.target.textContent = strings.copied; } catch (err) { /* selected for manual copy */ }
  });

  async function enter(path, payload) {
    if (await post(path, payload)) location.assign("/chat");
  }

  const secret = location.hash.slice(1);
  if (body.dataset.mode === "resume") {
    document.getElementById("resume-form").hidden = false;
    document.getElementById("resume-go").addEventListener("click", () =>
      enter("/chat/api/resume", { token: secret, code: document.getElementById("resume-code").value })
    );
  } else if (body.dataset.mode === "signin") {
    document.getElementById("signin-form").hidden = false;
    document.getElementById("signin-go").addEventListener("click", () =>
      enter("/chat/api/signin", { token: secret })
    );
  }
  if (body.dataset.mode === "chat") {
    poll();
    post("/chat/api/hello", {});  // a new visitor is greeted at once, not when they type
  }
})();
