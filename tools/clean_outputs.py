#!/usr/bin/env python
"""Clean the stored outputs of the notebooks in nbs/: console progress bars are reduced to what a terminal shows in the
end (the text after the last carriage return of each line, ANSI escapes dropped), and fastai's `torch.jit.script`
FutureWarning on import (which iclmsr now filters) is removed. Run it after executing a notebook with a console
progress bar in it; `tests/test_everyday.py` checks that no stored output needs it.

    python tools/clean_outputs.py [NOTEBOOK ...]    # default: every nbs/*.ipynb; rewrites only the changed ones
"""
import json, re, sys
from pathlib import Path

root = Path(__file__).resolve().parents[1]
ANSI = re.compile(r'\x1b\[[0-9;?]*[A-Za-z]')
JIT = re.compile(r'^.*FutureWarning: `torch\.jit\.script` is deprecated.*\n(  warnings\.warn\(\n)?', re.M)

def clean_text(s:str) -> str:
    "What a terminal shows for `s`: each line's text after its last carriage return, no ANSI escapes, no jit warning."
    s = JIT.sub('', ANSI.sub('', s))
    lines = [l.rstrip('\r').split('\r')[-1] for l in s.split('\n')]
    return '\n'.join(lines)

def clean_notebook(path:Path) -> bool:
    "Clean the outputs of the notebook at `path` in place; True if anything changed."
    nb = json.loads(path.read_text())
    changed = False
    for cell in nb['cells']:
        outs = []
        for o in cell.get('outputs', []):
            if o.get('output_type') == 'stream':
                text = ''.join(o['text'])
                new = clean_text(text)
                if new != text:
                    changed = True
                    if not new.strip(): continue  # only the warning or an empty bar: drop the output
                    o['text'] = new.splitlines(True)
            outs.append(o)
        if 'outputs' in cell: cell['outputs'] = outs
    if changed: path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')
    return changed

def dirty(path:Path) -> list:
    "The ids of the cells of `path` whose stored stream outputs `clean_text` would change."
    nb = json.loads(Path(path).read_text())
    return [c.get('id') for c in nb['cells'] for o in c.get('outputs', [])
            if o.get('output_type') == 'stream' and clean_text(''.join(o['text'])) != ''.join(o['text'])]

if __name__ == '__main__':
    paths = [Path(p) for p in sys.argv[1:]] or sorted((root/'nbs').glob('*.ipynb'))
    for p in paths:
        if clean_notebook(p): print(f"cleaned {p}")
