// XEP-0198 resumption driven by xmpp.js (@xmpp/client, pinned in
// package.json / package-lock.json beside this file), for
// tests/integration/test_sm_xmppjs.py.
//
// Logs in over direct TLS (trusting the test certificate through
// NODE_EXTRA_CA_CERTS), lets the library enable stream management with
// resumption, and counts the messages it receives by their <body> (m1..mN).
// When the --cut-after'th message arrives it destroys the TCP socket under
// the TLS layer, without </stream:stream> or close_notify, and waits for "resume" on stdin (so the test can send
// messages while it is gone); then the library's own reconnect() opens a
// new stream and its stream-management feature sends <resume/>.  Once all N
// messages are in (and a short grace period has shown no duplicate), it
// acknowledges what it has, closes the stream and prints a JSON summary as
// its last stdout line.  Progress goes to stdout as JSON lines too
// ({"event": ...}); the XML trace goes to stderr.  Exit status 0 only if
// the session was resumed (not a new one) and every message came exactly
// once.
//
//   node sm_resume.mjs --service xmpps://localhost:PORT --user js
//        --password PW --resource node --count 20 --cut-after 3
import dns from "node:dns";
import readline from "node:readline";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { client, xml } = require("@xmpp/client");
const clientVersion = require("@xmpp/client/package.json").version;
const smVersion = require("@xmpp/stream-management/package.json").version;

const SM = "urn:xmpp:sm:3";

function args() {
  const a = {
    service: null, domain: "localhost", user: null, password: null,
    resource: "node", count: 20, "cut-after": 3, timeout: 40, grace: 1.0,
  };
  const v = process.argv.slice(2);
  for (let i = 0; i < v.length; i += 2) {
    const k = v[i].replace(/^--/, "");
    if (!(k in a) || i + 1 >= v.length) {
      throw new Error(`bad argument ${v[i]}`);
    }
    a[k] = v[i + 1];
  }
  for (const k of ["count", "cut-after", "timeout", "grace"]) a[k] = Number(a[k]);
  if (!a.service || !a.user || !a.password) throw new Error("--service, --user, --password needed");
  return a;
}

const opt = args();
// The server listens on 127.0.0.1; node 17+ may resolve "localhost" to ::1
// first (and node 18 does not try the other family).
if (dns.setDefaultResultOrder) dns.setDefaultResultOrder("ipv4first");

const t0 = Date.now();
const ms = () => Date.now() - t0;
function event(name, fields = {}) {
  process.stdout.write(JSON.stringify({ event: name, t: ms(), ...fields }) + "\n");
}
function trace(dir, text) {
  process.stderr.write(`${ms()} ${dir} ${text}\n`);
}

const xmpp = client({
  service: opt.service,
  domain: opt.domain,
  resource: opt.resource,
  username: opt.user,
  password: opt.password,
});
// Resumption is the library's; only its timing is ours: the automatic
// reconnect (1 s after a drop) is switched off and reconnect() is called
// when the test says so.
xmpp.reconnect.stop();
const sm = xmpp.streamManagement;

const received = [];        // body of every message, in arrival order
const summary = {
  event: "summary",
  client: `@xmpp/client ${clientVersion}`,
  stream_management: `@xmpp/stream-management ${smVersion}`,
  node: process.version,
  online_events: 0,         // 'online' fires at a new session, not at a resumption
  enabled: null,            // attributes of <enabled/>
  resumed: null,            // attributes of <resumed/>
  failed: [],               // any <failed/> from the server
  jid_before: null,
  jid_after: null,
  cut: null,
  errors: [],
};
let cut = false;
let resumeAsked = false;
let finished = false;

xmpp.on("input", (s) => trace("<<", s));
xmpp.on("output", (s) => trace(">>", s));
xmpp.on("error", (err) => {
  // a write racing the cut may fail; anything else is reported
  summary.errors.push(String(err && (err.condition || err.code || err.message) || err));
  trace("!!", String(err && err.stack || err));
});
xmpp.on("status", (s) => trace("--", `status ${s}`));

xmpp.on("nonza", (el) => {
  if (el.is("enabled", SM)) {
    summary.enabled = { ...el.attrs };
  } else if (el.is("resumed", SM)) {
    // the library sets xmpp.jid back once this promise resolves; the JID
    // is read in finish()
    summary.resumed = { ...el.attrs, h_client: sm.inbound };
    event("resumed", { previd: el.attrs.previd, h: el.attrs.h, inbound: sm.inbound });
  } else if (el.is("failed", SM)) {
    summary.failed.push(el.toString());
    event("failed", { xml: el.toString() });
  }
});

