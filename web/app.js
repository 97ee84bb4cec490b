// charlm serve's page: settings from /api/props (the command line's defaults, never overridden),
// generation streamed from POST /api/generate (Server-Sent Events read with fetch, so Stop can
// abort it and the server stops generating), alternatives on hover, and the training charts of
// /api/metrics refreshed every two seconds. No framework; Chart.js is Debian's, served by charlm.
// A server started with --api-key takes the key from the header's field: kept in localStorage,
// sent as 'Authorization: Bearer KEY' on every /api/ request.
'use strict';

const $ = (id) => document.getElementById(id);
const state = { props: null, abort: null, alternatives: [], charts: {}, runs: [] };
window.charlm = state;  // the browser test reads the charts' data from here

const sliders = ['temperature', 'top_k', 'top_p'];
const poemFields = ['form', 'acrostic', 'keywords', 'template', 'best_of', 'beam', 'rhyme', 'tones', 'mood'];

const keyStore = 'charlm.apiKey';

function apiKey() {
  return $('api-key').value.trim();
}

// Headers for /api/: the key when one is entered.
function authHeaders(extra = {}) {
  const key = apiKey();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

async function getJSON(url) {
  const res = await fetch(url, { headers: authHeaders() });
  const body = await res.json();
  if (!res.ok) throw httpError(res, body);
  return body;
}

// An Error with the server's message and the HTTP status (401: the key is missing or wrong).
function httpError(res, body) {
  const e = new Error(body && body.error ? body.error.message : `HTTP ${res.status}`);
  e.status = res.status;
  return e;
}

// The server's advice names API fields ('acrostic', send "unknown": "skip"); the page names its own
// controls instead, so that what to change is something the reader can see.
const controlLabels = {
  prefix: 'Prefix', temperature: 'Temperature', top_k: 'Top-k', top_p: 'Top-p', seed: 'Seed', length: 'Length',
  num_samples: 'Samples', stop: 'Stop strings', form: 'Form', acrostic: 'Acrostic 藏头', rhyme: 'Rhyme',
  keywords: 'Keywords', template: 'Template', best_of: 'Best of', beam: 'Beam',
  tones: 'Tones 平仄', mood: 'Mood', unknown: 'Unknown characters', script: 'Script 简/繁',
  rhyme_scheme: 'Rhyme scheme', rhyme_system: 'Rhyme system', lines: 'Lines', line_length: 'Line length (Chinese)',
  syllables: 'Syllables (English)', meter: 'Meter', structure: 'Structure', labels: 'Labels',
};
function inPageWords(message) {
  return message
    .replace(/send "(\w+)": "([^"]+)"/g, (m, f, v) => (controlLabels[f] ? `set ${controlLabels[f]} to ${v}` : m))
    .replace(/or "(\w+)" \(/g, (m, v) => `or ${v} (`)
    .replace(/'(\w+)'/g, (m, f) => (controlLabels[f] ? controlLabels[f] : m));
}

function showError(message) {
  $('error').textContent = inPageWords(message);
  $('error').hidden = !message;
}

async function init() {
  for (const b of document.querySelectorAll('.tab')) b.addEventListener('click', () => showTab(b.dataset.tab));
  for (const s of sliders) $(s).addEventListener('input', () => { $(`${s}-value`).textContent = $(s).value; });
  $('controls').addEventListener('submit', (e) => { e.preventDefault(); generate(); });
  $('stop-button').addEventListener('click', () => state.abort && state.abort.abort());
  $('samples').addEventListener('mouseover', showAlternatives);
  $('samples').addEventListener('mouseout', () => { $('tooltip').hidden = true; });
  $('api-key').value = localStorage.getItem(keyStore) || '';
  $('api-key').addEventListener('change', () => {
    if (apiKey()) localStorage.setItem(keyStore, apiKey());
    else localStorage.removeItem(keyStore);
    loadSettings();
  });
  await loadSettings();
}

// The server's defaults and models; again after the key changes.
async function loadSettings() {
  showError('');
  try {
    const [props, models] = await Promise.all([getJSON('/api/props'), getJSON('/api/models')]);
    state.props = props;
    const d = props.defaults;
    $('model').replaceChildren();
    for (const m of models.models) {
      const o = document.createElement('option');
      o.value = m.id;
      o.textContent = `${m.id} — ${m.layers}×${m.hidden} ${m.cell}, ${m.vocab} tokens`;
      $('model').append(o);
    }
    $('model').value = d.model;
    $('prefix').value = d.prefix;
    $('temperature').value = d.temperature;
    $('top_k').value = d.top_k;
    $('top_p').value = d.top_p;
    $('seed').value = d.seed;
    $('length').value = d.length;
    $('length').max = props.limits.max_length;
    $('num_samples').value = d.num_samples;
    $('num_samples').max = props.limits.max_samples;
    $('stop').value = d.stop.map((s) => s.replaceAll('\n', '\\n')).join('|');
    for (const f of poemFields) $(f).value = d[f];
    for (const s of sliders) $(`${s}-value`).textContent = $(s).value;
    $('server-info').textContent = `${models.models.length} model(s) · up to ${props.limits.max_streams} streams`;
    state.runs = props.runs;
    if (!state.charts.step) setupCharts();
  } catch (e) {
    showError(`cannot read the server's settings: ${e.message}`);
    if (e.status === 401) $('api-key').focus();
  }
}

function showTab(name) {
  for (const b of document.querySelectorAll('.tab')) b.classList.toggle('active', b.dataset.tab === name);
  $('panel-generate').hidden = name !== 'generate';
  $('panel-training').hidden = name !== 'training';
  if (name === 'training') refreshMetrics();
}

function request() {
  const stop = $('stop').value.split('|').filter((s) => s !== '').map((s) => s.replaceAll('\\n', '\n'));
  return {
    model: $('model').value,
    prefix: $('prefix').value,
    temperature: Number($('temperature').value),
    top_k: Number($('top_k').value),
    top_p: Number($('top_p').value),
    seed: Number($('seed').value),
    length: Number($('length').value),
    num_samples: Number($('num_samples').value),
    stop,
    script: $('script').value,
    unknown: $('unknown').value,
    n_probs: 5,
    stream: true,
    ...poemRequest(),
    ...lyricRequest(),
  };
}

// Lyrics are asked for by a rhyme scheme, a line count or a structure; without one, nothing is sent.
function lyricRequest() {
  const scheme = $('rhyme_scheme').value.trim(), structure = $('structure').value.trim();
  const lines = Number($('lines').value) || 0;
  if (scheme === '' && structure === '' && lines === 0) return {};
  const out = { rhyme_scheme: scheme, rhyme_system: $('rhyme_system').value, lines, structure,
                meter: $('meter').value, labels: $('labels').checked };
  const length = $('line_length').value.trim(), syllables = $('syllables').value.trim();
  if (length !== '') out.line_length = length;
  if (syllables !== '') out.syllables = syllables;
  return out;
}

// Always sent (an empty form is "no form", even when the server's default has one); rhyme, tones
// and mood only mean something in a poem, so they are off without a form or an acrostic.
function poemRequest() {
  const form = $('form').value.trim(), acrostic = $('acrostic').value.trim(), template = $('template').value.trim();
  const poem = form !== '' || acrostic !== '' || template !== '';
  return {
    form, acrostic, template,
    keywords: poem ? $('keywords').value.trim() : '',
    best_of: poem ? Number($('best_of').value) || 0 : 0,
    beam: poem ? Number($('beam').value) || 0 : 0,
    rhyme: poem ? $('rhyme').value : 'off',
    tones: poem ? $('tones').value : 'off',
    mood: poem ? $('mood').value : '',
  };
}

// One box per sample: the prefix in grey, then one span per token.
function makeBoxes(n) {
  const boxes = [];
  $('samples').replaceChildren();
  for (let r = 0; r < n; ++r) {
    const div = document.createElement('div');
    div.className = 'sample';
    div.dataset.row = r;
    div.innerHTML = `<h2>sample ${r + 1} <span class="reason"></span></h2><pre><span class="prefix"></span></pre>`;
    $('samples').append(div);
    boxes.push(div);
  }
  return boxes;
}

async function generate() {
  const body = request();
  showError('');
  state.alternatives = [];
  const boxes = makeBoxes(body.num_samples);
  const controller = new AbortController();
  state.abort = controller;
  $('generate').disabled = true;
  $('stop-button').disabled = false;
  $('status').textContent = 'generating…';
  $('rate').textContent = '–';
  const t0 = performance.now();
  let tokens = 0;
  try {
    const res = await fetch('/api/generate', {
      method: 'POST', headers: authHeaders({ 'Content-Type': 'application/json' }),
      body: JSON.stringify(body), signal: controller.signal,
    });
    if (!res.ok) throw httpError(res, await res.json().catch(() => null));
    const reader = res.body.getReader();
    const decoder = new TextDecoder();  // stream: true keeps a character cut between reads whole
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = JSON.parse(buffer.slice(6, end));  // 'data: ' ... '\n\n'
        buffer = buffer.slice(end + 2);
        if (event.prefix !== undefined) {
          for (const b of boxes) b.querySelector('.prefix').textContent = event.prefix;
        } else if (event.poem || event.lyric) {
          showPoem(boxes[event.row], event);
          tokens += event.tokens;
          const s = (performance.now() - t0) / 1000;
          $('rate').textContent = `${Math.round(tokens / Math.max(s, 1e-3))} char/s`;
        } else if (event.done) {
          finish(event, boxes);
        } else if (event.error) {
          throw new Error(event.error.message);
        } else {
          addToken(boxes[event.row], event);
          ++tokens;
          const s = (performance.now() - t0) / 1000;
          $('rate').textContent = `${Math.round(tokens / Math.max(s, 1e-3))} char/s`;
        }
      }
    }
  } catch (e) {
    if (e.name === 'AbortError') $('status').textContent = `stopped after ${tokens} tokens`;
    else {
      // Nothing of the failed run stays: no empty boxes, no figures of the run before.
      showError(e.message);
      $('samples').replaceChildren();
      $('rate').textContent = '–';
      $('status').textContent = '';
      if (e.status === 401) $('api-key').focus();
    }
  } finally {
    state.abort = null;
    $('generate').disabled = false;
    $('stop-button').disabled = true;
  }
}

