/* Gantry's dashboard (docs/dashboard.md): one page, served by `gantry server` from the files
 * embedded in it. Every number comes from the server's API with the user's token: what the
 * token may not see, the page does not show. Charts are uPlot's. Text from the server is
 * always set as text (never as HTML). */
(function () {
  'use strict';

  var TOKEN_KEY = 'gantry-token';
  var REFRESH_MS = 10000;
  var state = { token: null, who: null, timer: null, page: null, charts: [], abort: null };

  /* ---- small helpers ---- */
  function $(id) { return document.getElementById(id); }
  function el(tag, attrs) {
    var e = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (k === 'text') e.textContent = attrs[k];
        else if (k === 'cls') e.className = attrs[k];
        else if (k.slice(0, 2) === 'on') e.addEventListener(k.slice(2), attrs[k]);
        else e.setAttribute(k, attrs[k]);
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c == null) continue;
      e.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
    }
    return e;
  }
  function fmtNum(v, digits) {
    if (v == null || isNaN(v)) return '-';
    var d = digits == null ? 1 : digits;
    return Math.abs(v - Math.round(v)) < 1e-9 ? String(Math.round(v)) : v.toFixed(d);
  }
  function fmtTime(t) {
    if (!t || t <= 0) return '-';
    var d = new Date(t * 1000);
    function p(n) { return (n < 10 ? '0' : '') + n; }
    return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + ' ' +
      p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
  }
  function fmtElapsed(s) {
    if (s == null || s < 0) return '-';
    s = Math.floor(s);
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    function p(n) { return (n < 10 ? '0' : '') + n; }
    return (d ? d + '-' : '') + p(h) + ':' + p(m) + ':' + p(s % 60);
  }
  function now() { return Date.now() / 1000; }
  function jobName(j) {
    return j.array_id && j.array_id !== j.id ? j.array_id + '_' + j.array_index : String(j.id);
  }

  /* ---- the API ---- */
  function ApiError(status, code, message) {
    this.status = status; this.code = code; this.message = message;
  }
  function api(path, opts) {
    opts = opts || {};
    var headers = { Authorization: 'Bearer ' + state.token };
    return fetch(path, { headers: headers, signal: opts.signal }).then(function (r) {
      if (r.status === 401) {
        return r.json().then(function (b) {
          signOut((b.error && b.error.message) || 'Your token was refused.');
          throw new ApiError(401, 'unauthorized', 'signed out');
        });
      }
      if (!r.ok) {
        return r.json().catch(function () { return {}; }).then(function (b) {
          var e = b.error || {};
          throw new ApiError(r.status, e.code || 'error', e.message || ('HTTP ' + r.status));
        });
      }
      return opts.raw ? r : r.json();
    });
  }
  /* An endpoint another part of Gantry has not shipped yet answers 404 "no such endpoint". */
  function notLanded(e) {
    return e instanceof ApiError && e.status === 404 && /no such endpoint/.test(e.message);
  }
  function notAvailable(what) {
    return el('div', { cls: 'na', 'data-na': what },
      'Not available yet: this server does not provide ' + what + '. The page shows it once ' +
      'the server does (no data is made up).');
  }
  function errorBox(e) {
    return el('p', { cls: 'error', role: 'alert' }, 'Error: ' + (e && e.message ? e.message : e));
  }

  /* ---- charts (uPlot) ---- */
  var PALETTE = ['#2f6fd6', '#3aa35b', '#9aa1ad', '#d08a1a', '#c43d3d', '#7b4fc9', '#1aa3a3',
    '#b5487f', '#6b8e23', '#8c564b', '#e377c2', '#17becf'];
  /* A chart of columns: times (epoch s) and named series of numbers (null: no value). */
  function chart(container, name, title, times, series, opts) {
    opts = opts || {};
    var box = el('div', { cls: 'chart', 'data-chart': name }, el('h3', { text: title }));
    container.appendChild(box);
    var names = Object.keys(series);
    var hasData = times.length > 0 && names.some(function (k) {
      return series[k].some(function (v) { return v != null; });
    });
    if (!hasData) {
      box.appendChild(el('div', { cls: 'empty' }, 'No points in this period yet.'));
      box.setAttribute('data-points', '0');
      return null;
    }
    var width = Math.max(320, (box.clientWidth || 560) - 16);
    var u = new uPlot({
      width: width,
      height: opts.height || 220,
      scales: opts.scales || { x: { time: true } },
      axes: [{}, { size: 56, values: opts.yfmt ? function (u, vals) { return vals.map(opts.yfmt); } : undefined }],
      series: [{}].concat(names.map(function (k, i) {
        return { label: k, stroke: (opts.colors && opts.colors[k]) || PALETTE[i % PALETTE.length],
          width: 1.5, spanGaps: false, value: opts.yfmt ? function (u, v) { return v == null ? '-' : opts.yfmt(v); } : undefined };
      })),
      hooks: { draw: [function () { box.setAttribute('data-drawn', String(times.length)); }] }
    }, [times].concat(names.map(function (k) { return series[k]; })), box);
    box.setAttribute('data-points', String(times.length));
    state.charts.push(u);
    return u;
  }
  function clearCharts() {
    state.charts.forEach(function (u) { u.destroy(); });
    state.charts = [];
  }

  /* ---- sign-in ---- */
  function storedToken() {
    return sessionStorage.getItem(TOKEN_KEY) || localStorage.getItem(TOKEN_KEY);
  }
  function signOut(msg) {
    sessionStorage.removeItem(TOKEN_KEY);
    localStorage.removeItem(TOKEN_KEY);
    state.token = null;
    state.who = null;
    stopPage();
    stopLogs();
    $('view').hidden = true;
    $('top').hidden = true;
    $('signin').hidden = false;
    $('signin-error').textContent = msg || '';
    $('token').value = '';
    $('token').focus();
  }
  function signIn(token, remember) {
    state.token = token;
    return api('/v1/whoami').then(function (who) {
      state.who = who;
      (remember ? localStorage : sessionStorage).setItem(TOKEN_KEY, token);
      $('who').textContent = who.user + ' (' + who.role + (who.team ? ', team ' + who.team : '') + ')';
      $('signin').hidden = true;
      $('top').hidden = false;
      $('view').hidden = false;
      route();
    });
  }

  /* ---- pages ---- */
  function stopPage() {
    if (state.timer) clearInterval(state.timer);
    state.timer = null;
    if (state.abort) state.abort.abort();
    state.abort = null;
    clearCharts();
  }
  /* Renders page fn(view, arg) now and every REFRESH_MS (unless it returns false). */
  function show(name, fn, arg) {
    stopPage();
    if (name !== 'job' || (arg && arg[0]) !== logFollow.job) stopLogs();
    state.page = name;
    document.querySelectorAll('header nav a').forEach(function (a) {
      a.classList.toggle('active', a.getAttribute('data-page') === name);
    });
    var view = $('view');
    function render() {
      var next = el('div', { 'data-page': name });
      return Promise.resolve(fn(next, arg)).then(function (again) {
        clearCharts();
        view.replaceChildren(next);
        redrawCharts(next);
        view.setAttribute('data-loaded', name);
        return again;
      }).catch(function (e) {
        if (e instanceof ApiError && e.status === 401) return false;
        view.replaceChildren(el('div', { 'data-page': name }, errorBox(e)));
        view.setAttribute('data-loaded', name);
        return true;
      });
    }
    render().then(function (again) {
      if (again !== false && state.page === name)
        state.timer = setInterval(function () { if (!document.hidden) render(); }, REFRESH_MS);
    });
  }
  /* Charts are built in a detached node (their data in box.__draw), drawn once attached. */
  function redrawCharts(root) {
    root.querySelectorAll('.chart').forEach(function (box) {
      if (box.__draw) box.__draw();
    });
  }
  function deferredChart(parent, name, title, times, series, opts) {
    var holder = el('div');
    parent.appendChild(holder);
    var box = el('div', { cls: 'chart-slot' });
    holder.appendChild(box);
    box.className = 'chart';
    box.__draw = function () {
      var p = box.parentNode;
      p.removeChild(box);
      chart(p, name, title, times, series, opts);
    };
    return box;
  }

  var RANGES = [['1h', 3600], ['6h', 21600], ['24h', 86400], ['7d', 604800], ['14d', 1209600]];
  var overviewRange = 21600;

  function rangeBar(cur, onpick) {
    var bar = el('div', { cls: 'toolbar' }, el('span', { cls: 'muted' }, 'Period:'));
    RANGES.forEach(function (r) {
      bar.appendChild(el('button', { type: 'button', cls: r[1] === cur ? 'on' : '',
        'data-range': r[0], onclick: function () { onpick(r[1]); } }, r[0]));
    });
    return bar;
  }

  function overview(v) {
    var since = Math.floor(now() - overviewRange);
    return Promise.all([
      api('/v1/series?since=' + since + '&points=360'),
      api('/v1/teams')
    ]).then(function (res) {
      var s = res[0], teams = res[1].teams || [];
      v.appendChild(el('h1', { text: 'Overview' }));
      v.appendChild(rangeBar(overviewRange, function (r) { overviewRange = r; show('overview', overview); }));
      var t = s.time || [];
      var last = function (col) { return col && col.length ? col[col.length - 1] : null; };
      var g = s.gpus || {}, jobs = s.jobs || {};
      var cards = el('div', { cls: 'cards', id: 'summary' });
      [['GPUs', last(g.total)], ['allocated', last(g.allocated)], ['free', last(g.free)],
       ['unavailable', last(g.unavailable)],
       ['utilization', s.utilization ? fmtNum(100 * last(s.utilization), 0) + '%' : '-'],
       ['running jobs', last(jobs.running)], ['pending jobs', last(jobs.pending)]
      ].forEach(function (c) {
        cards.appendChild(el('div', { cls: 'card', 'data-k': c[0] },
          el('div', { cls: 'v' }, typeof c[1] === 'string' ? c[1] : fmtNum(c[1])), el('div', { cls: 'k' }, c[0])));
      });
      v.appendChild(cards);
      v.appendChild(el('p', { cls: 'muted' }, t.length + ' points from the server\'s own time series, one every ' +
        s.interval + ' s' + (s.step > s.interval ? ' (averaged over ' + s.step + ' s)' : '') + '.'));
      var charts = el('div', { cls: 'charts' });
      v.appendChild(charts);
      deferredChart(charts, 'gpus', 'GPUs by state', t,
        { allocated: g.allocated || [], free: g.free || [], unavailable: g.unavailable || [] },
        { colors: { allocated: '#2f6fd6', free: '#3aa35b', unavailable: '#9aa1ad' } });
      deferredChart(charts, 'utilization', 'GPU utilization (mean of GPUs that report it)', t,
        { utilization: (s.utilization || t.map(function () { return null; })).map(function (x) { return x == null ? null : 100 * x; }) },
        { yfmt: function (x) { return fmtNum(x, 0) + '%'; } });
      var pend = s.pending || {};
      deferredChart(charts, 'pending', 'Queue depth by pending reason', t, pend);
      var alloc = {};
      Object.keys(s.teams || {}).forEach(function (k) { alloc[k] = s.teams[k].allocated || []; });
      deferredChart(charts, 'teams', 'GPUs allocated by team', t, alloc);
      v.appendChild(el('h2', { text: 'Teams: quota, allocated, borrowed (now)' }));
      var tb = el('tbody');
      teams.forEach(function (tm) {
        var borrowed = Math.max(0, tm.allocated - tm.quota);
        tb.appendChild(el('tr', { 'data-team': tm.name }, el('td', { text: tm.name }),
          el('td', { cls: 'num' }, fmtNum(tm.quota)), el('td', { cls: 'num' }, tm.limit < 0 ? 'none' : fmtNum(tm.limit)),
          el('td', { cls: 'num' }, fmtNum(tm.allocated)), el('td', { cls: 'num' }, fmtNum(borrowed)),
          el('td', { cls: 'num' }, tm.running), el('td', { cls: 'num' }, tm.pending)));
      });
      v.appendChild(el('table', { id: 'teams' }, el('thead', null, el('tr', null,
        el('th', { text: 'team' }), el('th', { cls: 'num', text: 'quota' }), el('th', { cls: 'num', text: 'limit' }),
        el('th', { cls: 'num', text: 'allocated' }), el('th', { cls: 'num', text: 'borrowed' }),
        el('th', { cls: 'num', text: 'running' }), el('th', { cls: 'num', text: 'pending' }))), tb));
    });
  }

  /* ---- nodes: the GPU map (GET /v1/gpus: each GPU's holder, utilization and memory) ---- */
  function nodesPage(v) {
    return api('/v1/gpus').then(function (res) {
      var nodes = res.nodes || [], jobs = res.jobs || {};
      v.appendChild(el('h1', { text: 'Nodes' }));
      v.appendChild(el('div', { cls: 'legend' },
        el('span', null, el('i', { cls: 'held' }), 'held by a job you may see'),
        el('span', null, el('i', { cls: 'unknown' }), 'held by another team\'s job'),
        el('span', null, el('i', { cls: 'free' }), 'free'),
        el('span', null, el('i', { cls: 'down' }), 'node down or taken out')));
      var grid = el('div', { cls: 'nodes', id: 'nodes' });
      var totals = { gpus: 0, held: 0 };
      nodes.forEach(function (n) {
        var down = n.state !== 'up';
        var gpus = el('div', { cls: 'gpus' });
        (n.gpu || []).forEach(function (g, i) {
          var h = g[0], j = h != null && h !== 'hidden' ? jobs[h] : null;
          var cls = 'gpu' + (j ? ' held' : h === 'hidden' ? ' unknown' : down ? ' down' : ' free');
          var box = el('div', { cls: cls, 'data-gpu': n.name + '/' + i }, el('b', null, 'GPU ' + i));
          if (j) box.appendChild(el('div', null, el('a', { href: '#/job/' + h }, 'job ' + (j.ref || h)), ' ' + j.team + '/' + j.user));
          else if (h === 'hidden') box.appendChild(el('div', null, 'another team\'s job'));
          if (g[1] != null)
            box.appendChild(el('div', { 'data-util': '' }, fmtNum(100 * g[1], 0) + '% util' +
              (g[2] != null ? ', ' + fmtNum(g[2] / 1024, 1) + ' GiB' : '')));
          gpus.appendChild(box);
        });
        totals.gpus += n.gpus;
        totals.held += n.gpus - n.gpus_free;
        grid.appendChild(el('div', { cls: 'node' + (down ? ' down' : ''), 'data-node': n.name },
          el('h3', null, el('span', null, n.name), el('span', { cls: 'muted' }, n.state + ' · ' + (n.gpu_type || 'no GPU type'))),
          el('div', { cls: 'muted' }, n.gpus_free + ' of ' + n.gpus + ' GPUs free · ' + n.jobs + ' jobs' +
            (n.drain_reason ? ' · ' + n.drain_reason : '')),
          gpus));
      });
      v.appendChild(el('p', { cls: 'muted' }, nodes.length + ' nodes, ' + totals.gpus + ' GPUs, ' + totals.held + ' held.'));
      if (!nodes.length) v.appendChild(el('p', null, 'No node has registered yet.'));
      v.appendChild(grid);
    });
  }

  /* ---- queue ---- */
  var QUEUE_PAGE = 500;
  var queueFilter = { team: '', user: '', state: 'pending,running', after: 0 };
  function jobLink(j) { return el('a', { href: '#/job/' + j.id }, jobName(j)); }
  function queuePage(v) {
    var q = '/v1/jobs?limit=' + QUEUE_PAGE + '&after=' + queueFilter.after + '&state=' + encodeURIComponent(queueFilter.state) +
      (queueFilter.team ? '&team=' + encodeURIComponent(queueFilter.team) : '') +
      (queueFilter.user ? '&user=' + encodeURIComponent(queueFilter.user) : '');
    return Promise.all([api(q), api('/v1/teams')]).then(function (res) {
      var jobs = res[0].jobs || [], teams = res[1].teams || [];
      v.appendChild(el('h1', { text: 'Queue' }));
      var team = el('select', { id: 'f-team' }, el('option', { value: '' }, 'all teams'));
      teams.forEach(function (t) {
        var o = el('option', { value: t.name }, t.name);
        if (t.name === queueFilter.team) o.selected = true;
        team.appendChild(o);
      });
      var user = el('input', { id: 'f-user', placeholder: 'user', value: queueFilter.user });
      var st = el('select', { id: 'f-state' });
      [['pending,running', 'pending and running'], ['pending', 'pending'], ['running', 'running'],
       ['succeeded,failed,cancelled', 'finished'], ['all', 'all']].forEach(function (o) {
        var e = el('option', { value: o[0] }, o[1]);
        if (o[0] === queueFilter.state) e.selected = true;
        st.appendChild(e);
      });
      function apply() {
        queueFilter = { team: team.value, user: user.value.trim(), state: st.value, after: 0 };
        show('queue', queuePage);
      }
      team.addEventListener('change', apply);
      st.addEventListener('change', apply);
      user.addEventListener('change', apply);
      var pager = el('span');
      if (queueFilter.after)
        pager.appendChild(el('button', { type: 'button', id: 'q-first', onclick: function () {
          queueFilter.after = 0; show('queue', queuePage); } }, 'First'));
      if (res[0].next_after)
        pager.appendChild(el('button', { type: 'button', id: 'q-next', onclick: function () {
          queueFilter.after = res[0].next_after; show('queue', queuePage); } }, 'Next ' + QUEUE_PAGE));
      v.appendChild(el('div', { cls: 'toolbar' }, 'Team', team, 'User', user, 'State', st,
        el('span', { cls: 'muted', id: 'q-count' }, jobs.length + ' of ' + res[0].total + ' jobs' +
          (queueFilter.after ? ' (after job ' + queueFilter.after + ')' : '')), pager));
      var t = now();
      var pending = jobs.filter(function (j) { return j.state === 'pending'; });
      var running = jobs.filter(function (j) { return j.state === 'running'; });
      var other = jobs.filter(function (j) { return j.state !== 'pending' && j.state !== 'running'; });
      function table(id, heads, rows) {
        var tb = el('tbody');
        rows.forEach(function (r) { tb.appendChild(r); });
        var tr = el('tr');
        heads.forEach(function (h) { tr.appendChild(el('th', { cls: /^(GPUs|wait|elapsed)$/.test(h) ? 'num' : '' }, h)); });
        return el('table', { id: id }, el('thead', null, tr), tb);
      }
      if (pending.length || /pending/.test(queueFilter.state)) {
        v.appendChild(el('h2', { text: 'Pending (' + pending.length + ')' }));
        v.appendChild(table('pending', ['job', 'name', 'team', 'user', 'GPUs', 'class', 'reason', 'blocked by', 'estimated start', 'wait'],
          pending.map(function (j) {
            return el('tr', { 'data-job': j.id }, el('td', null, jobLink(j)), el('td', { text: j.name || '' }),
              el('td', { text: j.team }), el('td', { text: j.user }), el('td', { cls: 'num' }, fmtNum(j.gpus, 2)),
              el('td', { text: j.priority_class }),
              el('td', { title: j.pending_message || '' }, j.pending_reason || '-'),
              el('td', null, j.blocked_by ? el('a', { href: '#/job/' + j.blocked_by }, String(j.blocked_by)) : '-'),
              el('td', null, j.estimated_start ? fmtTime(j.estimated_start) : '-'),
              el('td', { cls: 'num' }, fmtElapsed(t - j.submit_time)));
          })));
      }
      if (running.length || /running/.test(queueFilter.state)) {
        v.appendChild(el('h2', { text: 'Running (' + running.length + ')' }));
        v.appendChild(table('running', ['job', 'name', 'team', 'user', 'GPUs', 'class', 'nodes', 'started', 'elapsed'],
          running.map(function (j) {
            return el('tr', { 'data-job': j.id }, el('td', null, jobLink(j)), el('td', { text: j.name || '' }),
              el('td', { text: j.team }), el('td', { text: j.user }), el('td', { cls: 'num' }, fmtNum(j.gpus, 2)),
              el('td', { text: j.priority_class }),
              el('td', { text: (j.placement || []).map(function (p) { return p.node; }).join(', ') }),
              el('td', null, fmtTime(j.start_time)), el('td', { cls: 'num' }, fmtElapsed(t - j.start_time)));
          })));
      }
      if (other.length) {
        v.appendChild(el('h2', { text: 'Finished (' + other.length + ')' }));
        v.appendChild(table('finished', ['job', 'name', 'team', 'user', 'GPUs', 'state', 'reason', 'ended'],
          other.map(function (j) {
            return el('tr', { 'data-job': j.id }, el('td', null, jobLink(j)), el('td', { text: j.name || '' }),
              el('td', { text: j.team }), el('td', { text: j.user }), el('td', { cls: 'num' }, fmtNum(j.gpus, 2)),
              el('td', { cls: 'state-' + j.state }, j.state), el('td', { text: j.end_reason || '' }),
              el('td', null, fmtTime(j.end_time)));
          })));
      }
    });
  }

  /* ---- a job ---- */
  var logFollow = { job: null, ctrl: null, pre: null, text: '' };
  function stopLogs() {
    if (logFollow.ctrl) logFollow.ctrl.abort();
    logFollow = { job: null, ctrl: null, pre: null, text: '' };
  }
  /* Streams GET /v1/jobs/ID/logs?follow=1 into pre (kept across the page's refreshes). */
  function followLogs(id, pre) {
    if (logFollow.job === id && logFollow.pre) {
      pre.textContent = logFollow.text;
      logFollow.pre = pre;
      return;
    }
    stopLogs();
    var ctrl = new AbortController();
    logFollow = { job: id, ctrl: ctrl, pre: pre, text: '' };
    fetch('/v1/jobs/' + encodeURIComponent(id) + '/logs?follow=1', {
      headers: { Authorization: 'Bearer ' + state.token }, signal: ctrl.signal
    }).then(function (r) {
      if (!r.ok) {
        return r.json().then(function (b) {
          logFollow.pre.textContent = 'Logs: ' + ((b.error && b.error.message) || r.status);
        });
      }
      var reader = r.body.getReader(), dec = new TextDecoder();
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) { logFollow.pre.setAttribute('data-ended', '1'); return; }
          logFollow.text += dec.decode(chunk.value, { stream: true });
          if (logFollow.text.length > 2000000) logFollow.text = logFollow.text.slice(-1000000);
          var p = logFollow.pre, atEnd = p.scrollTop + p.clientHeight >= p.scrollHeight - 4;
          p.textContent = logFollow.text;
          if (atEnd) p.scrollTop = p.scrollHeight;
          return pump();
        });
      }
      return pump();
    }).catch(function (e) {
      if (e.name !== 'AbortError' && logFollow.pre) logFollow.pre.textContent += '\n[log stream ended: ' + e.message + ']';
    });
  }
  function kv(rows) {
    var tb = el('tbody');
    rows.forEach(function (r) {
      if (r[1] == null || r[1] === '') return;
      tb.appendChild(el('tr', null, el('th', { text: r[0] }), el('td', null, r[1])));
    });
    return el('table', { cls: 'kv' }, tb);
  }
  /* ---- experiment tracking: a job's metrics over steps, an array's runs overlaid
   * (GET /v1/jobs/ID/metrics; docs/tracking.md) ---- */
  var METRIC_CHARTS_MAX = 12;
  var STEPS = { x: { time: false } };
  function metricKeys(runs) {
    var keys = [], seen = {};
    runs.forEach(function (pts) {
      pts.forEach(function (p) {
        Object.keys(p).forEach(function (k) {
          if (k === 'step' || k === 'incarnation' || k === 'time' || k === 'superseded' || seen[k]) return;
          seen[k] = true;
          keys.push(k);
        });
      });
    });
    return keys;
  }
  function live(m) { return (m.points || []).filter(function (p) { return !p.superseded; }); }
  /* Steps (x, ascending) and, per named run, its value of key at each (null: none there). */
  function stepColumns(named, key) {
    var steps = {}, byRun = {};
    Object.keys(named).forEach(function (name) {
      var at = byRun[name] = {};
      named[name].forEach(function (p) {
        if (p[key] == null) return;
        steps[p.step] = true;
        at[p.step] = p[key];
      });
    });
    var xs = Object.keys(steps).map(Number).sort(function (a, b) { return a - b; });
    var series = {};
    Object.keys(named).forEach(function (name) {
      series[name] = xs.map(function (x) { return byRun[name][x] != null ? byRun[name][x] : null; });
    });
    return { xs: xs, series: series };
  }
  function fmtMetric(x) { return x == null ? '-' : String(Number(Number(x).toPrecision(6))); }
  function metricsSection(v, j, m, sweep) {
    var sec = el('section', { id: 'metrics' }, el('h2', { text: 'Metrics' }));
    v.appendChild(sec);
    if (notLanded(m)) { sec.appendChild(notAvailable('job metrics (GET /v1/jobs/ID/metrics)')); return; }
    if (m instanceof Error || m instanceof ApiError) { sec.appendChild(errorBox(m)); return; }
    var params = Object.keys(m.params || {});
    if (params.length) {
      var pt = kv(params.map(function (k) { return [k, String(m.params[k])]; }));
      pt.id = 'params';
      sec.appendChild(pt);
    }
    var pts = live(m);
    if (!pts.length) {
      sec.appendChild(el('p', { cls: 'muted', id: 'metrics-none' }, 'No metrics logged: a job appends JSON lines ' +
        'to the file named by $GANTRY_METRICS (docs/tracking.md).'));
    } else {
      var tb = el('tbody');
      Object.keys(m.summary || {}).forEach(function (k) {
        var s = m.summary[k];
        tb.appendChild(el('tr', { 'data-metric': k }, el('td', { text: k }), el('td', { cls: 'num', text: fmtMetric(s.last) }),
          el('td', { cls: 'num', text: fmtMetric(s[s.better]) + ' (' + s.better + ')' }), el('td', { cls: 'num', text: String(s.count) })));
      });
      sec.appendChild(el('table', { id: 'metrics-summary' }, el('thead', null, el('tr', null, el('th', { text: 'metric' }),
        el('th', { cls: 'num', text: 'final' }), el('th', { cls: 'num', text: 'best' }), el('th', { cls: 'num', text: 'points' }))), tb));
      var grid = el('div', { cls: 'grid2' });
      sec.appendChild(grid);
      metricKeys([pts]).slice(0, METRIC_CHARTS_MAX).forEach(function (k) {
        var c = stepColumns({ run: pts }, k), one = {};
        one[k] = c.series.run;
        deferredChart(grid, 'metric-' + k, k + ' by step', c.xs, one, { scales: STEPS, height: 180 });
      });
    }
    if (m.invalid) sec.appendChild(el('p', { cls: 'muted', id: 'metrics-invalid' }, m.invalid + ' invalid line' +
      (m.invalid === 1 ? '' : 's') + ' skipped (gantry metrics ' + jobName(j) + ' -o json lists them).'));
    if (sweep) sweepCharts(sec, j, sweep);
  }
  /* The metrics of an array task's whole array (its first 50 tasks), or null for a job that is
   * not an array task: the sweep its page overlays. */
  function sweepMetrics(j) {
    if (j.array_id == null || !(j.array_count > 1)) return Promise.resolve(null);
    var ids = [];
    for (var i = 0; i < Math.min(j.array_count, 50); i++) ids.push(j.array_id + i);
    return Promise.all(ids.map(function (t) {
      return api('/v1/jobs/' + t + '/metrics').catch(function (e) { return e; });
    }));
  }
  /* One chart per metric, one line per task. */
  function sweepCharts(sec, j, res) {
    var named = {};
    res.forEach(function (r) {
      if (r && r.points) named[r.array_id + '_' + r.array_index] = live(r);
    });
    var names = Object.keys(named);
    var box = el('div', { id: 'sweep', 'data-runs': String(names.length) },
      el('h2', { text: 'The sweep: array ' + j.array_id + '\'s ' + names.length + ' tasks' }));
    sec.appendChild(box);
    var grid = el('div', { cls: 'grid2' });
    box.appendChild(grid);
    metricKeys(names.map(function (k) { return named[k]; })).slice(0, METRIC_CHARTS_MAX).forEach(function (k) {
      var c = stepColumns(named, k);
      deferredChart(grid, 'sweep-' + k, k + ' by step, each task a line', c.xs, c.series, { scales: STEPS, height: 220 });
    });
  }

  function jobPage(v, args) {
    var id = args[0];
    return api('/v1/jobs/' + encodeURIComponent(id)).then(function (j) {
      var evp = api('/v1/jobs/' + encodeURIComponent(id) + '/events').catch(function (e) { return e; });
      var gp = api('/v1/series?job=' + encodeURIComponent(id)).catch(function (e) { return e; });
      var mp = api('/v1/jobs/' + encodeURIComponent(id) + '/metrics').catch(function (e) { return e; });
      return Promise.all([evp, gp, mp, sweepMetrics(j)]).then(function (res) {
        var ev = res[0], hist = res[1], met = res[2], sweep = res[3];
        v.appendChild(el('h1', null, 'Job ' + jobName(j) + (j.name ? ' · ' + j.name : '') + ' ',
          el('span', { cls: 'state-' + j.state, id: 'job-state' }, j.state)));
        var spec = kv([
          ['team', j.team], ['user', j.user], ['priority class', j.priority_class],
          ['GPUs', fmtNum(j.gpus, 2) + (j.gpu_type && j.gpu_type.length ? ' of ' + j.gpu_type.join(' or ') : '')],
          ['nodes', j.nodes || null], ['CPUs per node', j.cpus_milli ? fmtNum(j.cpus_milli / 1000, 1) : null],
          ['memory per node', j.memory_mib ? j.memory_mib + ' MiB' : null],
          ['time limit', j.time_limit_s ? fmtElapsed(j.time_limit_s) : null],
          ['command', (j.command || []).join(' ')], ['image', j.image || null],
          ['submitted', fmtTime(j.submit_time)], ['started', j.start_time ? fmtTime(j.start_time) : null],
          ['ended', j.end_time ? fmtTime(j.end_time) : null],
          ['pending reason', j.pending_reason ? j.pending_reason + (j.pending_message ? ': ' + j.pending_message : '') : null],
          ['estimated start', j.estimated_start ? fmtTime(j.estimated_start) : null],
          ['exit', j.exit_code != null && j.end_time ? String(j.exit_code) : null],
          ['end reason', j.end_reason ? j.end_reason + (j.end_message ? ': ' + j.end_message : '') : null]
        ]);
        spec.id = 'spec';
        var left = el('div', null, el('h2', { text: 'Spec' }), spec);
        var pl = el('tbody');
        (j.placement || []).forEach(function (p, r) {
          pl.appendChild(el('tr', null, el('td', null, String(r)), el('td', { text: p.node }),
            el('td', { text: (p.gpus || []).join(', ') || (p.gpu_milli ? fmtNum(p.gpu_milli / 1000, 2) + ' of a GPU' : '-') })));
        });
        left.appendChild(el('h2', { text: 'Placement' }));
        left.appendChild((j.placement || []).length ? el('table', { id: 'placement' }, el('thead', null,
          el('tr', null, el('th', { text: 'rank' }), el('th', { text: 'node' }), el('th', { text: 'GPUs' }))), pl)
          : el('p', { cls: 'muted' }, 'Not placed.'));
        var right = el('div');
        right.appendChild(el('h2', { text: 'GPU use' }));
        if (j.gpu_use) {
          var gu = j.gpu_use;
          var gut = kv([['utilization mean', fmtNum(100 * gu.utilization_mean, 0) + '%'],
            ['utilization peak', fmtNum(100 * gu.utilization_peak, 0) + '%'],
            ['memory mean', fmtNum(gu.memory_mean_mib, 0) + ' MiB'], ['memory peak', fmtNum(gu.memory_peak_mib, 0) + ' MiB'],
            ['samples', gu.samples], ['idle', j.idle ? 'yes, since ' + fmtTime(j.idle_since) : 'no']]);
          gut.id = 'gpu-use';
          right.appendChild(gut);
        } else {
          right.appendChild(notAvailable('per-job GPU use (mean and peak utilization and memory)'));
        }
        if (hist instanceof Error || hist instanceof ApiError) right.appendChild(errorBox(hist));
        else if (hist.time.length) {
          deferredChart(right, 'job-gpu', 'Its GPUs\' utilization over its life', hist.time,
            { utilization: hist.utilization.map(function (x) { return 100 * x; }) },
            { yfmt: function (x) { return fmtNum(x, 0) + '%'; }, height: 180 });
        } else {
          right.appendChild(el('p', { cls: 'muted', id: 'job-gpu-none' }, 'No GPU utilization recorded for this job (its nodes report none: ' +
            'declared GPUs, or it has not run on an NVML node).'));
        }
        v.appendChild(el('div', { cls: 'grid2' }, left, right));
        metricsSection(v, j, met, sweep);
        if ((j.inputs || []).length || (j.outputs || []).length) v.appendChild(jobArtifacts(j));
        v.appendChild(el('h2', { text: 'Events' }));
        if (notLanded(ev)) v.appendChild(notAvailable('job events (GET /v1/jobs/ID/events)'));
        else if (ev instanceof ApiError) v.appendChild(errorBox(ev));
        else {
          var tb = el('tbody');
          (ev.events || []).forEach(function (e) {
            tb.appendChild(el('tr', { 'data-event': e.type }, el('td', null, fmtTime(e.time)), el('td', { text: e.type }),
              el('td', { text: e.message || '' })));
          });
          v.appendChild(el('table', { id: 'events' }, el('thead', null, el('tr', null, el('th', { text: 'time' }),
            el('th', { text: 'type' }), el('th', { text: 'message' }))), tb));
        }
        v.appendChild(el('h2', { text: 'Logs' }));
        var pre = el('pre', { id: 'logs' });
        v.appendChild(pre);
        if (j.start_time || j.state === 'running') followLogs(String(j.id), pre);
        else pre.textContent = 'No output: the job has not started.';
        v.appendChild(el('h2', { text: 'Full spec (JSON)' }));
        v.appendChild(el('pre', { cls: 'spec' }, JSON.stringify(j, null, 2)));
      });
    });
  }

  /* ---- artifacts: a job's, and the lineage graph (docs/artifacts.md "Lineage") ---- */
  function lineageLink(name, version) {
    var ref = name + '@' + version;
    return el('a', { href: '#/lineage/' + encodeURIComponent(ref) }, ref);
  }
  function jobArtifacts(j) {
    var tb = el('tbody');
    (j.inputs || []).forEach(function (a) {
      tb.appendChild(el('tr', { 'data-input': a.artifact }, el('td', { text: 'input' }),
        el('td', null, a.version ? lineageLink(a.artifact, a.version) : a.artifact),
        el('td', { text: a.ref && a.ref !== a.artifact + '@' + a.version ? 'as ' + a.ref : '' }), el('td', { text: a.path })));
    });
    (j.outputs || []).forEach(function (a) {
      tb.appendChild(el('tr', { 'data-output': a.artifact }, el('td', { text: 'output' }),
        el('td', null, a.version ? lineageLink(a.artifact, a.version) : a.artifact),
        el('td', { text: a.error ? 'not registered: ' + a.error : (a.version ? a.kind : 'when it succeeds') }),
        el('td', { text: a.path })));
    });
    return el('div', null, el('h2', { text: 'Artifacts' }), el('table', { id: 'artifacts' },
      el('thead', null, el('tr', null, el('th', { text: '' }), el('th', { text: 'version' }), el('th', { text: '' }),
        el('th', { text: 'path' }))), tb));
  }
  var SVG = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs) {
    var e = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    for (var i = 2; i < arguments.length; i++) if (arguments[i] != null) e.appendChild(arguments[i]);
    return e;
  }
  /* The graph of GET /v1/artifacts/REF/lineage: upstream columns to the left of the version,
   * downstream ones to its right; an arrow goes from what was read to what was made. */
  function lineageGraph(root) {
    var cols = {}, nodes = [], edges = [];
    function add(n, col) {
      cols[col] = cols[col] || [];
      var node = { n: n, col: col, row: cols[col].length };
      cols[col].push(node);
      nodes.push(node);
      return node;
    }
    var top = add(root, 0);
    (function up(parent, list, col) {
      (list || []).forEach(function (u) {
        var c = add(u, col);
        edges.push([c, parent]);
        up(c, u.upstream, col - 1);
      });
    })(top, root.upstream, -1);
    (function down(parent, list, col) {
      (list || []).forEach(function (d) {
        var c = add(d, col);
        edges.push([parent, c]);
        down(c, d.downstream, col + 1);
      });
    })(top, root.downstream, 1);
    var keys = Object.keys(cols).map(Number), min = Math.min.apply(null, keys);
    var W = 230, H = 64, BW = 200, BH = 48, rows = Math.max.apply(null, keys.map(function (k) { return cols[k].length; }));
    var g = svg('svg', { id: 'lineage-graph', width: (Math.max.apply(null, keys) - min + 1) * W + 20, height: rows * H + 20,
      role: 'img', 'aria-label': 'lineage graph' });
    g.appendChild(svg('defs', null, svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5,
      markerWidth: 8, markerHeight: 8, orient: 'auto' }, svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#5b6475' }))));
    function x(node) { return 10 + (node.col - min) * W; }
    function y(node) { return 10 + node.row * H; }
    edges.forEach(function (e) {
      g.appendChild(svg('line', { x1: x(e[0]) + BW, y1: y(e[0]) + BH / 2, x2: x(e[1]), y2: y(e[1]) + BH / 2,
        stroke: '#5b6475', 'marker-end': 'url(#arrow)', 'class': 'edge',
        'data-from': label(e[0].n), 'data-to': label(e[1].n) }));
    });
    function label(n) { return n.artifact ? n.artifact + '@' + n.version : 'job ' + n.job; }
    nodes.forEach(function (node) {
      var n = node.n, isJob = !n.artifact;
      var t1 = svg('text', { x: x(node) + 8, y: y(node) + 19, 'font-weight': 600 });
      t1.textContent = label(n) + (n.hidden ? ' (not visible)' : '');
      var t2 = svg('text', { x: x(node) + 8, y: y(node) + 37, 'font-size': 11, fill: '#5b6475' });
      t2.textContent = isJob ? n.team + '/' + n.user + ' · ' + n.state
        : n.hidden ? '' : (n.kind || '') + ' · ' + (n.job ? 'job ' + n.job.id + ' (' + n.job.team + ')' : 'pushed');
      var box = svg('rect', { x: x(node), y: y(node), width: BW, height: BH, rx: 6,
        fill: node === top ? '#e4edfb' : isJob ? '#f1f8f3' : '#fff', stroke: node === top ? '#2f6fd6' : '#9aa1ad' });
      var grp = svg('g', { 'class': 'lnode' + (isJob ? ' ljob' : ''), 'data-ref': label(n) }, box, t1, t2);
      var href = isJob ? '#/job/' + n.job : n.hidden ? null : '#/lineage/' + encodeURIComponent(label(n));
      g.appendChild(href ? svg('a', { href: href }, grp) : grp);
    });
    return g;
  }
  function lineagePage(v, args) {
    var ref = args[0];
    var form = el('form', { cls: 'toolbar', onsubmit: function (e) {
      e.preventDefault();
      location.hash = '#/lineage/' + encodeURIComponent(form.querySelector('input').value.trim());
    } }, el('label', { text: 'Artifact version' }), el('input', { name: 'ref', value: ref || '', placeholder: 'NAME@N, NAME:ALIAS or NAME' }),
      el('button', { type: 'submit' }, 'Show'));
    v.appendChild(el('h1', { text: 'Lineage' + (ref ? ' of ' + ref : '') }));
    v.appendChild(form);
    if (!ref) {
      v.appendChild(el('p', { cls: 'muted' }, 'Name a version (or follow one from a job\'s artifacts) to see what it was made from and what was made from it.'));
      return false;
    }
    return api('/v1/artifacts/' + encodeURIComponent(ref) + '/lineage').then(function (d) {
      v.appendChild(el('p', { cls: 'muted' }, 'Left: what it was made from (the inputs of the job that made it, and theirs). ' +
        'Right: the versions jobs made from it, and the jobs that read it.'));
      v.appendChild(el('div', { cls: 'graph' }, lineageGraph(d)));
      if (d.lineage) {
        var l = d.lineage;
        v.appendChild(el('h2', { text: 'Made by' }));
        var made = kv([['job', el('a', { href: '#/job/' + l.job }, String(l.job) + (l.name ? ' · ' + l.name : ''))],
          ['user', l.user + ' (team ' + l.team + ')'], ['command', (l.command || []).join(' ')],
          ['image', l.image ? l.image + (l.image_digest ? ' @ ' + l.image_digest : '') : null],
          ['environment', l.environment || null], ['node', l.node || null],
          ['ran', fmtTime(l.start) + ' to ' + fmtTime(l.end)]]);
        made.id = 'made-by';
        v.appendChild(made);
      }
      return false;
    }).catch(function (e) {
      if (!notLanded(e)) throw e;
      v.appendChild(notAvailable('artifact lineage (GET /v1/artifacts/REF/lineage)'));
      return false;
    });
  }

  /* ---- teams and usage ---- */
  var usageRange = 604800, usageBy = 'team';
  /* The rows as `gantry usage -o csv` prints them (RFC 4180; GPU-hours to 6 decimals). */
  function usageCsv(rows, by) {
    function cell(v) {
      v = v == null ? '' : String(v);
      return /[",\r\n]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v;
    }
    var idle = rows.some(function (r) { return r.idle_gpu_hours != null; });
    var head = by === 'job' ? ['job', 'name', 'team', 'user', 'class', 'state'] : [by];
    head = head.concat(['gpu_hours'], idle ? ['idle_gpu_hours'] : [], ['jobs']);
    var lines = [head.join(',')];
    rows.forEach(function (r) {
      var c = by === 'job' ? [r.purged ? '(purged)' : r.job, r.name, r.team, r.user, r['class'], r.state] : [r[by]];
      c.push((r.gpu_hours || 0).toFixed(6));
      if (idle) c.push((r.idle_gpu_hours || 0).toFixed(6));
      c.push(r.jobs != null ? r.jobs : '');
      lines.push(c.map(cell).join(','));
    });
    return lines.join('\r\n') + '\r\n';
  }
  function usagePage(v) {
    var since = Math.floor(now() - usageRange), by = usageBy;
    var up = api('/v1/usage?since=' + since + '&by=' + by).catch(function (e) {
      /* A grouping this server's usage report does not offer (400) says so, as a page does. */
      if (e instanceof ApiError && e.status === 400 && by !== 'team') return e;
      throw e;
    });
    return Promise.all([up, api('/v1/series?since=' + since + '&points=360'), api('/v1/teams')]).then(function (res) {
      var u = res[0], s = res[1], teams = res[2].teams || [];
      v.appendChild(el('h1', { text: 'Teams and usage' }));
      v.appendChild(rangeBar(usageRange, function (r) { usageRange = r; show('usage', usagePage); }));
      var sel = el('select', { id: 'u-by' });
      ['team', 'user', 'class', 'job'].forEach(function (b) {
        var o = el('option', { value: b }, 'by ' + b);
        if (b === by) o.selected = true;
        sel.appendChild(o);
      });
      sel.addEventListener('change', function () { usageBy = sel.value; show('usage', usagePage); });
      var bar = el('div', { cls: 'toolbar' }, sel);
      v.appendChild(bar);
      if (u instanceof ApiError || (u.by && u.by !== by)) {
        v.appendChild(notAvailable('usage by ' + by + ' (' + (u.message || 'the server answered by ' + u.by) + ')'));
      } else {
        var rows = (u.usage || []).slice().sort(function (a, b) { return b.gpu_hours - a.gpu_hours; });
        var t0 = u.from != null ? u.from : u.since, t1 = u.to != null ? u.to : u.until;
        var csv = el('a', { id: 'u-csv', download: 'gantry-usage-' + by + '.csv',
          href: URL.createObjectURL(new Blob([usageCsv(rows, by)], { type: 'text/csv' })) }, 'Download CSV');
        bar.appendChild(csv);
        bar.appendChild(el('span', { cls: 'muted' }, 'GPU-hours from ' + fmtTime(t0) + ' to ' + fmtTime(t1)));
        var idle = rows.some(function (r) { return r.idle_gpu_hours != null; });
        var tb = el('tbody');
        rows.forEach(function (r) {
          var k = by === 'job' ? (r.purged ? '(purged)' : String(r.job)) : String(r[by] != null ? r[by] : '');
          var first = by === 'job' && !r.purged ? el('a', { href: '#/job/' + r.job }, k) : k;
          tb.appendChild(el('tr', { 'data-row': k }, el('td', null, first),
            by === 'job' ? el('td', { text: [r.team, r.user, r['class']].join(' / ') }) : null,
            el('td', { cls: 'num' }, fmtNum(r.gpu_hours, 2)),
            idle ? el('td', { cls: 'num' }, fmtNum(r.idle_gpu_hours || 0, 2)) : null,
            el('td', { cls: 'num' }, r.jobs != null ? r.jobs : '-')));
        });
        v.appendChild(el('table', { id: 'usage' }, el('thead', null, el('tr', null, el('th', { text: by }),
          by === 'job' ? el('th', { text: 'team / user / class' }) : null,
          el('th', { cls: 'num', text: 'GPU-hours' }), idle ? el('th', { cls: 'num', text: 'idle GPU-hours' }) : null,
          el('th', { cls: 'num', text: 'jobs' }))), tb));
      }
      v.appendChild(el('h2', { text: 'Quota against use over time' }));
      var charts = el('div', { cls: 'charts' });
      v.appendChild(charts);
      teams.forEach(function (tm) {
        var c = (s.teams || {})[tm.name] || {};
        deferredChart(charts, 'team-' + tm.name, tm.name + ': quota, allocated, borrowed GPUs', s.time || [],
          { quota: c.quota || [], allocated: c.allocated || [], borrowed: c.borrowed || [] },
          { colors: { quota: '#9aa1ad', allocated: '#2f6fd6', borrowed: '#d08a1a' }, height: 180 });
      });
    });
  }

  /* ---- idle allocations ---- */
  function idlePage(v) {
    v.appendChild(el('h1', { text: 'Idle allocations' }));
    return api('/v1/idle').then(function (r) {
      var list = r.idle || [];
      var tb = el('tbody');
      list.forEach(function (j) {
        tb.appendChild(el('tr', { 'data-job': j.job }, el('td', null, el('a', { href: '#/job/' + j.job }, String(j.job))),
          el('td', { text: j.name || '' }), el('td', { text: j.team || '' }), el('td', { text: j.user || '' }),
          el('td', { text: j.priority_class || '' }), el('td', { cls: 'num' }, fmtNum(j.gpus, 2)),
          el('td', { text: (j.nodes || []).join ? (j.nodes || []).join(', ') : String(j.nodes) }),
          el('td', { cls: 'num' }, j.idle_for_s != null ? fmtElapsed(j.idle_for_s) : '-'),
          el('td', { cls: 'num' }, j.idle_utilization_mean != null ? fmtNum(100 * j.idle_utilization_mean, 1) + '%' : '-'),
          el('td', { text: (j.action || '') + (j.stopping ? ' (stopping)' : '') })));
      });
      v.appendChild(el('p', { cls: 'muted', id: 'idle-rule' }, list.length + ' running jobs whose GPUs all stayed under ' +
        fmtNum(100 * (r.threshold || 0), 1) + '% utilization for ' + fmtElapsed(r.after_s) + ' or more.'));
      v.appendChild(el('table', { id: 'idle' }, el('thead', null, el('tr', null, el('th', { text: 'job' }),
        el('th', { text: 'name' }), el('th', { text: 'team' }), el('th', { text: 'user' }), el('th', { text: 'class' }),
        el('th', { cls: 'num', text: 'GPUs' }), el('th', { text: 'nodes' }), el('th', { cls: 'num', text: 'idle for' }),
        el('th', { cls: 'num', text: 'mean util while idle' }), el('th', { text: 'action' }))), tb));
    }).catch(function (e) {
      if (!notLanded(e)) throw e;
      v.appendChild(notAvailable('idle allocations (GET /v1/idle)'));
    });
  }

  var PAGES = { overview: overview, nodes: nodesPage, queue: queuePage, job: jobPage, usage: usagePage, idle: idlePage,
    lineage: lineagePage };

  function route() {
    if (!state.token) return;
    var h = (location.hash || '#/overview').slice(2).split('/');
    var page = h[0] || 'overview';
    var fn = PAGES[page];
    if (!fn) {
      show(page, function (v) { v.appendChild(el('h1', { text: 'No such page' })); return false; });
      return;
    }
    show(page, fn, h.slice(1).map(decodeURIComponent));
  }

  /* ---- start ---- */
  $('signin-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var tok = $('token').value.trim();
    $('signin-error').textContent = '';
    signIn(tok, $('remember').checked).catch(function (e) {
      if (!(e instanceof ApiError && e.status === 401)) signOut(e.message);
    });
  });
  $('signout').addEventListener('click', function () { signOut('Signed out.'); });
  window.addEventListener('hashchange', route);
  window.addEventListener('resize', function () {
    state.charts.forEach(function (u) {
      var w = Math.max(320, u.root.parentNode.clientWidth - 16);
      u.setSize({ width: w, height: u.height });
    });
  });
  window.gantryDashboard = { PAGES: PAGES, api: api, el: el, show: show, state: state,
    chart: deferredChart, notAvailable: notAvailable, notLanded: notLanded, errorBox: errorBox,
    fmt: { num: fmtNum, time: fmtTime, elapsed: fmtElapsed, jobName: jobName }, rangeBar: rangeBar };
  var tok = storedToken();
  if (tok) signIn(tok, !!localStorage.getItem(TOKEN_KEY)).catch(function (e) { signOut(e.message); });
  else signOut('');
})();
