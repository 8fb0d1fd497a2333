"""A self-contained HTML report of a linearizability check (no network needed).

The page embeds the data as JSON and draws it with a small script: per key, one lane
per client process along a time axis, each operation a bar from invocation to
completion (``info`` operations extend to the end), the linearization found (or the
longest partial one) as a list in order, the first operation that cannot be placed
highlighted, and the model state before/after each linearized operation shown on hover.
Every operation has one number, ``#N`` (``Operation.id``, as in the checker's
explanation), on its bar, in the list and in its tooltip.  A caller that checked more
than linearizability can lead the page with what broke (``headline``).
"""

from __future__ import annotations

import html
import json
import pathlib
from typing import Any

from .history import History, Operation, to_json
from .linearizability import LinearizabilityResult
from .models import Model

__all__ = ["render_html", "report_data"]


def _times(ops: tuple[Operation, ...]) -> tuple[dict[int, tuple[float, float]], str]:
    use_time = bool(ops) and all(op.invoke_time_us is not None and
                                 (op.complete_index is None or op.complete_time_us is not None) for op in ops)
    spans: dict[int, tuple[float, float]] = {}
    if use_time:
        end = max([op.complete_time_us or 0 for op in ops] + [op.invoke_time_us or 0 for op in ops]) + 1
        for op in ops:
            a = float(op.invoke_time_us or 0)
            b = float(op.complete_time_us) if op.complete_time_us is not None and op.outcome != "info" else end
            spans[op.id] = (a, max(b, a))
        return spans, "time (us)"
    end = max([op.complete_index or 0 for op in ops] + [op.invoke_index for op in ops] + [0]) + 1
    for op in ops:
        b = op.complete_index if op.complete_index is not None and op.outcome != "info" else end
        spans[op.id] = (float(op.invoke_index), float(b))
    return spans, "history position"


def report_data(history: History | tuple[Operation, ...], result: LinearizabilityResult,
                model: Model | None = None) -> dict[str, Any]:
    """The JSON data the page draws."""
    ops = history.operations if isinstance(history, History) else tuple(history)
    by_id = {op.id: op for op in ops}
    spans, axis = _times(ops)
    show = model.show_state if model is not None else to_json
    keys = []
    for kr in result.per_key:
        order = {s.op_id: (n, s) for n, s in enumerate(kr.linearization)}
        rows = []
        for oid in kr.op_ids:
            op = by_id[oid]
            a, b = spans[oid]
            row: dict[str, Any] = {
                "id": oid, "process": str(op.process), "f": op.f, "value": to_json(op.value),
                "outcome": op.outcome, "start": a, "end": b, "desc": op.describe()}
            for name in ("revision", "mod_revision", "succeeded", "deleted", "lease"):
                if getattr(op, name) is not None:
                    row[name] = getattr(op, name)
            if oid in order:
                n, s = order[oid]
                row["lin"] = n + 1
                row["before"] = json.dumps(show(s.state_before))
                row["after"] = json.dumps(show(s.state_after))
            if oid == kr.blocked_op:
                row["blocked"] = True
            rows.append(row)
        keys.append({"key": json.dumps(to_json(kr.key)), "verdict": kr.verdict, "ops": rows,
                     "linearization": [s.op_id for s in kr.linearization],
                     "blocked": kr.blocked_op, "reasons": list(kr.blocked_reasons)})
    lo = min((s[0] for s in spans.values()), default=0.0)
    hi = max((s[1] for s in spans.values()), default=1.0)
    return {"verdict": result.verdict, "model": result.model, "explanation": result.explanation,
            "axis": axis, "t0": lo, "t1": max(hi, lo + 1), "keys": keys,
            "excluded": len(result.excluded)}