function addToken(box, event) {
  const span = document.createElement('span');
  span.className = 'tok';
  if (event.p < 0.05) span.classList.add('rare');
  else if (event.p < 0.2) span.classList.add('unsure');
  span.textContent = event.text;
  span.dataset.i = state.alternatives.length;
  state.alternatives.push({ text: event.text, p: event.p, alternatives: event.alternatives || [] });
  box.querySelector('pre').append(span);
}

// A poem arrives whole (the generator may back up over any part of an unfinished one).
// Each generated character carries its probability under the unconstrained model (forced ones
// included), marked as the free text's are; the prefix stays plain.
function showPoem(box, event) {
  const pre = box.querySelector('pre');
  pre.replaceChildren();
  if (!event.token_p) {
    pre.append(document.createTextNode(event.text));
  } else {
    const prefix = document.createElement('span');
    prefix.className = 'prefix';
    prefix.textContent = event.prefix || '';
    pre.append(prefix);
    for (const t of event.token_p) addToken(box, t);
  }
  box.classList.add('poem');
}

function finish(event, boxes) {
  const ppl = (x) => (x === null ? '–' : x.toFixed(2));
  event.samples.forEach((s, r) => {
    const backups = s.backups === undefined ? '' : ` · ${s.backups} backups`;
    // --best-of: the samples come best first; each shows its score and the candidate it was.
    const score = s.score_text === undefined || !event.best_of ? '' : ` · candidate ${s.candidate + 1} · score ${s.score_text}`;
    boxes[r].querySelector('.reason').textContent = `· ${s.tokens} tokens · ${s.stop_reason} · perplexity ${ppl(s.perplexity)}${backups}${score}`;
    boxes[r].dataset.text = s.text;
    if (s.backups !== undefined) showPoem(boxes[r], s);
  });
  $('rate').textContent = `${Math.round(event.chars_per_second)} char/s`;
  // Input in the other script than the model's was read in the model's: say so ("acrostic 明月清风 read as 明月清風").
  const read = (event.converted || []).map((c) => `${c.field} ${c.typed} read as ${c.read}`).join('; ');
  $('status').textContent = `done: ${event.stop_reason}, ${event.tokens} tokens in ${event.seconds.toFixed(2)} s` +
    (read ? ` · ${read}` : '');
}

