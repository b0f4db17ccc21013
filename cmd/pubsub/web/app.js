// The web demo's page: one WebSocket to the node that served it, carrying Phoenix-shaped messages
// ({topic, event, payload}). The presence list is kept as Phoenix's JavaScript Presence keeps it:
// presence_state replaces it, each presence_diff adds and removes metas matched by phx_ref, and diffs
// that arrive before the state wait for it.
"use strict";

const $ = (id) => document.getElementById(id);
let socket = null;
let me = null;
let presences = {};     // {key: {metas: [...]}}
let pendingDiffs = [];  // diffs received before presence_state
let haveState = false;

fetch("info").then((r) => r.json()).then((info) => {
  $("node").textContent = info.node;
  document.title = "chat on " + info.node;
  for (const n of info.nodes) {
    if (n.name === info.node) continue;
    const a = document.createElement("a");
    a.href = n.url;
    a.textContent = "open " + n.name;
    $("nodes").append(a);
  }
}).catch(() => { $("node").textContent = "(unknown node)"; });

$("join-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const name = $("name").value.trim();
  if (name) connect(name);
});

$("composer").addEventListener("submit", (e) => {
  e.preventDefault();
  const body = $("body").value.trim();
  if (!body || !socket || socket.readyState !== WebSocket.OPEN) return;
  socket.send(JSON.stringify({ event: "new_msg", body: body }));
  $("body").value = "";
});

function setStatus(state, text) {
  $("status").dataset.state = state;
  $("status").textContent = text;
}

function connect(name) {
  me = name;
  presences = {}; pendingDiffs = []; haveState = false;
  const url = new URL("ws?user=" + encodeURIComponent(name), location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  setStatus("connecting", "connecting…");
  socket = new WebSocket(url);
  socket.onopen = () => {
    setStatus("open", "connected as " + name);
    $("join-form").hidden = true;
    $("room").hidden = false;
    $("body").focus();
  };
  socket.onclose = (e) => {
    setStatus("closed", "disconnected" + (e.reason ? ": " + e.reason : ""));
    $("join-form").hidden = false;
    $("join").textContent = "Rejoin";
  };
  socket.onmessage = (e) => {
    let msg;
    try { msg = JSON.parse(e.data); } catch { return; }
    switch (msg.event) {
      case "presence_state":
        presences = clone(msg.payload);
        haveState = true;
        for (const d of pendingDiffs) syncDiff(presences, d);
        pendingDiffs = [];
        renderPresence();
        break;
      case "presence_diff":
        if (!haveState) { pendingDiffs.push(msg.payload); break; }
        syncDiff(presences, msg.payload);
        renderPresence();
        break;
      case "new_msg":
        addMessage(msg.payload);
        break;
      case "phx_error":
        addNotice("error: " + msg.payload.reason);
        break;
    }
  };
}

function clone(x) { return JSON.parse(JSON.stringify(x)); }

// syncDiff is Phoenix's Presence.syncDiff: a join replaces the key's metas with the new ones plus the
// current ones not among them; a leave removes the metas with its refs, and the key with its last meta.
function syncDiff(state, diff) {
  for (const [key, joined] of Object.entries(diff.joins || {})) {
    const current = state[key];
    const metas = clone(joined.metas);
    if (current) {
      const refs = new Set(metas.map((m) => m.phx_ref));
      metas.unshift(...current.metas.filter((m) => !refs.has(m.phx_ref)));
    }
    state[key] = { metas: metas };
  }
  for (const [key, left] of Object.entries(diff.leaves || {})) {
    const current = state[key];
    if (!current) continue;
    const refs = new Set(left.metas.map((m) => m.phx_ref));
    current.metas = current.metas.filter((m) => !refs.has(m.phx_ref));
    if (current.metas.length === 0) delete state[key];
  }
}

function renderPresence() {
  const list = $("presence");
  list.replaceChildren();
  const keys = Object.keys(presences).sort();
  for (const key of keys) {
    const nodes = [...new Set(presences[key].metas.map((m) => m.node))].sort();
    const li = document.createElement("li");
    li.dataset.user = key;
    li.dataset.nodes = nodes.join(",");
    if (key === me) li.className = "me";
    const n = document.createElement("span");
    n.className = "nodes";
    n.textContent = " on " + nodes.join(", ");
    li.append(key, n);
    list.append(li);
  }
  $("count").textContent = keys.length;
}

function addMessage(m) {
  const li = document.createElement("li");
  li.dataset.user = m.user;
  li.dataset.body = m.body;
  const u = document.createElement("span");
  u.className = "user";
  u.textContent = m.user;
  const n = document.createElement("span");
  n.className = "node";
  n.textContent = " (" + m.node + ") ";
  li.append(u, n, m.body);
  appendScrolled(li);
}

function addNotice(text) {
  const li = document.createElement("li");
  li.className = "notice";
  li.textContent = text;
  appendScrolled(li);
}

function appendScrolled(li) {
  const box = $("messages");
  box.append(li);
  box.scrollTop = box.scrollHeight;
}
