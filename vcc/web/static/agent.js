// The agent desktop: presence, screen pop, softphone (WebRTC to the site's media gateway), chats,
// transfers, wrap-up; reconnects to another site's front door when its site goes away.
"use strict";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
// Readable state for tests and for the curious.
const vcc = window.vcc = { agentId: "", state: "logged out", site: "", offers: [], notices: [], results: [],
  call: null, chats: {}, wrapping: [], audio: null, connected: false, sites: [], errors: [], reconnects: 0 };

let ws = null, hello = null, reqs = 0, current = null, wantReady = params.get("resume") === "ready";
let wantSession = false, reconnecting = false;  // a session is wanted until the agent logs out
const waiters = {};

function log(text) { const d = document.createElement("div"); d.textContent = `${new Date().toLocaleTimeString()} ${text}`; $("log").prepend(d); }
function showError(text) { vcc.errors.push(text); $("error").textContent = text; log(`error: ${text}`); }
function show(id, on) { $(id).classList.toggle("hidden", !on); }

function send(op, fields = {}) {
  const req = ++reqs;
  return new Promise((resolve) => {
    waiters[req] = resolve;
    if (!ws || ws.readyState !== 1) { delete waiters[req]; resolve({ ok: false, error: "not connected" }); return; }
    ws.send(JSON.stringify({ op, req, ...fields }));
  });
}

async function act(op, fields = {}) {
  const r = await send(op, fields);
  vcc.results.push({ op, ...r });
  if (!r.ok) showError(`${op}: ${r.error}`);
  return r;
}

// ---------------------------------------------------------------- session and reconnection
async function login() {
  const r = await fetch("/api/login", { method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ agent_id: $("agent-id").value, password: $("password").value }) });
  const body = await r.json();
  if (!r.ok) { showError(body.error); return; }
  connect();
}

