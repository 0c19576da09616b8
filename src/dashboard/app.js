/* fleetup dashboard: a client of the service's HTTP API (docs/api.md). Plain JS, no
 * build step; served under a strict CSP (no inline code, no eval, same-origin only).
 *
 * Data flow: the rollout list is polled every 2 s; the selected rollout's detail (waves,
 * run events, timeline samples) is fetched on selection and every 10 s; its nodes come
 * from GET .../nodes, then the event stream (read with fetch, SSE parsed here) keeps
 * them current. Incoming data only marks parts dirty; one requestAnimationFrame flush
 * redraws what changed, so a batch of thousands of node changes costs one DOM pass. */
'use strict';

(() => {
  const API = '/api/v1';
  const TOKEN_KEY = 'fleetup.token';
  const STATES = ['pending', 'active', 'waiting', 'retry', 'done', 'skipped', 'failed',
    'unreachable', 'cancelled'];
  const BAD = new Set(['failed', 'unreachable']);
  const PHASES = ['connect', 'inventory', 'plan', 'stage', 'install', 'activate', 'verify'];
  /* Order of the segments in wave and list bars. */
  const BAR_ORDER = ['done', 'skipped', 'failed', 'unreachable', 'cancelled', 'retry',
    'waiting', 'active'];
  const ROW_H = 24;          /* px, one node row (the CSS reads --row-h) */
  const OVERSCAN = 6;        /* rows drawn above and below the visible ones */
  const LIST_MS = 2000;
  const DETAIL_MS = 10000;
  const RECONNECT_MS = 1500;
  const STALL_MS = 45000;    /* no byte (not even a keepalive) for this long: reconnect */
  const FAILED_MAX = 300;    /* failed list entries drawn */
  const EVENTS_MAX = 200;
  const TIMELINE_MAX = 1200;
  const SVGNS = 'http://www.w3.org/2000/svg';

  const $ = (sel) => document.querySelector(sel);

  function h(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function setText(e, t) {
    t = String(t);
    if (e.textContent !== t) e.textContent = t;
  }

  function fmtDur(ms) {
    if (ms === null || ms === undefined || !isFinite(ms)) return '–';
    const neg = ms < 0;
    ms = Math.abs(ms);
    let s;
    if (ms < 10000) s = (ms / 1000).toFixed(1) + 's';
    else if (ms < 3600000) {
      const m = Math.floor(ms / 60000);
      const sec = Math.floor((ms % 60000) / 1000);
      s = m ? m + 'm' + String(sec).padStart(2, '0') + 's' : sec + 's';
    } else {
      const hr = Math.floor(ms / 3600000);
      s = hr + 'h' + String(Math.floor((ms % 3600000) / 60000)).padStart(2, '0') + 'm';
    }
    return (neg ? '-' : '') + s;
  }

  function fmtClock(ms) {
    if (!ms) return '–';
    const d = new Date(ms);
    const p = (n) => String(n).padStart(2, '0');
    return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + ' ' +
      p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
  }

  const grouped = new Intl.NumberFormat('en-US');
  const fmtN = (n) => grouped.format(n || 0);

  function baseName(p) {
    if (!p) return '';
    const i = p.lastIndexOf('/');
    return i >= 0 ? p.slice(i + 1) : p;
  }

  /* Natural order: rack2 before rack10. */
  const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

  /* ------------------------------------------------------------------ state */

  const S = {
    token: '',
    running: false,          /* signed in and polling */
    rollouts: [],
    sel: null,               /* selected rollout id */
    wantSel: null,           /* id asked for by the URL, applied once the list is known */
    roll: null,              /* latest ROLLOUT object of the selection */
    detail: null,            /* latest GET /rollouts/ID */
    nodes: [],               /* node objects, index = idx of the event stream */
    nodesFor: null,          /* rollout id the nodes belong to */
    view: null,              /* Int32Array of node indices passing the filters, or null: all */
    viewLen: 0,
    filters: { state: '', phase: '', group: '', label: '', q: '' },
    timeline: [],            /* samples {t_ms, done, failed, unreachable, in_flight} */
    runEvents: [],           /* newest last */
    eventKeys: new Set(),
    detailNode: null,        /* name of the node in the detail panel */
    detailTimer: null,
    listTimer: null,
    detailPollTimer: null,
    busy: false,             /* an operator command is in flight */
    stream: { gen: 0, conn: null, phase: 'idle', retryTimer: null, failures: 0 },
  };

  /* Counters for tests and for the curious (window.fleetup.stats). */
  const stats = { events: 0, batches: 0, rowsApplied: 0, flushes: 0, flushMsMax: 0,
    flushMsTotal: 0, partsMsMax: {}, reconnects: 0, bytes: 0 };
  window.fleetup = Object.freeze({ stats });

  /* ------------------------------------------------------------------ DOM refs */

  const E = {};
  function refs() {
    for (const id of ['conn', 'server-info', 'btn-logout', 'login', 'token', 'login-msg',
      'login-ok', 'app', 'rollouts', 'rollouts-empty', 'rollout-id', 'run-state',
      'rollout-fleet', 'rollout-meta', 'rollout-reason', 'in-flight', 'in-phase', 'waves',
      'timeline', 'filter-state', 'filter-phase', 'filter-group', 'filter-label', 'search',
      'filter-clear', 'nodes-count', 'nodes', 'nodes-spacer', 'nodes-rows', 'nodes-empty',
      'failed', 'failed-count', 'failed-more', 'events', 'node-detail', 'nd-name',
      'nd-state', 'nd-error', 'nd-fields', 'nd-reason', 'nd-transitions', 'node-log',
      'node-detail-close', 'confirm', 'confirm-title', 'confirm-text', 'confirm-ok',
      'confirm-cancel', 'toast']) {
      E[id] = document.getElementById(id);
    }
    E.counts = {};
    for (const c of document.querySelectorAll('[data-count]')) E.counts[c.dataset.count] = c;
    E.buttons = {};
    for (const b of document.querySelectorAll('.ops [data-cmd]')) E.buttons[b.dataset.cmd] = b;
  }

  /* ------------------------------------------------------------------ API */

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function errorText(r) {
    let text = '';
    try { text = await r.text(); } catch (e) { /* body unreadable */ }
    try {
      const j = JSON.parse(text);
      if (j && j.error) {
        return Array.isArray(j.diagnostics) && j.diagnostics.length
          ? j.error + '\n' + j.diagnostics.join('\n') : j.error;
      }
    } catch (e) { /* not JSON */ }
    return text.trim() || ('HTTP ' + r.status + (r.statusText ? ' ' + r.statusText : ''));
  }

  async function api(path, opts = {}) {
    const token = S.token;
    const init = {
      method: opts.method || 'GET',
      headers: { Authorization: 'Bearer ' + token },
      cache: 'no-store',
      credentials: 'omit',
      signal: opts.signal,
    };
    if (opts.body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(opts.body);
    }
    const r = await fetch(API + path, init);
    if (r.status === 401 || r.status === 403) {
      const msg = await errorText(r);
      if (token === S.token) needLogin(msg);
      throw new ApiError(r.status, msg);
    }
    if (!r.ok) throw new ApiError(r.status, await errorText(r));
    if (opts.raw) return r;
    return r.json();
  }

  const isAbort = (e) => e && (e.name === 'AbortError');
  const isAuth = (e) => e instanceof ApiError && (e.status === 401 || e.status === 403);

  /* ------------------------------------------------------------------ login */

  function showLogin(msg) {
    E.app.hidden = true;
    E['btn-logout'].hidden = true;
    E.login.hidden = false;
    setText(E['login-msg'], msg || '');
    setConn('idle', 'signed out');
    E.token.value = '';
    E.token.focus();
  }

  function stopAll() {
    S.running = false;
    clearTimeout(S.listTimer);
    clearTimeout(S.detailPollTimer);
    clearTimeout(S.detailTimer);
    stopStream();
  }

  function needLogin(msg) {
    stopAll();
    S.token = '';
    try { sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* storage off */ }
    showLogin(msg || 'Sign in again.');
  }

  async function onLogin(ev) {
    ev.preventDefault();
    const t = E.token.value.trim();
    if (!t) {
      setText(E['login-msg'], 'Enter the admin token.');
      return;
    }
    E['login-ok'].disabled = true;
    setText(E['login-msg'], '');
    S.token = t;
    try {
      await api('/rollouts');
      try { sessionStorage.setItem(TOKEN_KEY, t); } catch (e) { /* storage off */ }
      start();
    } catch (e) {
      if (!isAuth(e)) {
        S.token = '';
        setText(E['login-msg'], 'Cannot reach the service: ' + e.message);
      }
    } finally {
      E['login-ok'].disabled = false;
    }
  }

  function logout() {
    stopAll();
    S.token = '';
    try { sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* storage off */ }
    showLogin('Signed out.');
  }

  /* ------------------------------------------------------------------ URL hash */

  function parseHash() {
    const p = new URLSearchParams(location.hash.replace(/^#/, ''));
    return { token: p.get('token'), rollout: p.get('rollout') };
  }

  function writeHash() {
    const url = location.pathname + location.search + (S.sel !== null ? '#rollout=' + S.sel : '');
    if (location.pathname + location.search + location.hash !== url) {
      history.replaceState(null, '', url);
    }
  }

  function onHashChange() {
    const hh = parseHash();
    if (hh.token) {
      S.token = hh.token;
      try { sessionStorage.setItem(TOKEN_KEY, hh.token); } catch (e) { /* storage off */ }
      if (hh.rollout !== null) S.wantSel = Number(hh.rollout);
      writeHash();
      start();
      return;
    }
    if (hh.rollout !== null && Number(hh.rollout) !== S.sel && S.running) {
      const id = Number(hh.rollout);
      if (S.rollouts.some((r) => r.id === id)) select(id);
    }
  }

  /* ------------------------------------------------------------------ connection pill */

  function setConn(state, text) {
    E.conn.dataset.conn = state;
    setText(E.conn, text || state);
  }

  /* ------------------------------------------------------------------ start, list */

  function start() {
    stopAll();
    S.running = true;
    E.login.hidden = true;
    E.app.hidden = false;
    E['btn-logout'].hidden = false;
    setConn('idle', 'connecting…');
    pollList();
    S.detailPollTimer = setTimeout(pollDetail, DETAIL_MS);
    api('/info').then((i) => {
      if (!i) return;
      const parts = [];
      if (i.version) parts.push('fleetup ' + i.version);
      if (i.fleet) parts.push(baseName(i.fleet));
      setText(E['server-info'], parts.join(' · '));
    }).catch(() => { /* optional */ });
  }

  async function pollList() {
    clearTimeout(S.listTimer);
    if (!S.running) return;
    try {
      const j = await api('/rollouts');
      if (!S.running) return;
      S.rollouts = Array.isArray(j.rollouts) ? j.rollouts : [];
      onList();
      const ph = S.stream.phase;
      const r = S.roll;
      if (ph === 'open') setConn('live', 'live');
      else if (ph === 'ended' || ph === 'off' || ph === 'idle') {
        setConn('idle', !r ? 'no rollout' : !r.live ? 'not live' : r.state === 'finished' ? 'finished' : 'idle');
      }
    } catch (e) {
      if (isAuth(e) || !S.running) return;
      setConn('offline', 'offline: ' + e.message);
    }
    if (S.running) S.listTimer = setTimeout(pollList, LIST_MS);
  }

  function onList() {
    const ids = new Set(S.rollouts.map((r) => r.id));
    if (S.wantSel !== null) {
      const want = S.wantSel;
      S.wantSel = null;
      if (ids.has(want)) {
        if (want !== S.sel) select(want);
      } else {
        toast('No rollout ' + want + ' on this service.', 'error');
      }
    }
    if (S.sel === null || !ids.has(S.sel)) {
      const live = S.rollouts.find((r) => r.live && r.state !== 'finished') ||
        S.rollouts.find((r) => r.live) || S.rollouts[0];
      if (live) select(live.id);
      else if (S.sel !== null) clearSelection();
    }
    const mine = S.rollouts.find((r) => r.id === S.sel);
    if (mine) {
      adoptRollout(mine);
      /* A finished rollout that retry reopened, or a stream that gave up: connect again. */
      const ph = S.stream.phase;
      if (mine.live && mine.state !== 'finished' && (ph === 'ended' || ph === 'off' || ph === 'idle')) {
        connect(S.sel);
      }
    }
    schedule('list');
  }

  function clearSelection() {
    S.sel = null;
    S.roll = null;
    S.detail = null;
    stopStream();
    resetRolloutData();
    writeHash();
    schedule('all');
  }

  /* A rollout object from the list or the stream; the newer one (by its own clock) wins,
   * so a list answer that raced with the stream never moves the counts back. */
  function adoptRollout(r) {
    if (!r || r.id !== S.sel) return;
    const cur = S.roll;
    if (cur && cur.id === r.id && (r.elapsed_ms || 0) < (cur.elapsed_ms || 0)) return;
    S.roll = r;
    const i = S.rollouts.findIndex((x) => x.id === r.id);
    if (i >= 0) S.rollouts[i] = r;
    schedule('head');
    schedule('list');
  }

  function select(id) {
    if (S.sel === id) return;
    S.sel = id;
    S.roll = S.rollouts.find((r) => r.id === id) || null;
    S.detail = null;
    resetRolloutData();
    closeDetail();
    writeHash();
    schedule('all');
    connect(id);
  }

  function resetRolloutData() {
    S.nodes = [];
    S.nodesFor = null;
    S.view = null;
    S.viewLen = 0;
    S.timeline = [];
    S.runEvents = [];
    S.eventKeys = new Set();
    E.nodes.scrollTop = 0;
    scrollTop = 0;
  }

  /* ------------------------------------------------------------------ detail, nodes */

  async function loadDetail(id, signal) {
    const d = await api('/rollouts/' + id, { signal });
    if (id !== S.sel) return;
    S.detail = d;
    /* The detail's waves is the list of waves; a ROLLOUT's waves is their number. */
    const r = Object.assign({}, d);
    if (Array.isArray(r.waves)) r.waves = r.waves.length;
    delete r.events;
    delete r.timeline;
    delete r.policy;
    adoptRollout(r);
    mergeTimeline(Array.isArray(d.timeline) ? d.timeline : []);
    if (Array.isArray(d.events)) {
      for (const ev of d.events) addRunEvent(ev);
    }
    schedule('head');
    schedule('waves');
    schedule('timeline');
  }

  async function loadNodes(id, signal) {
    const j = await api('/rollouts/' + id + '/nodes', { signal });
    if (id !== S.sel) return;
    const f = Array.isArray(j.fields) ? j.fields : ['name', 'state', 'phase', 'wave',
      'groups', 'labels', 'attempts', 'reason'];
    const at = (k) => f.indexOf(k);
    const iName = at('name'), iState = at('state'), iPhase = at('phase'), iWave = at('wave'),
      iGroups = at('groups'), iLabels = at('labels'), iAtt = at('attempts'), iReason = at('reason');
    const rows = Array.isArray(j.nodes) ? j.nodes : [];
    const nodes = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      const groups = iGroups >= 0 && Array.isArray(r[iGroups]) ? r[iGroups] : [];
      const labels = iLabels >= 0 && r[iLabels] && typeof r[iLabels] === 'object' ? r[iLabels] : {};
      const name = String(r[iName]);
      nodes[i] = {
        idx: i,
        name,
        lname: name.toLowerCase(),
        state: r[iState] || 'pending',
        phase: r[iPhase] || '',
        wave: iWave >= 0 && typeof r[iWave] === 'number' ? r[iWave] : -1,
        groups,
        labels,
        groupsText: groups.join(', '),
        labelsText: Object.keys(labels).map((k) => k + '=' + labels[k]).join(' '),
        attempts: iAtt >= 0 ? (r[iAtt] || 0) : 0,
        reason: iReason >= 0 ? r[iReason] : null,
        ver: 0,
      };
    }
    S.nodes = nodes;
    S.nodesFor = id;
    fillFilterOptions();
    flags.filter = true;
    schedule('all');
  }

  function fillSelect(sel, values, allText) {
    const cur = sel.value;
    const frag = document.createDocumentFragment();
    frag.appendChild(new Option(allText, ''));
    for (const v of values) frag.appendChild(new Option(v, v));
    sel.replaceChildren(frag);
    sel.value = values.includes(cur) ? cur : '';
    if (sel.value !== cur) readFilters();
  }

  function fillFilterOptions() {
    const groups = new Set();
    const labels = new Set();
    for (const n of S.nodes) {
      for (const g of n.groups) groups.add(String(g));
      for (const k of Object.keys(n.labels)) labels.add(k + '=' + n.labels[k]);
    }
    fillSelect(E['filter-group'], Array.from(groups).sort(collator.compare), 'All groups');
    fillSelect(E['filter-label'], Array.from(labels).sort(collator.compare), 'All labels');
  }

  /* ------------------------------------------------------------------ event stream */

  function stopStream() {
    const st = S.stream;
    st.gen++;
    clearTimeout(st.retryTimer);
    st.retryTimer = null;
    if (st.conn) {
      clearInterval(st.conn.watch);
      st.conn.ctl.abort();
      st.conn = null;
    }
    st.phase = 'idle';
  }

  /* Detail, then every node, then the stream (whose first nodes event is a snapshot);
   * again after RECONNECT_MS when it ends or fails, unless `end` came. */
  async function connect(id) {
    stopStream();
    const st = S.stream;
    const gen = st.gen;
    const conn = { ctl: new AbortController(), stalled: false, last: Date.now(), watch: null };
    st.conn = conn;
    st.phase = 'connecting';
    let ended = false;
    let httpError = null;
    try {
      await Promise.all([loadDetail(id, conn.ctl.signal), loadNodes(id, conn.ctl.signal)]);
      if (gen !== st.gen) return;
      const r = S.roll;
      if (r && !r.live) {            /* nothing drives it: what we loaded is all there is */
        st.phase = 'off';
        st.conn = null;
        setConn('idle', 'not live');
        return;
      }
      const resp = await api('/rollouts/' + id + '/events', { raw: true, signal: conn.ctl.signal });
      if (gen !== st.gen) return;
      st.phase = 'open';
      st.failures = 0;
      setConn('live', 'live');
      conn.watch = setInterval(() => {
        if (Date.now() - conn.last > STALL_MS) {
          conn.stalled = true;
          conn.ctl.abort();
        }
      }, 5000);
      ended = await readSSE(resp.body, conn, (type, data) => {
        if (gen === st.gen) onStreamEvent(type, data);
      });
    } catch (e) {
      if (gen !== st.gen) return;              /* superseded by another selection */
      if (isAuth(e)) return;                   /* the login form is up */
      if (isAbort(e) && !conn.stalled) return;
      if (e instanceof ApiError) httpError = e;
      if (e instanceof ApiError && e.status === 404) {
        st.phase = 'off';
        st.conn = null;
        setConn('idle', 'rollout gone');
        return;
      }
    } finally {
      clearInterval(conn.watch);
    }
    if (gen !== st.gen) return;
    st.conn = null;
    if (ended) {
      st.phase = 'ended';
      setConn('idle', 'finished');
      /* Counts after the end: fetch once more so the header is final. */
      loadDetail(id).catch(() => { /* the list poll catches up */ });
      return;
    }
    st.phase = 'waiting';
    st.failures++;
    stats.reconnects++;
    const delay = httpError ? Math.min(15000, RECONNECT_MS * Math.pow(2, st.failures - 1)) : RECONNECT_MS;
    setConn('reconnecting', httpError ? 'reconnecting: ' + httpError.message : 'reconnecting…');
    st.retryTimer = setTimeout(() => {
      if (S.running && S.sel === id && st.gen === gen) connect(id);
    }, delay);
  }

  /* Server-Sent Events from a fetch body: `field: value` lines, a blank line ends an
   * event, `:` starts a comment, data may span several lines. Resolves true when an
   * `end` event came, false when the stream closed without one. */
  async function readSSE(body, conn, onEvent) {
    const reader = body.getReader();
    const dec = new TextDecoder('utf-8');
    let buf = '';
    let type = '';
    let data = [];
    let ended = false;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      conn.last = Date.now();
      stats.bytes += value.byteLength;
      buf += dec.decode(value, { stream: true });
      let pos = 0;
      for (;;) {
        const nl = buf.indexOf('\n', pos);
        if (nl < 0) break;
        let line = buf.slice(pos, nl);
        pos = nl + 1;
        if (line.endsWith('\r')) line = line.slice(0, -1);
        if (line === '') {
          if (data.length || type) {
            const t = type || 'message';
            stats.events++;
            onEvent(t, data.join('\n'));
            if (t === 'end') ended = true;
          }
          type = '';
          data = [];
          continue;
        }
        if (line.charCodeAt(0) === 58) continue;    /* ':' comment, e.g. keepalive */
        const c = line.indexOf(':');
        const field = c < 0 ? line : line.slice(0, c);
        let v = c < 0 ? '' : line.slice(c + 1);
        if (v.charCodeAt(0) === 32) v = v.slice(1);
        if (field === 'event') type = v;
        else if (field === 'data') data.push(v);
        /* id and retry: not used */
      }
      if (pos) buf = buf.slice(pos);
      if (ended) {
        try { await reader.cancel(); } catch (e) { /* already closed */ }
        break;
      }
    }
    return ended;
  }

  function parseJSON(data, what) {
    try {
      return JSON.parse(data);
    } catch (e) {
      console.warn('fleetup: bad ' + what + ' event: ' + e.message);
      return null;
    }
  }

  function onStreamEvent(type, data) {
    if (type === 'rollout') {
      const r = parseJSON(data, type);
      if (r) {
        adoptRollout(r);
        addSample(r);
      }
    } else if (type === 'nodes') {
      const j = parseJSON(data, type);
      if (j && Array.isArray(j.rows)) applyRows(j.rows);
    } else if (type === 'run') {
      const ev = parseJSON(data, type);
      if (ev) {
        addRunEvent(ev);
        schedule('events');
      }
    } else if (type === 'end') {
      schedule('head');
    }
  }

  /* ------------------------------------------------------------------ applying data */

  const flags = { list: false, head: false, rows: false, filter: false, failed: false,
    waves: false, timeline: false, events: false, layout: false };
  let rafPending = false;

  function schedule(what) {
    if (what === 'all') {
      for (const k of Object.keys(flags)) flags[k] = true;
    } else {
      flags[what] = true;
    }
    if (!rafPending) {
      rafPending = true;
      requestAnimationFrame(flush);
    }
  }

  function applyRows(rows) {
    const nodes = S.nodes;
    const f = S.filters;
    const filtering = !!(f.state || f.phase || f.q);
    let changed = 0;
    let detailHit = false;
    for (let k = 0; k < rows.length; k++) {
      const r = rows[k];
      const n = nodes[r[0]];
      if (!n) continue;
      const state = r[1], phase = r[2], attempts = r[3], reason = r[4] === undefined ? null : r[4];
      if (n.state === state && n.phase === phase && n.attempts === attempts && n.reason === reason) continue;
      if (n.state !== state && (BAD.has(n.state) || BAD.has(state))) flags.failed = true;
      else if (n.reason !== reason && BAD.has(state)) flags.failed = true;
      n.state = state;
      n.phase = phase;
      n.attempts = attempts;
      n.reason = reason;
      n.ver++;
      changed++;
      if (n.name === S.detailNode) detailHit = true;
    }
    stats.batches++;
    stats.rowsApplied += changed;
    if (!changed) return;
    if (filtering) flags.filter = true;
    schedule('rows');
    schedule('waves');
    if (detailHit) refreshDetailSoon();
  }

  function addSample(r) {
    if (!r.counts) return;
    const s = {
      t_ms: r.elapsed_ms || 0,
      done: r.counts.done || 0,
      failed: r.counts.failed || 0,
      unreachable: r.counts.unreachable || 0,
      in_flight: r.in_flight || 0,
    };
    const tl = S.timeline;
    const last = tl[tl.length - 1];
    if (last && s.t_ms < last.t_ms) return;
    if (last && s.t_ms === last.t_ms) tl[tl.length - 1] = s;
    else tl.push(s);
    if (tl.length > TIMELINE_MAX) thinTimeline();
    schedule('timeline');
  }

  /* The server's samples, then ours that are newer than its last one. */
  function mergeTimeline(server) {
    const srv = server.filter((s) => s && typeof s.t_ms === 'number').slice()
      .sort((a, b) => a.t_ms - b.t_ms);
    const lastT = srv.length ? srv[srv.length - 1].t_ms : -Infinity;
    S.timeline = srv.concat(S.timeline.filter((s) => s.t_ms > lastT));
    if (S.timeline.length > TIMELINE_MAX) thinTimeline();
  }

  function thinTimeline() {
    const tl = S.timeline;
    const keep = [];
    const step = tl.length / (TIMELINE_MAX / 2);
    for (let i = 0; i < tl.length - 1; i += step) keep.push(tl[Math.floor(i)]);
    keep.push(tl[tl.length - 1]);
    S.timeline = keep;
  }

  function addRunEvent(ev) {
    if (!ev) return;
    const key = ev.at_ms + '|' + ev.kind + '|' + ev.wave + '|' + ev.message;
    if (S.eventKeys.has(key)) return;
    S.eventKeys.add(key);
    S.runEvents.push(ev);
    if (S.runEvents.length > EVENTS_MAX * 2) {
      const drop = S.runEvents.splice(0, S.runEvents.length - EVENTS_MAX);
      for (const d of drop) S.eventKeys.delete(d.at_ms + '|' + d.kind + '|' + d.wave + '|' + d.message);
    }
    flags.events = true;
    flags.timeline = true;
  }

  /* ------------------------------------------------------------------ filters */

  function readFilters() {
    S.filters = {
      state: E['filter-state'].value,
      phase: E['filter-phase'].value,
      group: E['filter-group'].value,
      label: E['filter-label'].value,
      q: E.search.value.trim().toLowerCase(),
    };
  }

  function onFilterChange() {
    readFilters();
    flags.filter = true;
    E.nodes.scrollTop = 0;
    scrollTop = 0;
    schedule('rows');
  }

  function recomputeView() {
    const f = S.filters;
    const nodes = S.nodes;
    if (!f.state && !f.phase && !f.group && !f.label && !f.q) {
      S.view = null;
      S.viewLen = nodes.length;
      return;
    }
    let lk = null, lv = null;
    if (f.label) {
      const eq = f.label.indexOf('=');
      lk = f.label.slice(0, eq);
      lv = f.label.slice(eq + 1);
    }
    const out = new Int32Array(nodes.length);
    let m = 0;
    for (let i = 0; i < nodes.length; i++) {
      const n = nodes[i];
      if (f.state && n.state !== f.state) continue;
      if (f.phase && n.phase !== f.phase) continue;
      if (f.group && !n.groups.includes(f.group)) continue;
      if (lk !== null && String(n.labels[lk]) !== lv) continue;
      if (f.q && !n.lname.includes(f.q) &&
          !(n.reason && String(n.reason).toLowerCase().includes(f.q))) continue;
      out[m++] = i;
    }
    S.view = out.subarray(0, m);
    S.viewLen = m;
  }

  /* ------------------------------------------------------------------ flush */

  function flush() {
    rafPending = false;
    const t0 = performance.now();
    stats.flushes++;
    if (flags.filter) {
      flags.filter = false;
      recomputeView();
      flags.rows = true;
    }
    const part = (name, fn) => {
      flags[name] = false;
      const p0 = performance.now();
      fn();
      const d = performance.now() - p0;
      stats.partsMsMax[name] = Math.max(stats.partsMsMax[name] || 0, d);
    };
    if (flags.list) part('list', renderList);
    if (flags.head) part('head', renderHead);
    if (flags.rows) part('rows', renderRows);
    if (flags.failed) part('failed', renderFailed);
    if (flags.waves) part('waves', renderWaves);
    if (flags.events) part('events', renderEvents);
    if (flags.timeline) part('timeline', renderTimeline);
    const dt = performance.now() - t0;
    stats.flushMsTotal += dt;
    if (dt > stats.flushMsMax) stats.flushMsMax = dt;
  }

  /* ------------------------------------------------------------------ rollout list */

  const listRows = new Map();

  function countsOf(r) {
    return r && r.counts ? r.counts : {};
  }

  function fillBar(bar, counts, total) {
    if (bar.children.length !== BAR_ORDER.length) {
      bar.replaceChildren();
      for (const s of BAR_ORDER) bar.appendChild(h('span', 'seg s-' + s));
    }
    for (let i = 0; i < BAR_ORDER.length; i++) {
      const v = counts[BAR_ORDER[i]] || 0;
      const w = total > 0 ? (100 * v / total) : 0;
      const ws = w.toFixed(3) + '%';
      const seg = bar.children[i];
      if (seg.style.width !== ws) seg.style.width = ws;
    }
  }

  function renderList() {
    const box = E.rollouts;
    E['rollouts-empty'].hidden = S.rollouts.length > 0;
    const seen = new Set();
    let prev = null;
    for (const r of S.rollouts) {
      seen.add(r.id);
      let row = listRows.get(r.id);
      if (!row) {
        row = h('button', 'rollout-item');
        row.type = 'button';
        row.dataset.rolloutId = String(r.id);
        const top = h('span', 'ri-top');
        top.append(h('span', 'ri-id mono'), h('span', 'run-badge'));
        row.append(top, h('span', 'ri-fleet mono'), h('span', 'bar ri-bar'), h('span', 'ri-meta'));
        listRows.set(r.id, row);
      }
      const c = countsOf(r);
      const ended = (c.done || 0) + (c.skipped || 0) + (c.failed || 0) + (c.unreachable || 0) + (c.cancelled || 0);
      const bad = (c.failed || 0) + (c.unreachable || 0);
      setText(row.querySelector('.ri-id'), '#' + r.id);
      const badge = row.querySelector('.run-badge');
      setText(badge, r.state);
      badge.dataset.state = r.state;
      setText(row.querySelector('.ri-fleet'), baseName(r.fleet) + (r.limit ? ' · ' + r.limit : ''));
      row.title = r.fleet + (r.limit ? ' (limit ' + r.limit + ')' : '') + (r.live ? '' : ' — not live');
      fillBar(row.querySelector('.ri-bar'), c, r.nodes || 0);
      setText(row.querySelector('.ri-meta'), fmtN(ended) + '/' + fmtN(r.nodes) +
        (bad ? ' · ' + fmtN(bad) + ' failed' : '') + ' · ' + fmtDur(r.elapsed_ms));
      const selected = r.id === S.sel;
      row.classList.toggle('selected', selected);
      row.setAttribute('aria-current', selected ? 'true' : 'false');
      row.classList.toggle('not-live', !r.live);
      const want = prev ? prev.nextSibling : box.firstChild;
      if (want !== row) box.insertBefore(row, want);
      prev = row;
    }
    for (const [id, row] of listRows) {
      if (!seen.has(id)) {
        row.remove();
        listRows.delete(id);
      }
    }
  }

  /* ------------------------------------------------------------------ header */

  function canDo(cmd, r) {
    if (!r || !r.live || S.busy) return false;
    const c = r.counts || {};
    switch (cmd) {
      case 'pause': return r.state === 'running';
      case 'resume': return r.state === 'paused';
      case 'promote': return r.state === 'awaiting-promote';
      case 'abort': return r.state !== 'finished' && r.state !== 'aborting';
      case 'retry': return (c.failed || 0) + (c.unreachable || 0) > 0;
      default: return false;
    }
  }

  function renderHead() {
    const r = S.roll;
    const c = countsOf(r);
    setText(E['rollout-id'], r ? String(r.id) : '–');
    setText(E['run-state'], r ? r.state : '');
    E['run-state'].dataset.state = r ? r.state : '';
    setText(E['rollout-fleet'], r ? r.fleet + (r.limit ? '  --limit ' + r.limit : '') : '');
    for (const s of STATES) setText(E.counts[s], String(c[s] || 0));
    setText(E['in-flight'], String(r ? (r.in_flight || 0) : 0));
    const ip = r && r.in_phase ? r.in_phase : {};
    const phases = PHASES.filter((p) => ip[p]).map((p) => p + ' ' + ip[p]).join(' · ') || '–';
    setText(E['in-phase'], phases);
    if (E['in-phase'].title !== phases) E['in-phase'].title = phases;

    const meta = [];
    if (r) {
      meta.push(fmtN(r.nodes) + ' nodes');
      if (r.waves) meta.push('wave ' + (Math.min(r.current_wave || 0, r.waves - 1) + 1) + ' of ' + r.waves);
      meta.push('elapsed ' + fmtDur(r.elapsed_ms));
      if (r.started_ms) meta.push('started ' + fmtClock(r.started_ms));
      if (r.finished_ms) meta.push('finished ' + fmtClock(r.finished_ms));
      const p = S.detail && S.detail.id === r.id ? S.detail.policy : null;
      if (p) {
        const pp = [];
        if (p.mode) pp.push(p.mode);
        if (p.concurrency) pp.push('concurrency ' + p.concurrency);
        if (p.promote) pp.push('promote ' + p.promote);
        if (p.waves) pp.push('waves ' + p.waves);
        if (pp.length) meta.push(pp.join(', '));
      }
      if (!r.live) meta.push('not live: no process drives it');
    }
    setText(E['rollout-meta'], meta.join(' · '));
    const reason = r && r.reason ? r.reason : '';
    E['rollout-reason'].hidden = !reason;
    setText(E['rollout-reason'], reason);
    for (const cmd of Object.keys(E.buttons)) {
      const b = E.buttons[cmd];
      const ok = canDo(cmd, r);
      if (b.disabled === ok) b.disabled = !ok;
    }
  }

  /* ------------------------------------------------------------------ node table */

  const shown = new Map();   /* view position -> row element */
  const spare = [];          /* row elements not in use (hidden) */
  let spacerH = -1;
  let vpH = 400;      /* cached viewport height of #nodes (ResizeObserver) */
  let headH = ROW_H;
  let scrollTop = 0;  /* cached in the scroll handler: no layout read in the flush */

  function makeRow() {
    const row = h('div', 'node-row');
    row.setAttribute('role', 'row');
    for (let i = 0; i < 8; i++) {
      const cell = h('span');
      cell.setAttribute('role', 'cell');
      row.appendChild(cell);
    }
    row.children[1].appendChild(h('span', 'badge'));
    row.children[3].className = 'num';
    row.children[6].className = 'num';
    row.children[7].className = 'reason';
    row._n = null;
    row._v = -1;
    return row;
  }

  function fillRow(row, n) {
    if (row._n === n && row._v === n.ver) return;
    const c = row.children;
    if (row._n !== n) {
      row.dataset.idx = String(n.idx);
      row.dataset.node = n.name;
      setText(c[0], n.name);
      setText(c[3], n.wave >= 0 ? String(n.wave + 1) : '');
      setText(c[4], n.groupsText);
      setText(c[5], n.labelsText);
      c[4].title = n.groupsText;
      c[5].title = n.labelsText;
    }
    if (row.dataset.state !== n.state) {
      row.dataset.state = n.state;
      const b = c[1].firstChild;
      b.className = 'badge s-' + n.state;
      b.textContent = n.state;
    }
    setText(c[2], n.phase || '');
    setText(c[6], String(n.attempts || 0));
    const reason = n.reason ? String(n.reason) : '';
    setText(c[7], reason);
    if (c[7].title !== reason) c[7].title = reason;
    row._n = n;
    row._v = n.ver;
  }

  /* Each drawn row stays at its own offset (position i of the view at i * ROW_H) while
   * it is in range; scrolling only re-targets the rows that left the range, so the
   * browser paints the rows coming into view and nothing else. */
  function renderRows() {
    const total = S.viewLen;
    const want = total * ROW_H;
    if (want !== spacerH) {
      spacerH = want;
      E['nodes-spacer'].style.height = want + 'px';
      E.nodes.setAttribute('aria-rowcount', String(total + 1));
    }
    setText(E['nodes-count'], total + ' of ' + S.nodes.length + ' nodes');
    E['nodes-empty'].hidden = total > 0 || S.nodes.length === 0;
    const top = Math.min(scrollTop, Math.max(0, total * ROW_H - ROW_H));
    const bodyH = Math.max(ROW_H, vpH - headH);
    const first = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
    const last = Math.min(total, Math.ceil((top + bodyH) / ROW_H) + OVERSCAN);
    for (const [i, row] of shown) {
      if (i < first || i >= last) {
        shown.delete(i);
        spare.push(row);
      }
    }
    const view = S.view;
    const nodes = S.nodes;
    const box = E['nodes-rows'];
    for (let i = first; i < last; i++) {
      let row = shown.get(i);
      if (!row) {
        row = spare.pop();
        if (!row) {
          row = makeRow();
          box.appendChild(row);
        }
        shown.set(i, row);
        row.style.transform = 'translateY(' + (i * ROW_H) + 'px)';
        row.setAttribute('aria-rowindex', String(i + 2));
        if (row.hidden) row.hidden = false;
      }
      const n = nodes[view ? view[i] : i];
      fillRow(row, n);
      const sel = n.name === S.detailNode;
      if (row.classList.contains('selected') !== sel) row.classList.toggle('selected', sel);
    }
    for (const row of spare) {
      if (!row.hidden) {
        row.hidden = true;
        row._n = null;
      }
    }
  }

  function onNodesScroll() {
    scrollTop = E.nodes.scrollTop;
    schedule('rows');
  }

  /* ------------------------------------------------------------------ failed list */

  function renderFailed() {
    const list = E.failed;
    const frag = document.createDocumentFragment();
    let n = 0;
    for (const node of S.nodes) {
      if (!BAD.has(node.state)) continue;
      n++;
      if (n > FAILED_MAX) continue;
      const li = h('li');
      const b = h('button', 'failed-item');
      b.type = 'button';
      b.dataset.node = node.name;
      b.append(h('span', 'badge s-' + node.state, node.state), h('span', 'fi-name mono', node.name),
        h('span', 'fi-reason', node.reason || '(no reason)'));
      b.title = node.name + ': ' + (node.reason || node.state);
      li.appendChild(b);
      frag.appendChild(li);
    }
    list.replaceChildren(frag);
    setText(E['failed-count'], String(n));
    E['failed-more'].hidden = n <= FAILED_MAX;
    setText(E['failed-more'], n > FAILED_MAX
      ? 'and ' + fmtN(n - FAILED_MAX) + ' more: filter the node table by state.' : '');
  }

  /* ------------------------------------------------------------------ waves */

  function waveData() {
    const r = S.roll;
    const dw = S.detail && S.detail.id === S.sel && Array.isArray(S.detail.waves) ? S.detail.waves : [];
    const nw = Math.max(r && r.waves ? r.waves : 0, dw.length);
    const waves = [];
    for (let i = 0; i < nw; i++) {
      const d = dw.find((w) => w.index === i) || dw[i] || {};
      waves.push({ index: i, size: d.size || 0, state: d.state || 'pending',
        counts: Object.assign({}, d.counts || {}) });
    }
    if (S.nodes.length && S.nodesFor === S.sel) {
      /* The nodes are fresher than the detail (one batch per 500 ms vs one fetch per 10 s). */
      for (const w of waves) { w.size = 0; w.counts = {}; }
      for (const n of S.nodes) {
        if (n.wave < 0) continue;
        while (waves.length <= n.wave) waves.push({ index: waves.length, size: 0, state: 'pending', counts: {} });
        const w = waves[n.wave];
        w.size++;
        w.counts[n.state] = (w.counts[n.state] || 0) + 1;
      }
      const cur = r ? (r.current_wave || 0) : 0;
      for (const w of waves) {
        const ended = endedOf(w.counts);
        if (w.size > 0 && ended === w.size) w.state = 'done';
        else if (w.index <= cur || ended > 0 || w.size - (w.counts.pending || 0) > 0) w.state = 'open';
        else w.state = 'pending';
      }
    }
    return waves;
  }

  function endedOf(c) {
    return (c.done || 0) + (c.skipped || 0) + (c.failed || 0) + (c.unreachable || 0) + (c.cancelled || 0);
  }

  function renderWaves() {
    const box = E.waves;
    const waves = waveData();
    if (box.firstElementChild && !box.firstElementChild.classList.contains('wave')) box.replaceChildren();
    while (box.childElementCount > waves.length) box.lastChild.remove();
    for (let i = 0; i < waves.length; i++) {
      const w = waves[i];
      let row = box.children[i];
      if (!row) {
        row = h('div', 'wave');
        const st = h('span', 'wave-state');
        st.append(h('span', 'wave-st'), h('span', 'wave-bad'));
        row.append(h('span', 'wave-name'), h('span', 'bar wave-bar'), h('span', 'wave-num mono'), st);
        box.appendChild(row);
      }
      const ended = endedOf(w.counts);
      row.dataset.wave = String(w.index);
      row.dataset.state = w.state;
      row.dataset.ended = String(ended);
      row.dataset.size = String(w.size);
      const bad = (w.counts.failed || 0) + (w.counts.unreachable || 0);
      setText(row.children[0], 'Wave ' + (w.index + 1));
      fillBar(row.children[1], w.counts, w.size);
      setText(row.children[2], fmtN(ended) + '/' + fmtN(w.size));
      setText(row.children[3].firstChild, w.state);
      setText(row.children[3].lastChild, bad ? ' · ' + bad + ' failed' : '');
      row.title = 'Wave ' + (w.index + 1) + ': ' + ended + ' of ' + w.size + ' ended, ' +
        STATES.filter((s) => w.counts[s]).map((s) => w.counts[s] + ' ' + s).join(', ');
    }
    if (!waves.length) box.replaceChildren(h('p', 'empty', S.sel === null ? '' : 'No waves yet.'));
  }

  /* ------------------------------------------------------------------ timeline */

  const SERIES = ['done', 'failed', 'unreachable', 'in_flight'];
  const tl = { w: 600, h: 150, built: false, paths: {}, grid: null, marks: null, labels: null };

  function svg(tag, attrs) {
    const e = document.createElementNS(SVGNS, tag);
    if (attrs) for (const k of Object.keys(attrs)) e.setAttribute(k, attrs[k]);
    return e;
  }

  function buildTimeline() {
    const s = E.timeline;
    s.replaceChildren();
    tl.grid = svg('g', { class: 'tl-grid' });
    s.appendChild(tl.grid);
    for (const k of SERIES) {
      tl.paths[k] = svg('path', { class: 'tl-area tl-' + k.replace('_', '') });
      s.appendChild(tl.paths[k]);
    }
    tl.marks = svg('g', { class: 'tl-marks' });
    tl.labels = svg('g', { class: 'tl-labels' });
    s.append(tl.marks, tl.labels);
    tl.built = true;
  }

  function niceStep(span, n) {
    const raw = span / n;
    const steps = [1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000, 600000,
      900000, 1800000, 3600000, 7200000, 21600000];
    for (const st of steps) if (st >= raw) return st;
    return steps[steps.length - 1];
  }

  /* The first run event naming each wave marks where it started. */
  function waveStarts() {
    const starts = new Map();
    for (const ev of S.runEvents) {
      if (typeof ev.wave !== 'number' || ev.wave < 0) continue;
      const t = ev.at_ms || 0;
      if (!starts.has(ev.wave) || t < starts.get(ev.wave)) starts.set(ev.wave, t);
    }
    return starts;
  }

  function renderTimeline() {
    if (!tl.built) buildTimeline();
    const W = tl.w, H = tl.h;
    E.timeline.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    const padL = 44, padR = 8, padT = 8, padB = 18;
    const pw = Math.max(10, W - padL - padR), ph = Math.max(10, H - padT - padB);
    const r = S.roll;
    const samples = S.timeline;
    const total = Math.max(1, r && r.nodes ? r.nodes : 0,
      ...samples.slice(-1).map((s) => s.done + s.failed + s.unreachable + s.in_flight));
    const tMax = Math.max(1000, r ? (r.elapsed_ms || 0) : 0,
      samples.length ? samples[samples.length - 1].t_ms : 0);
    E.timeline.dataset.samples = String(samples.length);
    const x = (t) => padL + pw * Math.min(1, Math.max(0, t / tMax));
    const y = (v) => padT + ph * (1 - v / total);

    /* stacked areas */
    const lower = new Float64Array(samples.length);
    for (const k of SERIES) {
      let up = '', down = '';
      for (let i = 0; i < samples.length; i++) {
        const s = samples[i];
        const lo = lower[i];
        const hi = lo + (s[k] || 0);
        up += (i ? 'L' : 'M') + x(s.t_ms).toFixed(1) + ',' + y(hi).toFixed(1);
        lower[i] = hi;
        down = 'L' + x(s.t_ms).toFixed(1) + ',' + y(lo).toFixed(1) + down;
      }
      tl.paths[k].setAttribute('d', samples.length ? up + down + 'Z' : '');
    }

    /* grid and axis labels */
    tl.grid.replaceChildren();
    tl.labels.replaceChildren();
    for (const frac of [0, 0.5, 1]) {
      const yy = y(total * frac);
      tl.grid.appendChild(svg('line', { x1: padL, x2: W - padR, y1: yy, y2: yy }));
      const t = svg('text', { x: padL - 4, y: yy + 3, 'text-anchor': 'end' });
      t.textContent = fmtN(Math.round(total * frac));
      tl.labels.appendChild(t);
    }
    const step = niceStep(tMax, 6);
    for (let t = 0; t <= tMax; t += step) {
      const xx = x(t);
      tl.grid.appendChild(svg('line', { x1: xx, x2: xx, y1: padT, y2: padT + ph, class: 'v' }));
      const lab = svg('text', { x: xx, y: H - 4, 'text-anchor': t === 0 ? 'start' : 'middle' });
      lab.textContent = t === 0 ? '0' : fmtDur(t);
      tl.labels.appendChild(lab);
    }

    /* wave starts */
    tl.marks.replaceChildren();
    let lastLabel = -Infinity;
    for (const [wave, t] of Array.from(waveStarts()).sort((a, b) => a[1] - b[1])) {
      const xx = x(t);
      tl.marks.appendChild(svg('line', { x1: xx, x2: xx, y1: padT, y2: padT + ph }));
      if (xx - lastLabel < 22) continue;    /* waves that started close together: one label */
      lastLabel = xx;
      const lab = svg('text', { x: xx + 3, y: padT + 9 });
      lab.textContent = 'W' + (wave + 1);
      tl.marks.appendChild(lab);
    }
    if (!samples.length) {
      const t = svg('text', { x: padL + pw / 2, y: padT + ph / 2, 'text-anchor': 'middle', class: 'tl-empty' });
      t.textContent = 'no samples yet';
      tl.labels.appendChild(t);
    }
  }

  /* ------------------------------------------------------------------ run events */

  function renderEvents() {
    const frag = document.createDocumentFragment();
    const evs = S.runEvents;
    for (let i = evs.length - 1, n = 0; i >= 0 && n < EVENTS_MAX; i--, n++) {
      const ev = evs[i];
      const li = h('li');
      li.dataset.kind = ev.kind || '';
      li.append(h('time', 'mono', '+' + fmtDur(ev.at_ms || 0)), h('span', 'ev-kind', ev.kind || ''),
        h('span', 'ev-wave', typeof ev.wave === 'number' && ev.wave >= 0 ? 'W' + (ev.wave + 1) : ''),
        h('span', 'ev-msg', ev.message || ''));
      frag.appendChild(li);
    }
    E.events.replaceChildren(frag);
  }

  /* ------------------------------------------------------------------ node detail */

  let detailSeq = 0;

  function openDetail(name) {
    S.detailNode = name;
    E['node-detail'].hidden = false;
    setText(E['nd-name'], name);
    schedule('rows');
    loadNodeDetail(true);
  }

  function closeDetail() {
    S.detailNode = null;
    detailSeq++;
    clearTimeout(S.detailTimer);
    if (E['node-detail']) E['node-detail'].hidden = true;
    schedule('rows');
  }

  function refreshDetailSoon() {
    if (S.detailTimer) return;
    S.detailTimer = setTimeout(() => {
      S.detailTimer = null;
      if (S.detailNode) loadNodeDetail(false);
    }, 800);
  }

  async function loadNodeDetail(fresh) {
    const name = S.detailNode;
    const id = S.sel;
    if (!name || id === null) return;
    const seq = ++detailSeq;
    if (fresh) {
      E['nd-error'].hidden = true;
      E['nd-fields'].replaceChildren();
      E['nd-transitions'].tBodies[0].replaceChildren();
      setText(E['node-log'], 'loading…');
      E['nd-reason'].hidden = true;
      setText(E['nd-state'], '');
    }
    try {
      const d = await api('/rollouts/' + id + '/nodes/' + encodeURIComponent(name));
      if (seq !== detailSeq) return;
      renderNodeDetail(d);
    } catch (e) {
      if (seq !== detailSeq || isAuth(e)) return;
      E['nd-error'].hidden = false;
      setText(E['nd-error'], e.message);
      if (fresh) setText(E['node-log'], '');
    }
  }

  /* The node's last status post (pull mode: what its agent reported): phase, state,
   * percent, message. */
  function statusText(p) {
    if (!p) return '';
    return [p.phase, p.state, typeof p.percent === 'number' ? p.percent + '%' : '', p.message]
      .filter(Boolean).join(' · ');
  }

  function renderNodeDetail(d) {
    setText(E['nd-name'], d.name);
    const st = E['nd-state'];
    st.className = 'badge s-' + d.state;
    setText(st, d.state);
    E['nd-error'].hidden = true;
    const dl = E['nd-fields'];
    const fields = [
      ['phase', d.phase || ''],
      ['wave', typeof d.wave === 'number' ? String(d.wave + 1) : ''],
      ['attempts', String(d.attempts || 0)],
      ['address', d.address || ''],
      ['transport', d.transport || ''],
      ['groups', Array.isArray(d.groups) ? d.groups.join(', ') : ''],
      ['labels', d.labels ? Object.keys(d.labels).map((k) => k + '=' + d.labels[k]).join(' ') : ''],
      ['index', typeof d.idx === 'number' ? String(d.idx) : ''],
      ['last status', statusText(d.last_status)],
    ];
    const frag = document.createDocumentFragment();
    for (const [k, v] of fields) {
      frag.append(h('dt', null, k), h('dd', k === 'address' ? 'mono' : null, v || '–'));
    }
    dl.replaceChildren(frag);
    E['nd-reason'].hidden = !d.reason;
    setText(E['nd-reason'], d.reason || '');
    const tb = E['nd-transitions'].tBodies[0];
    const tf = document.createDocumentFragment();
    for (const t of Array.isArray(d.transitions) ? d.transitions : []) {
      const tr = h('tr');
      tr.append(h('td', 'mono', '+' + fmtDur(t.at_ms || 0)), h('td', null, t.from || ''),
        h('td', null, t.to || ''), h('td', 'reason', t.reason || ''));
      tf.appendChild(tr);
    }
    tb.replaceChildren(tf);
    const log = Array.isArray(d.log_tail) ? d.log_tail.join('\n') : (d.log_tail || '');
    const pre = E['node-log'];
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    setText(pre, log || '(no log lines)');
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  }

  /* ------------------------------------------------------------------ commands */

  const CMD_TEXT = {
    pause: 'No new node starts; nodes in flight go on.',
    resume: 'Nodes start again.',
    abort: 'Nodes not past inventory are cancelled; the rest finish. This cannot be undone.',
    promote: 'The canary gate opens and the next waves start.',
    retry: 'Every failed and unreachable node goes back to pending and starts again.',
  };
  let pending = null;

  function askCommand(cmd) {
    const r = S.roll;
    if (!r || !canDo(cmd, r)) return;
    pending = { cmd, id: r.id };
    const label = cmd.charAt(0).toUpperCase() + cmd.slice(1);
    setText(E['confirm-title'], label + ' rollout ' + r.id + '?');
    let text = label + ' rollout ' + r.id + ' (' + baseName(r.fleet) + '). ' + CMD_TEXT[cmd];
    if (cmd === 'retry') {
      const c = r.counts || {};
      text += ' (' + ((c.failed || 0) + (c.unreachable || 0)) + ' nodes)';
    }
    setText(E['confirm-text'], text);
    setText(E['confirm-ok'], label);
    E['confirm-ok'].classList.toggle('danger', cmd === 'abort');
    E['confirm-ok'].classList.toggle('primary', cmd !== 'abort');
    E.confirm.dataset.cmd = cmd;
    if (!E.confirm.open) E.confirm.showModal();
    E['confirm-cancel'].focus();
  }

  function closeConfirm() {
    pending = null;
    if (E.confirm.open) E.confirm.close();
  }

  async function runCommand() {
    const p = pending;
    closeConfirm();
    if (!p) return;
    S.busy = true;
    schedule('head');
    try {
      const j = await api('/rollouts/' + p.id + '/' + p.cmd, { method: 'POST', body: {} });
      toast(j && j.message ? j.message : 'Rollout ' + p.id + ': ' + p.cmd + ' → ' + (j && j.state), 'ok');
    } catch (e) {
      if (!isAuth(e)) toast(p.cmd + ' rollout ' + p.id + ' failed: ' + e.message, 'error');
    } finally {
      S.busy = false;
      schedule('head');
    }
    if (S.running) {
      pollList();
      if (S.sel === p.id) loadDetail(p.id).catch(() => { /* next poll */ });
    }
  }

  /* ------------------------------------------------------------------ toast */

  let toastTimer = null;
  function toast(msg, kind) {
    const t = E.toast;
    t.textContent = msg;
    t.dataset.kind = kind || 'ok';
    t.classList.add('show');
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => t.classList.remove('show'), kind === 'error' ? 10000 : 5000);
  }

  /* ------------------------------------------------------------------ periodic detail */

  function pollDetail() {
    clearTimeout(S.detailPollTimer);
    S.detailPollTimer = setTimeout(pollDetail, DETAIL_MS);
    if (!S.running || S.sel === null || document.hidden) return;
    if (S.stream.phase === 'connecting') return;
    loadDetail(S.sel).catch(() => { /* the list poll shows connectivity */ });
  }

  /* ------------------------------------------------------------------ wiring */

  function bind() {
    E.login.addEventListener('submit', onLogin);
    E['btn-logout'].addEventListener('click', logout);
    E.rollouts.addEventListener('click', (ev) => {
      const b = ev.target.closest('[data-rollout-id]');
      if (b) select(Number(b.dataset.rolloutId));
    });
    for (const id of ['filter-state', 'filter-phase', 'filter-group', 'filter-label']) {
      E[id].addEventListener('change', onFilterChange);
    }
    let searchTimer = null;
    E.search.addEventListener('input', () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(onFilterChange, 100);
    });
    E['filter-clear'].addEventListener('click', () => {
      for (const id of ['filter-state', 'filter-phase', 'filter-group', 'filter-label']) E[id].value = '';
      E.search.value = '';
      onFilterChange();
    });
    E.nodes.addEventListener('scroll', onNodesScroll, { passive: true });
    E['nodes-rows'].addEventListener('click', (ev) => {
      const row = ev.target.closest('.node-row');
      if (row && row.dataset.node) openDetail(row.dataset.node);
    });
    E.nodes.addEventListener('keydown', (ev) => {
      const page = Math.max(1, Math.floor((vpH - headH) / ROW_H) - 1);
      const keys = { ArrowDown: ROW_H, ArrowUp: -ROW_H, PageDown: page * ROW_H, PageUp: -page * ROW_H };
      if (keys[ev.key] !== undefined) {
        E.nodes.scrollTop += keys[ev.key];
        ev.preventDefault();
      }
    });
    E.failed.addEventListener('click', (ev) => {
      const b = ev.target.closest('[data-node]');
      if (b) openDetail(b.dataset.node);
    });
    E['node-detail-close'].addEventListener('click', closeDetail);
    document.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' && S.detailNode && !E.confirm.open) closeDetail();
    });
    for (const cmd of Object.keys(E.buttons)) {
      E.buttons[cmd].addEventListener('click', () => askCommand(cmd));
    }
    E['confirm-ok'].addEventListener('click', runCommand);
    E['confirm-cancel'].addEventListener('click', closeConfirm);
    E.confirm.addEventListener('close', () => { pending = null; });
    E.toast.addEventListener('click', () => E.toast.classList.remove('show'));
    window.addEventListener('hashchange', onHashChange);
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) schedule('all');
    });

    E.nodes.style.setProperty('--row-h', ROW_H + 'px');
    const ro = new ResizeObserver(() => {
      vpH = E.nodes.clientHeight || vpH;
      const head = E.nodes.querySelector('.node-head');
      headH = head ? head.offsetHeight || ROW_H : ROW_H;
      const b = E.timeline.getBoundingClientRect();
      if (b.width > 0 && b.height > 0) {
        tl.w = Math.round(b.width);
        tl.h = Math.round(b.height);
      }
      schedule('rows');
      schedule('timeline');
    });
    ro.observe(E.nodes);
    ro.observe(E.timeline);
  }

  function boot() {
    refs();
    bind();
    const hh = parseHash();
    if (hh.rollout !== null && hh.rollout !== '') S.wantSel = Number(hh.rollout);
    if (hh.token) {
      S.token = hh.token;
      try { sessionStorage.setItem(TOKEN_KEY, hh.token); } catch (e) { /* storage off */ }
      /* Keep the token out of the URL, the history and any screenshot. */
      history.replaceState(null, '', location.pathname + location.search +
        (S.wantSel !== null ? '#rollout=' + S.wantSel : ''));
    } else {
      try { S.token = sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { S.token = ''; }
    }
    schedule('all');
    if (S.token) start();
    else showLogin('');
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();
