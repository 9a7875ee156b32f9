"The documentation stands on its own: no notebook, README or module docstring points the reader to files a user does not have."
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRIVATE = re.compile(r"method\.md|architecture\.md|style\.md|\.\./shared/")

def test_docs_cite_no_private_notes():
    files = sorted(ROOT.glob('nbs/*.ipynb')) + [ROOT/'README.md'] + sorted(ROOT.glob('iclmsr/*.py'))
    hits = [f"{f.relative_to(ROOT)}:{i}: {l.strip()[:100]}" for f in files
            for i, l in enumerate(f.read_text(encoding='utf-8').splitlines(), 1) if PRIVATE.search(l)]
    assert not hits, 'the docs cite notes a user does not have:\n' + '\n'.join(hits)