xmpp.on("online", async (jid) => {
  summary.online_events += 1;
  if (summary.online_events > 1) {
    // a new session instead of the resumed one
    summary.jid_after = String(jid);
    event("online_again", { jid: String(jid) });
    return;
  }
  summary.jid_before = String(jid);
  await xmpp.send(xml("presence", {}, xml("priority", {}, "1")));
  event("online", { jid: String(jid), sm_enabled: sm.enabled, sm_id: sm.id,
                    enabled: summary.enabled });
});

function rawSocket() {
  // direct TLS: xmpp.socket is @xmpp/tls's wrapper around a tls.TLSSocket;
  // after STARTTLS it is the tls.TLSSocket itself
  const s = xmpp.socket;
  return s && s.socket ? s.socket : s;
}

function cutNow() {
  cut = true;
  // destroy() closes the TCP socket under the TLS layer at once: no
  // close_notify, no </stream:stream>, whatever is in flight is lost.  (Not
  // a reset: net.Socket.resetAndDestroy() refuses a TLSSocket's handle, and
  // resetting the TCP handle under it leaves the TLSSocket without its
  // 'close' event, so xmpp.js would never see the drop.)
  rawSocket().destroy();
  const how = "destroy";
  summary.cut = { how, received_before: received.length, inbound: sm.inbound,
                  sm_id: sm.id };
  event("cut", summary.cut);
}

xmpp.on("stanza", (st) => {
  if (!st.is("message")) return;
  const body = st.getChildText("body");
  if (body === null || body === undefined) return;
  received.push(body);
  if (!cut && received.length === opt["cut-after"]) {
    cutNow();
  }
  maybeFinish();
});

xmpp.on("disconnect", (info) => {
  event("disconnected", { clean: info && info.clean, sm_id: sm.id, inbound: sm.inbound });
});

let graceTimer = null;
function complete() {
  return new Set(received).size >= opt.count;
}
function maybeFinish() {
  if (finished || !resumeAsked || !summary.resumed || graceTimer || !complete()) return;
  // wait a little: a duplicate would come right behind
  graceTimer = setTimeout(() => finish("complete"), opt.grace * 1000);
}

async function finish(why) {
  if (finished) return;
  finished = true;
  clearTimeout(overall);
  summary.reason = why;
  summary.received = received;
  summary.count = received.length;
  const seen = new Map();
  for (const b of received) seen.set(b, (seen.get(b) || 0) + 1);
  summary.distinct = seen.size;
  summary.duplicates = [...seen].filter(([, n]) => n > 1).map(([b]) => b);
  const want = Array.from({ length: opt.count }, (_, i) => `m${i + 1}`);
  summary.missing = want.filter((b) => !seen.has(b));
  summary.unexpected = [...seen.keys()].filter((b) => !want.includes(b));
  summary.in_order = received.every((b, i) => b === want[i]);
  if (summary.online_events === 1) summary.jid_after = String(xmpp.jid);
  summary.sm_after = { enabled: sm.enabled, id: sm.id, inbound: sm.inbound,
                       status: xmpp.status };
  // Acknowledge everything before the clean close, so that the server
  // stores nothing offline (xmpp.js 0.13 only acks when asked with <r/>).
  if (xmpp.status === "online") {
    try {
      await xmpp.send(xml("a", { xmlns: SM, h: String(sm.inbound) }));
      await xmpp.stop();
    } catch (e) {
      summary.errors.push(`stop: ${e}`);
    }
  }
  summary.ok = why === "complete"
    && summary.resumed !== null
    && summary.online_events === 1
    && summary.failed.length === 0
    && summary.jid_after === summary.jid_before
    && summary.count === opt.count
    && summary.duplicates.length === 0
    && summary.missing.length === 0
    && summary.unexpected.length === 0;
  process.stdout.write(JSON.stringify(summary) + "\n");
  process.exitCode = summary.ok ? 0 : 1;
  // the library leaves nothing that must finish; do not hang on a socket
  setTimeout(() => process.exit(process.exitCode), 200).unref();
}

const overall = setTimeout(() => finish("timeout"), opt.timeout * 1000);

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", async (line) => {
  const cmd = line.trim();
  if (cmd === "resume") {
    if (!cut || xmpp.status !== "disconnect") {
      event("error", { error: `resume asked in status ${xmpp.status}, cut=${cut}` });
      return;
    }
    resumeAsked = true;
    event("reconnecting", { sm_id: sm.id, inbound: sm.inbound });
    try {
      await xmpp.reconnect.reconnect();
    } catch (e) {
      summary.errors.push(`reconnect: ${e}`);
      event("error", { error: `reconnect: ${e}` });
    }
  } else if (cmd === "quit") {
    finish("quit");
  }
});
rl.on("close", () => {
  if (!finished) finish("stdin closed");
});

xmpp.start().catch((e) => {
  summary.errors.push(`start: ${e}`);
  event("error", { error: `start: ${e}` });
  finish("start failed");
});
