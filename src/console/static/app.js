// The console page: logs in, then shows /api/status and refreshes it every few seconds. Every
// value goes into the page as text (textContent), never as markup: bucket names and server
// labels come from users.
const REFRESH_MS = 3000;
const $ = (id) => document.getElementById(id);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'class') node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ''));
  return node;
}

// The same units as the CLI's formatBytes (src/cli/usage.ts): the browser loads this file as it
// is, and cannot import TypeScript, so the nine lines are written twice on purpose.
export function formatBytes(bytes) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function table(id, headings, rows) {
  const head = el('tr', {}, ...headings.map((h) => el('th', {}, h)));
  $(id).replaceChildren(el('thead', {}, head), el('tbody', {}, ...rows));
}

function cell(value, cls) {
  return el('td', cls ? { class: cls } : {}, value);
}

function usageBar(used, total) {
  const share = total > 0 ? Math.min(100, (100 * used) / total) : 0;
  const fill = el('span');
  fill.style.width = `${share.toFixed(1)}%`;
  return el('span', { class: 'bar', title: `${share.toFixed(0)}% used` }, fill);
}

function showHealth(status, reasons) {
  const badge = $('health');
  badge.hidden = false;
  badge.className = `health ${status}`;
  badge.textContent = status;
  $('reasons').textContent = reasons.join('; ');
}

function repairText(repair) {
  if (repair.error) return `unknown (${repair.error})`;
  const degraded = Object.entries(repair.degradedStripes);
  const stripes = degraded.reduce((sum, [, count]) => sum + count, 0);
  const byMissing = degraded.map(([missing, count]) => `${count} missing ${missing}`).join(', ');
  const pace =
    repair.queueLength + repair.running === 0
      ? ''
      : `; ${formatBytes(repair.bytesPerSecond ?? 0)}/s` +
        (repair.etaSeconds === undefined ? '' : `, about ${repair.etaSeconds} s left`);
  return (
    `${stripes} degraded stripes${stripes > 0 ? ` (${byMissing})` : ''}; ` +
    `${repair.queueLength} shards queued, ${repair.running} running; ` +
    `rebuilt ${repair.tasks.done} (${formatBytes(repair.rebuiltBytes)}), ` +
    `${repair.tasks.failed} failed; moved ${repair.moves.done} (${formatBytes(repair.movedBytes ?? 0)})` +
    pace
  );
}

function showMembers(members) {
  const rows = members.map((m) =>
    el(
      'tr',
      {},
      cell(m.nodeId),
      cell(m.addr),
      m.reachable ? cell(m.role) : cell('UNREACHABLE', 'bad'),
      cell(m.term ?? '', 'num'),
      cell(m.commitIndex ?? '', 'num'),
      cell(m.appliedIndex ?? '', 'num'),
      cell(m.lagEntries ?? '', 'num'),
      cell((m.alarms ?? []).join(', '), 'bad'),
    ),
  );
  table(
    'members',
    ['node', 'address', 'role', 'term', 'commit', 'applied', 'lag (entries)', 'alarms'],
    rows,
  );
}

function showServers(servers, erasure, nowMs) {
  $('erasure').textContent =
    `Erasure coding ${erasure.k}+${erasure.m}, stripe ${formatBytes(erasure.stripeSizeBytes)}`;
  const rows = [];
  for (const s of servers) {
    const used = s.disks.reduce((sum, d) => sum + d.usedBytes, 0);
    const total = s.disks.reduce((sum, d) => sum + d.totalBytes, 0);
    const since = Math.max(0, Math.round((nowMs - s.stateSinceMs) / 1000));
    const state = s.state === 'up' ? 'up' : `${s.state.toUpperCase()} for ${since} s`;
    const { zone, rack, host } = s.domain;
    rows.push(
      el(
        'tr',
        {},
        cell(s.serverId),
        cell(s.addr),
        cell(state + (s.reachable ? '' : ' (unreachable)'), `state-${s.state}`),
        cell(`${zone} / ${rack} / ${host}`),
        cell(s.recordedShards ?? '?', 'num'),
        cell(
          el('span', {}, usageBar(used, total), ` ${formatBytes(used)} of ${formatBytes(total)}`),
        ),
      ),
    );
    for (const d of s.disks) {
      rows.push(
        el(
          'tr',
          { class: 'disk' },
          cell(`disk ${d.disk}`),
          cell(d.path),
          d.online ? cell('online', 'state-up') : cell('OFFLINE', 'bad'),
          cell(''),
          cell(d.recordedShards ?? '?', 'num'),
          cell(
            `${formatBytes(d.usedBytes)} used, ${formatBytes(d.freeBytes)} free of ${formatBytes(d.totalBytes)}`,
          ),
        ),
      );
    }
  }
  table(
    'servers',
    ['server / disk', 'address / path', 'state', 'zone / rack / host', 'shards', 'capacity'],
    rows,
  );
}

function showBuckets(buckets, bucketsNotShown) {
  const rows = buckets.map((b) =>
    el(
      'tr',
      {},
      cell(b.name),
      cell(String(b.objects), 'num'),
      cell(formatBytes(b.bytes), 'num'),
      cell(new Date(b.createdAtMs).toISOString().slice(0, 19).replace('T', ' ')),
    ),
  );
  if (bucketsNotShown > 0)
    rows.push(el('tr', {}, cell(`and ${bucketsNotShown} more buckets, not shown`)));
  table('buckets', ['bucket', 'objects', 'bytes', 'created (UTC)'], rows);
}

function render(report) {
  showHealth(report.health.status, report.health.reasons);
  $('problem').textContent = '';
  $('repair').textContent = repairText(report.repair);
  showMembers(report.metadataMembers);
  showServers(report.dataServers, report.erasure, report.generatedAtMs);
  showBuckets(report.buckets, report.bucketsNotShown);
  $('updated').textContent =
    `As of ${new Date(report.generatedAtMs).toLocaleTimeString()}, logged in as ${report.accessKey}; refreshed every ${REFRESH_MS / 1000} s.`;
}

function showLogin(message) {
  $('dashboard').hidden = true;
  $('logout').hidden = true;
  $('health').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message ?? '';
}

let timer;
async function refresh() {
  clearTimeout(timer);
  try {
    const response = await fetch('/api/status', { cache: 'no-store' });
    if (response.status === 401) return showLogin();
    const body = await response.json();
    $('login').hidden = true;
    $('login-error').textContent = '';
    $('dashboard').hidden = false;
    $('logout').hidden = false;
    if (response.ok) render(body);
    else {
      showHealth('UNAVAILABLE', []);
      $('problem').textContent = `The cluster does not answer: ${body.error}`;
    }
  } catch (error) {
    showHealth('UNAVAILABLE', []);
    $('problem').textContent = `This member does not answer: ${error.message}`;
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

async function login(event) {
  event.preventDefault();
  const accessKey = $('access-key').value;
  const secretKey = $('secret-key').value;
  // Sent in a POST body, never in the URL; the answer sets an HttpOnly session cookie.
  const response = await fetch('/api/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ accessKey, secretKey }),
  });
  $('secret-key').value = '';
  if (!response.ok) return showLogin((await response.json()).error);
  await refresh();
}

async function logout() {
  await fetch('/api/logout', { method: 'POST' });
  clearTimeout(timer);
  showLogin();
}

$('login').addEventListener('submit', login);
$('logout').addEventListener('click', logout);
refresh();
