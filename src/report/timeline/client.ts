/**
 * The page's inline script (plain ES2020, no modules, no network): hover shows the time under the
 * pointer in UTC and epoch ms with the bin's records and what is drawn there; click picks that
 * time, and the buttons put it into the restore-config snippet. It reads only #timeline-data.
 */
export const CLIENT_SCRIPT = String.raw`(() => {
  const data = JSON.parse(document.getElementById('timeline-data').textContent);
  const axis = data.axis;
  if (!axis) return;
  const tip = document.getElementById('tip');
  const picked = document.getElementById('picked');
  const setStart = document.getElementById('set-start');
  const setEnd = document.getElementById('set-end');
  const snippet = document.getElementById('snippet');
  const binMs = (axis.end - axis.start) / axis.count;
  const bins = new Map();
  for (const t of data.topics) for (const p of t.partitions) bins.set(t.name + '\u0000' + p.partition, p.bins);
  let start = data.window ? data.window.start : null;
  let end = data.window ? data.window.end : null;
  let pick = null;
  const iso = (ms) => new Date(ms).toISOString();
  const timeAt = (svg, clientX) => {
    const r = svg.getBoundingClientRect();
    const f = Math.min(1, Math.max(0, (clientX - r.left) / r.width));
    return Math.min(axis.end - 1, Math.floor(axis.start + f * (axis.end - axis.start)));
  };
  const line = (k, v) => (v === null ? '  # ' + k + ': (open)' : '  ' + k + ': ' + v + '   # ' + iso(v));
  const render = () => {
    snippet.textContent = ['restore:', line('time_window_start', start), line('time_window_end', end)].join('\n');
  };
  for (const svg of document.querySelectorAll('svg.strip')) {
    const row = svg.closest('.partition');
    const own = bins.get(row.dataset.topic + '\u0000' + row.dataset.partition) || [];
    svg.addEventListener('mousemove', (e) => {
      const t = timeAt(svg, e.clientX);
      const i = Math.min(axis.count - 1, Math.floor((t - axis.start) / binMs));
      const n = own[i] || 0;
      const what = e.target && e.target.dataset ? e.target.dataset.tip : undefined;
      tip.textContent = iso(t) + '\n' + t + ' ms\n' + row.dataset.topic + '/' + row.dataset.partition + ': ~' + Math.round(n).toLocaleString('en-US') + ' records in this bin' + (what ? '\n' + what : '');
      tip.dataset.ms = String(t);
      tip.hidden = false;
      tip.style.left = Math.min(e.pageX + 14, document.documentElement.scrollWidth - tip.offsetWidth - 4) + 'px';
      tip.style.top = e.pageY + 14 + 'px';
    });
    svg.addEventListener('mouseleave', () => {
      tip.hidden = true;
    });
    svg.addEventListener('click', (e) => {
      pick = timeAt(svg, e.clientX);
      picked.textContent = 'Picked ' + iso(pick) + ' = ' + pick + ' ms';
      picked.dataset.ms = String(pick);
      setStart.disabled = false;
      setEnd.disabled = false;
    });
  }
  setStart.addEventListener('click', () => {
    start = pick;
    render();
  });
  setEnd.addEventListener('click', () => {
    end = pick;
    render();
  });
})();`;