function connect() {
  wantSession = true;
  ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/agent`);
  ws.onmessage = (ev) => onMessage(JSON.parse(ev.data));
  ws.onclose = () => { vcc.connected = false; if (wantSession) reconnect(); };
}

// The site went away (or refused the session for now, e.g. the agent is still owned by the lost
// site): this front door again if it answers, else another site's desktop.
async function reconnect() {
  if (reconnecting) return;
  reconnecting = true;
  vcc.reconnects += 1;
  log("lost the site: looking for a front door");
  wantReady = wantReady || ["ready", "reserved", "busy"].includes(vcc.state);
  if (vcc.call) endCall();
  await new Promise((r) => setTimeout(r, 500));
  reconnecting = false;
  for (let attempt = 0; attempt < 600; attempt++) {
    for (const s of vcc.sites.length ? vcc.sites : [{ site: vcc.site, url: location.origin }]) {
      try {
        const r = await fetch(`${s.url}/api/health`, { cache: "no-store" });
        if (!r.ok) continue;
        if (s.url === location.origin) { connect(); return; }
        location.href = `${s.url}/agent${wantReady ? "?resume=ready" : "?resume=1"}`;
        return;
      } catch (e) { /* that site is down too */ }
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function onHello(m) {
  hello = m; vcc.agentId = m.agent_id; vcc.site = m.site; vcc.connected = true;
  $("who").textContent = `${m.name} (${m.agent_id})`; $("site").textContent = `site ${m.site}`;
  show("login-box", false); show("presence-box", true);
  $("reason-code").innerHTML = m.reason_codes.map((c) => `<option>${c}</option>`).join("");
  $("disposition").innerHTML = m.dispositions.map((c) => `<option>${c}</option>`).join("");
  $("transfer-target").innerHTML = m.queues.map((q) => `<option value="queue:${q}">queue ${q}</option>`).join("") +
    m.agents.map((a) => `<option value="agent:${a}">agent ${a}</option>`).join("");
  $("consult-agent").innerHTML = m.agents.map((a) => `<option>${a}</option>`).join("");
  setState(m.state);
  try { vcc.sites = (await (await fetch("/api/sites")).json()).sites; } catch (e) { /* keep the old list */ }
  if (wantReady) { wantReady = false; await act("ready"); }
}

function setState(state, reason) {
  vcc.state = state || vcc.state;
  $("state").textContent = vcc.state + (reason ? ` (${reason})` : "");
}

// ---------------------------------------------------------------- what the site says
function onMessage(m) {
  if (m.type === "result") { const w = waiters[m.req]; delete waiters[m.req]; if (w) w(m); if (m.state) setState(m.state); }
  else if (m.type === "hello") onHello(m);
  else if (m.type === "state") { setState(m.state, m.reason_code); log(`state ${m.state}`); }
  else if (m.type === "offer") onOffer(m);
  else if (m.type === "rescinded") {
    log(`${m.contact_id} withdrawn (${m.reason})`);  // an offer taken back, or a contact another site owns now
    if (current && current.contact_id === m.contact_id) { current = null; show("offer-box", false); }
    if (vcc.chats[m.contact_id]) vcc.chats[m.contact_id].left = true;
    if (vcc.call && vcc.call.id === m.contact_id) $("call-status").textContent = `moved (${m.reason})`;
  }
  else if (m.type === "notice") onNotice(m);
  else if (m.type === "media") { if (vcc.call && m.contact_id === vcc.call.id) $("call-status").textContent = m.event.kind; }
  else if (m.type === "session_ended") log(`site ${m.site} ended the session`);
  else if (m.type === "error") showError(m.error);
}

function onOffer(m) {
  vcc.offers.push(m);
  log(`offer ${m.channel} ${m.contact_id} from ${m.caller_id}`);
  if (m.consult_from && vcc.call && vcc.call.id === m.contact_id) { vcc.call.consulting = false; $("call-status").textContent = "connected (transferred to you)"; return; }
  current = m;
  $("offer-channel").textContent = m.channel;
  $("pop-caller").textContent = m.caller_id; $("pop-tenant").textContent = m.tenant; $("pop-queue").textContent = m.queue;
  $("pop-waited").textContent = `${m.waited_s} s`;
  $("pop-ivr").textContent = Object.entries(m.data).filter(([k]) => !["ivr_at", "origin"].includes(k)).map(([k, v]) => `${k}=${v}`).join(", ");
  $("pop-history").tBodies[0].innerHTML = m.history.map((h) => `<tr><td>${new Date(h.arrived_ts * 1000).toLocaleString()}</td><td>${h.channel}</td><td>${h.queue}</td><td>${h.state}</td><td>${h.agent_id}</td><td>${h.disposition}</td><td>${h.site}</td></tr>`).join("") || "<tr><td>none</td></tr>";
  show("offer-box", true); $("offer-box").classList.add("ringing");
  ring();
}

function ring() {
  try {
    const ac = VccRtc.audioContext(); const o = ac.createOscillator(); const g = ac.createGain();
    g.gain.value = 0.05; o.frequency.value = 480; o.connect(g).connect(ac.destination); o.start(); o.stop(ac.currentTime + 0.3);
  } catch (e) { /* no audio: the box still blinks */ }
}

function onNotice(m) {
  vcc.notices.push(m);
  if (m.kind === "message") addChatLine(m.contact_id, "customer", m.data.text);
  else if (m.kind === "consult") { vcc.consultRequest = m; $("consult-text").textContent = `${m.data.from_agent} asks you to consult on ${m.contact_id}`; show("consult-box", true); }
  else if (m.kind === "consult_cancelled") { show("consult-box", false); if (vcc.call && vcc.call.id === m.contact_id) endCall(); }
  else if (m.kind === "caller_left") { log(`the customer left ${m.contact_id}`); if (vcc.call && vcc.call.id === m.contact_id) $("call-status").textContent = "caller left"; if (vcc.chats[m.contact_id]) vcc.chats[m.contact_id].left = true; }
}

// ---------------------------------------------------------------- offers, calls and chats
async function accept() {
  const m = current; if (!m) return;
  $("offer-box").classList.remove("ringing"); show("offer-box", false); current = null;
  const r = await act("accept", { contact_id: m.contact_id });
  if (!r.ok) return;
  if (m.channel === "voice" && m.data.callback === "booked") startCallback(m);
  else if (m.channel === "voice") await startCall(m.contact_id, "sdp").catch((e) => noMedia(m.contact_id, e));
  else if (m.channel === "chat") openChat(m.contact_id, m.caller_id);
}

// A booked callback has no live call (the customer hung up after booking it): the agent calls the
// number back from their phone, then hangs up here, which completes it and opens the wrap-up.
function startCallback(m) {
  const number = m.data.callback_number || m.caller_id;
  vcc.call = { id: m.contact_id, mic: null, rtc: null, muted: false, held: false, consulting: false, callback: number };
  $("call-id").textContent = m.contact_id; $("call-status").textContent = `call the customer back on ${number}, then hang up here`;
  show("call-box", true);
}

// The call could not be joined (the caller hung up as it was answered, the gateway went away): the
// agent still holds the contact, so the call box stays, to hang up (complete) or transfer it.
function noMedia(contactId, e) {
  vcc.call = { id: contactId, mic: null, rtc: null, muted: false, held: false, consulting: false };
  $("call-id").textContent = contactId; $("call-status").textContent = `no audio: ${e.message || e}`;
  show("call-box", true);
  showError(`${contactId}: ${e.message || e}`);
}

async function reject() {
  const m = current; if (!m) return;
  $("offer-box").classList.remove("ringing"); show("offer-box", false); current = null;
  await act("reject", { contact_id: m.contact_id });
}

async function startCall(contactId, op) {
  const mic = await VccRtc.microphone();
  let rtc;
  try {
    rtc = await VccRtc.call(mic.stream, async (sdp) => {
      const r = await act(op, { contact_id: contactId, sdp });
      if (!r.ok) throw new Error(r.error);
      return r.sdp;
    });
  } catch (e) {  // no call to join: the microphone is not left open
    mic.mic.getTracks().forEach((t) => t.stop());
    throw e;
  }
  vcc.call = { id: contactId, mic, rtc, muted: false, held: false, consulting: op === "consult_join" };
  vcc.audio = VccRtc.listen(rtc.remote, $("remote-audio"));
  $("call-id").textContent = contactId; $("call-status").textContent = op === "sdp" ? "connected" : "consulting";
  show("call-box", true);
}

function endCall() {
  const c = vcc.call; if (!c) return;
  if (c.rtc) { c.rtc.pc.close(); c.mic.mic.getTracks().forEach((t) => t.stop()); }
  vcc.call = null; vcc.audio = null; show("call-box", false);
}

function wrapUp(contactId) { vcc.wrapping.push(contactId); $("wrap-id").textContent = contactId; show("wrap-box", true); }

async function hangUp() {
  const c = vcc.call; if (!c) return;
  const r = await act("hangup", { contact_id: c.id });
  endCall();
  if (r.ok) wrapUp(c.id);
}

async function transfer() {
  const c = vcc.call; if (!c) return;
  const [kind, target] = $("transfer-target").value.split(":");
  const r = await act("transfer", kind === "queue" ? { contact_id: c.id, queue: target } : { contact_id: c.id, agent_id: target });
  if (r.ok) { endCall(); wrapUp(c.id); }
}

async function consult(step) {
  const c = vcc.call; if (!c) return;
  const r = await act("consult", { contact_id: c.id, agent_id: $("consult-agent").value, step });
  if (r.ok && step === "complete") { endCall(); wrapUp(c.id); }
}

async function joinConsult() {
  const m = vcc.consultRequest; if (!m) return;
  show("consult-box", false);
  await startCall(m.contact_id, "consult_join");
}

function openChat(contactId, caller) {
  const box = document.createElement("div");
  box.className = "chat"; box.id = `chat-${contactId}`;
  box.innerHTML = `<b>${caller}</b> <button class="end">End chat</button><div class="lines"></div><input size="28"> <button class="send">Send</button>`;
  const input = box.querySelector("input");
  const sendLine = async () => {
    const text = input.value.trim(); if (!text) return;
    const r = await act("chat", { contact_id: contactId, text });
    if (r.ok) { addChatLine(contactId, "me", text); input.value = ""; }
  };
  box.querySelector(".send").onclick = sendLine;
  input.onkeydown = (e) => { if (e.key === "Enter") sendLine(); };
  box.querySelector(".end").onclick = async () => { const r = await act("end_chat", { contact_id: contactId }); if (r.ok) { box.remove(); delete vcc.chats[contactId]; wrapUp(contactId); } };
  vcc.chats[contactId] = { lines: [], box };
  $("chats").append(box); show("chats-box", true);
}

function addChatLine(contactId, from, text) {
  const chat = vcc.chats[contactId]; if (!chat) return;
  chat.lines.push({ from, text });
  const d = document.createElement("div"); d.textContent = `${from}: ${text}`; chat.box.querySelector(".lines").append(d);
}

// ---------------------------------------------------------------- wiring
$("login").onclick = login;
$("password").onkeydown = (e) => { if (e.key === "Enter") login(); };
$("ready").onclick = () => act("ready");
$("not-ready").onclick = () => act("not_ready", { reason_code: $("reason-code").value });
$("logout").onclick = async () => { wantSession = false; await act("logout"); hello = null; await fetch("/api/logout", { method: "POST" }); ws.close(); setState("logged out"); show("presence-box", false); show("login-box", true); };
$("accept").onclick = accept;
$("reject").onclick = reject;
$("mute").onclick = () => { const c = vcc.call; if (!c || !c.mic) return; c.muted = !c.muted; c.mic.gain.gain.value = c.muted ? 0 : 1; $("mute").textContent = c.muted ? "Unmute" : "Mute"; };
$("hold").onclick = async () => { const c = vcc.call; if (c && c.rtc && (await act("hold", { contact_id: c.id })).ok) { c.held = true; $("call-status").textContent = "on hold"; } };
$("resume").onclick = async () => { const c = vcc.call; if (c && c.rtc && (await act("resume", { contact_id: c.id })).ok) { c.held = false; $("call-status").textContent = "connected"; } };
$("hangup").onclick = hangUp;
$("transfer").onclick = transfer;
$("consult-start").onclick = () => consult("start");
$("consult-complete").onclick = () => consult("complete");
$("consult-cancel").onclick = () => consult("cancel");
$("consult-join").onclick = joinConsult;
$("wrap-done").onclick = async () => {
  const id = vcc.wrapping.shift(); if (!id) return;
  await act("wrap_up", { contact_id: id, disposition: $("disposition").value, notes: $("notes").value });
  $("notes").value = ""; if (!vcc.wrapping.length) show("wrap-box", false); else $("wrap-id").textContent = vcc.wrapping[0];
};

// A session cookie from this or another site's front door: straight back in.
fetch("/api/session").then((r) => { if (r.ok) connect(); });
vcc.loaded = true;