function showAlternatives(e) {
  const span = e.target.closest('.tok');
  const tip = $('tooltip');
  if (!span) { tip.hidden = true; return; }
  const t = state.alternatives[Number(span.dataset.i)];
  const show = (s) => (s === '\n' ? '↵' : s === ' ' ? '␠' : s);
  const rows = t.alternatives.map((a) =>
    `<tr class="${a.text === t.text ? 'chosen' : ''}"><td>${escapeHTML(show(a.text))}</td><td>${(a.p * 100).toFixed(1)}%</td></tr>`);
  tip.innerHTML = `<div>chosen: <b>${escapeHTML(show(t.text))}</b> ${(t.p * 100).toFixed(1)}%</div><table>${rows.join('')}</table>`;
  const r = span.getBoundingClientRect();
  tip.style.left = `${r.left}px`;
  tip.style.top = `${r.bottom + 4}px`;
  tip.hidden = false;
}

function escapeHTML(s) {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
}

// --- training

// Per run: train in the first colour, valid (dashed, larger points) in the second.
const palette = [['#2f6f9f', '#d0702a'], ['#4f8f3a', '#a0398c'], ['#8064a2', '#c0504d'], ['#3a9ba5', '#b08a1a']];

function setupCharts() {
  $('runs-empty').hidden = state.runs.length > 0;
  const options = (x) => ({
    animation: false, parsing: false, normalized: true, maintainAspectRatio: false,
    scales: { x: { type: 'linear', title: { display: true, text: x } },
              y: { type: 'logarithmic', title: { display: true, text: 'perplexity' } } },
    plugins: { legend: { position: 'bottom' } },
  });
  const datasets = () => state.runs.flatMap((run, k) => [
    { label: `${run} train`, data: [], borderColor: palette[k % palette.length][0], backgroundColor: palette[k % palette.length][0],
      pointRadius: 1.5, borderWidth: 1.5 },
    { label: `${run} valid`, data: [], borderColor: palette[k % palette.length][1], backgroundColor: palette[k % palette.length][1],
      borderDash: [5, 3], pointRadius: 2.5, borderWidth: 1.5 },
  ]);
  state.charts.step = new Chart($('chart-step'), { type: 'line', data: { datasets: datasets() }, options: options('step') });
  state.charts.time = new Chart($('chart-time'), { type: 'line', data: { datasets: datasets() }, options: options('seconds') });
  refreshMetrics();
  setInterval(() => { if (!$('panel-training').hidden) refreshMetrics(); }, 2000);
}

