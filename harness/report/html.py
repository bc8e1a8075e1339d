"""``report.html``: one self-contained page (inline CSS and JS, nothing
fetched) with the conformance matrix, per-target summaries, known deviations
and stale expectations.

The matrix is rendered here, so the page reads without JavaScript; the
script adds the detail panel (click a cell) and the area/outcome filters.
The records behind the cells are embedded as JSON.
"""

from __future__ import annotations

import json
from collections import defaultdict
from html import escape
from pathlib import Path

from .collector import tail_of
from .model import BAD_OUTCOMES, RunResults, area_of, write_atomic

# The outcome classes a cell can show, in filter order: (class, label, legend).
CELL_KINDS = (
    ("passed", "pass", "passed"),
    ("failed", "FAIL", "failed"),
    ("error", "ERROR", "error (setup/teardown or the target)"),
    ("skipped", "skip", "skipped, with its reason"),
    ("xfailed", "known", "known deviation (expectations.toml)"),
    ("xpassed", "STALE", "stale expectation: the deviation did not happen"),
    ("missing", "\u2013", "not run on this target"),
)
_LABEL = {k: label for k, label, _ in CELL_KINDS}
SLOWEST_SHOWN = 3

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.2em;color:#222}
h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.15em;margin:1.2em 0 .4em}
.verdict-failed{color:#b71c1c}.verdict-passed{color:#1b5e20}
table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:2px 6px}
th{background:#f4f4f4;text-align:left}
.summary td.num{text-align:right}
.summary td.slowest{white-space:nowrap;font-size:11px;font-family:ui-monospace,monospace}
#matrix td.test{font-family:ui-monospace,monospace;font-size:12px;white-space:nowrap}
#matrix tr.area th{background:#e3e8f0;font-size:13px}
#matrix td.cell{text-align:center;cursor:pointer;min-width:4.5em;font-size:12px}
.o-passed{background:#c8e6c9}.o-failed{background:#ef9a9a;font-weight:bold}
.o-error{background:#ce93d8;font-weight:bold}.o-skipped{background:#eeeeee;color:#555}
.o-xfailed{background:#fff59d}.o-xpassed{background:#ffcc80;font-weight:bold;outline:2px dashed #e65100}
.o-missing{background:#fff;color:#aaa}
td.cell.dim{opacity:.2}td.cell.selected{outline:3px solid #1565c0}
#filters{margin:.6em 0;padding:.4em;background:#fafafa;border:1px solid #ddd}
#filters label{margin-right:.8em}
#detail{position:sticky;bottom:0;background:#fffef5;border:2px solid #1565c0;padding:.5em;max-height:45vh;
overflow:auto;display:none}
#detail pre{background:#f6f6f6;padding:.4em;white-space:pre-wrap;font-size:12px;margin:.3em 0}
#detail h3{margin:.1em 0;font-size:1.05em}.muted{color:#777}
.legend span{display:inline-block;padding:0 .5em;margin-right:.4em;border:1px solid #ccc}
"""

JS = r"""
(function(){
  var records = JSON.parse(document.getElementById('trapline-data').textContent);
  var detail = document.getElementById('detail');
  function el(tag, text, cls){var e=document.createElement(tag); if(text!==undefined) e.textContent=text;
    if(cls) e.className=cls; return e;}
  function section(title, body){ if(!body) return; detail.appendChild(el('div', title, 'muted'));
    detail.appendChild(el('pre', body)); }
  function show(cell){
    document.querySelectorAll('td.cell.selected').forEach(function(c){c.classList.remove('selected');});
    cell.classList.add('selected');
    detail.innerHTML=''; detail.style.display='block';
    var idx = cell.getAttribute('data-idx');
    var target = cell.getAttribute('data-target'), test = cell.getAttribute('data-test');
    detail.appendChild(el('h3', test + ' on ' + target));
    if(idx===null){ detail.appendChild(el('p', 'not run on this target')); return; }
    var r = records[+idx];
    var head = el('p'); head.id = 'detail-outcome';
    head.textContent = 'outcome: ' + r.outcome + (r.stale_expectation ? ' (stale expectation)' : '') +
      ', ' + r.duration.toFixed(3) + ' s';
    detail.appendChild(head);
    if(r.expected_deviation) section('expected deviation', r.expected_deviation +
      (r.deviation_reference ? '\nreference: ' + r.deviation_reference : ''));
    section(r.outcome==='skipped' ? 'skip reason' : 'message', r.message);
    if(r.detail && r.detail !== r.message) section('assertion / exception', r.detail);
    if(r.transcript_tail && r.transcript_tail.length)
      section('transcript tail (' + (r.transcript||'') + ')', r.transcript_tail.join('\n'));
    if(r.core_log_tail && r.core_log_tail.length)
      section('core stderr tail (' + (r.core_log||'') + ')', r.core_log_tail.join('\n'));
    section('captured output', r.captured);
    section('traceback', r.longrepr);
  }
  document.querySelectorAll('#matrix td.cell').forEach(function(c){
    c.addEventListener('click', function(){ show(c); });
  });
  function applyFilters(){
    var area = document.getElementById('area-filter').value;
    var wanted = {};
    document.querySelectorAll('#filters input[data-outcome]').forEach(function(b){
      wanted[b.getAttribute('data-outcome')] = b.checked; });
    var areasShown = {};
    document.querySelectorAll('#matrix tr.test-row').forEach(function(row){
      var any = false;
      row.querySelectorAll('td.cell').forEach(function(c){
        var ok = wanted[c.getAttribute('data-outcome')];
        c.classList.toggle('dim', !ok); if(ok) any = true; });
      var show = any && (area === '' || row.getAttribute('data-area') === area);
      row.style.display = show ? '' : 'none';
      if(show) areasShown[row.getAttribute('data-area')] = true;
    });
    document.querySelectorAll('#matrix tr.area').forEach(function(row){
      row.style.display = areasShown[row.getAttribute('data-area')] ? '' : 'none'; });
    var n = document.querySelectorAll('#matrix tr.test-row:not([style*="none"])').length;
    document.getElementById('shown-count').textContent = n + ' test(s) shown';
  }
  document.getElementById('area-filter').addEventListener('change', applyFilters);
  document.querySelectorAll('#filters input[data-outcome]').forEach(function(b){
    b.addEventListener('change', applyFilters); });
  document.getElementById('only-problems').addEventListener('click', function(){
    document.querySelectorAll('#filters input[data-outcome]').forEach(function(b){
      b.checked = ['failed','error','xpassed'].indexOf(b.getAttribute('data-outcome')) >= 0; });
    applyFilters(); });
  applyFilters();
  document.body.setAttribute('data-ready', '1');
})();
"""


def _json_for_script(data: object) -> str:
    # "</script>" or "<!--" inside a message must not end the script element.
    return json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_html(results: RunResults, title: str = "trapline conformance report",
                base_dir: Path | None = None) -> str:
    targets = results.target_names()
    records = []
    index: dict[tuple[str, str], int] = {}
    for r in results.tests:
        data = r.to_json()
        # A failure recorded without its tail (merged from elsewhere): read it
        # now, if the transcript is still there.
        if r.is_bad and not r.transcript_tail and r.transcript and base_dir is not None:
            data["transcript_tail"] = tail_of(base_dir / r.transcript)
        if r.is_bad and not r.core_log_tail and r.core_log and base_dir is not None:
            data["core_log_tail"] = tail_of(base_dir / r.core_log)
        index[r.key] = len(records)
        records.append(data)
    by_area: dict[str, list[str]] = defaultdict(list)
    for nodeid in results.nodeids():
        by_area[area_of(nodeid)].append(nodeid)

    out: list[str] = []
    w = out.append
    verdict = "failed" if results.failed else "passed"
    w("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>")
    w("<title>%s</title><style>%s</style></head><body>" % (escape(title), CSS))
    w("<h1>%s: <span class='verdict-%s' id='verdict'>%s</span></h1>" % (escape(title), verdict, verdict.upper()))
    meta = ["harness %s" % results.harness_version, results.created]
    if results.shard:
        meta.append("shard %s" % results.shard)
    w("<p class='muted'>%s</p>" % escape(", ".join(m for m in meta if m)))

    w("<h2>Targets</h2><table class='summary' id='targets'><tr><th>target</th><th>platform</th>"
      "<th>passed</th><th>failed</th><th>error</th><th>skipped</th><th>known deviation</th><th>stale</th>"
      "<th>time</th><th>in tests</th><th>slowest</th><th>exit</th><th>ABI self-check</th><th>logs</th></tr>")
    for name in targets:
        tr = results.targets[name]
        c = results.counts(name)
        hello = tr.hello
        platform = " ".join(str(x) for x in (hello.get("os", tr.os), hello.get("release", tr.release),
                                             hello.get("arch", tr.arch)) if x)
        if hello.get("python"):
            platform += " (python %s)" % hello["python"]
        logs = " ".join("<a href='%s'>%s</a>" % (escape(path), escape(label))
                        for label, path in sorted(tr.logs.items()))
        w("<tr data-target='%s'><td>%s</td><td>%s</td>" % (escape(name), escape(name), escape(platform)))
        for key in ("passed", "failed", "error", "skipped", "xfailed", "xpassed"):
            w("<td class='num'>%d</td>" % c[key])
        # Wall time minus time in tests is what starting the target cost (build, boot, restore).
        mine = sorted((r for r in results.tests if r.target == name), key=lambda r: -r.duration)
        slowest = "<br>".join("%.2f s %s" % (r.duration, escape(r.name)) for r in mine[:SLOWEST_SHOWN])
        w("<td class='num'>%.1f s</td><td class='num'>%.1f s</td><td class='slowest'>%s</td>"
          "<td class='num'>%s</td><td class='selfcheck'>%s</td><td>%s</td></tr>" % (
              tr.duration, sum(r.duration for r in mine), slowest,
              "" if tr.exit_status is None else tr.exit_status, escape(tr.selfcheck_summary()), logs))
        if tr.untrustworthy:
            found = ("found the core's table disagreeing with the target's headers" if tr.abi_disagreements
                     else "did not pass, so the core's table is unproven")
            w("<tr class='problem untrusted'><td colspan='14'><b>%s: results untrustworthy</b>, the ABI self-check "
              "%s:<pre>%s</pre></td></tr>" % (escape(name), found, escape("\n".join(tr.untrustworthy_reasons()))))
        if tr.problem:
            w("<tr class='problem'><td colspan='14'><b>%s did not finish:</b> %s<pre>%s</pre></td></tr>" % (
                escape(name), escape(tr.problem), escape("\n".join(tr.problem_tail[-15:]))))
    w("</table>")

    w("<h2>Conformance matrix</h2><div class='legend'>%s</div>" % "".join(
        "<span class='o-%s'><b>%s</b> %s</span>" % (k, escape(label), escape(doc))
        for k, label, doc in CELL_KINDS))
    w("<div id='filters'><label>area <select id='area-filter'><option value=''>all areas</option>%s</select>"
      "</label>" % "".join("<option value='%s'>%s (%d)</option>" % (escape(a), escape(a), len(n))
                           for a, n in sorted(by_area.items())))
    for key, label, _doc in CELL_KINDS:
        w("<label><input type='checkbox' checked data-outcome='%s'> %s</label>" % (key, escape(label)))
    w("<button id='only-problems' type='button'>only problems</button> <span id='shown-count' class='muted'>"
      "</span></div>")
    w("<table id='matrix'><thead><tr><th>test</th>%s</tr></thead><tbody>" % "".join(
        "<th>%s</th>" % escape(t) for t in targets))
    for area in sorted(by_area):
        w("<tr class='area' data-area='%s'><th colspan='%d'>%s</th></tr>" % (
            escape(area), len(targets) + 1, escape(area)))
        for nodeid in by_area[area]:
            name = nodeid.split("::", 1)[-1]
            w("<tr class='test-row' data-area='%s' data-test='%s'><td class='test' title='%s'>%s</td>" % (
                escape(area), escape(nodeid), escape(nodeid), escape(name)))
            for t in targets:
                i = index.get((t, nodeid))
                if i is None:
                    w("<td class='cell o-missing' data-outcome='missing' data-target='%s' data-test='%s'>%s</td>"
                      % (escape(t), escape(nodeid), _LABEL["missing"]))
                    continue
                r = records[i]
                tip = r["message"] or r["outcome"]
                w("<td class='cell o-%s' data-outcome='%s' data-idx='%d' data-target='%s' data-test='%s' "
                  "title='%s'>%s</td>" % (r["outcome"], r["outcome"], i, escape(t), escape(nodeid),
                                          escape(tip[:300]), _LABEL[r["outcome"]]))
            w("</tr>")
    w("</tbody></table><div id='detail' aria-live='polite'></div>")

    deviations = [r for r in results.tests if r.expected_deviation is not None]
    w("<h2>Known deviations (%d)</h2>" % len(deviations))
    if deviations:
        w("<table id='deviations'><tr><th>target</th><th>test</th><th>outcome</th><th>reason</th>"
          "<th>reference</th></tr>")
        for r in sorted(deviations, key=lambda r: (r.nodeid, r.target)):
            w("<tr><td>%s</td><td>%s</td><td class='o-%s'>%s</td><td>%s</td><td>%s</td></tr>" % (
                escape(r.target), escape(r.nodeid), r.outcome, escape(_LABEL[r.outcome]),
                escape(r.expected_deviation or ""), escape(r.deviation_reference or "")))
        w("</table>")
    stale = [r for r in results.tests if r.stale_expectation]
    w("<h2>Stale expectations (%d)</h2>" % len(stale))
    if stale:
        w("<p>These deviations did not happen: remove or narrow their entries in suites/expectations.toml.</p>"
          "<ul id='stale'>%s</ul>" % "".join("<li>%s on %s: %s</li>" % (escape(r.nodeid), escape(r.target),
                                                                      escape(r.expected_deviation or ""))
                                             for r in stale))
    bad = sum(1 for r in results.tests if r.outcome in BAD_OUTCOMES)
    w("<p class='muted'>%d results, %d problems.</p>" % (len(results.tests), bad))
    w("<script type='application/json' id='trapline-data'>%s</script>" % _json_for_script(records))
    w("<script>%s</script></body></html>" % JS)
    return "".join(out)


def write_html(results: RunResults, path: Path) -> None:
    write_atomic(path, render_html(results, base_dir=path.parent))
