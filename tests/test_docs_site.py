"""The offline documentation site in `_docs/`, opened in headless Chromium.

Builds the site with `tools/build_docs.py` (incremental: seconds when `make test` just built it), then checks in
a real browser: the home page's title, a sidebar link for every notebook in nbs/, no broken internal link or
resource on any page, and a working search page. Skipped only where Chromium, chromedriver or selenium are absent
(Debian: `apt-get install chromium chromium-driver`).
"""
import importlib.util, shutil, subprocess, sys, tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT/'_docs'
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser') or '/usr/bin/chromium'
CHROMEDRIVER = shutil.which('chromedriver') or '/usr/bin/chromedriver'
ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run', '--window-size=1280,1000']

def _build_docs_module():
    spec = importlib.util.spec_from_file_location('build_docs', ROOT/'tools'/'build_docs.py')
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
    return m

@pytest.fixture(scope='module')
def site():
    "Build (or bring up to date) the site; -> the build script's module, for its page naming."
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'build_docs.py')], cwd=ROOT, capture_output=True, text=True)
    err = r.stderr[r.stderr.find('build_docs:'):] if 'build_docs:' in r.stderr else r.stderr[-6000:]
    assert r.returncode == 0 and (DOCS/'index.html').exists(), f'tools/build_docs.py failed (exit {r.returncode}):\n{r.stdout}{err}'
    return _build_docs_module()

@pytest.fixture(scope='module')
def browser(site):
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip(f'no Chromium/chromedriver ({CHROMIUM}, {CHROMEDRIVER}): apt-get install chromium chromium-driver')
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError: pytest.skip('selenium is not installed (it is in the `dev` extra)')
    profile = tempfile.mkdtemp(prefix='iclmsr-chromium-')
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ARGS + [f'--user-data-dir={profile}']: opts.add_argument(a)
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    d.set_page_load_timeout(30)
    yield d
    d.quit()
    shutil.rmtree(profile, ignore_errors=True)

def _open(d, path: Path, query=''):
    d.get(path.resolve().as_uri() + query)

def _urls(d) -> list[tuple[str, str]]:
    "(tag, absolute URL) of every link and resource of the page, as the browser resolved them."
    return d.execute_script("""
        const out = [];
        for (const e of document.querySelectorAll('a[href], link[href], img[src], script[src], iframe[src]'))
            out.push([e.tagName.toLowerCase(), e.tagName === 'A' || e.tagName === 'LINK' ? e.href : e.src]);
        return out;""")

def _local_file(url: str):
    "The file a file:// URL points to (None for other schemes)."
    u = urlsplit(url)
    if u.scheme != 'file': return None
    p = Path(unquote(u.path))
    return p/'index.html' if url.split('#')[0].split('?')[0].endswith('/') else p

def _pages():
    skip = ('_static', '_sources', '_images', '_downloads')
    return sorted(p for p in DOCS.rglob('*.html') if not p.relative_to(DOCS).parts[0] in skip)

def test_site_has_a_page_per_notebook(site):
    "Without a browser too: the build succeeded and every notebook in nbs/ has its page."
    pages = site.notebook_pages(ROOT/'nbs')
    assert 'index.ipynb' not in pages or pages['index.ipynb'] == 'index.html'
    missing = [f'{nb} -> {page}' for nb, page in pages.items() if not (DOCS/page).is_file()]
    assert not missing, missing
    assert (DOCS/'search.html').is_file() and (DOCS/'searchindex.js').is_file()

def test_home_page_title(browser):
    _open(browser, DOCS/'index.html')
    assert 'iclmsr' in browser.title, browser.title

def test_sidebar_lists_every_notebook(site, browser):
    expected = site.notebook_pages(ROOT/'nbs')            # {'00_core.ipynb': 'core.html', ...}
    assert expected, 'no notebooks found in nbs/'
    _open(browser, DOCS/'index.html')
    links = browser.execute_script("""
        return Array.from(document.querySelectorAll('.sidebar-tree a[href], a.sidebar-brand[href]'))
                    .map(a => a.href.split('#')[0]);""")
    got = {_local_file(u).resolve() for u in links if _local_file(u)}
    missing = {nb: page for nb, page in expected.items() if (DOCS/page).resolve() not in got}
    assert not missing, f'notebooks without a sidebar link (notebook: expected page): {missing}; sidebar has {sorted(map(str, got))}'
    for page in expected.values(): assert (DOCS/page).exists(), page

def test_no_broken_internal_links(site, browser):
    "Every link and resource of every page points to a file of the site, and a `#fragment` to an id on that page."
    pages = _pages()
    assert len(pages) >= len(site.notebook_pages(ROOT/'nbs')), pages
    broken, ids, frags, n = [], {}, [], 0
    for page in pages:
        _open(browser, page)
        ids[page.resolve()] = set(browser.execute_script(
            "return Array.from(document.querySelectorAll('[id], a[name]')).map(e => e.id || e.getAttribute('name'));"))
        for tag, url in _urls(browser):
            if url.startswith(('http:', 'https:', 'mailto:', 'data:', 'javascript:', 'about:')): continue
            f = _local_file(url)
            where = page.relative_to(DOCS).as_posix()
            if f is None: broken.append((where, tag, url, 'not a local file')); continue
            n += 1
            if not f.is_file(): broken.append((where, tag, url))
            elif tag == 'a' and '#' in url and url.split('#', 1)[1] and f.suffix == '.html':
                frags.append((where, url, f.resolve(), unquote(url.split('#', 1)[1])))
    assert n > 0
    for where, url, f, frag in frags:
        if f in ids and frag not in ids[f]: broken.append((where, 'a', url, 'no such id on the page'))
    assert not broken, f'{len(broken)} broken internal links/resources:\n' + '\n'.join(map(str, broken[:50]))

def test_search_page_loads(site, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    assert (DOCS/'search.html').exists() and (DOCS/'searchindex.js').exists()
    _open(browser, DOCS/'search.html', '?q=iclmsr')
    assert 'Search' in browser.title, browser.title
    # Sphinx's client-side search runs offline: results appear as a list of links to pages of the site
    WebDriverWait(browser, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, '#search-results ul.search li a'))
    hits = [a.get_attribute('href') for a in browser.find_elements(By.CSS_SELECTOR, '#search-results ul.search li a')]
    assert hits and all(_local_file(h) and _local_file(h.split('#')[0]).is_file() for h in hits), hits
