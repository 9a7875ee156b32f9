#!/usr/bin/env python
"""Build the documentation site in `_docs/`, offline, from the notebooks in `nbs/`.

    .venv/bin/python tools/build_docs.py [--fresh] [--strict] [--jobs N]

1. nbdev's notebook processing (what `nbdev-proc-nbs` does, minus its attempt to download Quarto):
   `nbs/*.ipynb` -> `_proc/*.ipynb`, with the `show_doc` cells rendered and exported code removed.
2. Every processed notebook is staged for Sphinx in `_proc/.sphinx/src/` with the Quarto-isms nbdev leaves
   turned into MyST: YAML front matter -> page title, `::: {.callout-*}` -> admonitions, `#| ` cell
   directives -> myst-nb cell tags, links to other notebooks -> links to their pages.
   Pages are named the way nbdev names them (`01_data.ipynb` -> `data.html`, the front matter's `output-file`),
   so the absolute doc links nbdev writes (`https://<doc_host>/<baseurl>/data.html#name`) become relative ones.
3. Sphinx + myst-nb (no execution: the stored outputs are shown) + the furo theme render `_docs/`, with a
   sidebar listing every notebook (a generated toctree) and Sphinx's offline search.

Quarto's `nbdev-docs` stays the way the site is published (see .github/workflows/deploy.yaml); this builds
the same pages where Quarto is not installed, and is what `make docs` and `make test` run.
Exit status: 0 when the site was built; 1 when a notebook could not be processed (the others are still built),
Sphinx failed, a link or image is broken, or (with --strict) Sphinx warned at all.
"""
from __future__ import annotations
import argparse, html, json, os, re, shutil, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE_EXTS = ('.ipynb', '.md')          # what Sphinx renders; other files in nbs/ are copied as assets
SKIP_FILES = {'_quarto.yml', 'nbdev.yml', 'sidebar.yml', '_metadata.yml', '_brand.yml'}
SECTIONS = [(0, 20, 'Library'), (20, 30, 'Experiments')]   # numeric prefix ranges -> sidebar caption
OTHER_SECTION = 'More'
# Sphinx warnings that are harmless here (heading levels jump in show_doc output, unknown output mime types)
SUPPRESS = ['myst.header', 'mystnb.unknown_mime_type', 'misc.highlighting_failure', 'myst.strikethrough']

# ---------------------------------------------------------------------------------------------- config
def nbdev_cfg():
    from nbdev.config import get_config
    return get_config(ROOT)

def page_name(rel: Path, fm: dict | None = None) -> str:
    "Page path (no suffix) for notebook `rel` (relative to nbs/): front matter `output-file`, else nbdev's rule."
    out = (fm or {}).get('output-file')
    if out: return (rel.parent/Path(str(out)).stem).as_posix()
    return (rel.parent/re.sub(r'^\d+[a-zA-Z0-9]*_', '', rel.stem.lower())).as_posix()

def notebook_pages(nbs: Path | None = None) -> dict[str, str]:
    "{notebook path relative to nbs/: page html path relative to _docs/} for every notebook in `nbs/` (for tests)."
    nbs = nbs or ROOT/'nbs'
    res = {}
    for f in _doc_sources(nbs):
        fm = _front_matter(f)
        res[f.relative_to(nbs).as_posix()] = page_name(f.relative_to(nbs), fm) + '.html'
    return res

def _doc_sources(d: Path):
    "Notebooks under `d`, skipping files and folders starting with `_` or `.` (as nbdev does)."
    out = []
    for f in sorted(d.rglob('*')):
        rel = f.relative_to(d)
        if any(p.startswith(('.', '_')) for p in rel.parts[:-1]) or rel.name.startswith(('.', '_')): continue
        if f.is_file() and f.suffix == '.ipynb': out.append(f)
    return out

