"""The collection's docs site (issue 13, item 4): built, linted, and read in a browser.

docs/site/build.sh builds the Sphinx site (antsibull-docs pages of every
module and role, the guides in docs/*.md) into .tmp/docs_site/html with
warnings as errors; `antsibull-docs lint-collection-docs` must find nothing.
Then each module page and a role page is opened in headless Chromium, as
file:// URLs, inside a throwaway network namespace that has nothing but its
loopback (the browser cannot reach any network), and the DOM Chromium
rendered must show the page title and the options table with one row per
top-level option, the names read here from the module's DOCUMENTATION (with
its doc fragments) or the role's meta/argument_specs.yml.
"""
from __future__ import annotations

import ast
import os
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.ansible, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
HTML = ROOT / ".tmp" / "docs_site" / "html"
CHROMIUM = Path("/usr/bin/chromium")
COLLECTION = "netsafe.hypervisor"
MODULES = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py") if not p.name.startswith("_"))
ROLE = "change_window"


@pytest.fixture
def chromium() -> Path:
    """The browser, a real peer like the others: missing means the setup did not run, a failure, not a skip."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: tests/setup.d/40-chromium.sh installs Debian's chromium "
                    f"(run tests/setup/bootstrap.sh)")
    return CHROMIUM


def run(args, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    env.update(kwargs.pop("env", {}))
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, check=False,
                          env=env, **kwargs)


@pytest.fixture(scope="module")
def site() -> Path:
    proc = run(["bash", ROOT / "docs" / "site" / "build.sh"], timeout=600, cwd="/")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"docs/site/build.sh failed (rc {proc.returncode}):\n{output}"
    assert "WARNING" not in output and "ERROR" not in output, output
    assert (HTML / "index.html").is_file()
    return HTML


# -- what the pages must show, read from the sources ------------------------------------------------

def fragment_options(name: str) -> dict:
    """Options of doc fragment `netsafe.hypervisor.<file>[.<variable>]` (plugins/doc_fragments/<file>.py)."""
    parts = name.split(".")
    assert parts[:2] == ["netsafe", "hypervisor"], f"fragment {name} is not this collection's"
    variable = parts[3].upper() if len(parts) > 3 else "DOCUMENTATION"
    tree = ast.parse((ROOT / "plugins" / "doc_fragments" / f"{parts[2]}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == variable for t in node.targets):
            return (yaml.safe_load(ast.literal_eval(node.value)) or {}).get("options") or {}
    raise AssertionError(f"no {variable} in plugins/doc_fragments/{parts[2]}.py")


def module_doc(module: str) -> dict:
    """The module's DOCUMENTATION with its fragments' options merged in (the module's own win)."""
    tree = ast.parse((ROOT / "plugins" / "modules" / f"{module}.py").read_text())
    text = next(ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                and any(getattr(t, "id", None) == "DOCUMENTATION" for t in node.targets))
    doc = yaml.safe_load(text)
    options = {}
    for fragment in doc.get("extends_documentation_fragment") or []:
        options.update(fragment_options(fragment))
    options.update(doc.get("options") or {})
    doc["options"] = options
    return doc


def plain(text: str) -> str:
    """Text as compared: Sphinx's typographic quotes and dashes made plain, whitespace collapsed."""
    for fancy, simple in (("\u2019", "'"), ("\u2018", "'"), ("\u201c", '"'), ("\u201d", '"'), ("\u2013", "-"),
                          ("\u2014", "-"), ("\xa0", " ")):
        text = text.replace(fancy, simple)
    return " ".join(text.split())


# -- what the browser shows ---------------------------------------------------------------------------

class RenderedPage(HTMLParser):
    """The title, the first h1 and every row of antsibull-docs' option tables in a DOM dump."""

    def __init__(self, dom: str):
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.h1 = ""
        self.rows: list[dict] = []
        self._text = None      # which text is being collected
        self._table = False
        self._row = None
        self._h1_done = False
        self._in_headerlink = False   # the permalink after a heading (its icon is text once the scripts ran)
        self.feed(dom)
        self.close()
        self.title, self.h1 = plain(self.title), plain(self.h1)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if tag == "a" and "headerlink" in classes:
            self._in_headerlink = True
        elif tag == "title":
            self._text = "title"
        elif tag == "h1" and not self._h1_done:
            self._text = "h1"
        elif tag == "table" and "ansible-option-table" in classes:
            self._table = True
        elif tag == "tr" and self._table:
            self._row = {"anchors": [], "indented": False, "name": "", "aliases": ""}
        elif self._row is not None:
            if "ansibleOptionAnchor" in classes:
                self._row["anchors"].append(attributes.get("id") or "")
            if "ansible-option-indent" in classes:
                self._row["indented"] = True
            if tag == "p" and "ansible-option-title" in classes:
                self._text = "name"
            if tag == "span" and "ansible-option-aliases" in classes:
                self._text = "aliases"

    def handle_endtag(self, tag):
        if tag == "a":
            self._in_headerlink = False
        if (tag, self._text) in (("title", "title"), ("h1", "h1"), ("p", "name"), ("span", "aliases")):
            self._h1_done = self._h1_done or tag == "h1"
            self._text = None
        elif tag == "tr" and self._row is not None:
            if self._row["anchors"]:
                self.rows.append(self._row)
            self._row = None
        elif tag == "table":
            self._table = False

    def handle_data(self, data):
        if self._in_headerlink:
            return
        if self._text in ("title", "h1"):
            setattr(self, self._text, getattr(self, self._text) + data)
        elif self._text in ("name", "aliases") and self._row is not None:
            self._row[self._text] += data

    def options(self, prefix: str) -> dict:
        """Top-level option rows of the table whose anchors start with `prefix`: name -> row."""
        found: dict = {}
        for row in self.rows:
            anchor = row["anchors"][0]
            if row["indented"] or not anchor.startswith(prefix):
                continue
            name = anchor[len(prefix):]
            assert name not in found, f"option {name} has two rows"
            found[name] = row
        return found

    def suboptions(self, prefix: str, option: str) -> set:
        return {row["anchors"][0][len(prefix) + len(option) + 1:] for row in self.rows
                if row["indented"] and row["anchors"][0].startswith(f"{prefix}{option}/")
                and "/" not in row["anchors"][0][len(prefix) + len(option) + 1:]}


def render(chromium: Path, netns: str, page: Path, tmp_path: Path) -> RenderedPage:
    """The DOM of `page` after Chromium loaded it and ran its scripts, in namespace `netns`."""
    assert page.is_file(), f"{page} was not built"
    proc = run(["ip", "netns", "exec", netns, chromium, "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()],
               timeout=120, env={"HOME": str(tmp_path)})
    assert proc.returncode == 0 and "</html>" in proc.stdout, \
        f"chromium could not render {page} (rc {proc.returncode}):\n{proc.stderr[-3000:]}"
    return RenderedPage(proc.stdout)


def check_options(rendered: RenderedPage, prefix: str, options: dict, page: str) -> None:
    shown = rendered.options(prefix)
    assert sorted(shown) == sorted(options), (
        f"{page}: the options table shows {sorted(shown)}; the documentation has {sorted(options)}")
    for name, spec in options.items():
        row = shown[name]
        assert plain(row["name"]) == name, f"{page}: the row of {name} is titled {row['name']!r}"
        aliases = (spec or {}).get("aliases") or []
        if aliases:
            assert plain(row["aliases"]) == "aliases: " + ", ".join(aliases), f"{page}: {name}: {row['aliases']!r}"
        sub = (spec or {}).get("suboptions") or (spec or {}).get("options") or {}
        if sub:
            assert rendered.suboptions(prefix, name) == set(sub), f"{page}: suboptions of {name}"


# -- the tests ----------------------------------------------------------------------------------------

def test_lint_collection_docs_finds_nothing():
    proc = run([BIN / "antsibull-docs", "lint-collection-docs", "--plugin-docs", "--check-extra-docs-refs",
                "--validate-collection-refs", "all", "--disallow-unknown-collection-refs", ROOT], timeout=300, cwd="/")
    output = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 0 and not output, f"lint-collection-docs (rc {proc.returncode}):\n{output}"


def test_the_site_has_every_module_role_and_guide(site):
    collection_index = (site / "collection" / "index.html").read_text()
    for module in MODULES:
        assert (site / "collection" / f"{module}_module.html").is_file(), f"no page for module {module}"
        assert f'href="{module}_module.html' in collection_index, f"the collection index does not link {module}"
    for role in sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "meta" / "argument_specs.yml").is_file()):
        assert f'href="{role}_role.html' in collection_index, f"the collection index does not link role {role}"
    root_index = (site / "index.html").read_text()
    guides = sorted(p.stem for p in (ROOT / "docs").glob("*.md"))
    for guide in ("architecture", "change_window", "proxmox", "libvirt", "awx", "performance", "troubleshooting"):
        assert guide in guides, f"docs/{guide}.md is missing"
    for guide in guides:
        assert (site / "guides" / f"{guide}.html").is_file(), f"docs/{guide}.md was not built"
        assert f'href="guides/{guide}.html' in root_index, f"the site's index does not link docs/{guide}.md"


@pytest.mark.parametrize("module", MODULES)
def test_module_page_shows_its_title_and_options_table(chromium, site, netns, tmp_path, module):
    doc = module_doc(module)
    rendered = render(chromium, netns, site / "collection" / f"{module}_module.html", tmp_path)
    heading = plain(f"{COLLECTION}.{module} module - {doc['short_description']}")
    assert rendered.title.startswith(heading), f"title {rendered.title!r}, expected {heading!r}"
    assert rendered.h1 == heading, f"h1 {rendered.h1!r}, expected {heading!r}"
    check_options(rendered, "parameter-", doc["options"], f"{module}_module.html")


def test_role_page_shows_its_title_and_options_table(chromium, site, netns, tmp_path):
    main = yaml.safe_load((ROOT / "roles" / ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]
    rendered = render(chromium, netns, site / "collection" / f"{ROLE}_role.html", tmp_path)
    heading = plain(f"{COLLECTION}.{ROLE} role - {main['short_description']}")
    assert rendered.title.startswith(heading), f"title {rendered.title!r}, expected {heading!r}"
    assert rendered.h1 == heading, f"h1 {rendered.h1!r}, expected {heading!r}"
    check_options(rendered, "parameter-main--", main["options"], f"{ROLE}_role.html")
