// Web Push on the chat page: under a submission's receipt, offer notifications; only when
// the visitor presses the button does the browser ask for permission (never on load).
(function () {
  "use strict";
  const script = document.currentScript;
  const data = script && script.dataset.push ? JSON.parse(script.dataset.push) : null;
  if (!data) return; // push is off on this server
  const strings = data.strings;
  const supported = "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;

  function csrf() {
    return document.body.dataset.csrf;
  }

  function keyBytes(base64url) {
    const padded = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  }

  async function save(subscription) {
    const response = await fetch("/chat/api/push/subscribe", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf(), "Content-Type": "application/json" },
      body: JSON.stringify(subscription.toJSON()),
    });
    return response.ok;
  }

  async function registration() {
    return navigator.serviceWorker.register("/chat/sw.js", { scope: "/chat/" });
  }

  async function subscribe() {
    const permission = await Notification.requestPermission();
    if (permission !== "granted") return strings.denied;
    try {
      const ready = await registration();
      const existing = await ready.pushManager.getSubscription();
      const subscription = existing || await ready.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: keyBytes(data.key),
      });
      return (await save(subscription)) ? strings.enabled : strings.failed;
    } catch (error) {
      return strings.failed;
    }
  }

  function offer(under) {
    const shown = document.getElementById("push-offer");
    if (shown) { // one offer: while unanswered it follows the newest receipt
      if (document.getElementById("push-enable")) under.after(shown);
      return;
    }
    const box = document.createElement("div");
    box.id = "push-offer";
    box.className = "push-offer";
    const question = document.createElement("p");
    question.textContent = supported ? strings.offer : strings.unsupported;
    box.appendChild(question);
    if (supported) {
      const button = document.createElement("button");
      button.type = "button";
      button.id = "push-enable";
      button.textContent = strings.enable;
      button.addEventListener("click", async () => {
        button.disabled = true;
        question.textContent = await subscribe();
        button.remove();
      });
      box.appendChild(button);
    }
    under.after(box);
  }

  async function subscribed() {
    const found = await navigator.serviceWorker.getRegistration("/chat/");
    return Boolean(found && (await found.pushManager.getSubscription()));
  }

  document.addEventListener("caunoi:message", async (shown) => {
    const detail = shown.detail || {};
    if (!detail.event || !detail.event.push_offer || !detail.element) return;
    if (supported && Notification.permission === "denied") return; // asked before: leave it
    if (supported && (await subscribed().catch(() => false))) return; // already on
    offer(detail.element);
  });

  // Already allowed: tell the server this browser is still here (it keeps it subscribed).
  if (supported && Notification.permission === "granted") {
    navigator.serviceWorker.getRegistration("/chat/").then(async (found) => {
      const subscription = found && (await found.pushManager.getSubscription());
      if (subscription) await save(subscription);
    }).catch(() => {});
  }
})();