# ---------------------------------------------------------------------------------------------- step 1
def proc_nbs(n_workers: int, force: bool = False) -> tuple[Path, dict]:
    """nbdev's `nbdev-proc-nbs`, without its attempt to download and install Quarto when it is missing.
    When a notebook fails (nbdev runs its imports, exports and show_doc cells), the others are still processed:
    -> (the `_proc` folder, {failed notebook relative to nbs/: error})."""
    os.chdir(ROOT)
    import nbdev.quarto as q
    from nbdev.serve import proc_nbs as _proc
    q._ensure_quarto = lambda: None
    try: return Path(q._pre_docs(n_workers=n_workers, force=force)[0]), {}
    except Exception: pass
    # one at a time, to find the notebook(s) that fail (those already processed are cached by nbdev)
    nbs, failed = Path(nbdev_cfg().nbs_path), {}
    for f in _doc_sources(nbs):
        try: _proc(str(nbs), n_workers=0, file_glob=f.name)
        except Exception as e: failed[f.relative_to(nbs)] = f'{type(e).__name__}: {e}'.strip()
    return ROOT/'_proc', failed

# ---------------------------------------------------------------------------------------------- step 2
_FM_RE = re.compile(r'\A\s*---\s*\n(.*?)\n---\s*(\n|\Z)', re.S)

def _front_matter(nb_path: Path) -> dict:
    "Front matter of a notebook: a raw cell `---\\n...\\n---` (as nbdev writes it), else the `# title` / `> desc` cell."
    import yaml
    nb = json.loads(nb_path.read_text(encoding='utf-8'))
    for c in nb['cells']:
        src = ''.join(c['source'])
        if c['cell_type'] == 'raw':
            m = _FM_RE.match(src)
            if m:
                try: return yaml.safe_load(m.group(1)) or {}
                except yaml.YAMLError: return {}
        if c['cell_type'] == 'markdown' and src.strip(): break
    return {}

def _src(c) -> str: return c['source'] if isinstance(c['source'], str) else ''.join(c['source'])

_CALLOUTS = {'note': 'note', 'tip': 'tip', 'warning': 'warning', 'important': 'important', 'caution': 'caution'}
_DIV_OPEN = re.compile(r'^(\s*):{3,}\s*(\{(?P<attrs>[^}]*)\}|(?P<name>[\w-]+))\s*$')
_DIV_CLOSE = re.compile(r'^\s*:{3,}\s*$')
_FENCE = re.compile(r'^\s*(`{3,}|~{3,})')

def _div_directive(attrs: str) -> tuple[str, list[str]]:
    "MyST directive head + option lines for a Pandoc div with attributes `attrs` (e.g. `.callout-note title=\"x\"`)."
    classes = re.findall(r'(?:^|\s)\.([\w-]+)', attrs)
    title = re.search(r'title\s*=\s*"([^"]*)"', attrs)
    for cl in classes:
        m = re.match(r'callout-(\w+)', cl)
        if m:
            kind = _CALLOUTS.get(m.group(1), 'note')
            if title: return f'{{admonition}} {title.group(1)}', [f':class: {kind}']
            return f'{{{kind}}}', []
    return '{container}', ([f':class: {" ".join(classes)}'] if classes else [])

