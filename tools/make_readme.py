#!/usr/bin/env python
"""Write README.md from nbs/index.ipynb without Quarto (which `nbdev-readme` needs and this machine cannot install).

Markdown cells are copied; code cells become fenced Python with their text outputs below; cells marked
`#| hide` are left out; the title cell's `> summary` line stays. Notebook links (`00_core.ipynb`) point to
the notebooks in `nbs/`.
"""
import json, re, sys
from pathlib import Path

root = Path(__file__).resolve().parents[1]

def _src(cell): return ''.join(cell['source']) if isinstance(cell['source'], list) else cell['source']

def _directives(src): return {l[3:].strip().split()[0] for l in src.splitlines() if l.startswith('#| ') and l[3:].strip()}

def _outputs(cell):
    out = []
    for o in cell.get('outputs', []):
        if o.get('output_type') == 'stream': out.append(''.join(o['text']))
        elif 'data' in o and 'text/plain' in o['data'] and not any(k.startswith('image/') for k in o['data']):
            out.append(''.join(o['data']['text/plain']))
    return ''.join(out).rstrip()

def nb_to_md(nb_path):
    nb = json.loads(Path(nb_path).read_text())
    parts = ['<!-- Generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file. -->']
    for cell in nb['cells']:
        src = _src(cell)
        if cell['cell_type'] == 'markdown':
            src = re.sub(r'\]\((?!https?:)([^)\s]+\.ipynb)\)', r'](nbs/\1)', src)
            parts.append(src.strip())
        elif cell['cell_type'] == 'code':
            d = _directives(src)
            if d & {'hide', 'export', 'exporti', 'default_exp'}: continue
            code = '\n'.join(l for l in src.splitlines() if not l.startswith('#| ')).strip()
            if not code: continue
            parts.append(f"```python\n{code}\n```")
            out = _outputs(cell)
            if out: parts.append(f"```\n{out}\n```")
    return '\n\n'.join(parts) + '\n'

if __name__ == '__main__':
    dest = root/'README.md'
    dest.write_text(nb_to_md(root/'nbs'/'index.ipynb'))
    print(f"wrote {dest.relative_to(root)}")