_CSS = """
body{font-family:system-ui,sans-serif;margin:1em;color:#222}
h1{font-size:1.3em} h2{font-size:1.1em;margin-top:1.5em}
.verdict-ok{color:#176b2c}.verdict-fail{color:#b00020}.verdict-unknown{color:#8a6d00}
pre.expl{background:#f6f6f6;padding:.6em;white-space:pre-wrap;font-size:.85em}
.lanes{position:relative;border-left:1px solid #999;margin-left:5em}
.lane{position:relative;height:26px;border-bottom:1px dotted #ddd}
.lane-label{position:absolute;left:-5em;width:4.6em;text-align:right;font-size:.8em;top:5px;color:#555}
.op{position:absolute;top:3px;height:18px;border-radius:3px;font-size:11px;line-height:18px;
 overflow:hidden;white-space:nowrap;padding:0 2px;box-sizing:border-box;cursor:default;
 background:#9ecae1;border:1px solid #3182bd}
.op.info{background:repeating-linear-gradient(45deg,#fdd0a2,#fdd0a2 4px,#fff 4px,#fff 8px);border-color:#e6550d}
.op.unplaced{opacity:.55}
.op.blocked{background:#fb6a4a;border:2px solid #99000d;opacity:1}
.op.linearized{background:#a1d99b;border-color:#31a354}
#tip{position:fixed;display:none;background:#fff;border:1px solid #444;padding:.4em;font-size:12px;
 max-width:32em;z-index:10;box-shadow:2px 2px 6px #888;white-space:pre-wrap}
ol.lin{font-size:.85em;list-style:none;padding-left:1em} ol.lin li{margin:.15em 0;overflow-wrap:anywhere}
ol.lin li.blocked{color:#b00020;font-weight:bold} ol.lin .n{display:inline-block;min-width:3.5em;color:#555}
h1.headline{color:#b00020} pre.headline{background:#fdecea}
.axis{font-size:.75em;color:#666;margin-left:5em}
"""