def convert_divs(md: str) -> str:
    "Pandoc/Quarto fenced divs (`::: {.callout-note}` ... `:::`) -> MyST colon-fence directives, nesting kept."
    lines, out, fence = md.split('\n'), [], None
    # first pass: find matching open/close pairs outside code fences
    pairs, opens = {}, []
    for i, l in enumerate(lines):
        fm = _FENCE.match(l)
        if fm and (fence is None or fm.group(1)[0] == fence[0] and len(fm.group(1)) >= len(fence)):
            fence = None if fence else fm.group(1); continue
        if fence: continue
        if _DIV_OPEN.match(l): opens.append(i)
        elif _DIV_CLOSE.match(l) and opens: pairs[opens.pop()] = i
    if not pairs: return md
    # depth of nesting below each div: the outer fence must be longer than the inner ones
    def height(i):
        inner = [j for j in pairs if i < j < pairs[i]]
        return 1 + max((height(j) for j in inner), default=0)
    closes = {}
    for i, l in enumerate(lines):
        if i in pairs:
            m = _DIV_OPEN.match(l)
            n = ':' * (2 + height(i))
            attrs = m.group('attrs') if m.group('attrs') is not None else '.' + m.group('name')
            head, opts = _div_directive(attrs)
            body_start = len(out)
            out.append(f'{m.group(1)}{n}{head}'); out.extend(opts)
            closes[pairs[i]] = f'{m.group(1)}{n}'
            # a Quarto callout's first `## heading` is its title
            nxt = lines[i+1] if i+1 < len(lines) else ''
            hm = re.match(r'^\s*#{1,6}\s+(.*)$', nxt)
            if hm and head.startswith('{') and head != '{container}' and not head.startswith('{admonition}'):
                kind = head.strip('{}')
                out[body_start] = f'{m.group(1)}{n}{{admonition}} {hm.group(1).strip()}'
                out.insert(body_start+1, f':class: {kind}')
                lines[i+1] = ''
        elif i in closes: out.append(closes[i])
        else: out.append(l)
    return '\n'.join(out)

_HEADING_ATTRS = re.compile(r'^(#{1,6}\s.*?)\s*\{[^}]*\}\s*$', re.M)
_SRC_LINK = re.compile(r'\[source\]\((?P<url>[^)\s]+)\)\{[^}]*\}')
_MD_LINK = re.compile(r'(?P<pre>\]\()(?P<url>[^)\s]+)(?P<post>(\s+"[^"]*")?\))')

