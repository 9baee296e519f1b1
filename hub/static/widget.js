/* Omnichannel hub live-chat widget. One tag on any page:
 *   <script src="https://HUB/widget.js" data-title="Support" data-prechat="email"
 *           data-user-id="(optional)" data-user-hash="(optional HMAC-SHA256 of user id)"></script>
 * Text is always rendered as text. The visitor token lives in localStorage, so a reload or a
 * new tab continues the same conversation; dropped connections reconnect with backoff and
 * fetch what they missed; unsent messages are resent with the same id (the hub dedupes). */
(function () {
  "use strict";
  var script = document.currentScript;
  var data = script.dataset;
  var base = new URL(data.hub || script.src, location.href);
  var wsUrl = (base.protocol === "https:" ? "wss://" : "ws://") + base.host + "/widget/ws";
  var storeKey = "hubWidget:" + base.host;
  var state = { token: null, seen: {}, lastId: null, pending: [], socket: null, attempts: 0, identified: false };
  try { state.token = localStorage.getItem(storeKey + ":token"); state.identified = !!localStorage.getItem(storeKey + ":email"); } catch (e) {}

  var color = /^#[0-9a-fA-F]{3,8}$/.test(data.color || "") ? data.color : "#1f6feb";
  var host = document.createElement("div");
  host.setAttribute("data-hub-widget", "");
  var root = host.attachShadow({ mode: "open" });
  root.innerHTML =
    '<style>' +
    ':host{all:initial}*{box-sizing:border-box;font-family:system-ui,sans-serif;font-size:14px}' +
    '.bubble{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;' +
    'background:' + color + ';color:#fff;cursor:pointer;box-shadow:0 4px 12px #0003;display:flex;align-items:center;justify-content:center}' +
    '.panel{position:fixed;right:20px;bottom:88px;width:340px;height:460px;background:#fff;border-radius:12px;' +
    'box-shadow:0 8px 30px #0004;display:none;flex-direction:column;overflow:hidden}' +
    '.panel.open{display:flex}.head{background:' + color + ';color:#fff;padding:12px 14px;font-weight:600}' +
    '.status{font-weight:400;font-size:12px;opacity:.85;margin-left:6px}' +
    '.log{flex:1;overflow-y:auto;padding:12px;background:#f6f8fa}' +
    '.msg{max-width:80%;margin:6px 0;padding:8px 10px;border-radius:10px;white-space:pre-wrap;word-wrap:break-word}' +
    '.in{margin-left:auto;background:' + color + ';color:#fff}.out{background:#fff;border:1px solid #d0d7de}' +
    '.msg.pending{opacity:.6}.msg .file{display:block;margin-top:4px;color:inherit}.author{display:block;font-size:11px;color:#57606a;margin-bottom:2px}' +
    'form{display:flex;border-top:1px solid #d0d7de}input{flex:1;border:0;padding:12px;outline:none}' +
    'button.send{border:0;background:none;color:#1f6feb;font-weight:600;padding:0 14px;cursor:pointer}' +
    '.prechat{padding:16px;display:none}.prechat.show{display:block}.prechat input{width:100%;border:1px solid #d0d7de;border-radius:6px;margin:8px 0}' +
    '</style>' +
    '<button class="bubble" data-hub="bubble" aria-label="Chat with us"><svg width="26" height="26" viewBox="0 0 24 24" ' +
    'fill="currentColor" aria-hidden="true"><path d="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z"/></svg></button>' +
    '<div class="panel" data-hub="panel" role="dialog"><div class="head"><span data-hub="title"></span>' +
    '<span class="status" data-hub="status">connecting</span></div>' +
    '<div class="prechat" data-hub="prechat"><p>Leave your email so we can follow up:</p>' +
    '<form data-hub="prechat-form"><input type="email" data-hub="email" placeholder="you@example.com" required>' +
    '<button class="send" type="submit">Start</button></form></div>' +
    '<div class="log" data-hub="log" aria-live="polite"></div>' +
    '<form data-hub="form"><input data-hub="input" maxlength="4000" placeholder="Type a message" autocomplete="off">' +
    '<button class="send" type="submit" data-hub="send">Send</button></form></div>';
  var $ = function (name) { return root.querySelector('[data-hub="' + name + '"]'); };
  $("title").textContent = data.title || "Chat with us";

  function needsPrechat() { return data.prechat === "email" && !state.identified && !data.userId; }
  function showPrechat() { $("prechat").classList.toggle("show", needsPrechat()); $("form").style.display = needsPrechat() ? "none" : "flex"; }

  function render(message) {
    if (state.seen[message.id]) return;
    state.seen[message.id] = true;
    state.lastId = message.id;
    var pending = message.client_id && root.querySelector('[data-client-id="' + message.client_id + '"]');
    var el = pending || document.createElement("div");
    el.className = "msg " + message.direction;
    el.setAttribute("data-message-id", message.id);
    el.textContent = "";
    if (message.author) { var who = document.createElement("span"); who.className = "author"; who.textContent = message.author; el.appendChild(who); }
    el.appendChild(document.createTextNode(message.text));
    (message.attachments || []).forEach(function (file) {
      var link = document.createElement("a");
      link.className = "file"; link.href = new URL(file.url, base).href; link.textContent = file.name; link.download = file.name;
      el.appendChild(link);
    });
    if (!pending) $("log").appendChild(el);
    $("log").scrollTop = $("log").scrollHeight;
  }

  function send(frame) {
    if (state.socket && state.socket.readyState === 1) { state.socket.send(JSON.stringify(frame)); return true; }
    return false;
  }

  function connect() {
    $("status").textContent = "connecting";
    var socket = new WebSocket(wsUrl);
    state.socket = socket;
    socket.onopen = function () {
      socket.send(JSON.stringify({ type: "hello", token: state.token, since: state.lastId,
        user_id: data.userId || null, user_hash: data.userHash || null }));
    };
    socket.onmessage = function (event) {
      var frame = JSON.parse(event.data);
      if (frame.type === "welcome") {
        state.attempts = 0;
        state.token = frame.token;
        try { localStorage.setItem(storeKey + ":token", frame.token); } catch (e) {}
        frame.messages.forEach(render);
        $("status").textContent = "online";
        state.pending.forEach(function (p) { send(p); });
      } else if (frame.type === "message") {
        render(frame.message);
      } else if (frame.type === "ack") {
        state.pending = state.pending.filter(function (p) { return p.client_id !== frame.client_id; });
        var el = root.querySelector('[data-client-id="' + frame.client_id + '"]');
        if (el) { el.classList.remove("pending"); el.setAttribute("data-message-id", frame.id); state.seen[frame.id] = true; state.lastId = frame.id; }
      } else if (frame.type === "error") {
        $("status").textContent = frame.message;
      }
    };
    socket.onclose = function () {
      if (state.socket !== socket) return;
      $("status").textContent = "reconnecting";
      var delay = Math.min(15000, 500 * Math.pow(2, state.attempts++)) * (0.75 + Math.random() / 2);
      setTimeout(connect, delay);
    };
  }

  $("bubble").addEventListener("click", function () {
    $("panel").classList.toggle("open");
    showPrechat();
    if ($("panel").classList.contains("open")) (needsPrechat() ? $("email") : $("input")).focus();
  });
  $("prechat-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var email = $("email").value.trim();
    if (!email) return;
    state.identified = true;
    try { localStorage.setItem(storeKey + ":email", email); } catch (e) {}
    send({ type: "identify", email: email });
    showPrechat();
    $("input").focus();
  });
  $("form").addEventListener("submit", function (event) {
    event.preventDefault();
    var text = $("input").value.trim();
    if (!text) return;
    $("input").value = "";
    var clientId = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random()).replace(/[^A-Za-z0-9]/g, "");
    var frame = { type: "message", client_id: clientId, text: text };
    var el = document.createElement("div");
    el.className = "msg in pending";
    el.setAttribute("data-client-id", clientId);
    el.textContent = text;
    $("log").appendChild(el);
    state.pending.push(frame);
    send(frame);
  });

  (document.body || document.documentElement).appendChild(host);
  connect();
})();