// One line per run in words: the last step, the best validation perplexity so far, and whether the
// run has ended (the metrics' "stop": budget, epochs, patience, signal, ...).
function summarize(run, points) {
  if (points.length === 0) return `${run}: no report yet`;
  const last = points[points.length - 1];
  const valid = points.map((p) => p.valid_ppl).filter((v) => v !== null && v !== undefined);
  const best = valid.length ? `best validation perplexity ${Math.min(...valid).toFixed(3)}` : 'no validation yet';
  const ended = last.stop ? `ended (${last.stop})` : 'running';
  return `${run}: step ${last.step} · ${best} · ${ended}`;
}

async function refreshMetrics() {
  const lines = [];
  for (const [k, run] of state.runs.entries()) {
    let points;
    try {
      points = (await getJSON(`/api/metrics?run=${encodeURIComponent(run)}`)).points;
    } catch (e) {
      showError(e.message);
      continue;
    }
    for (const [chart, x] of [[state.charts.step, 'step'], [state.charts.time, 'elapsed_s']]) {
      chart.data.datasets[2 * k].data = points.filter((p) => p.train_ppl !== null).map((p) => ({ x: p[x], y: p.train_ppl }));
      chart.data.datasets[2 * k + 1].data = points.filter((p) => p.valid_ppl !== null).map((p) => ({ x: p[x], y: p.valid_ppl }));
      chart.update();
    }
    lines.push(summarize(run, points));
  }
  $('run-summary').replaceChildren(...lines.map((t) => Object.assign(document.createElement('li'), { textContent: t })));
}

init();