class Stager:
    "Turns `_proc/` into a Sphinx source folder."
    def __init__(self, proc: Path, src: Path, cfg, skip=()):
        self.proc, self.src, self.cfg = proc, src, cfg
        self.nbs = sorted(f.relative_to(proc) for f in _doc_sources(proc) if f.relative_to(proc) not in skip)
        self.fms = {rel: _front_matter(proc/rel) for rel in self.nbs}
        self.pages, seen = {}, {}
        for rel in self.nbs:
            p = page_name(rel, self.fms[rel])
            if p in seen:
                print(f'build_docs: {rel} and {seen[p]} both want the page {p}.html; using {rel.stem}.html', file=sys.stderr)
                p = (rel.parent/rel.stem).as_posix()
            seen[p] = rel; self.pages[rel] = p
        # every name a link may use for a page: `00_core`, `core` (with .ipynb/.html/.md/.qmd or none)
        self.by_name = {}
        for rel, p in self.pages.items():
            self.by_name[(rel.parent/rel.stem).as_posix()] = p
            self.by_name.setdefault(p, p)

    # ---- links
    def fix_link(self, url: str, here: str) -> str:
        "A relative link to another notebook/page -> `page.ipynb` (which MyST resolves to the page)."
        if re.match(r'^[a-zA-Z][a-zA-Z0-9+.-]*:', url) or url.startswith(('#', '/')): return url
        path, _, frag = url.partition('#')
        stem = re.sub(r'\.(ipynb|html|md|qmd)$', '', path)
        if stem == path and path: return url   # not a page link (image, data file...)
        target = (Path(here).parent/stem).as_posix()
        target = os.path.normpath(target).replace(os.sep, '/')
        page = self.by_name.get(target)
        if page is None: return url
        relp = os.path.relpath(page, Path(here).parent.as_posix() or '.').replace(os.sep, '/')
        ext = '.ipynb' if any(self.pages[r] == page and r.suffix == '.ipynb' for r in self.pages) else '.md'
        return relp + ext + (f'#{frag}' if frag else '')

    def fix_md(self, md: str, here: str) -> str:
        md = convert_divs(md)
        md = _HEADING_ATTRS.sub(r'\1', md)
        md = _MD_LINK.sub(lambda m: m['pre'] + self.fix_link(m['url'], here) + m['post'], md)
        return md

    def fix_show_doc(self, md: str, here: str) -> str:
        "nbdev's show_doc markdown: drop the leading rule, make the source link plain HTML, add nbdev's anchor."
        md = re.sub(r'\A\s*---\s*\n', '', md)
        md = _SRC_LINK.sub(lambda m: f'<a class="sourcelink" href="{html.escape(m["url"])}" target="_blank">source</a>', md)
        def anchor(m):
            name = m.group(2).strip().strip('`').split()[0] if m.group(2).strip() else ''
            return (f'<span id="{html.escape(name.lower())}"></span>\n\n' if name else '') + m.group(0)
        md = re.sub(r'^(#{2,4})\s+(.*)$', anchor, md, count=1, flags=re.M)
        return self.fix_md(md, here)

    # ---- cells
    @staticmethod
    def directives(src: str) -> tuple[dict, str]:
        "Leading `#| key: value` lines of a code cell -> dict, and the source without them."
        d, lines = {}, src.split('\n')
        keep = []
        for l in lines:
            m = re.match(r'^\s*#\|\s*(.*)$', l)
            if m:
                k, _, v = m.group(1).partition(':')
                d[k.strip()] = v.strip()
            else: keep.append(l)
        return d, '\n'.join(keep).strip('\n')

    def stage_nb(self, rel: Path) -> str:
        nb = json.loads((self.proc/rel).read_text(encoding='utf-8'))
        here, fm, cells, title = self.pages[rel], self.fms[rel], [], None
        for c in nb['cells']:
            src = _src(c)
            if c['cell_type'] == 'raw':
                if _FM_RE.match(src): continue
                cells.append(c); continue
            if c['cell_type'] == 'markdown':
                if re.fullmatch(r'\s*<!--\s*WARNING: THIS FILE WAS AUTOGENERATED.*?-->\s*', src, re.S): continue
                if title is None and not fm.get('title'):
                    m = re.search(r'^#\s+(.+)$', src, re.M)
                    if m: title = m.group(1).strip()
                c['source'] = self.fix_md(src, here); cells.append(c); continue
            d, code = self.directives(src)
            tags = set(c.get('metadata', {}).get('tags', []))
            if d.get('echo') == 'false' or 'hide' in d or 'hide_input' in d: tags.add('remove-input')
            if d.get('output') == 'false' or 'hide_output' in d: tags.add('remove-output')
            if d.get('include') == 'false': continue
            if d.get('code-fold') in ('true', 'show'): tags.add('hide-input')
            for o in c.get('outputs', []):
                data = o.get('data', {})
                if 'text/markdown' in data:
                    md = _src({'source': data['text/markdown']})
                    is_doc = 'show_doc' in code or re.search(r'^#{2,4}\s', md, re.M) and 'sourcelink' not in md and '[source](' in md
                    data['text/markdown'] = self.fix_show_doc(md, here) if is_doc else self.fix_md(md, here)
            if not code and not c.get('outputs'): continue
            c['source'] = code
            c['metadata'] = {'tags': sorted(tags)} if tags else {}
            c.pop('execution_count', None); c['execution_count'] = None
            cells.append(c)
        title = fm.get('title') or title
        head = []
        if fm.get('title'):
            t = f'# {fm["title"]}'
            if fm.get('description'): t += '\n\n{.description}\n' + str(fm['description']).strip()
            head.append({'cell_type': 'markdown', 'metadata': {}, 'source': t})
        elif title is None:
            title = Path(here).name
            head.append({'cell_type': 'markdown', 'metadata': {}, 'source': f'# {title}'})
        nb['cells'] = head + cells
        if here == 'index': nb['cells'].append({'cell_type': 'markdown', 'metadata': {}, 'source': self.toctree()})
        for c in nb['cells']:
            for k in set(c) - {'cell_type', 'metadata', 'source', 'outputs', 'execution_count', 'attachments'}: c.pop(k)
            if c['cell_type'] != 'code': c.pop('outputs', None); c.pop('execution_count', None)
        nb['metadata'] = {'kernelspec': {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'},
                          'language_info': {'name': 'python'}}
        nb['nbformat'], nb['nbformat_minor'] = 4, 4
        return json.dumps(nb, indent=1, ensure_ascii=False)

    def sections(self) -> list[tuple[str, list[str]]]:
        groups = {}
        for rel, p in self.pages.items():
            if p == 'index': continue
            m = re.match(r'^(\d+)', rel.name)
            cap = OTHER_SECTION
            if m:
                for lo, hi, name in SECTIONS:
                    if lo <= int(m.group(1)) < hi: cap = name
            groups.setdefault(cap, []).append(p)
        order = [n for _, _, n in SECTIONS] + [OTHER_SECTION]
        return [(n, groups[n]) for n in order if n in groups]

    def toctree(self) -> str:
        out = []
        for cap, pages in self.sections():
            out.append(f'```{{toctree}}\n:hidden:\n:maxdepth: 1\n:caption: {cap}\n\n' + '\n'.join(pages) + '\n```')
        return '\n\n'.join(out)

    def index_md(self) -> str:
        "A home page when nbs/ has no index.ipynb."
        desc = self.cfg.get('description', '')
        return f'# {self.cfg.get("title", "Documentation")}\n\n{desc}\n\n' + '\n\n'.join(
            f'## {cap}\n\n' + '\n'.join(f'- [{p}]({p}.ipynb)' for p in pages) for cap, pages in self.sections()
        ) + '\n\n' + self.toctree() + '\n'

    def stage(self) -> list[str]:
        "Write the Sphinx sources (only the files whose content changed) -> the list of pages."
        want = {}
        for rel in self.nbs: want[self.pages[rel] + '.ipynb'] = self.stage_nb(rel)
        if 'index' not in self.pages.values(): want['index.md'] = self.index_md()
        want['conf.py'] = self.conf_py()
        want['_static/iclmsr.css'] = CSS + (self.proc/'styles.css').read_text() if (self.proc/'styles.css').exists() else CSS
        # assets (images, data) next to the notebooks
        for f in self.proc.rglob('*'):
            rel = f.relative_to(self.proc)
            if not f.is_file() or any(p.startswith('.') for p in rel.parts) or rel.name in SKIP_FILES: continue
            if rel.suffix in ('.ipynb', '.qmd', '.md', '.py') or rel.name == 'styles.css': continue
            want[rel.as_posix()] = f.read_bytes()
        self.src.mkdir(parents=True, exist_ok=True)
        for f in list(self.src.rglob('*')):      # remove what is no longer a source
            rel = f.relative_to(self.src).as_posix()
            if f.is_file() and rel not in want and not rel.startswith('_static/mathjax/'): f.unlink()
        for rel, content in want.items():
            d = self.src/rel; d.parent.mkdir(parents=True, exist_ok=True)
            b = content.encode('utf-8') if isinstance(content, str) else content
            if not d.exists() or d.read_bytes() != b: d.write_bytes(b)
        self.stage_mathjax()
        return sorted(k[:-len(Path(k).suffix)] for k in want if Path(k).suffix in PAGE_EXTS)

    # ---- offline MathJax (from the `sphinx-mathjax-offline` package, if installed; else Sphinx's CDN default)
    def mathjax_dir(self):
        import importlib.util
        spec = importlib.util.find_spec('sphinx-mathjax-offline')
        if spec is None or not spec.submodule_search_locations: return None
        d = Path(list(spec.submodule_search_locations)[0])/'static'/'mathjax'
        return d if (d/'tex-svg.js').exists() else None

    def stage_mathjax(self):
        d = self.mathjax_dir()
        if d is None: return
        dest = self.src/'_static'/'mathjax'
        if (dest/'tex-svg.js').exists(): return
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(d/'tex-svg.js', dest/'tex-svg.js')
        for sub in ('input/tex/extensions', 'ui', 'a11y'):
            if (d/sub).exists(): shutil.copytree(d/sub, dest/sub, dirs_exist_ok=True)

    def conf_py(self) -> str:
        c = self.cfg
        site = f"{c.get('doc_host', '')}{c.get('doc_baseurl', '')}".rstrip('/') + '/'
        mathjax = "mathjax_path = 'mathjax/tex-svg.js'\n" if self.mathjax_dir() else ''
        return CONF.format(title=c.get('title', c.get('lib_name', 'docs')), author=c.get('author', '') or '',
                           year=time.strftime('%Y'), site=site, suppress=SUPPRESS, mathjax=mathjax)

CONF = '''# Generated by tools/build_docs.py: edit that script, not this file.
project = {title!r}
author = {author!r}
copyright = {year!r} + (', ' + author if author else '')
extensions = ['myst_nb']
exclude_patterns = ['_build', '**/.ipynb_checkpoints', '_static']
root_doc = 'index'

# myst-nb: show the outputs stored in the notebooks (nbdev-test and exec_nb ran them), never execute
nb_execution_mode = 'off'
nb_render_markdown_format = 'myst'       # show_doc output and `#| output: asis` cells are MyST markdown
nb_merge_streams = True
myst_enable_extensions = ['colon_fence', 'dollarmath', 'amsmath', 'attrs_inline', 'attrs_block', 'deflist', 'html_image', 'strikethrough']
myst_heading_anchors = 4
suppress_warnings = {suppress!r}
{mathjax}
html_theme = 'furo'
html_title = {title!r}
html_baseurl = {site!r}
html_static_path = ['_static']
html_css_files = ['iclmsr.css']
html_show_sourcelink = False
html_copy_source = False
html_theme_options = {{'navigation_with_keys': True, 'top_of_page_buttons': []}}
'''

CSS = '''
p.description, .description > p { font-style: italic; font-size: 120%; opacity: 75%; margin-top: -0.5rem; }
a.sourcelink { float: right; font-size: smaller; }
'''

# ---------------------------------------------------------------------------------------------- step 3
# warnings that mean a link or an image of the site is broken: the build fails on these (on any, with --strict)
BROKEN = re.compile(r'\[(myst\.xref_missing|myst\.iref_ambiguous|image\.not_readable|download\.not_readable|'
                    r'ref\.[\w.]+|toc\.not_readable|toc\.excluded)\]')

def sphinx_build(src: Path, doctrees: Path, out: Path, jobs: str) -> tuple[int, list[str]]:
    "Render every page afresh (-E: a few seconds; every page's sidebar and every warning stay current)."
    shutil.rmtree(out, ignore_errors=True); shutil.rmtree(doctrees, ignore_errors=True)
    cmd = [sys.executable, '-m', 'sphinx', '-b', 'html', '-E', '-q', '-j', jobs, '-d', str(doctrees), str(src), str(out)]
    env = dict(os.environ, PYTHONWARNINGS='ignore', MPLBACKEND='Agg')
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [l for l in (r.stdout + r.stderr).splitlines() if l.strip()]
    return r.returncode, lines

def localise_links(out: Path, site: str) -> int:
    "nbdev writes doc links as absolute URLs of the published site: point those that exist here to the local page."
    if not site.startswith('http'): return 0
    n, pat = 0, re.compile(r'(<a\s[^>]*?href=")' + re.escape(site) + r'([^"#]*)(#[^"]*)?"')
    for f in out.rglob('*.html'):
        rel_root = os.path.relpath(out, f.parent).replace(os.sep, '/')
        prefix = '' if rel_root == '.' else rel_root + '/'
        def sub(m):
            nonlocal n
            path = m.group(2) or 'index.html'
            if not (out/path).is_file(): return m.group(0)
            n += 1
            return f'{m.group(1)}{prefix}{path}{m.group(3) or ""}"'
        t = f.read_text(encoding='utf-8'); t2 = pat.sub(sub, t)
        if t2 != t: f.write_text(t2, encoding='utf-8')
    return n

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--fresh', action='store_true', help="reprocess every notebook (default: nbdev's cache, by mtime)")
    ap.add_argument('--strict', action='store_true', help='fail on any Sphinx warning (default: on broken links/images)')
    ap.add_argument('--n_workers', type=int, default=min(2, os.cpu_count() or 1), help='nbdev processing workers')
    ap.add_argument('--jobs', default='1', help="Sphinx parallel jobs ('auto': all cores)")
    a = ap.parse_args(argv)
    t0 = time.time()
    cfg = nbdev_cfg()
    out = Path(cfg.doc_path)
    try: proc, failed = proc_nbs(a.n_workers, a.fresh)
    except (Exception, SystemExit) as e:
        print(f'build_docs: processing the notebooks failed: {e!r}', file=sys.stderr); return 1
    for rel, err in failed.items():
        print(f'build_docs: nbdev could not process nbs/{rel}, left out of the site:\n    ' + err.replace('\n', '\n    '), file=sys.stderr)
        if re.search(r'^\s*(import|from)\s', err, re.M):
            print('    (nbdev runs every cell that contains an import when it renders the docs, without the cells before it:'
                  ' keep imports in cells of their own; `nbdev-docs` fails the same way)', file=sys.stderr)
    os.chdir(ROOT)
    t1 = time.time()
    build = proc/'.sphinx'
    stager = Stager(proc, build/'src', cfg, skip=set(failed))
    pages = stager.stage()
    html_dir = build/'html'     # myst-nb writes beside Sphinx's output folder: keep that inside _proc/.sphinx
    rc, lines = sphinx_build(build/'src', build/'doctrees', html_dir, a.jobs)
    # name the source notebook in Sphinx's messages: `.../_proc/.sphinx/src/core.ipynb:20002` -> `nbs/00_core.ipynb:20002`
    names = {str(build/'src'/(p + '.ipynb')): f'nbs/{rel.as_posix()}' for rel, p in stager.pages.items()}
    def name(l):
        for k, v in names.items(): l = l.replace(k, v)
        return l.replace(str(build/'src') + os.sep, '')
    lines = [name(l) for l in lines]
    warns = [l for l in lines if re.search(r'WARNING|ERROR|CRITICAL', l)]
    broken = [l for l in warns if BROKEN.search(l)]
    for l in lines[:60]: print('  ' + l, file=sys.stderr)
    if len(lines) > 60: print(f'  ... {len(lines)-60} more lines', file=sys.stderr)
    if rc != 0 or not (html_dir/'index.html').exists():
        print(f'build_docs: FAILED: Sphinx exited with {rc}', file=sys.stderr); return rc or 1
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(html_dir, out, ignore=shutil.ignore_patterns('.buildinfo', '.doctrees'))
    site = f"{cfg.get('doc_host', '')}{cfg.get('doc_baseurl', '')}".rstrip('/') + '/'
    nloc = localise_links(out, site)
    (out/'.nojekyll').touch()
    print(f'build_docs: site in {out}/ (open {out}/index.html): {len(pages)} pages from {len(stager.nbs)} notebooks; '
          f'nbdev processing {t1-t0:.1f} s, Sphinx {time.time()-t1:.1f} s; {len(warns)} warnings; '
          f'{nloc} doc links made local')
    err = []
    if failed: err.append(f'{len(failed)} notebook(s) could not be processed: ' + ', '.join(map(str, failed)))
    if broken: err.append(f'{len(broken)} broken link(s)/image(s):\n  ' + '\n  '.join(broken))
    if a.strict and warns and not broken: err.append(f'--strict and Sphinx warned {len(warns)} time(s)')
    if err: print('build_docs: FAILED: ' + '\nbuild_docs: FAILED: '.join(err), file=sys.stderr); return 1
    return 0

if __name__ == '__main__': sys.exit(main())