_JS = r"""
(function(){
const data = JSON.parse(document.getElementById('report-data').textContent);
const root = document.getElementById('report');
const tip = document.getElementById('tip');
function el(tag, cls, text){const e=document.createElement(tag); if(cls) e.className=cls;
  if(text!==undefined) e.textContent=text; return e;}
const span = data.t1 - data.t0;
function pct(t){return (100*(t-data.t0)/span);}
function show(ev, op){
  let s = op.desc + '\n' + 'from ' + op.start + ' to ' + op.end + ' (' + data.axis + ')';
  for (const k of ['revision','mod_revision','succeeded','deleted','lease'])
    if (k in op) s += '\n' + k + ': ' + op[k];
  if ('lin' in op) s += '\nstep ' + op.lin + ' of the linearization\nstate before: ' + op.before + '\nstate after:  ' + op.after;
  else s += '\nnot in the linearization';
  if (op.blocked) s += '\nFIRST OPERATION THAT CANNOT BE PLACED';
  tip.textContent = s; tip.style.display='block';
  tip.style.left = Math.min(ev.clientX+12, window.innerWidth-400)+'px'; tip.style.top=(ev.clientY+12)+'px';
}
for (const k of data.keys){
  const sec = el('section','key'); sec.dataset.key = k.key;
  sec.appendChild(el('h2', 'verdict-'+k.verdict, 'key ' + k.key + ': ' + k.verdict +
     ' (' + k.linearization.length + ' of ' + k.ops.length + ' operations linearized)'));
  const procs = [...new Set(k.ops.map(o=>o.process))].sort((a,b)=>{
     const x=Number(a), y=Number(b); return (isNaN(x)||isNaN(y)) ? (a<b?-1:a>b?1:0) : x-y;});
  const lanes = el('div','lanes');
  for (const p of procs){
    const lane = el('div','lane'); lane.appendChild(el('span','lane-label','p'+p));
    for (const o of k.ops.filter(o=>o.process===p)){
      let cls = 'op ' + (o.outcome==='info' ? 'info ' : '') + ('lin' in o ? 'linearized' : 'unplaced');
      if (o.blocked) cls += ' blocked';
      const bar = el('div', cls, '#' + o.id + ' ' + o.f + ' ' + JSON.stringify(o.value));
      bar.dataset.opId = o.id;
      bar.style.left = pct(o.start)+'%';
      bar.style.width = Math.max(0.4, pct(o.end)-pct(o.start))+'%';
      bar.addEventListener('mousemove', ev=>show(ev,o));
      bar.addEventListener('mouseleave', ()=>{tip.style.display='none';});
      lane.appendChild(bar);
    }
    lanes.appendChild(lane);
  }
  sec.appendChild(lanes);
  sec.appendChild(el('div','axis', data.axis + ': ' + data.t0 + ' \u2192 ' + data.t1));
  sec.appendChild(el('h3', null, k.verdict==='ok' ? 'Linearization' : 'Longest linearizable prefix'));
  const ol = el('ol','lin');
  const byId = new Map(k.ops.map(o=>[o.id,o]));
  function item(cls, o, text){ const li = el('li', cls); li.dataset.opId = o.id;
    li.appendChild(el('span', 'n', '#' + o.id)); li.appendChild(document.createTextNode(text)); return li; }
  for (const id of k.linearization){ const o = byId.get(id);
    ol.appendChild(item(null, o, o.desc + '   ' + o.before + ' \u2192 ' + o.after)); }
  if (k.blocked !== null){ const o = byId.get(k.blocked);
    ol.appendChild(item('blocked', o, 'cannot place: ' + o.desc)); }
  sec.appendChild(ol);
  if (k.reasons.length){ const ul = el('ul');
    for (const r of k.reasons) ul.appendChild(el('li', null, r)); sec.appendChild(ul); }
  root.appendChild(sec);
  // A label that does not fit its bar shrinks to the operation's number, or to nothing
  // (never to a bare '#'); the tooltip has the rest.
  for (const bar of lanes.querySelectorAll('.op')){
    if (bar.scrollWidth > bar.clientWidth) bar.textContent = '#' + bar.dataset.opId;
    if (bar.scrollWidth > bar.clientWidth) bar.textContent = '';
  }
}
document.body.dataset.rendered = 'yes';
})();
"""


def render_html(history: History | tuple[Operation, ...], result: LinearizabilityResult,
                path: str | pathlib.Path | None = None, *, model: Model | None = None,
                title: str = "raftkv linearizability report", headline: str | None = None,
                headline_detail: str = "") -> str:
    """Write (when ``path`` is given) and return the HTML report.

    ``headline`` (e.g. ``"watch.ordered violated"``) leads the page, above the
    linearizability verdict, with ``headline_detail`` under it: for a run that broke
    something other than linearizability."""
    data = report_data(history, result, model)
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    verdict = html.escape(result.verdict)
    top = ""
    if headline is not None:
        title = headline
        top = (f'<h1 class="headline">{html.escape(headline)}</h1>\n'
               f'<pre class="headline">{html.escape(headline_detail)}</pre>\n')
    heading = "h2" if headline is not None else "h1"
    lin_title = "linearizability check" if headline is not None else html.escape(title)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_CSS}</style></head>
<body>
{top}<{heading}>{lin_title}: <span class="verdict-{verdict}">{verdict}</span> ({html.escape(result.model)} model)</{heading}>
<pre class="expl">{html.escape(result.explanation)}</pre>
<p>Bars run from invocation to completion, labelled with the operation's number (#N, as in the
list and the explanation); hatched bars had an unknown outcome (info) and may have taken effect at
any point after their invocation, or never. Green: linearized (the list below gives the order);
red: the first operation that cannot be placed. Hover a bar for the state before and after it.</p>
<div id="report"></div>
<div id="tip"></div>
<script type="application/json" id="report-data">{payload}</script>
<script>{_JS}</script>
</body></html>
"""
    if path is not None:
        pathlib.Path(path).write_text(page, encoding="utf-8")
    return page
