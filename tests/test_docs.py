"""The protocol docs and the code's section references agree (docs/README.md).

* every section reference in the code, the tests, README.md and docs/ names a heading that
  exists in docs/ (the first number is the chapter, docs/N-<layer>.md);
* the old external reference text is no longer mentioned under vpnstack/ or tests/;
* docs/README.md lists every chapter file, and the core packages it names exist;
* docs/refmap.json points only at headings that exist.

The section sign is written as an escape in this file so that the file holds no reference
itself.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SECTION = "\u00a7"
NUM = r"\d+(?:\.\d+)*"
HEADING_RE = re.compile(rf"^#{{1,6}} ({NUM}) \S")
REF_RE = re.compile(
    rf"{SECTION}(?P<num>{NUM})(?:-(?P<end>{NUM}))?"
    rf"(?:,? (?P<kind>rules?|steps?) (?P<item>\d+))?"
)
FOREIGN_BEFORE = re.compile(
    rf"(?:\bRFC\s*\d+|\b[Ii]ssue\s+\d+|\b[A-Za-z0-9_-]+\.md)\s*"
    rf"(?:{SECTION}{NUM}(?:-{NUM})?(?:,\s*|/|\s+and\s+|\s+or\s+))*$"
)
"""A reference right after "RFC 8200 ", "issue 3 " or "ARCHITECTURE.md " is not ours."""
OLD_NAME = "PROTOCOL" + ".md"


def chapter_files() -> list[Path]:
    return sorted(DOCS.glob("[0-9]*-*.md"), key=lambda p: int(p.name.split("-")[0]))


def headings() -> dict[str, Path]:
    """Every numbered heading in docs/, number -> file."""
    found: dict[str, Path] = {}
    for path in chapter_files():
        for line in path.read_text(encoding="utf-8").splitlines():
            match = HEADING_RE.match(line)
            if match:
                assert match.group(1) not in found, f"{path.name}: {match.group(1)} twice"
                found[match.group(1)] = path
    return found


def section_text(number: str) -> str:
    """The text of section ``number`` up to the next heading of the same or a higher level."""
    path = headings()[number]
    lines = path.read_text(encoding="utf-8").splitlines()
    depth = number.count(".")
    out: list[str] = []
    inside = False
    for line in lines:
        match = HEADING_RE.match(line)
        if match:
            if inside and match.group(1).count(".") <= depth:
                break
            if match.group(1) == number:
                inside = True
                continue
        if inside:
            out.append(line)
    return "\n".join(out)


def expand_end(start: str, end: str) -> str:
    """A range end in full: "3.7" after "3.3" stays; "3" after "3.9.2" is "3.9.3"."""
    s, e = start.split("."), end.split(".")
    return end if len(e) >= len(s) else ".".join(s[: len(s) - len(e)] + e)


def files_to_check() -> list[Path]:
    files = [*sorted((ROOT / "vpnstack").rglob("*.py")), *sorted((ROOT / "tests").rglob("*.py"))]
    files.append(ROOT / "README.md")
    files.extend(sorted(DOCS.glob("*.md")))
    return files


def references(text: str) -> list[tuple[int, re.Match[str]]]:
    """Our references in ``text`` as (line number, match)."""
    found: list[tuple[int, re.Match[str]]] = []
    for match in REF_RE.finditer(text):
        if FOREIGN_BEFORE.search(text[max(0, match.start() - 80) : match.start()]):
            continue
        found.append((text.count("\n", 0, match.start()) + 1, match))
    return found


def test_chapters_are_numbered_by_their_file_name() -> None:
    chapters = chapter_files()
    assert [int(p.name.split("-")[0]) for p in chapters] == list(range(1, len(chapters) + 1))
    for number, path in headings().items():
        assert path.name.startswith(number.split(".")[0] + "-"), f"{number} in {path.name}"
    for path in chapters:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith(f"# {path.name.split('-')[0]} "), path.name


def test_every_section_reference_names_an_existing_heading() -> None:
    known = headings()
    missing: list[str] = []
    for path in files_to_check():
        text = path.read_text(encoding="utf-8")
        for line, match in references(text):
            where = f"{path.relative_to(ROOT)}:{line}: {match.group(0)}"
            number = match.group("num")
            wanted = [number]
            if match.group("end"):
                wanted.append(expand_end(number, match.group("end")))
            missing.extend(f"{where} (no heading {n})" for n in wanted if n not in known)
            kind, item = match.group("kind"), match.group("item")
            if kind is None or number not in known:
                continue
            if kind.startswith("rule"):
                if f"{number}.{item}" not in known:
                    missing.append(f"{where} (no heading {number}.{item})")
            elif f"{number}.{item}" not in known and not re.search(
                rf"^{item}\. ", section_text(number), re.MULTILINE
            ):
                missing.append(f"{where} (no step {item} in {number})")
    assert not missing, "\n".join(missing)


def test_the_old_reference_text_is_not_mentioned() -> None:
    mentions = [
        str(path.relative_to(ROOT))
        for top in ("vpnstack", "tests")
        for path in sorted((ROOT / top).rglob("*"))
        if path.is_file() and OLD_NAME.encode() in path.read_bytes()
    ]
    assert not mentions, mentions


def test_readme_lists_the_chapters_and_existing_core_packages() -> None:
    readme = (DOCS / "README.md").read_text(encoding="utf-8")
    chapters = chapter_files()
    assert len(chapters) == 7
    for path in chapters:
        assert f"]({path.name})" in readme, f"docs/README.md does not link {path.name}"
    packages = set(re.findall(r"vpnstack/core/[a-z_]+/", readme))
    assert packages, "docs/README.md names no core package"
    for package in sorted(packages):
        assert (ROOT / package / "__init__.py").is_file(), f"{package} does not exist"
    for name in sorted(set(re.findall(r"`((?:vpnstack|tests)/[\w/]+\.py)`", readme))):
        assert (ROOT / name).is_file(), f"docs/README.md names {name}, which does not exist"


def test_refmap_targets_exist() -> None:
    refmap = json.loads((DOCS / "refmap.json").read_text(encoding="utf-8"))
    assert isinstance(refmap, dict)
    known = headings()
    assert not sorted(v for v in refmap.values() if v not in known)
